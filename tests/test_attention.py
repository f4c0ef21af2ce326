"""Scores, softmax and attention, checked against references written out here: explicit loops
over (i, j), the formulas in float64, PyTorch, central finite differences."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from references import central_differences

from minimal_embed.attention import (
    attend,
    attend_backward,
    attention_scores,
    softmax,
    softmax_backward,
)
from minimal_embed.relative import alibi_bias

lengths = st.integers(1, 9).flatmap(lambda q: st.tuples(st.just(q), st.integers(q, q + 6)))
seeds = st.integers(0, 2**32 - 1)


def naive_scores(q, k, bias=None, causal=False):
    """Scores for one head, one (i, j) at a time: query i sits at position i + k_len - q_len."""
    q_len, k_len = len(q), len(k)
    out = np.empty((q_len, k_len))
    for i in range(q_len):
        for j in range(k_len):
            out[i, j] = q[i] @ k[j] / math.sqrt(q.shape[1])
            if bias is not None:
                out[i, j] += bias[i, j]
            if causal and j > i + k_len - q_len:
                out[i, j] = -math.inf
    return out


# --------------------------------------------------------------------------- scores and softmax


@given(lengths, st.booleans(), seeds)
def test_scores_equal_the_double_loop_with_queries_aligned_to_the_last_keys(qk, causal, seed):
    rng = np.random.default_rng(seed)
    q_len, k_len = qk
    q, k = rng.standard_normal((q_len, 4)), rng.standard_normal((k_len, 4))
    bias = rng.standard_normal((q_len, k_len))
    got = attention_scores(q, k, bias=bias, causal=causal)
    np.testing.assert_allclose(got, naive_scores(q, k, bias, causal), rtol=1e-12, atol=1e-12)


def test_scores_broadcast_a_per_head_bias_over_the_batch():
    rng = np.random.default_rng(0)
    q = rng.standard_normal((2, 3, 4, 8))  # (batch, heads, q_len, d_head)
    k = rng.standard_normal((2, 3, 5, 8))
    bias = rng.standard_normal((3, 4, 5))  # (heads, q_len, k_len)
    got = attention_scores(q, k, bias=bias)
    for b in range(2):
        for h in range(3):
            np.testing.assert_allclose(got[b, h], naive_scores(q[b, h], k[b, h], bias[h]))


def test_scores_keep_float32():
    q = np.ones((2, 4), np.float32)
    assert attention_scores(q, q, bias=np.zeros((2, 2)), causal=True).dtype == np.float32


@pytest.mark.parametrize(
    ("q_shape", "k_shape", "causal", "words"),
    [
        ((5, 4), (3, 4), True, "q_len=5 > k_len=3"),
        ((2, 4), (3, 5), False, "d_head"),
        ((4,), (3, 4), False, "d_head"),
    ],
)
def test_scores_reject_bad_shapes_with_the_values_named(q_shape, k_shape, causal, words):
    with pytest.raises(ValueError, match=words):
        attention_scores(np.zeros(q_shape), np.zeros(k_shape), causal=causal)


def test_scores_allow_more_queries_than_keys_for_cross_attention():
    rng = np.random.default_rng(7)
    q, k = rng.standard_normal((5, 4)), rng.standard_normal((3, 4))
    np.testing.assert_allclose(attention_scores(q, k), naive_scores(q, k), rtol=1e-12)


def test_scores_reject_integer_arrays_and_a_bias_that_does_not_broadcast():
    with pytest.raises(TypeError, match="astype"):
        attention_scores(np.zeros((2, 4), int), np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"bias of shape \(3, 3\)"):
        attention_scores(np.zeros((2, 4)), np.zeros((2, 4)), bias=np.zeros((3, 3)))


@given(st.integers(1, 5), st.integers(1, 7), seeds)
def test_softmax_rows_sum_to_one_and_equal_the_float64_formula(rows, cols, seed):
    x = np.random.default_rng(seed).standard_normal((rows, cols)) * 10
    expected = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(softmax(x), expected, rtol=1e-12)
    np.testing.assert_allclose(softmax(x).sum(axis=1), 1.0, rtol=1e-12)


def test_softmax_does_not_overflow_on_huge_scores():
    got = softmax(np.array([1e4, 1e4 - math.log(3.0)], np.float32))
    np.testing.assert_allclose(got, [0.75, 0.25], rtol=1e-3)


def test_softmax_of_an_all_masked_row_is_zeros_without_warnings():
    # setup.cfg turns RuntimeWarning into an error, so a 0/0 or inf - inf would fail here
    x = np.array([[-np.inf, -np.inf], [0.0, -np.inf]])
    np.testing.assert_array_equal(softmax(x), [[0.0, 0.0], [1.0, 0.0]])
    assert not np.isnan(softmax_backward(softmax(x), np.ones_like(x))).any()


def test_softmax_rejects_nan_and_positive_infinity():
    for bad in (np.nan, np.inf):
        with pytest.raises(ValueError, match="NaN or \\+inf"):
            softmax(np.array([0.0, bad]))


@given(st.integers(1, 4), st.integers(2, 6), seeds)
def test_softmax_backward_equals_finite_differences(rows, cols, seed):
    rng = np.random.default_rng(seed)
    x, grad_out = rng.standard_normal((rows, cols)), rng.standard_normal((rows, cols))
    x[0, 0] = -np.inf  # a masked entry keeps zero gradient
    got = softmax_backward(softmax(x), grad_out)
    finite = np.where(np.isinf(x), 0.0, x)
    mask = np.isinf(x)

    def loss():
        return np.sum(softmax(np.where(mask, -np.inf, finite)) * grad_out)

    expected = central_differences(loss, finite)
    np.testing.assert_allclose(got, np.where(mask, 0.0, expected), atol=1e-8)


def test_attend_outputs_are_the_weighted_values():
    rng = np.random.default_rng(1)
    q, k, v = rng.standard_normal((3, 4)), rng.standard_normal((5, 4)), rng.standard_normal((5, 2))
    outputs, weights = attend(q, k, v, causal=True)
    scores = naive_scores(q, k, causal=True)
    expected_weights = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(weights, expected_weights, rtol=1e-12)
    np.testing.assert_allclose(outputs, expected_weights @ v, rtol=1e-12)


@given(lengths, st.booleans(), seeds)
def test_attend_backward_equals_finite_differences(qk, causal, seed):
    rng = np.random.default_rng(seed)
    q_len, k_len = qk
    q = rng.standard_normal((2, 2, q_len, 3))  # (batch, heads, q_len, d_head)
    k = rng.standard_normal((2, 2, k_len, 3))
    v = rng.standard_normal((2, 2, k_len, 2))
    bias = rng.standard_normal((2, q_len, k_len))  # per head, shared by the batch
    grad_out = rng.standard_normal((2, 2, q_len, 2))

    def loss():
        return np.sum(attend(q, k, v, bias=bias, causal=causal)[0] * grad_out)

    _, weights = attend(q, k, v, bias=bias, causal=causal)
    got = attend_backward(grad_out, q, k, v, weights, bias_shape=bias.shape)
    for gradient, array in zip(got, (q, k, v, bias), strict=True):
        np.testing.assert_allclose(gradient, central_differences(loss, array), atol=1e-7)


def test_attend_backward_sums_a_key_shared_by_all_heads():
    rng = np.random.default_rng(2)
    q = rng.standard_normal((3, 2, 4))  # three heads share one k and v (multi-query attention)
    k, v = rng.standard_normal((2, 4)), rng.standard_normal((2, 4))
    grad_out = rng.standard_normal((3, 2, 4))
    _, weights = attend(q, k, v)
    _, dk, dv, _ = attend_backward(grad_out, q, k, v, weights)

    def loss():
        return np.sum(attend(q, k, v)[0] * grad_out)

    np.testing.assert_allclose(dk, central_differences(loss, k), atol=1e-7)
    np.testing.assert_allclose(dv, central_differences(loss, v), atol=1e-7)


def test_attend_matches_torch_scaled_dot_product_attention():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    q, k, v = (rng.standard_normal((2, 4, n, 8)) for n in (5, 7, 7))
    bias = alibi_bias(4, 5, 7, dtype=np.float64)
    ours, _ = attend(q, k, v, bias=bias, causal=True)
    # torch's is_causal aligns queries to the *first* keys, so pass our aligned mask as a bias
    mask = np.where(np.arange(7) > np.arange(5)[:, None] + 2, -np.inf, 0.0)
    theirs = torch.nn.functional.scaled_dot_product_attention(
        *(torch.from_numpy(a) for a in (q, k, v)), attn_mask=torch.from_numpy(bias + mask)
    )
    np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-10, atol=1e-12)


def test_attend_backward_rejects_a_gradient_of_the_wrong_shape():
    q = np.zeros((2, 4))
    _, weights = attend(q, q, q)
    with pytest.raises(ValueError, match="grad_out"):
        attend_backward(np.zeros((2, 3)), q, q, q, weights)


def test_attend_backward_keeps_float32_gradients_float32():
    rng = np.random.default_rng(0)
    q, k, v = rng.standard_normal((3, 2, 5, 8)).astype(np.float32)
    out, weights = attend(q, k, v, causal=True)
    grads = attend_backward(np.ones_like(out), q, k, v, weights)
    assert [g.dtype for g in grads[:3]] == [np.float32] * 3


# --------------------------------------------------------------------------- scale and key padding


def looped_scores(q, k, scale, real_keys, causal):
    """One head's scores entry by entry: scale * q_i . k_j, -inf at padded or future keys."""
    q_len, k_len = len(q), len(k)
    out = np.empty((q_len, k_len))
    for i in range(q_len):
        for j in range(k_len):
            masked = not real_keys[j] or (causal and j > i + k_len - q_len)
            out[i, j] = -math.inf if masked else scale * float(q[i] @ k[j])
    return out


@given(lengths, st.booleans(), st.sampled_from([None, 1.0, 0.3]), seeds)
def test_scale_and_key_mask_equal_the_double_loop_for_every_batch_item(qk, causal, scale, seed):
    rng = np.random.default_rng(seed)
    q_len, k_len = qk
    q = rng.standard_normal((3, 2, q_len, 4))  # (batch, heads, q_len, d_head)
    k = rng.standard_normal((3, 2, k_len, 4))
    real = rng.random((3, k_len)) < 0.7       # any padding pattern, left, right or between
    got = attention_scores(q, k, causal=causal, scale=scale, key_mask=real[:, None, :])
    factor = 0.5 if scale is None else scale  # 1 / sqrt(d_head = 4)
    for b in range(3):
        for h in range(2):
            np.testing.assert_allclose(got[b, h], looped_scores(q[b, h], k[b, h], factor,
                                                                real[b], causal), rtol=1e-12)


def test_key_mask_equals_a_hand_built_minus_infinity_bias_and_empty_rows_give_zeros():
    rng = np.random.default_rng(4)
    q, k, v = rng.standard_normal((2, 3, 5, 4)), rng.standard_normal((2, 3, 5, 4)), \
        rng.standard_normal((2, 3, 5, 2))
    real = np.array([[False, False, True, True, True],     # left-padded
                     [True, True, True, False, False]])    # right-padded
    bias = np.where(real, 0.0, -np.inf)[:, None, None, :]  # (batch, 1, 1, k_len)
    outputs, weights = attend(q, k, v, causal=True, key_mask=real[:, None, :])
    expected, expected_weights = attend(q, k, v, causal=True, bias=bias)
    np.testing.assert_array_equal(weights, expected_weights)
    np.testing.assert_array_equal(outputs, expected)
    assert not weights[0, :, :2].any() and not outputs[0, :, :2].any()  # queries before any key
    np.testing.assert_allclose(weights[0, :, 2:].sum(axis=-1), 1.0)


@given(lengths, st.sampled_from([1.0, 0.25]), seeds)
def test_attend_backward_with_scale_and_key_mask_equals_finite_differences(qk, scale, seed):
    rng = np.random.default_rng(seed)
    q_len, k_len = qk
    q = rng.standard_normal((2, 2, q_len, 3))
    k = rng.standard_normal((2, 2, k_len, 3))
    v = rng.standard_normal((2, 2, k_len, 2))
    real = rng.random((2, 1, k_len)) < 0.7
    grad_out = rng.standard_normal((2, 2, q_len, 2))

    def loss():
        return np.sum(attend(q, k, v, causal=True, scale=scale, key_mask=real)[0] * grad_out)

    _, weights = attend(q, k, v, causal=True, scale=scale, key_mask=real)
    got = attend_backward(grad_out, q, k, v, weights, scale=scale)
    for gradient, array in zip(got[:3], (q, k, v), strict=True):
        np.testing.assert_allclose(gradient, central_differences(loss, array), atol=1e-7)


def test_unscaled_masked_attention_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    q, k, v = (rng.standard_normal((2, 3, 4, 8)) for _ in range(3))
    real = np.array([[True, True, True, False], [False, True, True, True]])
    ours, _ = attend(q, k, v, scale=1.0, key_mask=real[:, None, :])
    theirs = torch.nn.functional.scaled_dot_product_attention(
        *(torch.from_numpy(a) for a in (q, k, v)), attn_mask=torch.from_numpy(real[:, None, None]),
        scale=1.0)
    np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(("key_mask", "scale", "error", "words"), [
    (np.ones(4, dtype=np.int64), None, TypeError, "key_mask must be a bool array"),
    (np.ones(3, dtype=bool), None, ValueError, "k_len=4"),
    (np.ones((5, 4), dtype=bool), None, ValueError, r"broadcasting to the scores' \(2,\)"),
    (np.ones(4, dtype=bool), 0.0, ValueError, "scale must be a finite number > 0"),
    (np.ones(4, dtype=bool), True, TypeError, "scale must be a number"),
])
def test_key_mask_and_scale_are_checked(key_mask, scale, error, words):
    with pytest.raises(error, match=words):
        attention_scores(np.ones((2, 3, 8)), np.ones((2, 4, 8)), key_mask=key_mask, scale=scale)
