"""Embedding: lookup is one_hot(ids) @ E, backward is its transpose, checked against references.

The references here are deliberately the slow, obvious ones: a one-hot matrix product, np.add.at
(the package's own sum_rows_by_id_plain, itself checked against a Python dict of row sums), central
finite differences; and PyTorch's nn.functional.embedding autograd when torch is installed.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from minimal_embed import Embedding, InputEmbedding, LearnedPositions, SparseRows
from minimal_embed.checkpoint import write_checkpoint
from minimal_embed.embedding import sum_rows_by_id, sum_rows_by_id_plain


def one_hot(ids, num_embeddings):
    """(n, V) float64 matrix with a 1 at (i, ids[i]); the lookup written as a matrix product."""
    flat = np.asarray(ids).reshape(-1)
    matrix = np.zeros((flat.size, num_embeddings))
    matrix[np.arange(flat.size), flat] = 1.0
    return matrix


@st.composite
def tables_and_ids(draw, max_vocab=12, max_dim=5):
    """A float64 Embedding, ids of a random shape (0 to 3 axes), and a matching grad_out."""
    vocab = draw(st.integers(1, max_vocab))
    dim = draw(st.integers(1, max_dim))
    seed = draw(st.integers(0, 2**32 - 1))
    emb = Embedding(vocab, dim, seed=seed, dtype=np.float64)
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6))
    ids = draw(hnp.arrays(np.int64, shape, elements=st.integers(0, vocab - 1)))
    grad_out = np.random.default_rng(seed).standard_normal((*shape, dim))
    return emb, ids, grad_out


# --- lookup ---------------------------------------------------------------------------------


@given(tables_and_ids())
def test_lookup_equals_one_hot_matrix_product(case):
    emb, ids, _ = case
    expected = (one_hot(ids, emb.num_embeddings) @ emb.weight).reshape(*ids.shape, emb.dim)
    np.testing.assert_array_equal(emb(ids), expected)


def test_lookup_keeps_the_ids_shape_in_either_layout():
    emb = Embedding(50, 8, seed=1)
    ids = np.random.default_rng(0).integers(0, 50, (7, 3))  # (seq_len, batch)
    assert emb(ids).shape == (7, 3, 8)
    np.testing.assert_array_equal(emb(ids.T), emb(ids).transpose(1, 0, 2))
    assert emb(4).shape == (8,)
    assert emb([]).shape == (0, 8)


def test_lookup_returns_a_copy_not_a_view_of_the_table():
    emb = Embedding(5, 3, seed=0)
    before = emb.weight.copy()
    for ids in (2, np.array(2), np.array([2, 2])):
        emb(ids)[...] = 99.0
    np.testing.assert_array_equal(emb.weight, before)


def test_same_seed_gives_the_same_table_and_std_scales_it():
    a = Embedding(100, 16, seed=7, std=0.02)
    b = Embedding(100, 16, seed=7, std=0.02)
    np.testing.assert_array_equal(a.weight, b.weight)
    assert a.weight.dtype == np.float32
    assert 0.015 < Embedding(2000, 64, seed=3, std=0.02).weight.std() < 0.025
    assert Embedding(4, 2, seed=0, dtype=np.float16).weight.dtype == np.float16


# --- backward -------------------------------------------------------------------------------


@given(tables_and_ids())
def test_dense_backward_equals_one_hot_transpose_times_grad_out(case):
    emb, ids, grad_out = case
    expected = one_hot(ids, emb.num_embeddings).T @ grad_out.reshape(-1, emb.dim)
    np.testing.assert_allclose(emb.backward(ids, grad_out), expected, rtol=1e-12, atol=1e-12)


@given(tables_and_ids(max_vocab=4))
def test_dense_backward_equals_np_add_at_even_with_many_repeats(case):
    emb, ids, grad_out = case
    expected = np.zeros_like(emb.weight)
    np.add.at(expected, ids.reshape(-1), grad_out.reshape(-1, emb.dim))
    np.testing.assert_allclose(emb.backward(ids, grad_out), expected, rtol=1e-12, atol=1e-12)


def test_dense_backward_equals_central_finite_differences_of_a_linear_loss():
    rng = np.random.default_rng(5)
    emb = Embedding(6, 3, seed=2, dtype=np.float64)
    ids = np.array([[0, 5, 5], [2, 0, 5]])
    weights = rng.standard_normal((2, 3, 3))  # L(E) = sum(weights * E[ids])

    def loss(table):
        return float(np.sum(weights * table[ids]))

    h = 1e-6
    numeric = np.zeros_like(emb.weight)
    for row, col in np.ndindex(emb.weight.shape):
        step = np.zeros_like(emb.weight)
        step[row, col] = h
        numeric[row, col] = (loss(emb.weight + step) - loss(emb.weight - step)) / (2 * h)
    np.testing.assert_allclose(emb.backward(ids, weights), numeric, rtol=1e-7, atol=1e-8)


def test_repeated_ids_accumulate_where_the_fancy_index_bug_keeps_one():
    emb = Embedding(4, 2, seed=0, dtype=np.float64)
    ids = np.array([3, 1, 3, 3])
    grad_out = np.ones((4, 2))
    buggy = np.zeros((4, 2))
    buggy[ids] += grad_out  # the classic mistake: row 3 gets 1, not 3
    grad = emb.backward(ids, grad_out)
    np.testing.assert_array_equal(grad[:, 0], [0.0, 1.0, 0.0, 3.0])
    assert buggy[3, 0] == 1.0


@pytest.mark.parametrize("sum_rows", [sum_rows_by_id_plain, sum_rows_by_id])
@given(
    st.lists(st.integers(0, 20), max_size=200),
    st.integers(1, 4),
)
def test_sum_rows_by_id_plain_and_fast_equal_a_dictionary_of_row_sums(sum_rows, ids, dim):
    ids = np.array(ids, dtype=np.int64)
    rows = np.random.default_rng(ids.size).standard_normal((ids.size, dim))
    expected = {}
    for i, row in zip(ids.tolist(), rows, strict=True):
        expected[i] = expected.get(i, 0.0) + row
    unique, sums = sum_rows(ids, rows)
    assert unique.dtype == np.int64 and unique.tolist() == sorted(expected)
    assert sums.shape == (len(expected), dim) and sums.dtype == rows.dtype
    for i, total in zip(unique.tolist(), sums, strict=True):
        np.testing.assert_allclose(total, expected[i], rtol=1e-12, atol=1e-12)


@given(
    ids=st.lists(st.integers(0, 7), max_size=80),
    dim=st.integers(1, 4),
    padding_idx=st.none() | st.integers(0, 7),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 2**32 - 1),
)
def test_backward_dense_and_sparse_equal_the_plain_scatter_add(ids, dim, padding_idx, dtype, seed):
    emb = Embedding(8, dim, seed=0, dtype=dtype, padding_idx=padding_idx)
    ids = np.array(ids, dtype=np.int64)  # 80 ids over 8 rows: many repeats
    grad_out = np.random.default_rng(seed).standard_normal((ids.size, dim)).astype(dtype)
    unique, sums = sum_rows_by_id_plain(ids, grad_out)
    keep = unique != padding_idx
    unique, sums = unique[keep], sums[keep]
    plain_dense = np.zeros_like(emb.weight)
    plain_dense[unique] = sums
    # pairwise and sequential sums of the same n rows each stay within n * eps * sum(|row|)
    _, magnitude = sum_rows_by_id_plain(ids, np.abs(grad_out).astype(np.float64))
    bound = np.zeros(emb.weight.shape)
    bound[unique] = 2 * ids.size * np.finfo(dtype).eps * magnitude[keep]

    dense = emb.backward(ids, grad_out)
    sparse = emb.backward(ids, grad_out, sparse=True)
    assert dense.dtype == sparse.values.dtype == dtype
    assert np.all(np.abs(dense - plain_dense) <= bound)
    assert sparse.indices.tolist() == unique.tolist()
    assert np.all(np.abs(sparse.values - sums) <= bound[unique])
    if ids.size == 0 or np.bincount(ids).max() <= 2:  # no run long enough to sum in another order
        np.testing.assert_array_equal(dense, plain_dense)


def test_sum_rows_by_id_handles_one_id_repeated_8192_times_in_float32():
    rows = np.random.default_rng(0).standard_normal((8192, 4)).astype(np.float32)
    unique, sums = sum_rows_by_id(np.full(8192, 7), rows)
    assert unique.tolist() == [7]
    np.testing.assert_allclose(sums[0], rows.astype(np.float64).sum(axis=0), rtol=0, atol=1e-3)


@given(tables_and_ids())
def test_sparse_rows_rebuilt_equal_the_dense_gradient(case):
    emb, ids, grad_out = case
    sparse = emb.backward(ids, grad_out, sparse=True)
    assert isinstance(sparse, SparseRows)
    assert sparse.indices.tolist() == sorted(set(ids.reshape(-1).tolist()))
    assert sparse.values.shape == (sparse.indices.size, emb.dim)
    dense = emb.backward(ids, grad_out)
    np.testing.assert_array_equal(sparse.to_dense(emb.num_embeddings), dense)


def test_backward_accepts_either_layout_of_ids_and_grad_out():
    emb = Embedding(30, 4, seed=0, dtype=np.float64)
    rng = np.random.default_rng(1)
    ids = rng.integers(0, 30, (5, 2))  # (seq_len, batch)
    grad_out = rng.standard_normal((5, 2, 4))
    seq_first = emb.backward(ids, grad_out)
    batch_first = emb.backward(ids.T, grad_out.transpose(1, 0, 2))  # non-contiguous views
    np.testing.assert_allclose(batch_first, seq_first, rtol=1e-15)


def test_backward_into_out_overwrites_the_buffer_and_returns_it():
    emb = Embedding(10, 3, seed=0)
    ids = np.array([1, 1, 4])
    grad_out = np.ones((3, 3), dtype=np.float32)
    buffer = np.full((10, 3), 123.0, dtype=np.float32)
    result = emb.backward(ids, grad_out, out=buffer)
    assert result is buffer
    np.testing.assert_array_equal(buffer, emb.backward(ids, grad_out))


def test_backward_of_no_ids_is_zero():
    emb = Embedding(6, 2, seed=0)
    assert not emb.backward([], np.zeros((0, 2), np.float32)).any()
    assert emb.backward([], np.zeros((0, 2), np.float32), sparse=True).indices.size == 0


# --- padding row ----------------------------------------------------------------------------


def test_padding_row_starts_at_zero_and_gets_no_gradient():
    emb = Embedding(8, 3, seed=0, padding_idx=2, dtype=np.float64)
    assert not emb.weight[2].any()
    assert emb.weight[[0, 1, 3]].any()
    ids = np.array([[2, 5], [2, 2]])
    grad_out = np.ones((2, 2, 3))
    dense = emb.backward(ids, grad_out)
    assert not dense[2].any()
    np.testing.assert_array_equal(dense[5], [1.0, 1.0, 1.0])
    assert emb.backward(ids, grad_out, sparse=True).indices.tolist() == [5]


def test_from_pretrained_copies_the_table_and_keeps_a_pretrained_padding_row():
    table = np.arange(12, dtype=np.float64).reshape(4, 3)
    emb = Embedding.from_pretrained(table, padding_idx=1)
    emb.weight[0] = -1.0
    assert table[0, 0] == 0.0
    np.testing.assert_array_equal(emb(1), [3.0, 4.0, 5.0])
    assert not emb.backward([1], np.ones((1, 3)))[1].any()


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ids", [np.array([1.0, 2.0]), np.array([True, False]), [0.5], np.array(["1"]), [1 + 0j]]
)
def test_non_integer_ids_raise_type_error(ids):
    emb = Embedding(5, 2, seed=0)
    with pytest.raises(TypeError, match="integers"):
        emb(ids)
    with pytest.raises(TypeError, match="integers"):
        emb.backward(ids, np.zeros((*np.shape(ids), 2), np.float32))


@pytest.mark.parametrize("bad", [-1, 5, 50257])
def test_out_of_range_ids_raise_value_error_naming_the_id_and_the_vocabulary(bad):
    emb = Embedding(5, 2, seed=0)
    ids = np.array([[0, 1], [bad, 2]])
    with pytest.raises(ValueError, match=rf"token id {bad} at position \(1, 0\).*num_embeddings=5"):
        emb(ids)
    with pytest.raises(ValueError, match=f"token id {bad}"):
        emb.backward(ids, np.zeros((2, 2, 2), np.float32))


def test_the_first_bad_id_in_order_is_named():
    with pytest.raises(ValueError, match="token id 9 at position"):
        Embedding(5, 2, seed=0)(np.array([0, 9, -3, 7]))


def test_grad_out_of_the_wrong_shape_or_dtype_is_refused():
    emb = Embedding(5, 2, seed=0)
    ids = np.array([[0, 1, 2]])
    with pytest.raises(ValueError, match=r"\(1, 3, 2\)"):
        emb.backward(ids, np.zeros((3, 1, 2), np.float32))
    with pytest.raises(ValueError, match="ids.shape"):
        emb.backward(ids, np.zeros((1, 3, 4), np.float32))
    with pytest.raises(TypeError, match="floating"):
        emb.backward(ids, np.zeros((1, 3, 2), np.int64))


def test_bad_out_buffers_are_refused():
    emb = Embedding(5, 2, seed=0)
    grad_out = np.zeros((1, 2), np.float32)
    with pytest.raises(ValueError, match="shape"):
        emb.backward([0], grad_out, out=np.zeros((4, 2), np.float32))
    with pytest.raises(TypeError, match="dtype"):
        emb.backward([0], grad_out, out=np.zeros((5, 2), np.float64))
    with pytest.raises(ValueError, match="sparse"):
        emb.backward([0], grad_out, sparse=True, out=np.zeros((5, 2), np.float32))


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"dim": 2, "num_embeddings": 0}, ValueError),  # the bad argument comes last
        ({"num_embeddings": 3, "dim": 2.0}, TypeError),
        ({"dim": 2, "num_embeddings": True}, TypeError),
        ({"num_embeddings": 3, "dim": 2, "std": -1.0}, ValueError),
        ({"num_embeddings": 3, "dim": 2, "std": float("nan")}, ValueError),
        ({"num_embeddings": 3, "dim": 2, "std": "0.02"}, TypeError),
        ({"num_embeddings": 3, "dim": 2, "dtype": np.int32}, TypeError),
        ({"num_embeddings": 3, "dim": 2, "padding_idx": 3}, ValueError),
        ({"num_embeddings": 3, "dim": 2, "padding_idx": -1}, ValueError),
        ({"num_embeddings": 3, "dim": 2, "padding_idx": 1.0}, TypeError),
        ({"num_embeddings": 3, "dim": 2, "padding_idx": True}, TypeError),
    ],
)
def test_bad_constructor_arguments_raise_type_error_for_a_type_value_error_for_a_value(
    kwargs, error
):
    name = next(reversed(kwargs))
    with pytest.raises(error, match=name):
        Embedding(**kwargs)


def test_numpy_scalars_are_accepted_wherever_python_numbers_are():
    emb = Embedding(np.int64(5), np.int32(3), std=np.float32(0.02), padding_idx=np.uint8(4))
    assert emb.weight.shape == (5, 3) and emb.padding_idx == 4
    assert type(emb.padding_idx) is int


def test_from_pretrained_refuses_a_non_floating_table_or_padding_row():
    with pytest.raises(TypeError, match="floating"):
        Embedding.from_pretrained(np.zeros((3, 2), dtype=np.int64))
    with pytest.raises(TypeError, match="padding_idx"):
        Embedding.from_pretrained(np.zeros((3, 2)), padding_idx=0.0)
    with pytest.raises(ValueError, match=r"padding_idx must be a row 0\.\.2"):
        Embedding.from_pretrained(np.zeros((3, 2)), padding_idx=3)


# --- files ----------------------------------------------------------------------------------


def test_save_then_load_gives_the_same_table_and_padding_row(tmp_path):
    emb = Embedding(7, 3, seed=4, padding_idx=6, dtype=np.float64)
    path = tmp_path / "table.npz"
    emb.save(path)
    loaded = Embedding.load(path)
    np.testing.assert_array_equal(loaded.weight, emb.weight)
    assert loaded.weight.dtype == np.float64
    assert loaded.padding_idx == 6
    emb_plain = Embedding(2, 2, seed=0)
    emb_plain.save(tmp_path / "plain")  # written under exactly the name given
    assert Embedding.load(tmp_path / "plain").padding_idx is None


def test_load_refuses_foreign_and_pickled_files(tmp_path):
    np.savez(tmp_path / "other.npz", table=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="other.npz.*not a checkpoint"):
        Embedding.load(tmp_path / "other.npz")
    np.savez(tmp_path / "pickled.npz", weight=np.array([{"evil": 1}], dtype=object))
    with pytest.raises(ValueError, match="pickled.npz"):
        Embedding.load(tmp_path / "pickled.npz")
    InputEmbedding(None, 2, vocab_size=3, max_len=2).save(tmp_path / "stage.npz")
    with pytest.raises(ValueError, match="holds no Embedding"):
        Embedding.load(tmp_path / "stage.npz")


@pytest.mark.parametrize("padding", [1.0, "1", True, [1]])
def test_load_refuses_a_padding_idx_that_is_not_an_integer(tmp_path, padding):
    write_checkpoint(tmp_path / "bad.npz", {"weight": np.zeros((3, 2))},
                     {"embedding": {"padding_idx": padding}})
    with pytest.raises(ValueError, match="bad.npz: padding_idx must be an integer"):
        Embedding.load(tmp_path / "bad.npz")


def test_a_version_1_embedding_file_still_loads(tmp_path):
    # what minimal_embed 0.1's Embedding.save wrote
    weight = np.arange(6, dtype=np.float32).reshape(3, 2)
    with open(tmp_path / "old.npz", "wb") as file:
        np.savez(file, format=np.array("minimal_embed.Embedding/1"), weight=weight,
                 padding_idx=np.array(2, dtype=np.int64))
    loaded = Embedding.load(tmp_path / "old.npz")
    np.testing.assert_array_equal(loaded.weight, weight)
    assert loaded.padding_idx == 2


# --- PyTorch as an independent reference (skipped when torch is missing) --------------------


def test_forward_and_autograd_backward_match_torch_embedding():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    emb = Embedding(40, 6, seed=3, padding_idx=0, dtype=np.float64)
    ids = rng.integers(0, 40, (9, 4))
    ids[::3, 1] = 0  # some padding positions
    ids[:, 2] = 17  # and a heavily repeated id
    grad_out = rng.standard_normal((9, 4, 6))

    weight = torch.tensor(emb.weight, requires_grad=True)
    out = torch.nn.functional.embedding(torch.from_numpy(ids), weight, padding_idx=0)
    out.backward(torch.from_numpy(grad_out))
    np.testing.assert_array_equal(emb(ids), out.detach().numpy())
    np.testing.assert_allclose(emb.backward(ids, grad_out), weight.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("dtype", ["m8[s]", "M8[D]", bool, np.float32, object])
def test_ids_that_are_not_plain_integers_are_refused(dtype):
    ids = np.array([1, 2]).astype(dtype)
    with pytest.raises(TypeError, match="token ids must be integers"):
        Embedding(4, 2)(ids)


def test_std_zero_gives_a_zero_table_to_load_into_without_drawing(monkeypatch):
    def no_draw(*args, **kwargs):
        raise AssertionError("a table to load into must not be drawn")

    stage = InputEmbedding(None, 4, vocab_size=6, max_len=5, token_std=0.0, position_std=0.0)
    assert not any(table.any() for table in stage.parameters().values())
    monkeypatch.setattr(np.random, "default_rng", no_draw)
    emb = Embedding(6, 3, std=0.0, dtype=np.float64)
    assert emb.weight.dtype == np.float64 and not emb.weight.any()
    assert not LearnedPositions(5, 3, std=0.0).weight.any()
