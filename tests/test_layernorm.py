"""LayerNorm against the formula written per vector and its backward against finite differences."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from references import central_differences

from minimal_embed.layernorm import LayerNorm, layer_norm, layer_norm_backward

leading_shapes = st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple)


def naive_layer_norm(x, gamma, beta, eps):
    """One vector at a time, in the order the paper writes it."""
    flat = x.reshape(-1, x.shape[-1])
    out = np.empty_like(flat)
    for row, v in enumerate(flat):
        mu = sum(v) / len(v)
        var = sum((vi - mu) ** 2 for vi in v) / len(v)
        out[row] = [g * (vi - mu) / np.sqrt(var + eps) + b
                    for vi, g, b in zip(v, gamma, beta, strict=True)]
    return out.reshape(x.shape)


def random_case(leading, d, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(leading + (d,)) * 3 + 1
    return x, rng.standard_normal(d), rng.standard_normal(d)


@given(leading=leading_shapes, d=st.integers(1, 9), eps=st.sampled_from([1e-12, 1e-5, 0.1]))
def test_layer_norm_matches_the_formula_per_vector(leading, d, eps):
    x, gamma, beta = random_case(leading, d, seed=d)
    y, _ = layer_norm(x, gamma, beta, eps=eps)
    np.testing.assert_allclose(y, naive_layer_norm(x, gamma, beta, eps), rtol=1e-10, atol=1e-12)


@given(leading=leading_shapes, d=st.integers(2, 9))
def test_normalised_vectors_have_zero_mean_and_unit_variance(leading, d):
    x, _, _ = random_case(leading, d, seed=1)
    y, _ = layer_norm(x, np.ones(d), np.zeros(d), eps=0.0)
    np.testing.assert_allclose(y.mean(axis=-1), 0.0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=-1), 1.0, rtol=1e-12)


@given(d=st.integers(2, 9), shift=st.floats(-100, 100), scale=st.floats(0.1, 100))
def test_output_is_unchanged_by_shifting_or_scaling_the_input(d, shift, scale):
    x, gamma, beta = random_case((5,), d, seed=2)
    y, _ = layer_norm(x, gamma, beta, eps=0.0)
    y_moved, _ = layer_norm(x * scale + shift, gamma, beta, eps=0.0)
    np.testing.assert_allclose(y_moved, y, rtol=1e-9, atol=1e-9)


def test_eps_is_added_to_the_variance():
    # x = [a, -a]: var = a**2, so x_hat = [1, -1] * a / sqrt(a**2 + eps)
    a, eps = 0.5, 0.25
    y, _ = layer_norm(np.array([a, -a]), np.ones(2), np.zeros(2), eps=eps)
    np.testing.assert_allclose(y, [a / np.sqrt(a * a + eps), -a / np.sqrt(a * a + eps)])


@given(leading=leading_shapes, d=st.integers(1, 7), eps=st.sampled_from([1e-12, 1e-5, 0.5]))
def test_backward_matches_central_finite_differences(leading, d, eps):
    x, gamma, beta = random_case(leading, d, seed=3)
    weights = np.random.default_rng(4).standard_normal(x.shape)   # loss = sum(weights * y)

    def loss():
        return float(np.sum(weights * layer_norm(x, gamma, beta, eps=eps)[0]))

    _, cache = layer_norm(x, gamma, beta, eps=eps)
    grad_x, grad_gamma, grad_beta = layer_norm_backward(weights, cache)
    for got, array in ((grad_x, x), (grad_gamma, gamma), (grad_beta, beta)):
        np.testing.assert_allclose(got, central_differences(loss, array), rtol=1e-5, atol=1e-7)


def test_class_holds_gamma_beta_and_backward_uses_the_last_forward():
    ln = LayerNorm(6, eps=1e-12)
    assert ln.gamma.dtype == np.float32 and ln.gamma.tolist() == [1.0] * 6
    assert ln.beta.tolist() == [0.0] * 6
    x = np.random.default_rng(5).standard_normal((3, 2, 6)).astype(np.float32)
    y = ln.forward(x)
    assert y.dtype == np.float32 and y.shape == (3, 2, 6)
    grad = np.ones_like(y)
    expected = layer_norm_backward(grad, layer_norm(x, ln.gamma, ln.beta, eps=1e-12)[1])
    for got, want in zip(ln.backward(grad), expected, strict=True):
        np.testing.assert_array_equal(got, want)


def test_backward_before_forward_and_bad_shapes_are_refused():
    with pytest.raises(RuntimeError, match="before forward"):
        LayerNorm(3).backward(np.zeros(3))
    with pytest.raises(ValueError, match=r"gamma and beta of shape \(d,\)"):
        layer_norm(np.zeros((2, 4)), np.ones(3), np.zeros(3))
    with pytest.raises(ValueError, match="eps"):
        layer_norm(np.zeros((2, 4)), np.ones(4), np.zeros(4), eps=-1.0)
    _, cache = layer_norm(np.zeros((2, 4)), np.ones(4), np.zeros(4))
    with pytest.raises(ValueError, match="grad_out"):
        layer_norm_backward(np.zeros((2, 5)), cache)
    with pytest.raises(ValueError, match="dim"):
        LayerNorm(0)


@pytest.mark.parametrize(
    "make, error, name",
    [
        (lambda: LayerNorm(4.0), TypeError, "dim"),
        (lambda: LayerNorm(True), TypeError, "dim"),
        (lambda: LayerNorm(-2), ValueError, "dim"),
        (lambda: LayerNorm(4, eps="1e-5"), TypeError, "eps"),
        (lambda: LayerNorm(4, eps=float("nan")), ValueError, "eps"),
        (lambda: LayerNorm(4, dtype=np.int32), TypeError, "dtype"),
        (lambda: layer_norm(np.zeros((2, 4)), np.ones(4), np.zeros(4), eps=None), TypeError, "eps"),
    ],
)
def test_bad_settings_raise_type_error_for_a_wrong_type_and_value_error_for_a_wrong_value(
    make, error, name
):
    with pytest.raises(error, match=name):
        make()


def test_numpy_scalars_are_accepted_and_the_attributes_have_their_types():
    ln = LayerNorm(np.int64(3), eps=np.float32(1e-5), dtype=np.float64)
    assert type(ln.eps) is float and ln.gamma.shape == ln.beta.shape == (3,)
    assert ln.gamma.dtype == ln.beta.dtype == np.float64
    x = np.random.default_rng(6).standard_normal((2, 3))
    np.testing.assert_array_equal(ln.forward(x), layer_norm(x, ln.gamma, ln.beta, eps=ln.eps)[0])
