"""Token embedding: ids -> vectors, and the gradient that flows back into the table.

Step 2 of the pipeline: ``token_vectors = E[ids]``, ids (seq_len, batch) -> (seq_len, batch, dim)
for a learned table ``E`` (V, dim). As ``E[ids] == one_hot(ids) @ E``, ``dL/dE = one_hot(ids).T @
dL/d(E[ids])``: each gradient row is added to the row it came from, so an id used k times gets
the sum of its k rows (``grad[ids] += grad_out`` would keep one). A batch touches few of 50k rows,
so the gradient can also go on as :class:`SparseRows`. Hands on: vectors to ``positional.py``,
gradients to ``optim.py``. Conventions are PyTorch's ``nn.Embedding``'s.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, NamedTuple, overload

import numpy as np
import numpy.typing as npt

from minimal_embed._checks import check_float_array, check_float_dtype, check_integer, check_real
from minimal_embed.checkpoint import read_checkpoint, write_checkpoint

__all__ = ["SparseRows", "check_ids", "sum_rows_by_id_plain", "sum_rows_by_id", "Embedding"]



class SparseRows(NamedTuple):
    """A row-sparse gradient of a (num_rows, dim) table: ``indices`` (k,) int, the rows present,
    sorted and unique; ``values`` (k, dim), ``values[i]`` the gradient of row ``indices[i]``.

    >>> SparseRows(np.array([0, 2]), np.array([[1.0], [2.0]])).to_dense(3).ravel()
    array([1., 0., 2.])
    """

    indices: np.ndarray
    values: np.ndarray

    def to_dense(self, num_rows: int) -> np.ndarray:
        """The same gradient as a dense ``(num_rows, *values.shape[1:])`` array."""
        dense = np.zeros((num_rows, *self.values.shape[1:]), dtype=self.values.dtype)
        dense[self.indices] = self.values
        return dense


def check_ids(ids: object, num_embeddings: int) -> np.ndarray:
    """``ids`` (array_like of int, any shape) as an integer array of that shape, ids ``0..V-1``.

    Raises TypeError for non-integer ids (floats and bools are refused, not cast; an empty list is
    fine) and ValueError naming the first id in C order outside ``0 <= id < num_embeddings``
    (NumPy would read row V - 1 for id -1).

    >>> check_ids([[0, 4]], 5).shape
    (1, 2)
    """
    array = np.asarray(ids)
    if array.size == 0 and not isinstance(ids, np.ndarray):
        array = array.astype(np.int64)  # np.asarray([]) is float64; an empty list is no mistake
    # subtle: timedelta64 counts as np.integer to np.issubdtype; its kind is "m"
    if array.dtype.kind not in "iu":
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


def sum_rows_by_id_plain(ids: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum the rows that share an id: ``sums[i] = rows[ids == unique[i]].sum(axis=0)``.

    The plain scatter-add: ``np.add.at`` adds every row into its id's slot, repeats included.
    ``ids`` (n,) int and ``rows`` (n, dim) give ``unique`` (k,) int64, sorted, and ``sums``
    (k, dim) in the dtype of ``rows``.

    >>> unique, sums = sum_rows_by_id_plain(np.array([3, 1, 3]), np.array([[1.0], [2.0], [4.0]]))
    >>> unique, sums.ravel()
    (array([1, 3]), array([2., 5.]))
    """
    unique, slot = np.unique(ids.astype(np.int64), return_inverse=True)  # ids == unique[slot]
    sums = np.zeros((unique.shape[0], *rows.shape[1:]), dtype=rows.dtype)
    np.add.at(sums, slot.reshape(-1), rows)  # unbuffered: a repeated slot receives every row
    return unique, sums


def sum_rows_by_id(ids: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`sum_rows_by_id_plain`, fast: sort the ids, then sum each run of equal ids pairwise.

    Same shapes and result, up to rounding (pairwise sums round better than sequential ones).

    >>> sum_rows_by_id(np.array([3, 1, 3]), np.array([[1.0], [2.0], [4.0]]))[1].ravel()
    array([2., 5.])
    """
    # np.add.at and np.add.reduceat run far below memory speed on wide rows, while a fancy-index
    # add with distinct indices runs near it; one add per repeat level would need as many adds
    # as the commonest id has repeats, the tree only log2 of that (benchmarks/embedding.py).
    # Pass 1 adds rank 1 of each run into rank 0, 3 into 2, ...; pass 2 adds 2 into 0, 6 into 4,
    # ...; after ceil(log2(longest run)) passes each run's sum is in its first row.
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

    ``emb(ids) = weight[ids]``, ``emb.backward(ids, grad_out) = one_hot(ids).T @ grad_out``; no
    state is kept between the two, so pass ``backward`` the same ids. The ``weight`` table
    (V, dim), which optimizers update in place, has ``num_embeddings`` rows (V, the vocabulary
    size) of length ``dim`` (d_model), drawn N(0, std**2) by ``np.random.default_rng(seed)`` in
    ``dtype`` (floating, default float32); ``std=1.0`` is PyTorch's default, GPT-2 used 0.02.
    ``padding_idx`` (int or None) names a row that starts at zero and never receives gradient.
    Raises TypeError for an argument of the wrong type (a float count, an integer dtype),
    ValueError for one out of range (counts >= 1, std >= 0, padding_idx in ``0..V-1``).

    >>> emb = Embedding(10, 4, seed=0, padding_idx=0)
    >>> emb(np.array([[1, 0], [3, 3]])).shape      # (seq_len, batch) -> (seq_len, batch, dim)
    (2, 2, 4)
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
        num_embeddings = check_integer("num_embeddings", num_embeddings, least=1)
        dim = check_integer("dim", dim, least=1)
        std = check_real("std", std, least=0.0)
        dtype = check_float_dtype("dtype", dtype)
        if std == 0.0:  # a table to load into: no draw, and zeros cost no memory until written
            weight = np.zeros((num_embeddings, dim), dtype=dtype)
        else:
            rng = np.random.default_rng(seed)
            # default_rng draws float32 and float64 natively; others are rounded from float32
            draw_dtype = np.float64 if dtype == np.float64 else np.float32
            weight = rng.standard_normal((num_embeddings, dim), dtype=draw_dtype)  # (V, d)
            weight *= std
        self.weight: np.ndarray = weight.astype(dtype, copy=False)
        self.padding_idx = _check_padding_idx(padding_idx, num_embeddings)
        if self.padding_idx is not None:
            self.weight[self.padding_idx] = 0

    @classmethod
    def from_pretrained(cls, weight: np.ndarray, *, padding_idx: int | None = None) -> Embedding:
        """Wrap a copy of a ``(V, d)`` floating table (e.g. GPT-2's ``wte``), dtype kept.

        As in PyTorch, the padding row keeps its pretrained values and only stops receiving
        gradient. Raises ValueError if ``weight`` is not a non-empty 2-D array or
        ``padding_idx`` not a row of it, TypeError if either has the wrong type.

        >>> Embedding.from_pretrained(np.arange(6.0).reshape(3, 2), padding_idx=0)(0).tolist()
        [0.0, 1.0]
        """
        weight = np.array(weight)  # a copy: training must not write into the caller's array
        if weight.ndim != 2 or 0 in weight.shape:
            raise ValueError(
                f"a pretrained table must be a non-empty (V, d) array, got shape {weight.shape}"
            )
        check_float_array("weight", weight)
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
        """``weight[ids]``: ids of any shape -> ``(*ids.shape, dim)``, a new array, never a view.

        Raises ``TypeError`` / ``ValueError`` for non-integer ids or ids outside ``0..V-1``
        (:func:`check_ids`).
        """
        ids = check_ids(ids, self.num_embeddings)
        return self.weight[ids]  # (*ids.shape, dim): integer-array indexing always copies

    # for type checkers: sparse=False gives an array, sparse=True SparseRows
    @overload
    def backward(self, ids: npt.ArrayLike, grad_out: np.ndarray, *,
                 sparse: Literal[False] = ..., out: np.ndarray | None = ...) -> np.ndarray: ...
    @overload
    def backward(self, ids: npt.ArrayLike, grad_out: np.ndarray, *,
                 sparse: Literal[True], out: None = ...) -> SparseRows: ...
    @overload
    def backward(self, ids: npt.ArrayLike, grad_out: np.ndarray, *,
                 sparse: bool, out: np.ndarray | None = ...) -> np.ndarray | SparseRows: ...

    def backward(
        self,
        ids: npt.ArrayLike,
        grad_out: np.ndarray,
        *,
        sparse: bool = False,
        out: np.ndarray | None = None,
    ) -> np.ndarray | SparseRows:
        """``dL/dweight = one_hot(ids).T @ grad_out`` (V, dim), given ``grad_out = dL/d(emb(ids))``.

        Each row of ``grad_out`` is added to the row its id names, so repeated ids accumulate
        (:func:`sum_rows_by_id`); the padding row's gradient is zero. With ``sparse=True``, a
        ``SparseRows`` of the k rows used instead (sorted unique ids, values (k, dim)).

        Parameters
        ----------
        ids : array_like of int, any shape
            The ids of the forward call.
        grad_out : np.ndarray, shape (*ids.shape, dim), floating
            Cast to the weight's dtype (a gradient has its parameter's dtype).
        out : np.ndarray, shape (V, dim), optional
            A buffer of the weight's dtype to overwrite, so a training loop can reuse one (not
            with ``sparse``).

        Raises TypeError for non-integer ids, non-floating ``grad_out`` or ``out`` of another
        dtype; ValueError for ids out of range, ``grad_out`` not of shape ``ids.shape + (dim,)``,
        ``out`` of the wrong shape or given with ``sparse=True``.

        >>> emb = Embedding(5, 3, seed=0)
        >>> emb.backward([1, 4, 1], np.ones((3, 3)))[[1, 4, 0], 0]     # id 1 twice: rows add up
        array([2., 1., 0.], dtype=float32)
        """
        ids = check_ids(ids, self.num_embeddings)
        grad_out = check_float_array("grad_out", grad_out)
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
        """``out`` (checked) filled with zeros, or a new zero table."""
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

    def save(self, path: str | os.PathLike) -> Path:
        """Write the table to exactly ``path`` as a checkpoint (:mod:`minimal_embed.checkpoint`).

        The file holds the array ``weight`` ``(V, d)`` and, in its metadata, ``embedding:
        {"padding_idx": ...}``; it is written atomically, and no pickles, so ``np.load`` opens it
        too. Returns ``path``.
        """
        return write_checkpoint(path, {"weight": self.weight},
                                {"embedding": {"padding_idx": self.padding_idx}})

    @classmethod
    def load(cls, path: str | os.PathLike) -> Embedding:
        """Read a table written by :meth:`save` (same dtype and padding row; never unpickles).

        Raises ``FileNotFoundError`` for a missing file and ``ValueError`` naming the file if it
        is not a checkpoint, holds no Embedding (no ``weight``, or ``padding_idx`` that is not an
        integer row or null), or is damaged.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "table.npz"
        >>> Embedding.load(Embedding(5, 2, seed=0, padding_idx=4).save(path)).padding_idx
        4
        """
        arrays, metadata = read_checkpoint(path)
        settings = metadata.get("embedding")
        if not isinstance(settings, dict) or "weight" not in arrays:
            raise ValueError(f"{path} holds no Embedding (written by Embedding.save: a 'weight' "
                             f"array and 'embedding' metadata); it has {sorted(arrays)}")
        padding = settings.get("padding_idx")
        if padding is not None and (isinstance(padding, bool) or not isinstance(padding, int)):
            raise ValueError(f"{path}: padding_idx must be an integer row or null, got "
                             f"{padding!r}")
        try:
            return cls.from_pretrained(arrays["weight"], padding_idx=padding)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{path}: {error}") from None


def _check_padding_idx(padding_idx: int | None, num_embeddings: int) -> int | None:
    """``padding_idx`` as an int row ``0..num_embeddings-1``, or None."""
    if padding_idx is None:
        return None
    row = check_integer("padding_idx", padding_idx)
    if row >= num_embeddings:
        raise ValueError(
            f"padding_idx must be a row 0..{num_embeddings - 1} or None, got {padding_idx!r}"
        )
    return row
