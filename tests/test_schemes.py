"""The position-scheme interface: every scheme answers the three questions, each answer equals the
formula it wraps (written out here), each backward equals central finite differences, and every
scheme survives its config."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from references import central_differences

from minimal_embed.schemes import (
    POSITION_SCHEMES,
    ALiBi,
    Learned,
    NoPositions,
    PositionScheme,
    RoPE,
    Sinusoidal,
    T5Buckets,
    from_config,
    position_scheme,
    scheme_class,
)


def every_scheme(dtype=np.float64):
    """One of each scheme, small, with learned parameters moved off their start."""
    schemes = [NoPositions(), Learned(10, 6, seed=0, dtype=dtype), Sinusoidal(6, dtype=dtype),
               ALiBi(3, dtype=dtype), RoPE(rotary_dim=4), RoPE(interleaved=True),
               T5Buckets(3, num_buckets=8, max_distance=6, bidirectional=False, seed=1,
                         dtype=dtype)]
    for scheme in schemes:
        for array in scheme.parameters().values():
            array += np.random.default_rng(2).standard_normal(array.shape)
    return schemes


def test_the_name_list_is_the_one_the_factory_and_the_classes_share():
    assert POSITION_SCHEMES == ("learned", "sinusoidal", "none", "alibi", "rope", "t5")
    for name in POSITION_SCHEMES:
        scheme = position_scheme(name, d_model=8, n_heads=2, max_len=4)
        assert scheme.name == name and isinstance(scheme, scheme_class(name))
    with pytest.raises(ValueError, match="must be one of"):
        position_scheme("absolute", d_model=8)


def test_each_scheme_acts_in_exactly_the_place_it_says():
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 6))  # (batch, heads, seq, d_head)
    positions = np.arange(5)
    for scheme in every_scheme():
        rows, bias = scheme.input_rows(5), scheme.score_bias(5)
        rotated = scheme.rotate(x, positions)
        assert (rows is not None) == (scheme.acts_on == "input")
        assert (bias is not None) == (scheme.acts_on == "scores")
        assert (not np.array_equal(rotated, x)) == (scheme.acts_on == "rotation")


def test_learned_rows_are_the_table_rows_from_the_offset():
    scheme = every_scheme()[1]
    table = scheme.parameters()["position_embedding"]
    np.testing.assert_array_equal(scheme.input_rows(3, offset=4), table[4:7])
    with pytest.raises(ValueError, match="max_len=10"):
        scheme.input_rows(3, offset=8)


@given(st.integers(0, 40), st.integers(1, 9))
def test_sinusoidal_rows_are_the_papers_formula(offset, seq_len):
    rows = Sinusoidal(6, dtype=np.float64).input_rows(seq_len, offset)
    for i in range(seq_len):
        for j in range(6):
            angle = (offset + i) / 10000 ** (2 * (j // 2) / 6)
            expected = math.sin(angle) if j % 2 == 0 else math.cos(angle)
            assert rows[i, j] == pytest.approx(expected, abs=1e-12)


def test_alibi_bias_is_minus_slope_times_distance():
    bias = ALiBi(2, dtype=np.float64).score_bias(2, 4)  # queries sit at positions 2 and 3
    slopes = [2 ** -4, 2 ** -8]  # 2 heads: 2^(-8h/2)
    for h in range(2):
        for i in range(2):
            for j in range(4):
                assert bias[h, i, j] == pytest.approx(-slopes[h] * (i + 2 - j))


def test_t5_bias_reads_its_table_at_the_bucket():
    scheme = every_scheme()[-1]
    table = scheme.parameters()["t5.table"]
    bias = scheme.score_bias(4)
    # causal buckets: distance d = query - key >= 0 has its own bucket below num_buckets / 2
    for i in range(4):
        for j in range(i + 1):
            np.testing.assert_array_equal(bias[:, i, j], table[i - j])


def test_rope_rotates_pairs_by_position_times_frequency():
    x = np.random.default_rng(1).standard_normal((3, 8))
    out = RoPE(rotary_dim=4).rotate(x, np.array([0, 1, 5]))
    for p, (row, rotated) in enumerate(zip(x, out, strict=True)):
        position = [0, 1, 5][p]
        for t in range(2):  # rotate-half: dim t pairs with t + 2
            angle = position * 10000 ** (-2 * t / 4)
            a, b = row[t], row[t + 2]
            assert rotated[t] == pytest.approx(a * math.cos(angle) - b * math.sin(angle))
            assert rotated[t + 2] == pytest.approx(b * math.cos(angle) + a * math.sin(angle))
        np.testing.assert_array_equal(rotated[4:], row[4:])  # past rotary_dim: untouched


@pytest.mark.parametrize("index", range(7))
def test_every_backward_equals_central_differences(index):
    scheme = every_scheme()[index]
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 4, 6))
    positions = np.arange(2, 6)
    upstream_rows = rng.standard_normal((4, 6))
    upstream_x = rng.standard_normal(x.shape)
    upstream_bias = rng.standard_normal((2, 3, 4, 4))

    def loss():
        total = float((scheme.rotate(x, positions) * upstream_x).sum())
        rows = scheme.input_rows(4, offset=1)
        if rows is not None:
            total += float((rows * upstream_rows).sum())
        bias = scheme.score_bias(4)
        if bias is not None:
            total += float((bias * upstream_bias).sum())
        return total

    grads = {**scheme.input_rows_backward(upstream_rows, offset=1),
             **scheme.score_bias_backward(upstream_bias)}
    assert sorted(grads) == sorted(scheme.parameters())
    for name, array in scheme.parameters().items():
        np.testing.assert_allclose(grads[name], central_differences(loss, array), atol=1e-6)
    np.testing.assert_allclose(scheme.rotate_backward(upstream_x, positions),
                               central_differences(loss, x), atol=1e-6)


@pytest.mark.parametrize("index", range(7))
def test_a_scheme_rebuilt_from_its_config_computes_the_same(index):
    scheme = every_scheme()[index]
    rebuilt = from_config(scheme.config(), dtype=np.float64)
    assert type(rebuilt) is type(scheme) and rebuilt.config() == scheme.config()
    for name, array in scheme.parameters().items():
        rebuilt.parameters()[name][...] = array
    x = np.random.default_rng(4).standard_normal((3, 5, 6))
    for a, b in ((scheme.input_rows(5), rebuilt.input_rows(5)),
                 (scheme.score_bias(5), rebuilt.score_bias(5)),
                 (scheme.rotate(x, np.arange(5)), rebuilt.rotate(x, np.arange(5)))):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("config", [None, [], {"base": 1.0}, {"name": "absolute"},
                                    {"name": "learned", "max_len": 4},
                                    {"name": "rope", "radius": 2}])
def test_a_bad_config_gets_a_value_error(config):
    with pytest.raises(ValueError):
        from_config(config)


def test_rope_refuses_an_odd_head_and_an_odd_rotary_dim():
    RoPE.check_head(8)
    with pytest.raises(ValueError, match="d_head=7 must be even"):
        RoPE.check_head(7)
    with pytest.raises(ValueError, match="rotary_dim=3 must be even"):
        RoPE(rotary_dim=3)
    PositionScheme.check_head(7)  # the others serve any width


def test_only_the_sinusoid_asks_for_scaled_token_vectors():
    assert [name for name in POSITION_SCHEMES if scheme_class(name).scales_tokens] == \
        ["sinusoidal"]
