"""Step 3: position vectors, and the ways they are combined with the token vectors.

Token vectors ``E[ids]`` ``(seq_len, batch, d_model)`` say *what* each token is but not *where*:
attention is blind to order. This module adds the *where*:

- :func:`sinusoidal_table` -- the fixed table of the original Transformer (Vaswani et al. 2017,
  section 3.5), with :func:`sinusoidal_table_plain` (the formula as written) beside it and
  :func:`frequencies`, shared with RoPE and Transformer-XL. ``interleaved=True`` alternates
  sin and cos (the paper); ``False`` is ``[all sin | all cos]`` (Transformer-XL; tensor2tensor
  and fairseq use this layout too, but space their frequencies as ``base ** (-j / (dim/2 - 1))``,
  so their tables differ slightly from the paper's).
- :class:`LearnedPositions` -- a trained row per position (GPT-2, BERT), with a hard ``max_len``.
- Combining: :func:`add_positions`, :func:`concat_positions` (positions get columns of their
  own) and :func:`scale_token_embeddings` (times ``sqrt(d_model)`` before the add, as in the
  original Transformer), each with its backward right below it.

A position table is ``(seq_len, d_model)`` and is broadcast over the batch axis, never copied
per batch item. What this hands on: the tables that the position schemes
(:mod:`minimal_embed.schemes`) add in the input stage (:mod:`minimal_embed.pipeline`).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from minimal_embed._checks import check_float_dtype, check_integer, check_real

__all__ = [
    "frequencies", "sinusoidal_table_plain", "sinusoidal_table", "LearnedPositions",
    "add_positions", "add_positions_backward", "concat_positions", "concat_positions_backward",
    "scale_token_embeddings", "scale_token_embeddings_backward",
]


# ---------------------------------------------------------------------------------------------
# The sinusoidal table
# ---------------------------------------------------------------------------------------------

def frequencies(dim: int, base: float = 10000.0) -> np.ndarray:
    """The angular frequencies ``w_j = base ** (-2j / dim)``, j = 0 .. ceil(dim/2) - 1.

    One per pair of columns, float64 ``(ceil(dim/2),)``, decreasing from 1 (wavelengths from
    ``2 pi`` to nearly ``2 pi base``). The sinusoidal table, RoPE (``dim = rotary_dim``) and
    Transformer-XL all use these. Raises TypeError or ValueError for a ``dim`` that is not an
    integer >= 1 or a ``base`` that is not finite and > 0.

    Examples
    --------
    >>> frequencies(4).tolist()
    [1.0, 0.01]
    """
    dim = check_integer("dim", dim, 1)
    base = check_real("base", base, least=0.0, above=True)
    j = np.arange((dim + 1) // 2)
    return 1.0 / np.power(base, 2.0 * j / dim)


def _check_table_args(num_positions: object, dim: object, offset: object,
                      dtype: npt.DTypeLike) -> np.dtype:
    """Check the table's size, offset (positions exact in float64) and dtype."""
    num_positions = check_integer("num_positions", num_positions, 0)
    check_integer("dim", dim, 1)
    offset = check_integer("offset", offset, -(2**53))
    # Python ints: np.int64(2**63 - 2) + n would wrap around inside the check itself
    if abs(offset) + num_positions > 2**53:
        raise ValueError(f"positions up to offset + num_positions = {offset + num_positions} are "
                         "not exact in float64; keep |offset| + num_positions <= 2**53")
    return check_float_dtype("dtype", dtype)


def _arrange(sines: np.ndarray, cosines: np.ndarray, dim: int, interleaved: bool) -> np.ndarray:
    """Lay (n, ceil(dim/2)) sines and cosines out as the (n, dim) table in either layout."""
    n, pairs = sines.shape
    table = np.empty((n, dim), dtype=np.result_type(sines, cosines))
    if interleaved:
        table[:, 0::2] = sines                    # columns 0, 2, 4, ...
        table[:, 1::2] = cosines[:, : dim // 2]   # columns 1, 3, ...; an odd dim has no last cos
    else:
        table[:, :pairs] = sines
        table[:, pairs:] = cosines[:, : dim - pairs]
    return table


def sinusoidal_table_plain(num_positions: int, dim: int, *, base: float = 10000.0,
                           offset: int = 0, interleaved: bool = True,
                           dtype: npt.DTypeLike = np.float32) -> np.ndarray:
    """The sinusoidal position table of the original Transformer, straight from the formula.

    With ``p = offset + i`` and ``w_j`` from :func:`frequencies`::

        PE[i, 2j]   = sin(p * w_j)
        PE[i, 2j+1] = cos(p * w_j)        (an odd dim ends with a sin column)

    ``interleaved=False`` puts the same values as ``[all sin | all cos]``. Every angle is formed
    in float64 and rounded to ``dtype`` at the end.

    Parameters
    ----------
    num_positions, dim : int
        Rows (>= 0) and columns (d_model, >= 1).
    base : float, default 10000.0
    offset : int, default 0
        Position of the first row (e.g. the length of a cached prefix).
    interleaved : bool, default True
        sin/cos alternate (the paper); False: all sines, then all cosines.
    dtype : floating dtype, default np.float32

    Returns
    -------
    numpy.ndarray
        ``(num_positions, dim)`` of ``dtype``.

    Raises
    ------
    TypeError
        For sizes or ``offset`` that are not integers, or a ``dtype`` that is not floating.
    ValueError
        For ``num_positions < 0``, ``dim < 1``, a ``base`` not finite and > 0, or positions
        past 2**53 (no longer exact in float64).

    Examples
    --------
    >>> sinusoidal_table_plain(2, 4).tolist()
    [[0.0, 1.0, 0.0, 1.0], [0.84147..., 0.54030..., 0.00999..., 0.99995...]]
    >>> sinusoidal_table_plain(2, 4, interleaved=False)[1].round(4).tolist()
    [0.8415, 0.01, 0.5403, 1.0]
    """
    dtype = _check_table_args(num_positions, dim, offset, dtype)
    p = np.arange(offset, offset + num_positions, dtype=np.float64)
    angles = p[:, None] * frequencies(dim, base)               # (num_positions, ceil(dim/2))
    return _arrange(np.sin(angles), np.cos(angles), dim, interleaved).astype(dtype, copy=False)


def sinusoidal_table(num_positions: int, dim: int, *, base: float = 10000.0, offset: int = 0,
                     interleaved: bool = True, dtype: npt.DTypeLike = np.float32) -> np.ndarray:
    """:func:`sinusoidal_table_plain`'s table, from ``2 sqrt(n)`` rows of sines and cosines.

    Each frequency pair is a point on the unit circle, ``u = sin(a) + i cos(a)``, and moving k
    positions on turns it by ``k w_j``: ``sin(a+b) + i cos(a+b) = (sin a + i cos a)(cos b - i
    sin b)``. So row ``q*B + r`` is one complex product of an *anchor* row at position
    ``offset + q*B`` and a *step* row at ``r``, both formed exactly in float64, with
    ``B ~ sqrt(n)``. Reducing the big angles in float64 keeps float32 tables within 1e-6 of the
    formula below position 10**6 (a float32 angle is already 6e-4 off at p = 8191), and no
    error accumulates: every row is one product away from exact values. Parameters, Returns and
    Raises are those of :func:`sinusoidal_table_plain`.

    Examples
    --------
    >>> pe = sinusoidal_table(3, 4)
    >>> pe.shape, pe.dtype, pe[1].round(4).tolist()    # sin(1), cos(1), sin(0.01), cos(0.01)
    ((3, 4), dtype('float32'), [0.8415, 0.5403, 0.01, 1.0])
    """
    dtype = _check_table_args(num_positions, dim, offset, dtype)
    complex_dtype = np.complex128 if dtype.itemsize >= 8 else np.complex64
    w = frequencies(dim, base)                                  # (pairs,)
    step = max(1, math.isqrt(num_positions))                    # B, rows per anchor
    n_anchors = -(-num_positions // step)                       # ceil(n / B)
    anchor_angles = (offset + step * np.arange(n_anchors))[:, None] * w   # (n_anchors, pairs)
    step_angles = np.arange(step)[:, None] * w                            # (step, pairs)
    anchors = (np.sin(anchor_angles) + 1j * np.cos(anchor_angles)).astype(complex_dtype)
    turns = (np.cos(step_angles) - 1j * np.sin(step_angles)).astype(complex_dtype)
    # row q*B + r is anchor q turned by r steps; broadcasting forms all rows in one product
    rotated = np.multiply(anchors[:, None, :], turns[None, :, :])  # (n_anchors, step, pairs)
    rotated = rotated.reshape(n_anchors * step, w.size)[:num_positions]  # (num_positions, pairs)
    real_dtype = rotated.real.dtype
    if interleaved and dim % 2 == 0:
        # a complex array's memory is [re, im, re, im, ...] = [sin, cos, sin, cos, ...]: the
        # interleaved table already, with no copy
        table = rotated.view(real_dtype)                        # (num_positions, dim)
    else:
        table = _arrange(rotated.real, rotated.imag, dim, interleaved)
    return table.astype(dtype, copy=False)


# ---------------------------------------------------------------------------------------------
# The learned table
# ---------------------------------------------------------------------------------------------

def _check_position_range(seq_len: object, offset: object, max_len: int) -> None:
    """Refuse positions offset .. offset + seq_len - 1 that the learned table has no rows for."""
    seq_len = check_integer("seq_len", seq_len, 0)
    offset = check_integer("offset", offset, 0)
    if offset + seq_len > max_len:
        raise ValueError(
            f"positions {offset}..{offset + seq_len - 1} (seq_len={seq_len}, offset={offset}) "
            f"go past the learned table's max_len={max_len} rows; shorten the input, pass a "
            "larger max_len, or use sinusoidal positions (no length limit)"
        )


class LearnedPositions:
    """A trained position table: row p is the vector added at position p (GPT-2, BERT).

    Unlike the sinusoid it knows nothing about positions it was not trained on, so asking past
    ``max_len`` is an error. ``weight`` is ``(max_len, dim)``, updated in place by an optimizer.

    Parameters
    ----------
    max_len, dim : int
        Rows (the longest sequence covered; GPT-2: 1024, BERT: 512) and columns (d_model).
    std : float, default 0.01
        Initial rows are N(0, std**2) (GPT-2's value).
    seed : int or None
    dtype : floating dtype, default np.float32

    Raises
    ------
    TypeError, ValueError
        For sizes that are not integers >= 1, a negative or non-finite std, a non-float dtype.

    Examples
    --------
    >>> pos = LearnedPositions(8, 4, seed=0)
    >>> pos.forward(3, offset=2).shape
    (3, 4)
    >>> grad = pos.backward(np.ones((3, 5, 4)), offset=2)    # (seq_len, batch, dim)
    >>> grad.shape, grad[2].tolist(), grad[0].tolist()
    ((8, 4), [5.0, 5.0, 5.0, 5.0], [0.0, 0.0, 0.0, 0.0])
    """

    def __init__(self, max_len: int, dim: int, *, std: float = 0.01, seed: int | None = None,
                 dtype: npt.DTypeLike = np.float32) -> None:
        check_integer("max_len", max_len, 1)
        check_integer("dim", dim, 1)
        std = check_real("std", std, least=0.0)
        dtype = check_float_dtype("dtype", dtype)
        self.max_len, self.dim = int(max_len), int(dim)
        if std == 0.0:  # a table to load into: no draw
            self.weight = np.zeros((max_len, dim), dtype=dtype)
        else:
            rng = np.random.default_rng(seed)
            # (max_len, dim)
            self.weight = (rng.standard_normal((max_len, dim)) * std).astype(dtype)

    def forward(self, seq_len: int, offset: int = 0) -> np.ndarray:
        """Rows ``offset .. offset + seq_len - 1``: a ``(seq_len, dim)`` view of ``weight``.

        ``offset`` is the position of the first row (e.g. the length of a cached prefix). Writing
        into the view writes into ``weight``. Raises ValueError (naming all three numbers) when
        ``offset + seq_len > max_len``, TypeError or ValueError for non-integer or negative ones.
        """
        _check_position_range(seq_len, offset, self.max_len)
        return self.weight[offset: offset + seq_len]             # (seq_len, dim)

    def backward(self, grad_out: np.ndarray, *, offset: int = 0,
                 batch_first: bool = False) -> np.ndarray:
        """The whole table's gradient ``(max_len, dim)``: ``dW[offset + i] = sum_b grad_out[i, b]``.

        Row ``offset + i`` was added to every batch item at sequence index i; other rows get 0.
        ``grad_out`` is ``(seq_len, batch, dim)``, ``(batch, seq_len, dim)`` with
        ``batch_first``, or ``(seq_len, dim)``; ``offset`` is the forward's (the table keeps no
        state). Raises ValueError for another shape or rows past ``max_len``.
        """
        grad_out = np.asarray(grad_out)
        if grad_out.ndim not in (2, 3) or grad_out.shape[-1] != self.dim:
            raise ValueError(f"grad_out must be (seq_len, batch, {self.dim}), "
                             f"(batch, seq_len, {self.dim}) or (seq_len, {self.dim}); "
                             f"got shape {grad_out.shape}")
        if grad_out.ndim == 3:
            grad_out = grad_out.sum(axis=0 if batch_first else 1)  # (seq_len, dim)
        seq_len = grad_out.shape[0]
        _check_position_range(seq_len, offset, self.max_len)
        grad = np.zeros_like(self.weight)                         # (max_len, dim)
        grad[offset: offset + seq_len] = grad_out
        return grad


# ---------------------------------------------------------------------------------------------
# Combining token vectors and position vectors
# ---------------------------------------------------------------------------------------------

def _check_combinable(token_emb: np.ndarray, pos_table: np.ndarray, batch_first: bool,
                      same_width: bool) -> None:
    if token_emb.ndim not in (2, 3):
        raise ValueError(f"token_emb must be (seq_len, batch, d_model), (batch, seq_len, d_model) "
                         f"with batch_first=True, or (seq_len, d_model); got shape "
                         f"{token_emb.shape}")
    if pos_table.ndim != 2:
        raise ValueError(f"pos_table must be (seq_len, d_model), got shape {pos_table.shape}")
    seq_axis = 1 if (batch_first and token_emb.ndim == 3) else 0
    seq_len = token_emb.shape[seq_axis]
    if pos_table.shape[0] != seq_len:
        other = 0 if seq_axis == 1 else 1
        hint = ""
        if token_emb.ndim == 3 and token_emb.shape[other] == pos_table.shape[0]:
            hint = (f"; axis {other} has {pos_table.shape[0]}, so the array looks "
                    f"{'seq-first' if seq_axis == 1 else 'batch-first'}: pass "
                    f"batch_first={seq_axis == 0}")
        raise ValueError(
            f"token_emb has seq_len={seq_len} on axis {seq_axis} (taken as the sequence axis "
            f"because batch_first={batch_first}) but pos_table has {pos_table.shape[0]} rows; "
            f"slice the table to the sequence (pos_table[:{seq_len}]){hint}"
        )
    if same_width and pos_table.shape[1] != token_emb.shape[-1]:
        raise ValueError(f"d_model mismatch: token_emb has {token_emb.shape[-1]} columns, "
                         f"pos_table has {pos_table.shape[1]}; build the table with "
                         f"dim={token_emb.shape[-1]}")


def _broadcast_rows(pos_table: np.ndarray, token_emb: np.ndarray, batch_first: bool) -> np.ndarray:
    """The table as a view that broadcasts against token_emb: (seq_len, 1, d) or (seq_len, d)."""
    if token_emb.ndim == 3 and not batch_first:
        return pos_table[:, None, :]                              # (seq_len, 1, d_pos)
    return pos_table                                              # (seq_len, d_pos)


def add_positions(token_emb: np.ndarray, pos_table: np.ndarray, *,
                  batch_first: bool = False) -> np.ndarray:
    """Input embeddings: ``x[i, b] = token_emb[i, b] + pos_table[i]``, the table broadcast.

    The table becomes a view with a length-1 batch axis; it is never tiled.

    Parameters
    ----------
    token_emb : numpy.ndarray
        ``(seq_len, batch, d_model)``, ``(batch, seq_len, d_model)`` with ``batch_first=True``,
        or ``(seq_len, d_model)``.
    pos_table : numpy.ndarray
        ``(seq_len, d_model)``, e.g. ``sinusoidal_table(seq_len, d_model)``.
    batch_first : bool, default False
        Which axis of a 3-D ``token_emb`` is the sequence: 0 (default) or 1.

    Returns
    -------
    numpy.ndarray
        The shape of ``token_emb``.

    Raises
    ------
    ValueError
        If the sequence lengths differ (the message says which axis was taken as the sequence
        and whether ``batch_first`` looks wrong) or the widths differ.

    Examples
    --------
    >>> x = add_positions(np.zeros((3, 2, 4), np.float32), sinusoidal_table(3, 4))
    >>> x.shape, bool((x[:, 0] == x[:, 1]).all())
    ((3, 2, 4), True)
    """
    token_emb, pos_table = np.asarray(token_emb), np.asarray(pos_table)
    _check_combinable(token_emb, pos_table, batch_first, same_width=True)
    return token_emb + _broadcast_rows(pos_table, token_emb, batch_first)


def add_positions_backward(grad_out: np.ndarray, *,
                           batch_first: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of :func:`add_positions`: ``(d token_emb, d pos_table)``.

    ``d token_emb = grad_out`` (the same array), and table row i, added to every batch item,
    collects ``sum_b grad_out[i, b]``, shape ``(seq_len, d_model)``. ``grad_out`` and
    ``batch_first`` are laid out as in :func:`add_positions`; a 2-D ``grad_out`` is both
    gradients.

    Examples
    --------
    >>> grad_tok, grad_pos = add_positions_backward(np.ones((3, 2, 4)))   # (seq_len, batch, d)
    >>> grad_tok.shape, grad_pos.shape, grad_pos[0].tolist()
    ((3, 2, 4), (3, 4), [2.0, 2.0, 2.0, 2.0])
    """
    grad_out = np.asarray(grad_out)
    if grad_out.ndim == 2:
        return grad_out, grad_out
    return grad_out, grad_out.sum(axis=0 if batch_first else 1)  # (seq_len, d_model)


def concat_positions(token_emb: np.ndarray, pos_table: np.ndarray, *,
                     batch_first: bool = False) -> np.ndarray:
    """Concatenation: ``x[i, b] = [token_emb[i, b] | pos_table[i]]``, width ``d_tok + d_pos``.

    The alternative to adding: positions get columns of their own, so token and position never
    share a coordinate, at the price of columns the token vectors no longer have. Layouts and
    errors are those of :func:`add_positions` (the widths may differ): ``token_emb``
    ``(seq_len, batch, d_tok)`` and ``pos_table`` ``(seq_len, d_pos)`` give
    ``(seq_len, batch, d_tok + d_pos)``.

    Examples
    --------
    >>> x = concat_positions(np.zeros((3, 2, 4)), sinusoidal_table(3, 2))
    >>> x.shape, x[1, 0].round(4).tolist()
    ((3, 2, 6), [0.0, 0.0, 0.0, 0.0, 0.8415, 0.5403])
    """
    token_emb, pos_table = np.asarray(token_emb), np.asarray(pos_table)
    _check_combinable(token_emb, pos_table, batch_first, same_width=False)
    d_tok = token_emb.shape[-1]
    out = np.empty(token_emb.shape[:-1] + (d_tok + pos_table.shape[1],),
                   dtype=np.result_type(token_emb, pos_table))    # (seq_len, batch, d_tok + d_pos)
    out[..., :d_tok] = token_emb
    out[..., d_tok:] = _broadcast_rows(pos_table, token_emb, batch_first)  # assignment broadcasts
    return out


def concat_positions_backward(grad_out: np.ndarray, d_tok: int, *,
                              batch_first: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of :func:`concat_positions`: ``(d token_emb, d pos_table)``.

    The first ``d_tok`` columns of ``grad_out`` flow back to the token vectors unchanged (a
    view, ``(seq_len, batch, d_tok)``); the rest, summed over the batch, to the table,
    ``(seq_len, d_pos)``. Raises ValueError if ``d_tok`` is not in ``0 .. grad_out.shape[-1]``.

    Examples
    --------
    >>> grad_tok, grad_pos = concat_positions_backward(np.ones((3, 2, 6)), 4)
    >>> grad_tok.shape, grad_pos.shape, grad_pos[0].tolist()
    ((3, 2, 4), (3, 2), [2.0, 2.0])
    """
    grad_out = np.asarray(grad_out)
    if not 0 <= d_tok <= grad_out.shape[-1]:
        raise ValueError(f"d_tok={d_tok} must lie in 0..{grad_out.shape[-1]} (grad_out's width)")
    grad_tok = grad_out[..., :d_tok]
    _, grad_pos = add_positions_backward(grad_out[..., d_tok:], batch_first=batch_first)
    return grad_tok, grad_pos


def scale_token_embeddings(token_emb: np.ndarray, d_model: int | None = None) -> np.ndarray:
    """Token vectors times ``sqrt(d_model)``, done before adding positions.

    The original Transformer (Vaswani et al. 2017, section 3.4) shares E with the output layer
    and initialises it with std ``d_model ** -0.5``; the factor brings token vectors back to
    unit-size entries, comparable with the sinusoid's entries in [-1, 1]. ``token_emb`` is
    ``(..., d_model)`` in any layout (a floating array keeps its dtype); ``d_model`` defaults to
    its last axis. Raises TypeError or ValueError for a ``d_model`` that is not an integer >= 1.

    Examples
    --------
    >>> scale_token_embeddings(np.ones((2, 1, 4))).ravel().tolist()
    [2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0]
    """
    token_emb = np.asarray(token_emb)
    d_model = token_emb.shape[-1] if d_model is None else d_model
    check_integer("d_model", d_model, 1)
    # a 0-d array of the input's dtype keeps float32 float32
    dtype = token_emb.dtype if token_emb.dtype.kind == "f" else np.float64
    return token_emb * np.asarray(math.sqrt(d_model), dtype=dtype)


def scale_token_embeddings_backward(grad_out: np.ndarray, d_model: int | None = None) -> np.ndarray:
    """Gradient of :func:`scale_token_embeddings`: the same map, ``grad_out * sqrt(d_model)``."""
    return scale_token_embeddings(grad_out, d_model)
