"""Token embedding: ids -> vectors, and the gradient that flows back into the table.

Step 2 of the pipeline. The tokenizer hands on integer ids; this module turns each id into a
row of a learned table ``E`` of shape ``(num_embeddings, dim)``::

    token_vectors = E[ids]            # ids (seq_len, batch) -> (seq_len, batch, dim)

A lookup is a matrix product in disguise: with ``one_hot(ids)`` the ``(n, V)`` matrix that has
a single 1 per row, ``E[ids] == one_hot(ids) @ E``. So the gradient of a loss ``L`` with respect
to ``E`` is ``one_hot(ids).T @ dL/d(E[ids])``: every row of the incoming gradient is added to the
table row it was read from, and an id used k times receives the sum of its k gradient rows.
That is the scatter-add ``np.add.at(grad, ids, grad_out)``; the classic bug ``grad[ids] +=
grad_out`` keeps only one of the repeats. Most rows of a 50k-row table are never touched by a
batch, so the gradient can also be handed on as :class:`SparseRows` (only the touched rows),
which the optimizers in ``optim.py`` apply without reading the whole table.

Hands on: token vectors to ``positional.py`` (positions are added next); gradients (dense or
``SparseRows``) to ``optim.py``.

Conventions follow PyTorch's ``nn.Embedding``: N(0, 1) initialisation by default (GPT-2 used
std 0.02, Radford et al. 2019), and ``padding_idx`` names a row that starts at zero and never
receives gradient.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

_FILE_FORMAT = "minimal_embed.Embedding/1"


class SparseRows(NamedTuple):
    """A row-sparse gradient of a ``(num_rows, dim)`` table: only the listed rows are non-zero.

    Attributes
    ----------
    indices : np.ndarray, shape (k,), int64
        The rows present, sorted and unique.
    values : np.ndarray, shape (k, dim)
        ``values[i]`` is the gradient of row ``indices[i]``; every other row's gradient is zero.

    Examples
    --------
    >>> g = SparseRows(np.array([0, 2]), np.array([[1.0, 1.0], [2.0, 2.0]]))
    >>> g.to_dense(3)
    array([[1., 1.],
           [0., 0.],
           [2., 2.]])
    """

    indices: np.ndarray
    values: np.ndarray

    def to_dense(self, num_rows: int) -> np.ndarray:
        """The same gradient as a dense ``(num_rows, *values.shape[1:])`` array."""
        dense = np.zeros((num_rows, *self.values.shape[1:]), dtype=self.values.dtype)
        dense[self.indices] = self.values
        return dense


def check_ids(ids: object, num_embeddings: int) -> np.ndarray:
    """Return ``ids`` as an integer array after checking every id is a row of the table.

    Parameters
    ----------
    ids : array_like of int, any shape
        Token ids. A Python list of ints is fine; an empty list counts as integer.
    num_embeddings : int
        The table's row count V; valid ids are ``0 <= id < V``.

    Returns
    -------
    np.ndarray, the same shape as ``ids``, with an integer dtype.

    Raises
    ------
    TypeError
        If the ids are not integers (floats and bools are refused, not rounded or cast).
    ValueError
        If an id is negative or ``>= V``, naming the first such id in C order and V. (NumPy
        itself would silently read row ``V - 1`` for id ``-1``.)

    Examples
    --------
    >>> check_ids([[0, 4]], 5).shape
    (1, 2)
    >>> check_ids([[0, -1]], 5)
    Traceback (most recent call last):
    ...
    ValueError: token id -1 at position (0, 1) is outside the table: valid ids are 0..4 ...
    """
    array = np.asarray(ids)
    if array.size == 0 and not isinstance(ids, np.ndarray):
        array = array.astype(np.int64)  # np.asarray([]) is float64; an empty list is no mistake
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.integer):
        raise TypeError(
            f"token ids must be integers, got an array of dtype {array.dtype}; "
            "convert with ids.astype(np.int64) if the values are whole numbers"
        )
    if array.size and (array.min() < 0 or array.max() >= num_embeddings):
        bad = (array < 0) | (array >= num_embeddings)
        where = np.unravel_index(np.argmax(bad), array.shape)
        raise ValueError(
            f"token id {array[where]} at position {tuple(int(i) for i in where)} is outside "
            f"the table: valid ids are 0..{num_embeddings - 1} (num_embeddings={num_embeddings})"
        )
    return array


def sum_rows_by_id(ids: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum the rows that share an id: ``sums[i] = rows[ids == unique[i]].sum(axis=0)``.

    The obvious version is ``np.add.at(table, ids, rows)`` on a zeroed table; this is its fast
    path. Sort the ids so repeats sit side by side, then add neighbours within each run of equal
    ids in a pairwise tree: pass 1 adds rank 1 into rank 0, 3 into 2, ...; pass 2 adds rank 2
    into 0, 6 into 4, ...; after ceil(log2(longest run)) passes each run's sum is in its first
    row. Every pass is one vectorised add over rows whose indices are all distinct.

    Parameters
    ----------
    ids : np.ndarray, shape (n,), int
    rows : np.ndarray, shape (n, dim)

    Returns
    -------
    unique : np.ndarray, shape (k,), int64, sorted
    sums : np.ndarray, shape (k, dim), the dtype of ``rows``

    Examples
    --------
    >>> unique, sums = sum_rows_by_id(np.array([3, 1, 3]), np.array([[1.0], [2.0], [4.0]]))
    >>> unique, sums.ravel()
    (array([1, 3]), array([2., 5.]))
    """
    # Why this and not np.add.at: summing 8192 rows of 768 float32 into a table of 50257 rows,
    # best of 9, one thread, numpy 2.4, all in one run on a busy 2-core machine (ms):
    #                                            uniform ids   GPT-2 text ids   one id 8192 times
    #   np.add.at into the (V, dim) table              96            90                56
    #   np.add.at into a compact (k, dim) array        65            61                60
    #   np.bincount on flattened row * dim + col       84            68                60
    #   sort + np.add.reduceat(axis=0)                135            87                60
    #   sort + one fancy-index add per repeat level    12            15                47
    #   sort + pairwise tree (this)                    12            15                16
    # np.add.at and reduceat run far below memory speed on (n, 768) rows; a fancy-index add with
    # distinct indices runs near it. Levels need one such add per repeat of the commonest id
    # (8192 in the last column), the tree ceil(log2) of that (13); pairwise sums also round better.
    ids = ids.astype(np.int64, copy=False)
    n = ids.shape[0]
    if n == 0:
        return ids.copy(), rows[:0].copy()
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]  # (n,)
    starts = np.flatnonzero(np.diff(sorted_ids, prepend=-1))  # (k,) first row of each run
    run_length = np.diff(starts, append=n)  # (k,)
    sums = rows[order]  # (n, dim): grouped by id; each run is reduced into its first row

    rank = np.arange(n) - np.repeat(starts, run_length)  # (n,) position inside its run
    left = np.repeat(run_length, run_length) - rank  # (n,) rows from here to the run's end
    heads = np.flatnonzero(left > 1)  # rows that still have a partner after them
    stride = 1
    while heads.size:
        heads = heads[rank[heads] % (2 * stride) == 0]
        pairs = heads[left[heads] > stride]
        sums[pairs] += sums[pairs + stride]  # now holds ranks [r, r + 2 * stride) of its run
        heads = heads[left[heads] > 2 * stride]
        stride *= 2
    return sorted_ids[starts], sums[starts]


class Embedding:
    """A table of ``num_embeddings`` learned vectors of size ``dim``, looked up by token id.

    ``emb(ids) = weight[ids]``; ``emb.backward(ids, grad_out)`` is the scatter-add
    ``one_hot(ids).T @ grad_out``. The class holds no state between the two: pass the same
    ids to ``backward`` (like ``LearnedPositions``, it is a pure function of its inputs).

    Parameters
    ----------
    num_embeddings : int
        V, the number of rows (the vocabulary size).
    dim : int
        d, the length of each vector (d_model).
    std : float, default 1.0
        Rows start as N(0, std**2) draws: 1.0 is PyTorch's default, GPT-2 used 0.02.
    seed : int or None
        Seed for ``np.random.default_rng``; the same seed gives the same table.
    dtype : floating dtype, default np.float32
    padding_idx : int or None
        A row (0 <= padding_idx < V) that starts at zero and never receives gradient, so
        padded positions read a zero vector that training leaves alone (PyTorch's meaning).

    Attributes
    ----------
    weight : np.ndarray, shape (num_embeddings, dim)
        The table itself; optimizers update it in place.

    Examples
    --------
    >>> emb = Embedding(10, 4, seed=0, padding_idx=0)
    >>> ids = np.array([[1, 0], [3, 3]])          # (seq_len, batch)
    >>> emb(ids).shape                             # (seq_len, batch, dim)
    (2, 2, 4)
    >>> float(np.abs(emb(0)).sum())                # the padding row is zero
    0.0
    """

    def __init__(
        self,
        num_embeddings: int,
        dim: int,
        *,
        std: float = 1.0,
        seed: int | None = None,
        dtype: npt.DTypeLike = np.float32,
        padding_idx: int | None = None,
    ) -> None:
        _check_positive_int("num_embeddings", num_embeddings)
        _check_positive_int("dim", dim)
        if not np.isfinite(std) or std < 0:
            raise ValueError(f"std must be a finite number >= 0, got {std!r}")
        dtype = _check_float_dtype(dtype)
        rng = np.random.default_rng(seed)
        # default_rng draws float32 and float64 natively; other float types are rounded from float32
        draw_dtype = np.float64 if dtype == np.float64 else np.float32
        weight = rng.standard_normal((num_embeddings, dim), dtype=draw_dtype)  # (V, d)
        weight *= std
        self.weight = weight.astype(dtype, copy=False)
        self.padding_idx = _check_padding_idx(padding_idx, num_embeddings)
        if self.padding_idx is not None:
            self.weight[self.padding_idx] = 0

    @classmethod
    def from_pretrained(cls, weight: np.ndarray, *, padding_idx: int | None = None) -> Embedding:
        """Wrap a copy of an existing ``(V, d)`` floating table, e.g. GPT-2's ``wte``.

        As in PyTorch, the padding row keeps its pretrained values; it only stops receiving
        gradient.

        Parameters
        ----------
        weight : np.ndarray, shape (V, d), floating
            The table; it is copied, so training never writes into the caller's array.
        padding_idx : int or None
            A row ``0 <= padding_idx < V`` that receives no gradient.

        Returns
        -------
        Embedding
            With ``.weight`` a copy of ``weight`` (same dtype).

        Raises
        ------
        ValueError
            If ``weight`` is not a non-empty 2-D array, or ``padding_idx`` is not a row of it.
        TypeError
            If ``weight`` is not floating point.

        Examples
        --------
        >>> table = np.arange(6.0).reshape(3, 2)
        >>> emb = Embedding.from_pretrained(table, padding_idx=0)
        >>> emb(0).tolist(), emb.backward([0, 2], np.ones((2, 2)))[0].tolist()
        ([0.0, 1.0], [0.0, 0.0])
        """
        weight = np.array(weight)  # a copy: training must not write into the caller's array
        if weight.ndim != 2 or 0 in weight.shape:
            raise ValueError(
                f"a pretrained table must be a non-empty (V, d) array, got shape {weight.shape}"
            )
        _check_float_dtype(weight.dtype)
        emb = cls.__new__(cls)
        emb.weight = weight
        emb.padding_idx = _check_padding_idx(padding_idx, weight.shape[0])
        return emb

    @property
    def num_embeddings(self) -> int:
        """V, the number of rows; valid ids are ``0 .. V-1``."""
        return self.weight.shape[0]

    @property
    def dim(self) -> int:
        """d, the length of each row."""
        return self.weight.shape[1]

    def __repr__(self) -> str:
        return (
            f"Embedding({self.num_embeddings}, {self.dim}, dtype={self.weight.dtype}, "
            f"padding_idx={self.padding_idx})"
        )

    def __call__(self, ids: npt.ArrayLike) -> np.ndarray:
        """Look up token vectors: ``out[..., :] = weight[ids[...]]``.

        Parameters
        ----------
        ids : array_like of int, any shape, e.g. (seq_len, batch) or (batch, seq_len)

        Returns
        -------
        np.ndarray, shape (*ids.shape, dim), the weight's dtype; a new array, never a view.

        Raises
        ------
        TypeError, ValueError
            Non-integer ids; ids outside ``0..V-1`` (see :func:`check_ids`).
        """
        ids = check_ids(ids, self.num_embeddings)
        return self.weight[ids]  # (*ids.shape, dim): integer-array indexing always copies

    def backward(
        self,
        ids: npt.ArrayLike,
        grad_out: np.ndarray,
        *,
        sparse: bool = False,
        out: np.ndarray | None = None,
    ) -> np.ndarray | SparseRows:
        """Gradient of the loss with respect to ``weight``, given its gradient at ``emb(ids)``.

        ``dL/dweight = one_hot(ids).T @ grad_out``: each row of ``grad_out`` is added to the
        table row its id names, so repeated ids accumulate. The obvious version is::

            grad = np.zeros_like(weight); np.add.at(grad, ids, grad_out)

        this one sorts and reduces (:func:`sum_rows_by_id`). The padding row's gradient is zero.

        Parameters
        ----------
        ids : array_like of int, any shape
            The ids passed to the forward call.
        grad_out : np.ndarray, shape (*ids.shape, dim)
            dL/d(emb(ids)), floating; converted to the weight's dtype (a gradient has its
            parameter's dtype). Any layout works as long as it matches ``ids``'s shape.
        sparse : bool, default False
            Return ``SparseRows`` (sorted unique ids, summed rows) instead of the dense table.
        out : np.ndarray, shape (V, dim), optional
            A buffer of the weight's dtype to overwrite with the dense gradient, so a training
            loop can reuse one 154 MB buffer for GPT-2's table. Not allowed with ``sparse``.

        Returns
        -------
        np.ndarray (V, dim), or SparseRows with values (k, dim).

        Raises
        ------
        TypeError
            Non-integer ids, non-floating ``grad_out``, ``out`` of the wrong dtype.
        ValueError
            Ids out of range; ``grad_out`` not of shape ``ids.shape + (dim,)``; ``out`` of the
            wrong shape or given together with ``sparse=True``.

        Examples
        --------
        >>> emb = Embedding(5, 3, seed=0)
        >>> ids = np.array([1, 4, 1])                    # id 1 twice: its rows add up
        >>> grad_out = np.ones((3, 3), dtype=np.float32)
        >>> emb.backward(ids, grad_out)[[1, 4, 0]]
        array([[2., 2., 2.],
               [1., 1., 1.],
               [0., 0., 0.]], dtype=float32)
        >>> emb.backward(ids, grad_out, sparse=True).indices
        array([1, 4])
        >>> reference = np.zeros((5, 3), dtype=np.float32)
        >>> np.add.at(reference, ids, grad_out)
        >>> bool(np.array_equal(emb.backward(ids, grad_out), reference))
        True
        """
        ids = check_ids(ids, self.num_embeddings)
        grad_out = np.asarray(grad_out)
        if not np.issubdtype(grad_out.dtype, np.floating):
            raise TypeError(f"grad_out must be a floating array, got dtype {grad_out.dtype}")
        if grad_out.shape != (*ids.shape, self.dim):
            raise ValueError(
                f"grad_out has shape {grad_out.shape} but ids {ids.shape} need "
                f"{(*ids.shape, self.dim)} (ids.shape + (dim,)), one gradient row per id"
            )
        if sparse and out is not None:
            raise ValueError("out= takes a dense gradient; it cannot be used with sparse=True")
        rows = grad_out.reshape(-1, self.dim).astype(self.weight.dtype, copy=False)  # (n, d)
        # d(weight[ids])/d(weight) scatters each gradient row back to the row it was read from
        unique, sums = sum_rows_by_id(ids.reshape(-1), rows)  # (k,), (k, d)
        if self.padding_idx is not None:
            keep = unique != self.padding_idx
            unique, sums = unique[keep], sums[keep]
        if sparse:
            return SparseRows(unique, sums)
        grad = self._zeroed_buffer(out)
        grad[unique] = sums
        return grad

    def _zeroed_buffer(self, out: np.ndarray | None) -> np.ndarray:
        if out is None:
            return np.zeros_like(self.weight)
        if not isinstance(out, np.ndarray) or out.shape != self.weight.shape:
            shape = getattr(out, "shape", type(out).__name__)
            raise ValueError(f"out must be an array of shape {self.weight.shape}, got {shape}")
        if out.dtype != self.weight.dtype:
            raise TypeError(
                f"out must have the weight's dtype {self.weight.dtype}, got {out.dtype}"
            )
        out.fill(0)
        return out

    def save(self, path: str | Path) -> None:
        """Write the table to ``path`` as an uncompressed ``.npz`` (exactly that file name).

        The archive holds three arrays: ``format`` (the string ``"minimal_embed.Embedding/1"``),
        ``weight`` ``(V, d)`` and ``padding_idx`` (an int64 scalar, -1 for none). Read it back
        with :meth:`load`; NumPy's ``np.load`` opens it too, without pickles.

        Parameters
        ----------
        path : str or Path
            The file to write; no ``.npz`` is appended.
        """
        padding = -1 if self.padding_idx is None else self.padding_idx
        with open(path, "wb") as file:
            np.savez(
                file,
                format=np.array(_FILE_FORMAT),
                weight=self.weight,
                padding_idx=np.array(padding, dtype=np.int64),
            )

    @classmethod
    def load(cls, path: str | Path) -> Embedding:
        """Read a table written by :meth:`save` (never unpickles: ``allow_pickle=False``).

        Parameters
        ----------
        path : str or Path
            A file written by :meth:`save`.

        Returns
        -------
        Embedding
            The saved table (same dtype) and padding row.

        Raises
        ------
        ValueError
            If the file lacks the ``format``/``weight``/``padding_idx`` arrays or names another
            format, or holds pickled objects.
        """
        with np.load(path, allow_pickle=False) as archive:
            missing = {"format", "weight", "padding_idx"} - set(archive.files)
            if missing or str(archive["format"]) != _FILE_FORMAT:
                raise ValueError(
                    f"{path} is not an Embedding file written by Embedding.save "
                    f"(expected arrays format/weight/padding_idx with format {_FILE_FORMAT!r})"
                )
            padding = int(archive["padding_idx"])
            return cls.from_pretrained(
                archive["weight"], padding_idx=None if padding == -1 else padding
            )


def _check_positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _check_float_dtype(dtype: npt.DTypeLike) -> np.dtype:
    dtype = np.dtype(dtype)
    if not np.issubdtype(dtype, np.floating):
        raise TypeError(f"an embedding table needs a floating dtype, got {dtype}")
    return dtype


def _check_padding_idx(padding_idx: int | None, num_embeddings: int) -> int | None:
    if padding_idx is None:
        return None
    if (
        isinstance(padding_idx, bool)
        or not isinstance(padding_idx, (int, np.integer))
        or not 0 <= padding_idx < num_embeddings
    ):
        raise ValueError(
            f"padding_idx must be a row 0..{num_embeddings - 1} or None, got {padding_idx!r} "
            f"(write {num_embeddings - 1} rather than -1 for the last row)"
        )
    return int(padding_idx)
