"""Position tables and combining them with token vectors, checked against the formulas.

The references here are written independently of the module: the sinusoid as ``math.sin`` /
``math.cos`` of ``p / base ** (2j / dim)`` in float64, rotations as explicit 2x2 matrices, the
learned table's backward as a loop over batch items, broadcasting as an explicit ``np.tile``, and
each backward through the adjoint identity <f(x), g> == <x, f*(g)> of a linear map.
"""

import math
import tracemalloc

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minimal_embed.positional import (
    LearnedPositions,
    add_positions,
    add_positions_backward,
    concat_positions,
    concat_positions_backward,
    scale_token_embeddings,
    scale_token_embeddings_backward,
    sinusoidal_table,
    sinusoidal_table_plain,
)

dims = st.integers(1, 40)
bases = st.sampled_from([10000.0, 500.0, 1e6])


def formula(p: int, column: int, dim: int, base: float = 10000.0, interleaved=True) -> float:
    """The value of PE at position p and one column, straight from the paper, in float64."""
    pairs = (dim + 1) // 2
    if interleaved:
        j, is_sin = column // 2, column % 2 == 0
    else:
        j, is_sin = (column, True) if column < pairs else (column - pairs, False)
    angle = p / base ** (2 * j / dim)
    return math.sin(angle) if is_sin else math.cos(angle)


def formula_table(positions: np.ndarray, dim: int, base: float = 10000.0) -> np.ndarray:
    """Interleaved table in float64, one np.sin / np.cos over all (p, j): the naive way."""
    j = np.arange(dim) // 2
    angles = positions[:, None].astype(np.float64) / base ** (2 * j / dim)
    return np.where(np.arange(dim) % 2 == 0, np.sin(angles), np.cos(angles))


# ----- the sinusoidal table -----------------------------------------------------------------

@given(n=st.integers(0, 50), dim=dims, offset=st.integers(0, 10**6),
       interleaved=st.booleans(), dtype=st.sampled_from([np.float32, np.float64]))
def test_table_shape_and_dtype_for_any_size(n, dim, offset, interleaved, dtype):
    table = sinusoidal_table(n, dim, offset=offset, interleaved=interleaved, dtype=dtype)
    assert table.shape == (n, dim)
    assert table.dtype == dtype
    assert table.flags.c_contiguous


@given(data=st.data(), dim=dims, base=bases, interleaved=st.booleans())
def test_sinusoid_matches_float64_formula_at_random_position_and_column(data, dim, base,
                                                                        interleaved):
    # Below p = 4096 the float64 angle itself is exact to ~5e-13, so 1e-12 is a fair bar.
    n = data.draw(st.integers(1, 300), label="n")
    offset = data.draw(st.integers(0, 4096 - n), label="offset")
    i = data.draw(st.integers(0, n - 1), label="row")
    column = data.draw(st.integers(0, dim - 1), label="column")
    table = sinusoidal_table(n, dim, base=base, offset=offset, interleaved=interleaved,
                             dtype=np.float64)
    expected = formula(offset + i, column, dim, base, interleaved)
    assert abs(table[i, column] - expected) <= 1e-12


@given(offset=st.integers(0, 10**6 - 64), dim=st.integers(1, 64))
def test_float64_table_is_within_rounding_of_the_angle_at_large_positions(offset, dim):
    # Past p = 4096 the reference's own angle p * w_j carries an error of about p * 2**-53;
    # a few of those is all the table may differ by.
    table = sinusoidal_table(64, dim, offset=offset, dtype=np.float64)
    expected = formula_table(np.arange(offset, offset + 64), dim)
    assert np.abs(table - expected).max() <= 1e-14 + 4 * (offset + 64) * 2.0**-53


@pytest.mark.parametrize("offset", [0, 8192, 123_457, 10**6 - 2048])
@pytest.mark.parametrize("dim", [512, 1023])
def test_float32_table_is_within_1e6_of_float64_math_below_a_million(offset, dim):
    table = sinusoidal_table(2048, dim, offset=offset)
    expected = formula_table(np.arange(offset, offset + 2048), dim)
    assert table.dtype == np.float32
    assert np.abs(table - expected).max() <= 1e-6


@given(n=st.integers(0, 200), dim=dims, base=bases, offset=st.integers(-10**5, 10**5),
       interleaved=st.booleans())
def test_fast_table_equals_plain_reference(n, dim, base, offset, interleaved):
    kwargs = dict(base=base, offset=offset, interleaved=interleaved)
    fast64 = sinusoidal_table(n, dim, dtype=np.float64, **kwargs)
    plain64 = sinusoidal_table_plain(n, dim, dtype=np.float64, **kwargs)
    assert np.allclose(fast64, plain64, rtol=0, atol=1e-14 + 4 * (abs(offset) + n) * 2.0**-53)
    fast32 = sinusoidal_table(n, dim, dtype=np.float32, **kwargs)
    assert np.abs(fast32 - plain64).max(initial=0) <= 1e-6


@given(n=st.integers(1, 30), dim=dims, offset=st.integers(0, 1000))
def test_halves_layout_holds_the_interleaved_values_as_sin_then_cos(n, dim, offset):
    inter = sinusoidal_table(n, dim, offset=offset, dtype=np.float64)
    halves = sinusoidal_table(n, dim, offset=offset, interleaved=False, dtype=np.float64)
    pairs = (dim + 1) // 2
    np.testing.assert_array_equal(halves[:, :pairs], inter[:, 0::2])
    np.testing.assert_array_equal(halves[:, pairs:], inter[:, 1::2])


@pytest.mark.parametrize("dim", [1, 3, 5, 101])
def test_odd_dim_ends_with_a_sin_column(dim):
    table = sinusoidal_table(20, dim, dtype=np.float64)
    last_j = (dim - 1) // 2
    expected = np.sin(np.arange(20) / 10000.0 ** (2 * last_j / dim))
    np.testing.assert_allclose(table[:, -1], expected, rtol=0, atol=1e-15)
    assert table[0, -1] == 0.0        # sin(0): a cos column would start at 1


@given(n=st.integers(1, 100), pairs=st.integers(1, 20), offset=st.integers(0, 10**6))
def test_sin_squared_plus_cos_squared_is_one_per_frequency_pair(n, pairs, offset):
    table = sinusoidal_table(n, 2 * pairs, offset=offset, dtype=np.float64)
    sin, cos = table[:, 0::2], table[:, 1::2]
    np.testing.assert_allclose(sin**2 + cos**2, 1.0, rtol=0, atol=1e-14)


@given(pairs=st.integers(1, 32), p=st.integers(0, 2000), q=st.integers(0, 2000),
       k=st.integers(0, 2000))
def test_dot_products_depend_only_on_the_offset(pairs, p, q, k):
    # PE[p] . PE[q] = sum_j cos((p - q) w_j): only p - q matters (even dim: every sin has its cos)
    table = sinusoidal_table(4001, 2 * pairs, dtype=np.float64)
    assert table[p + k] @ table[q + k] == pytest.approx(table[p] @ table[q], abs=1e-11)


@given(pairs=st.integers(1, 32), p=st.integers(0, 3000), k=st.integers(0, 3000),
       base=bases)
def test_shifting_by_k_is_a_fixed_rotation_per_frequency_pair(pairs, p, k, base):
    dim = 2 * pairs
    table = sinusoidal_table(6001, dim, base=base, dtype=np.float64)
    w = 1.0 / base ** (2 * np.arange(pairs) / dim)
    c, s = np.cos(k * w), np.sin(k * w)
    # [sin(a + b), cos(a + b)] = [[cos b, sin b], [-sin b, cos b]] @ [sin a, cos a]
    rotation = np.stack([np.stack([c, s], -1), np.stack([-s, c], -1)], -2)   # (pairs, 2, 2)
    before = table[p].reshape(pairs, 2)
    after = table[p + k].reshape(pairs, 2)
    np.testing.assert_allclose(np.einsum("jab,jb->ja", rotation, before), after,
                               rtol=0, atol=1e-11)


@pytest.mark.parametrize("bad", [dict(num_positions=-1, dim=4), dict(num_positions=4, dim=0),
                                 dict(num_positions=4, dim=4, base=0.0),
                                 dict(num_positions=4, dim=4, base=float("nan"))])
def test_table_rejects_bad_sizes_with_value_error(bad):
    with pytest.raises(ValueError, match="num_positions|dim|base"):
        sinusoidal_table(**bad)


@pytest.mark.parametrize("offset", [np.int64(2**63 - 2), 2**53, -(2**53) - 1, np.int64(-(2**63))])
def test_an_offset_beyond_exact_float64_positions_is_refused_not_overflowed(offset):
    # the check itself once overflowed in int64 and let garbage rows through
    with pytest.raises(ValueError, match="offset"):
        sinusoidal_table(2, 4, offset=offset)


def test_table_rejects_non_integer_offset_and_integer_dtype():
    with pytest.raises(TypeError, match="offset"):
        sinusoidal_table(4, 4, offset=1.5)
    with pytest.raises(TypeError, match="dtype"):
        sinusoidal_table(4, 4, dtype=np.int32)


# ----- the learned table --------------------------------------------------------------------

@given(max_len=st.integers(1, 30), dim=st.integers(1, 8), data=st.data())
def test_learned_forward_returns_the_rows_at_the_positions(max_len, dim, data):
    pos = LearnedPositions(max_len, dim, seed=1)
    offset = data.draw(st.integers(0, max_len), label="offset")
    seq_len = data.draw(st.integers(0, max_len - offset), label="seq_len")
    out = pos.forward(seq_len, offset=offset)
    assert out.shape == (seq_len, dim)
    for i in range(seq_len):
        np.testing.assert_array_equal(out[i], pos.weight[offset + i])


@given(max_len=st.integers(1, 20), dim=st.integers(1, 6), batch=st.integers(1, 5),
       batch_first=st.booleans(), data=st.data())
def test_learned_backward_equals_the_sum_over_the_batch(max_len, dim, batch, batch_first, data):
    pos = LearnedPositions(max_len, dim, dtype=np.float64)
    offset = data.draw(st.integers(0, max_len - 1), label="offset")
    seq_len = data.draw(st.integers(1, max_len - offset), label="seq_len")
    rng = np.random.default_rng(seq_len)
    grad_out = rng.standard_normal((seq_len, batch, dim))        # (seq_len, batch, dim)
    expected = np.zeros((max_len, dim))
    for b in range(batch):                                       # naive: one item at a time
        for i in range(seq_len):
            expected[offset + i] += grad_out[i, b]
    given_grad = grad_out.transpose(1, 0, 2) if batch_first else grad_out
    got = pos.backward(given_grad, offset=offset, batch_first=batch_first)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_learned_init_has_the_requested_std_and_is_seeded():
    pos = LearnedPositions(1024, 64, std=0.01, seed=3)
    assert pos.weight.dtype == np.float32
    assert abs(pos.weight.std() - 0.01) < 0.0005
    np.testing.assert_array_equal(pos.weight, LearnedPositions(1024, 64, std=0.01, seed=3).weight)


@pytest.mark.parametrize("seq_len, offset", [(9, 0), (5, 4), (1, 8)])
def test_too_long_sequence_error_names_seq_len_offset_and_max_len(seq_len, offset):
    pos = LearnedPositions(8, 4)
    with pytest.raises(ValueError) as error:
        pos.forward(seq_len, offset=offset)
    message = str(error.value)
    assert f"seq_len={seq_len}" in message and f"offset={offset}" in message
    assert "max_len=8" in message
    with pytest.raises(ValueError, match="max_len=8"):
        pos.backward(np.zeros((seq_len, 2, 4)), offset=offset)


@pytest.mark.parametrize("std", [float("nan"), float("inf"), -0.1])
def test_learned_std_must_be_finite_and_not_negative(std):
    with pytest.raises(ValueError, match="std must be a finite number >= 0.0"):
        LearnedPositions(8, 4, std=std)


@pytest.mark.parametrize("dtype", [np.int32, bool, "U3"])
def test_learned_dtype_must_be_floating_point(dtype):
    with pytest.raises(TypeError, match="dtype must be a floating-point dtype"):
        LearnedPositions(8, 4, dtype=dtype)


def test_learned_takes_numpy_scalars_as_python_numbers():
    numpy_args = LearnedPositions(np.int64(8), np.int32(4), std=np.float32(0.5), seed=np.int64(1))
    np.testing.assert_array_equal(numpy_args.weight,
                                  LearnedPositions(8, 4, std=float(np.float32(0.5)), seed=1).weight)


def test_learned_rejects_negative_offset_and_wrong_gradient_width():
    pos = LearnedPositions(8, 4)
    with pytest.raises(ValueError, match="offset"):
        pos.forward(2, offset=-1)
    with pytest.raises(ValueError, match="grad_out"):
        pos.backward(np.zeros((2, 3, 5)))


# ----- combining ----------------------------------------------------------------------------

shapes = st.tuples(st.integers(1, 12), st.integers(1, 5), st.integers(1, 8))  # seq, batch, d


@given(shape=shapes, batch_first=st.booleans())
def test_broadcast_add_equals_an_explicitly_tiled_add(shape, batch_first):
    seq_len, batch, d = shape
    rng = np.random.default_rng(0)
    tok = rng.standard_normal((seq_len, batch, d))
    table = rng.standard_normal((seq_len, d))
    tiled = np.tile(table[:, None, :], (1, batch, 1))               # (seq_len, batch, d)
    if batch_first:
        got = add_positions(tok.transpose(1, 0, 2), table, batch_first=True)
        np.testing.assert_array_equal(got, (tok + tiled).transpose(1, 0, 2))
    else:
        np.testing.assert_array_equal(add_positions(tok, table), tok + tiled)


@pytest.mark.parametrize("combine", [add_positions, concat_positions])
@pytest.mark.parametrize("batch_first", [False, True])
def test_combining_never_tiles_the_table_per_batch_item(combine, batch_first):
    # Peak memory is the output alone; a tiled table would add one more output-sized array.
    tok = np.ones((32, 64, 64) if batch_first else (64, 32, 64))   # 1 MiB, either layout
    table = np.ones((64, 64))
    tracemalloc.start()
    out = combine(tok, table, batch_first=batch_first)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 1.25 * out.nbytes


@given(shape=shapes, d_pos=st.integers(1, 6))
def test_batch_first_output_is_the_transpose_of_seq_first(shape, d_pos):
    seq_len, batch, d = shape
    rng = np.random.default_rng(1)
    tok = rng.standard_normal((seq_len, batch, d))                  # (seq_len, batch, d)
    table = rng.standard_normal((seq_len, d))
    wide = rng.standard_normal((seq_len, d_pos))
    for combine, pos in ((add_positions, table), (concat_positions, wide)):
        seq_first = combine(tok, pos)
        batch_first = combine(tok.transpose(1, 0, 2), pos, batch_first=True)
        np.testing.assert_array_equal(batch_first, seq_first.transpose(1, 0, 2))


@given(shape=shapes, d_pos=st.integers(1, 6), batch_first=st.booleans())
def test_combine_shapes_for_both_layouts(shape, d_pos, batch_first):
    seq_len, batch, d = shape
    tok_shape = (batch, seq_len, d) if batch_first else (seq_len, batch, d)
    tok = np.zeros(tok_shape, dtype=np.float32)
    assert add_positions(tok, sinusoidal_table(seq_len, d), batch_first=batch_first).shape \
        == tok_shape
    assert concat_positions(tok, sinusoidal_table(seq_len, d_pos), batch_first=batch_first).shape \
        == tok_shape[:2] + (d + d_pos,)


def test_concat_puts_token_columns_first_and_positions_after():
    tok = np.arange(12.0).reshape(3, 2, 2)                          # (seq_len, batch, d_tok)
    table = np.array([[10.0], [20.0], [30.0]])                      # (seq_len, d_pos)
    out = concat_positions(tok, table)
    assert out[2, 1].tolist() == [10.0, 11.0, 30.0]
    assert out[0, 0].tolist() == [0.0, 1.0, 10.0]


def _inner(a, b) -> float:
    return float(np.sum(a * b))


@given(shape=shapes, d_pos=st.integers(1, 6), batch_first=st.booleans())
def test_combine_backwards_are_the_adjoints_of_the_forwards(shape, d_pos, batch_first):
    # For a linear map f, the backward f* must satisfy <f(t, p), g> = <t, gt> + <p, gp>.
    seq_len, batch, d = shape
    rng = np.random.default_rng(2)
    tok_shape = (batch, seq_len, d) if batch_first else (seq_len, batch, d)
    tok = rng.standard_normal(tok_shape)
    table, wide = rng.standard_normal((seq_len, d)), rng.standard_normal((seq_len, d_pos))

    g = rng.standard_normal(tok_shape)
    g_tok, g_pos = add_positions_backward(g, batch_first=batch_first)
    lhs = _inner(add_positions(tok, table, batch_first=batch_first), g)
    assert lhs == pytest.approx(_inner(tok, g_tok) + _inner(table, g_pos), rel=1e-12, abs=1e-12)

    g = rng.standard_normal(tok_shape[:2] + (d + d_pos,))
    g_tok, g_pos = concat_positions_backward(g, d, batch_first=batch_first)
    assert g_tok.shape == tok.shape and g_pos.shape == wide.shape
    lhs = _inner(concat_positions(tok, wide, batch_first=batch_first), g)
    assert lhs == pytest.approx(_inner(tok, g_tok) + _inner(wide, g_pos), rel=1e-12, abs=1e-12)

    g = rng.standard_normal(tok_shape)
    lhs = _inner(scale_token_embeddings(tok), g)
    assert lhs == pytest.approx(_inner(tok, scale_token_embeddings_backward(g)),
                                rel=1e-12, abs=1e-12)


def test_scaling_multiplies_by_sqrt_d_model_and_keeps_float32():
    tok = np.full((2, 3, 16), 0.5, dtype=np.float32)
    out = scale_token_embeddings(tok)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, 2.0)
    np.testing.assert_allclose(scale_token_embeddings(tok, d_model=512), 0.5 * math.sqrt(512))


def test_length_mismatch_error_names_the_sequence_axis_and_batch_first():
    tok = np.zeros((4, 7, 8))                                       # (batch, seq_len, d_model)
    with pytest.raises(ValueError) as error:
        add_positions(tok, sinusoidal_table(7, 8))
    message = str(error.value)
    assert "axis 0" in message and "batch_first=False" in message
    assert "pass batch_first=True" in message                       # axis 1 has 7: a hint
    with pytest.raises(ValueError, match="axis 1.*batch_first=True"):
        concat_positions(np.zeros((7, 4, 8)), sinusoidal_table(4 + 1, 2), batch_first=True)


def test_mismatched_widths_and_wrong_ranks_are_refused():
    with pytest.raises(ValueError, match="d_model mismatch.*8.*6"):
        add_positions(np.zeros((3, 2, 8)), sinusoidal_table(3, 6))
    with pytest.raises(ValueError, match="token_emb"):
        add_positions(np.zeros((3, 2, 2, 8)), sinusoidal_table(3, 8))
    with pytest.raises(ValueError, match="pos_table"):
        add_positions(np.zeros((3, 2, 8)), np.zeros((3, 1, 8)))
    with pytest.raises(ValueError, match="d_tok"):
        concat_positions_backward(np.zeros((3, 2, 8)), 9)
