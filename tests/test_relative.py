"""Position inside attention (ALiBi, T5, RoPE, Transformer-XL), checked against references
written out here: explicit loops over (i, j), the formulas in float64, published hand-checked
values, central finite differences."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from references import central_differences

from minimal_embed.attention import attend, attend_backward, softmax
from minimal_embed.relative import (
    T5RelativeBias,
    alibi_bias,
    alibi_slopes,
    rel_shift,
    relative_sinusoids,
    rope,
    rope_backward,
    rope_frequencies,
    t5_relative_buckets,
    transformer_xl_scores,
)

lengths = st.integers(1, 9).flatmap(lambda q: st.tuples(st.just(q), st.integers(q, q + 6)))
seeds = st.integers(0, 2**32 - 1)


def test_gradients_chain_through_rope_a_t5_bias_and_attention():
    """The one-layer model a trainer builds: rotate q and k, add a T5 bias, attend causally."""
    rng = np.random.default_rng(8)
    q, k, v = rng.standard_normal((3, 2, 5, 4))  # each (heads, seq, d_head)
    grad_out = rng.standard_normal((2, 5, 4))
    positions = np.arange(5)
    t5 = T5RelativeBias(8, 2, bidirectional=False, max_distance=10, dtype=np.float64, seed=9)

    def loss():
        out, _ = attend(rope(q, positions), rope(k, positions), v, bias=t5(5), causal=True)
        return np.sum(out * grad_out)

    q_rot, k_rot = rope(q, positions), rope(k, positions)
    _, weights = attend(q_rot, k_rot, v, bias=t5(5), causal=True)
    dq_rot, _, _, dbias = attend_backward(grad_out, q_rot, k_rot, v, weights,
                                          bias_shape=(2, 5, 5))
    np.testing.assert_allclose(rope_backward(dq_rot, positions), central_differences(loss, q),
                               atol=1e-7)
    np.testing.assert_allclose(t5.backward(dbias), central_differences(loss, t5.weight), atol=1e-7)


# --------------------------------------------------------------------------- ALiBi


def test_alibi_slopes_for_8_heads_are_one_half_to_one_over_256():
    np.testing.assert_array_equal(alibi_slopes(8, dtype=np.float64), 0.5 ** np.arange(1, 9))


def test_alibi_slopes_for_12_heads_add_every_other_slope_of_16():
    expected = [0.5**h for h in range(1, 9)] + [2**-0.5, 2**-1.5, 2**-2.5, 2**-3.5]
    np.testing.assert_allclose(alibi_slopes(12, dtype=np.float64), expected, rtol=1e-15)


def reference_slopes(n):
    """The paper's rule as a recursion: the power-of-two sequence, topped up from 2x heads."""
    if n & (n - 1) == 0:
        return [2.0 ** (-8.0 * h / n) for h in range(1, n + 1)]
    lower = 2 ** int(math.log2(n))
    return reference_slopes(lower) + reference_slopes(2 * lower)[0::2][: n - lower]


@given(st.integers(1, 300))
def test_alibi_slopes_follow_the_papers_rule_for_any_head_count(n_heads):
    got = alibi_slopes(n_heads, dtype=np.float64)
    np.testing.assert_allclose(got, reference_slopes(n_heads), rtol=1e-14)
    assert len(set(got.tolist())) == n_heads  # every head its own slope


@given(st.integers(1, 20), lengths, st.booleans())
def test_alibi_bias_is_minus_slope_times_distance_behind_the_query(n_heads, qk, symmetric):
    q_len, k_len = qk
    slopes = alibi_slopes(n_heads, dtype=np.float64)
    got = alibi_bias(n_heads, q_len, k_len, symmetric=symmetric, dtype=np.float64)
    assert got.shape == (n_heads, q_len, k_len)
    for i in range(q_len):
        for j in range(k_len):
            distance = i + k_len - q_len - j
            distance = abs(distance) if symmetric else distance
            np.testing.assert_array_equal(got[:, i, j], -slopes * distance)


@given(st.integers(1, 16), lengths, seeds)
def test_alibi_gives_the_same_causal_weights_as_the_shift_invariant_slope_times_key_form(
    n_heads, qk, seed
):
    q_len, k_len = qk
    scores = np.random.default_rng(seed).standard_normal((n_heads, q_len, k_len))
    slopes = alibi_slopes(n_heads, dtype=np.float64)
    bloom_form = slopes[:, None, None] * np.arange(k_len)  # m * j, the same for every row
    mask = np.arange(k_len) > np.arange(q_len)[:, None] + (k_len - q_len)
    ours = softmax(np.where(mask, -np.inf, scores + alibi_bias(n_heads, q_len, k_len, dtype=float)))
    theirs = softmax(np.where(mask, -np.inf, scores + bloom_form))
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-15)


def test_alibi_rejects_bad_counts():
    with pytest.raises(ValueError, match="n_heads must be an integer >= 1"):
        alibi_slopes(0)
    with pytest.raises(TypeError, match="n_heads must be an int"):
        alibi_slopes(8.0)
    with pytest.raises(ValueError, match="q_len=4 is more than k_len=2"):
        alibi_bias(8, 4, 2)


# --------------------------------------------------------------------------- T5


def bucket_at(relative, bidirectional=True):
    """The bucket (32 buckets, max_distance 128) of one key - query value, read off a grid."""
    n = abs(relative) + 1
    buckets = t5_relative_buckets(n, n, bidirectional=bidirectional)
    return int(buckets[0, relative] if relative >= 0 else buckets[n - 1, 0])


@pytest.mark.parametrize(
    ("relative", "bucket"),
    [(-7, 7), (-8, 8), (-20, 10), (-64, 14), (-128, 15),
     (1, 17), (8, 24), (64, 30), (128, 31)],
)
def test_t5_bidirectional_buckets_match_the_hand_checked_values(relative, bucket):
    assert bucket_at(relative) == bucket


@pytest.mark.parametrize(("relative", "bucket"), [(-15, 15), (-16, 16), (-64, 26), (0, 0)])
def test_t5_causal_buckets_match_the_hand_checked_values(relative, bucket):
    assert bucket_at(relative, bidirectional=False) == bucket


def test_t5_causal_buckets_put_every_future_key_in_bucket_zero():
    buckets = t5_relative_buckets(6, 40, bidirectional=False)  # queries at 34..39
    future = np.arange(40) > np.arange(6)[:, None] + 34
    assert future.sum() == 15 and (buckets[future] == 0).all()
    assert (buckets[~future] == 0).sum() == 6  # of the rest, only each query's own position


def formula_bucket(relative, bidirectional, num_buckets, max_distance):
    """T5's rule for one value, in float64 with math.log."""
    bucket = 0
    if bidirectional:
        num_buckets //= 2
        bucket += num_buckets if relative > 0 else 0
        distance = abs(relative)
    else:
        distance = max(-relative, 0)
    max_exact = num_buckets // 2
    if distance < max_exact:
        return bucket + distance
    scaled = math.log(distance / max_exact) / math.log(max_distance / max_exact)
    return bucket + min(max_exact + int(scaled * (num_buckets - max_exact)), num_buckets - 1)


bucket_settings = st.tuples(
    st.booleans(), st.sampled_from([4, 8, 16, 32, 64]), st.sampled_from([16, 20, 128, 300])
).filter(lambda s: s[2] > (s[1] // 2 if s[0] else s[1]) // 2)  # max_distance > max_exact


@given(bucket_settings, st.integers(1, 40), st.integers(0, 400))
def test_t5_buckets_equal_the_formula_in_float64(settings, q_len, extra):
    bidirectional, num_buckets, max_distance = settings
    k_len = q_len + extra
    got = t5_relative_buckets(
        q_len, k_len, bidirectional=bidirectional, num_buckets=num_buckets,
        max_distance=max_distance,
    )
    relative = np.arange(k_len) - (np.arange(q_len)[:, None] + extra)
    expected = np.vectorize(formula_bucket)(relative, bidirectional, num_buckets, max_distance)
    np.testing.assert_array_equal(got, expected)


@given(bucket_settings)
def test_t5_buckets_are_in_range_monotone_exact_near_and_saturate_at_max_distance(settings):
    bidirectional, num_buckets, max_distance = settings
    span = 2 * max_distance + 5
    row = t5_relative_buckets(
        span, 2 * span - 1, bidirectional=bidirectional, num_buckets=num_buckets,
        max_distance=max_distance,
    )[0]  # query at position span - 1: key - query runs -(span-1) .. span-1
    relative = np.arange(row.size) - (span - 1)
    assert row.min() >= 0 and row.max() < num_buckets
    half = num_buckets // 2 if bidirectional else num_buckets
    max_exact = half // 2
    behind = row[relative <= 0][::-1]  # distance 0, 1, 2, ... behind the query
    assert (np.diff(behind) >= 0).all()  # monotone in |distance|
    np.testing.assert_array_equal(behind[:max_exact], np.arange(max_exact))  # exact region
    assert (behind[max_distance:] == half - 1).all()  # everything >= max_distance: last bucket
    if bidirectional:
        ahead = row[relative > 0]  # distance 1, 2, ... after the query
        assert (np.diff(ahead) >= 0).all()
        np.testing.assert_array_equal(ahead[: max_exact - 1], half + np.arange(1, max_exact))
        assert (ahead[max_distance - 1:] == num_buckets - 1).all()


def test_t5_rejects_settings_that_would_take_log_of_zero_or_divide_by_zero():
    with pytest.raises(ValueError, match="num_buckets must be an integer >= 4"):
        t5_relative_buckets(3, 3, num_buckets=2)
    with pytest.raises(ValueError, match="max_distance=8 must exceed"):
        t5_relative_buckets(3, 3, num_buckets=32, max_distance=8)


@given(lengths, st.booleans(), seeds)
def test_t5_bias_reads_the_table_at_each_bucket(qk, bidirectional, seed):
    q_len, k_len = qk
    t5 = T5RelativeBias(16, 3, bidirectional=bidirectional, max_distance=20, seed=seed)
    buckets = t5_relative_buckets(
        q_len, k_len, bidirectional=bidirectional, num_buckets=16, max_distance=20
    )
    bias = t5(q_len, k_len)
    for h in range(3):
        np.testing.assert_array_equal(bias[h], t5.weight[buckets, h])


@given(lengths, st.booleans(), seeds)
def test_t5_backward_fast_path_equals_the_reference_scatter_add(qk, bidirectional, seed):
    q_len, k_len = qk
    t5 = T5RelativeBias(8, 2, bidirectional=bidirectional, max_distance=10, dtype=np.float64)
    grad = np.random.default_rng(seed).standard_normal((3, 2, q_len, k_len))  # with a batch
    np.testing.assert_allclose(t5.backward(grad), t5.backward_plain(grad), atol=1e-12)


def test_t5_backward_equals_finite_differences():
    rng = np.random.default_rng(4)
    t5 = T5RelativeBias(8, 2, max_distance=10, dtype=np.float64, seed=5)
    grad_bias = rng.standard_normal((2, 6, 9))

    def loss():
        return np.sum(t5(6, 9) * grad_bias)

    np.testing.assert_allclose(t5.backward(grad_bias), central_differences(loss, t5.weight),
                               atol=1e-8)


def test_t5_backward_rejects_a_gradient_for_another_head_count():
    with pytest.raises(ValueError, match="n_heads=2"):
        T5RelativeBias(8, 2, max_distance=10).backward(np.zeros((3, 4, 4)))


# --------------------------------------------------------------------------- RoPE


def complex_rope(x, positions, base=10000.0):
    """RoPE as RoFormer writes it: dims (2t, 2t+1) form a complex number times e^(i p theta_t)."""
    d = x.shape[-1]
    z = x[..., 0::2] + 1j * x[..., 1::2]
    theta = np.array([base ** (-2 * t / d) for t in range(d // 2)])
    z = z * np.exp(1j * np.outer(positions, theta))
    out = np.empty_like(x)
    out[..., 0::2], out[..., 1::2] = z.real, z.imag
    return out


def half_to_interleaved(rotary_dim):
    """The permutation taking GPT-NeoX's layout to GPT-J's: dim t <-> 2t, t + r/2 <-> 2t + 1."""
    return np.stack([np.arange(rotary_dim // 2), np.arange(rotary_dim // 2, rotary_dim)], 1).ravel()


@given(st.sampled_from([2, 4, 8, 16]), seeds)
def test_rope_interleaved_equals_roformers_complex_rotation(d_head, seed):
    x = np.random.default_rng(seed).standard_normal((3, 7, d_head))
    positions = np.array([0, 1, 5, 17, 100, 2047, 9])
    np.testing.assert_allclose(rope(x, positions, interleaved=True), complex_rope(x, positions),
                               rtol=1e-10, atol=1e-12)


@given(st.integers(0, 3000), st.integers(0, 3000), st.integers(-500, 500), st.booleans(), seeds)
def test_rope_dot_product_depends_only_on_the_position_difference(m, n, shift, interleaved, seed):
    rng = np.random.default_rng(seed)
    q, k = rng.standard_normal((1, 16)), rng.standard_normal((1, 16))

    def score(a, b):
        return (rope(q, np.array([a]), interleaved=interleaved)
                @ rope(k, np.array([b]), interleaved=interleaved).T).item()

    shifted = (m + shift, n + shift) if min(m, n) + shift >= 0 else (m, n)
    assert math.isclose(score(m, n), score(*shifted), rel_tol=1e-9, abs_tol=1e-9)


@given(st.booleans(), st.sampled_from([None, 2, 8]), seeds)
def test_rope_preserves_norms(interleaved, rotary_dim, seed):
    x = np.random.default_rng(seed).standard_normal((2, 5, 8))
    y = rope(x, np.array([0, 3, 7, 1000, 4]), interleaved=interleaved, rotary_dim=rotary_dim)
    np.testing.assert_allclose(np.linalg.norm(y, axis=-1), np.linalg.norm(x, axis=-1), rtol=1e-12)


@given(st.sampled_from([2, 4, 8]), seeds)
def test_rope_conventions_agree_up_to_a_fixed_permutation_of_dims(rotary_dim, seed):
    x = np.random.default_rng(seed).standard_normal((4, 8))
    positions = np.array([0, 1, 2, 300])
    perm = np.concatenate([half_to_interleaved(rotary_dim), np.arange(rotary_dim, 8)])
    neox = rope(x, positions, rotary_dim=rotary_dim)
    gptj = rope(x[:, perm], positions, interleaved=True, rotary_dim=rotary_dim)
    np.testing.assert_allclose(gptj, neox[:, perm], rtol=1e-12, atol=1e-15)


@given(st.booleans(), seeds)
def test_rope_rotary_dim_leaves_the_remaining_dims_untouched(interleaved, seed):
    x = np.random.default_rng(seed).standard_normal((2, 6, 16)).astype(np.float32)
    y = rope(x, np.arange(6) * 37, interleaved=interleaved, rotary_dim=4)  # GPT-NeoX's 25 %
    np.testing.assert_array_equal(y[..., 4:], x[..., 4:])
    np.testing.assert_allclose(y[..., :4], rope(x[..., :4], np.arange(6) * 37,
                                                interleaved=interleaved), rtol=1e-6)
    assert y.dtype == np.float32


def test_rope_at_position_zero_is_the_identity():
    x = np.random.default_rng(6).standard_normal((3, 1, 8))
    np.testing.assert_array_equal(rope(x, np.array([0])), x)


@given(st.booleans(), st.sampled_from([None, 2, 4]), seeds)
def test_rope_backward_equals_finite_differences(interleaved, rotary_dim, seed):
    rng = np.random.default_rng(seed)
    x, grad_out = rng.standard_normal((2, 3, 6)), rng.standard_normal((2, 3, 6))
    positions = np.array([2, 0, 51])
    options = {"interleaved": interleaved, "rotary_dim": rotary_dim}

    def loss():
        return np.sum(rope(x, positions, **options) * grad_out)

    np.testing.assert_allclose(rope_backward(grad_out, positions, **options),
                               central_differences(loss, x), atol=1e-8)


def test_rope_rejects_bad_positions_and_rotary_dims():
    x = np.zeros((3, 8))
    with pytest.raises(TypeError, match="positions must be integers"):
        rope(x, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match=r"shape \(seq,\) = \(3,\)"):
        rope(x, np.arange(4))
    with pytest.raises(ValueError, match="rotary_dim=5 must be even"):
        rope(x, np.arange(3), rotary_dim=5)
    with pytest.raises(ValueError, match="at most d_head=8"):
        rope(x, np.arange(3), rotary_dim=10)


def test_rope_base_of_a_wrong_type_is_a_type_error_and_numpy_floats_are_accepted():
    x = np.ones((3, 8))
    with pytest.raises(TypeError, match="base must be a number"):
        rope(x, np.arange(3), base="10000")
    np.testing.assert_array_equal(rope(x, np.arange(3), base=np.float32(500.0)),
                                  rope(x, np.arange(3), base=500.0))


# --------------------------------------------------------------------------- Transformer-XL


def test_relative_sinusoids_are_sin_then_cos_of_descending_distances():
    got = relative_sinusoids(5, 6, dtype=np.float64)
    for c in range(5):
        distance = 4 - c
        for t in range(3):
            angle = distance / 10000.0 ** (2 * t / 6)
            assert math.isclose(got[c, t], math.sin(angle), abs_tol=1e-15)
            assert math.isclose(got[c, 3 + t], math.cos(angle), abs_tol=1e-15)


@given(lengths)
def test_rel_shift_moves_row_i_left_by_q_len_minus_1_minus_i(qk):
    q_len, k_len = qk
    x = np.arange(q_len * k_len).reshape(q_len, k_len)
    got = rel_shift(x)
    for i in range(q_len):
        for j in range(i + k_len - q_len + 1):
            assert got[i, j] == x[i, j + q_len - 1 - i]


@given(lengths, seeds)
def test_transformer_xl_scores_equal_the_explicit_double_loop_on_the_lower_triangle(qk, seed):
    rng = np.random.default_rng(seed)
    q_len, k_len = qk
    n_heads, d_head, d_model = 2, 4, 6
    q = rng.standard_normal((n_heads, q_len, d_head))
    k = rng.standard_normal((n_heads, k_len, d_head))
    u, v = rng.standard_normal((n_heads, d_head)), rng.standard_normal((n_heads, d_head))
    w_r = rng.standard_normal((n_heads, d_model, d_head))
    sinusoids = relative_sinusoids(k_len, d_model, dtype=np.float64)  # distances k_len-1 .. 0
    got = transformer_xl_scores(q, k, sinusoids @ w_r, u, v)
    for h in range(n_heads):
        for i in range(q_len):
            for j in range(k_len):
                distance = i + k_len - q_len - j
                if distance < 0:
                    assert got[h, i, j] == -np.inf
                    continue
                r = relative_sinusoids(k_len, d_model, dtype=np.float64)[k_len - 1 - distance]
                expected = ((q[h, i] + u[h]) @ k[h, j] + (q[h, i] + v[h]) @ (r @ w_r[h])) / 2.0
                assert math.isclose(got[h, i, j], expected, rel_tol=1e-10, abs_tol=1e-12)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint64, np.int32])
def test_rope_backward_undoes_rope_for_unsigned_positions_too(dtype):
    x = np.random.default_rng(0).standard_normal((5, 8))
    positions = np.arange(5, dtype=dtype)
    np.testing.assert_allclose(rope_backward(rope(x, positions), positions), x, atol=1e-12)


@pytest.mark.parametrize("dtype", ["m8[s]", np.float64, bool])
def test_rope_refuses_positions_that_are_not_plain_integers(dtype):
    positions = np.arange(3).astype(dtype)
    with pytest.raises(TypeError, match="positions must be integers"):
        rope(np.ones((3, 4)), positions)
    with pytest.raises(TypeError, match="positions must be integers"):
        rope_backward(np.ones((3, 4)), positions)


@pytest.mark.parametrize("base", [0.0, -2.0, float("nan"), float("inf")])
def test_rope_refuses_a_base_that_is_not_finite_and_positive(base):
    with pytest.raises(ValueError, match="base must be a finite number > 0"):
        rope(np.ones((3, 4)), np.arange(3), base=base)


# --------------------------------------------------------------------------- RoPE scaling


def llama3_frequencies_looped(rotary_dim, base, factor, low, high, original):
    """Llama 3.1's rule one frequency at a time, as Meta's apply_scaling states it."""
    out = []
    for t in range(rotary_dim // 2):
        theta = base ** (-2 * t / rotary_dim)
        wavelength = 2 * math.pi / theta
        if wavelength < original / high:          # fast pairs: unchanged
            out.append(theta)
        elif wavelength > original / low:         # slow pairs: interpolated fully
            out.append(theta / factor)
        else:                                     # in between: a smooth mix of the two
            smooth = (original / wavelength - low) / (high - low)
            out.append((1 - smooth) * theta / factor + smooth * theta)
    return np.array(out)


@given(st.sampled_from([8, 16, 64, 128]), st.sampled_from([10000.0, 500000.0]),
       st.sampled_from([2.0, 8.0]), st.sampled_from([(1.0, 4.0), (0.5, 2.0)]),
       st.sampled_from([32, 8192]))
def test_llama3_frequencies_equal_the_rule_one_pair_at_a_time(dim, base, factor, band, original):
    scaling = {"kind": "llama3", "factor": factor, "low_freq_factor": band[0],
               "high_freq_factor": band[1], "original_max_len": original}
    np.testing.assert_allclose(rope_frequencies(dim, base, scaling=scaling),
                               llama3_frequencies_looped(dim, base, factor, *band, original),
                               rtol=1e-13)


def test_linear_scaling_turns_position_p_as_p_over_factor_did():
    x = np.random.default_rng(0).standard_normal((2, 4, 8))
    scaled = rope(x, np.array([0, 4, 8, 12]), interleaved=True,
                  scaling={"kind": "linear", "factor": 4.0})
    stretched = complex_rope(x, np.array([0.0, 1.0, 2.0, 3.0]))  # the positions divided by 4
    np.testing.assert_allclose(scaled, stretched, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(rope_backward(scaled, np.array([0, 4, 8, 12]), interleaved=True,
                                             scaling={"kind": "linear", "factor": 4.0}), x,
                               atol=1e-12)


def test_rope_scheme_carries_its_scaling_through_its_config():
    from minimal_embed.schemes import RoPE, from_config

    scheme = RoPE(base=500000.0, scaling={"kind": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                          "high_freq_factor": 4.0, "original_max_len": 8192})
    again = from_config(scheme.config())
    np.testing.assert_array_equal(again.frequencies(128), scheme.frequencies(128))
    x = np.random.default_rng(1).standard_normal((3, 128))
    np.testing.assert_array_equal(again.rotate(x, np.arange(3)), scheme.rotate(x, np.arange(3)))


@pytest.mark.parametrize(("scaling", "words"), [
    ({"kind": "yarn", "factor": 2.0}, "'yarn' is not supported; the supported kinds are linear"),
    ({"factor": 2.0}, "None is not supported"),
    ({"kind": "llama3", "factor": 2.0}, "needs the setting 'low_freq_factor'"),
    ({"kind": "linear", "factor": 0.0}, "factor must be a finite number > 0"),
    ({"kind": "llama3", "factor": 8.0, "low_freq_factor": 4.0, "high_freq_factor": 1.0,
      "original_max_len": 8192}, "high_freq_factor must be a finite number > 4.0"),
])
def test_rope_scaling_settings_are_checked_when_the_scheme_is_built(scaling, words):
    from minimal_embed.schemes import RoPE

    with pytest.raises(ValueError, match=words):
        RoPE(scaling=scaling)
