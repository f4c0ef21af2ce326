"""Scaled dot-product attention (Vaswani et al., 2017, "Attention Is All You Need").

A model projects the input stage's ``(seq_len, batch, d_model)`` vectors to per-head queries q,
keys k and values v; here they are scored, softmaxed and averaged, each step with its backward.
:mod:`minimal_embed.relative` puts position into the scores (ALiBi, T5, RoPE, Transformer-XL).

Alignment, everywhere: q holds the *last* q_len of the k_len key positions (query i sits at
``i + k_len - q_len``), so one code path serves a full sequence and decoding with cached keys.
"""

from __future__ import annotations

import math

import numpy as np

from minimal_embed._checks import check_float_array, check_integer, check_real

__all__ = ["attention_scores", "softmax", "softmax_backward", "attend", "attend_backward"]

# --------------------------------------------------------------------------- shapes and alignment


def query_key_lengths(q_len: int, k_len: int | None) -> tuple[int, int]:
    """Check ``1 <= q_len <= k_len`` (``k_len`` defaults to ``q_len``); return both as ints."""
    q_len = check_integer("q_len", q_len, 1)
    k_len = q_len if k_len is None else check_integer("k_len", k_len, 1)
    if q_len > k_len:
        raise ValueError(
            f"q_len={q_len} is more than k_len={k_len}: queries are the last q_len of the "
            f"k_len key positions, so k_len must be at least q_len"
        )
    return q_len, k_len


def query_key_distance(q_len: int, k_len: int) -> np.ndarray:
    """``(i + k_len - q_len) - j``, int64 ``(q_len, k_len)``: how far key j lies behind query i."""
    query_positions = np.arange(q_len) + (k_len - q_len)  # (q_len,)
    return query_positions[:, None] - np.arange(k_len)  # (q_len, k_len); < 0 for future keys


def sum_to_shape(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Undo broadcasting: sum ``grad`` over the axes along which an array of ``shape`` spread."""
    extra = grad.ndim - len(shape)
    if extra < 0 or np.broadcast_shapes(grad.shape, shape) != grad.shape:
        raise ValueError(f"an array of shape {shape} does not broadcast to {grad.shape}")
    grad = grad.sum(axis=tuple(range(extra))) if extra else grad
    spread = tuple(a for a, n in enumerate(shape) if n == 1 and grad.shape[a] != 1)
    return grad.sum(axis=spread, keepdims=True) if spread else grad


# --------------------------------------------------------------------------- scores and softmax


def attention_scores(
    q: np.ndarray,
    k: np.ndarray,
    *,
    bias: np.ndarray | None = None,
    causal: bool = False,
    scale: float | None = None,
    key_mask: np.ndarray | None = None,
) -> np.ndarray:
    """Scaled dot-product scores ``s = scale * q @ k^T + bias``, optionally causal and masked.

    Raises TypeError for non-float q or k or a non-bool key_mask; ValueError for mismatched
    d_head, a causal q_len > k_len, a scale that is not > 0, or a bias or key_mask that does not
    broadcast.

    Parameters
    ----------
    q, k : float ``(..., q_len, d_head)`` and ``(..., k_len, d_head)``, leading axes broadcasting;
        any lengths (cross-attention) unless causal.
    bias : broadcasting to ``(..., q_len, k_len)``, e.g. ``(n_heads, q_len, k_len)``.
    causal : ``s[..., i, j] = -inf`` for keys j after query i's position; needs k_len >= q_len.
    scale : the factor of ``q @ k^T``, default ``1 / sqrt(d_head)``; T5 uses 1.0 (its
        initialisation absorbs the scaling).
    key_mask : bool ``(..., k_len)``, True at real keys, leading axes broadcasting against the
        scores' (``(batch, 1, k_len)`` for ``(batch, n_heads, q_len, k_len)`` scores): padded
        keys get ``-inf``, so left- or right-padded batches need no hand-built bias. A query
        with no real key gets all-zero weights from `softmax`.

    Returns
    -------
    float ``(..., q_len, k_len)`` in q's dtype.

    Examples
    --------
    >>> attention_scores(np.ones((2, 4)), np.ones((3, 4)), causal=True)  # 4 / sqrt(4) = 2
    array([[  2.,   2., -inf],
           [  2.,   2.,   2.]])
    """
    q, k = check_float_array("q", q), check_float_array("k", k)
    if q.ndim < 2 or k.ndim < 2 or q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q {q.shape} and k {k.shape} must be (..., seq, d_head) with one d_head")
    if causal and q.shape[-2] > k.shape[-2]:
        raise ValueError(
            f"causal attention with q_len={q.shape[-2]} > k_len={k.shape[-2]}: queries are the "
            f"last q_len keys, so the first ones would see nothing; pass causal=False for "
            f"cross-attention"
        )
    scale = _score_scale(scale, q.shape[-1])
    scores = (q * q.dtype.type(scale)) @ np.swapaxes(k, -1, -2)  # (..., q_len, k_len)
    if bias is not None:
        bias = np.asarray(bias)
        try:
            shape = np.broadcast_shapes(scores.shape, bias.shape)
        except ValueError:
            raise ValueError(
                f"bias of shape {bias.shape} does not broadcast to the scores {scores.shape}"
            ) from None
        out = scores if shape == scores.shape else np.empty(shape, scores.dtype)
        np.add(scores, bias, out=out, casting="same_kind")
        scores = out
    if causal:
        np.copyto(scores, -np.inf, where=query_key_distance(*scores.shape[-2:]) < 0)
    if key_mask is not None:
        np.copyto(scores, -np.inf, where=~_check_key_mask(key_mask, scores.shape)[..., None, :])
    return scores


def _score_scale(scale: float | None, d_head: int) -> float:
    """The factor of q @ k^T: ``scale``, checked, or ``1 / sqrt(d_head)``."""
    if scale is None:
        return 1.0 / math.sqrt(d_head)
    return check_real("scale", scale, least=0.0, above=True)


def _check_key_mask(key_mask: np.ndarray, scores_shape: tuple[int, ...]) -> np.ndarray:
    """A bool ``(..., k_len)`` mask whose leading axes broadcast against the scores'."""
    key_mask = np.asarray(key_mask)
    if key_mask.dtype != np.bool_:
        raise TypeError(f"key_mask must be a bool array (True = real key), got dtype "
                        f"{key_mask.dtype}; convert it with key_mask.astype(bool)")
    lead = scores_shape[:-2]
    try:
        fits = key_mask.ndim >= 1 and key_mask.shape[-1] == scores_shape[-1] and \
            np.broadcast_shapes(lead, key_mask.shape[:-1]) == lead
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"key_mask of shape {key_mask.shape} must be (..., k_len="
                         f"{scores_shape[-1]}) with leading axes broadcasting to the scores' "
                         f"{lead}, e.g. (batch, 1, k_len) for (batch, n_heads, q_len, k_len)")
    return key_mask


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable ``softmax(x)_j = exp(x_j - max x) / sum_l exp(x_l - max x)``.

    Over ``axis`` of a float array x; returns x's shape and dtype. Subtracting the maximum keeps
    every exponent <= 0 (no overflow). ``-inf`` entries get weight exactly 0; an all ``-inf`` row
    (a query with no key allowed) gives **all zeros**, so its attention output is the zero vector
    and no gradient flows through it: no NaN, no NumPy warning. Raises ValueError for NaN or
    ``+inf`` in x (mask with ``-inf``) or an empty axis, TypeError for a non-float x.

    Examples
    --------
    >>> softmax(np.array([[0.0, np.log(3.0)], [-np.inf, -np.inf]]))
    array([[0.25, 0.75],
           [0.  , 0.  ]])
    """
    x = check_float_array("x", x)
    if x.shape[axis] == 0:
        raise ValueError(f"softmax over an empty axis {axis} of shape {x.shape}")
    row_max = np.max(x, axis=axis, keepdims=True)
    if np.isnan(row_max).any() or np.isposinf(row_max).any():
        raise ValueError("softmax input contains NaN or +inf; mask with -inf instead")
    # subtle: an all -inf row has max -inf, and -inf - -inf is NaN; shifting it by 0 keeps exp at 0
    row_max[np.isneginf(row_max)] = 0.0
    weights = np.subtract(x, row_max)
    np.exp(weights, out=weights)
    total = weights.sum(axis=axis, keepdims=True)
    total[total == 0] = 1.0  # only all -inf rows sum to 0: they stay zeros
    weights /= total
    return weights


def softmax_backward(weights: np.ndarray, grad_weights: np.ndarray, axis: int = -1) -> np.ndarray:
    """Gradient through softmax: ``dx_j = y_j (dy_j - sum_l dy_l y_l)``; zero where y = 0.

    ``weights`` is the saved ``y = softmax(x)``, ``grad_weights`` dL/dy of the same shape, ``axis``
    the one the softmax normalised; returns dx, of that shape.

    Examples
    --------
    >>> softmax_backward(np.array([0.25, 0.75]), np.array([1.0, 0.0]))
    array([ 0.1875, -0.1875])
    """
    # d y_j / d x_l = y_j (delta_jl - y_l), contracted with dy
    dot = np.sum(grad_weights * weights, axis=axis, keepdims=True)
    return weights * (grad_weights - dot)


def attend(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    *,
    bias: np.ndarray | None = None,
    causal: bool = False,
    scale: float | None = None,
    key_mask: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Attention: ``weights = softmax(attention_scores(q, k, ...))``, ``outputs = weights @ v``.

    Raises as `attention_scores`, and ValueError for a v that is not ``(..., k_len, d_v)``.

    Parameters
    ----------
    q, k, bias, causal, scale, key_mask : as for `attention_scores`.
    v : float ``(..., k_len, d_v)``.

    Returns
    -------
    outputs : ``(..., q_len, d_v)``
    weights : ``(..., q_len, k_len)``, rows summing to 1 (all zeros if fully masked); keep them
        for `attend_backward`.

    Examples
    --------
    >>> q = k = np.zeros((2, 4)); v = np.array([[2.0], [4.0]])
    >>> outputs, weights = attend(q, k, v, causal=True)
    >>> outputs[:, 0], weights[1]
    (array([2., 3.]), array([0.5, 0.5]))
    """
    scores = attention_scores(q, k, bias=bias, causal=causal, scale=scale, key_mask=key_mask)
    weights = softmax(scores)  # (..., q_len, k_len)
    v = check_float_array("v", v)
    if v.ndim < 2 or v.shape[-2] != weights.shape[-1]:
        raise ValueError(f"v {v.shape} must be (..., k_len, d_v) with k_len={weights.shape[-1]}")
    return weights @ v, weights


def attend_backward(
    grad_out: np.ndarray,
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    weights: np.ndarray,
    *,
    bias_shape: tuple[int, ...] | None = None,
    scale: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of `attend` from its weights P, where ``O = P V``, ``S = c q k^T + bias``::

        dV = P^T dO,  dP = dO V^T,  dS = softmax_backward(P, dP),  dbias = dS,
        dq = c dS k,  dk = c dS^T q       (all zero where P = 0: causal or key_mask)

    with ``c = scale``, default ``1 / sqrt(d)``.

    Raises ValueError for a grad_out not shaped ``(..., q_len, d_v)`` like the outputs.

    Parameters
    ----------
    grad_out : dO, ``(..., q_len, d_v)``.
    q, k, v, weights : the forward's inputs and returned weights.
    bias_shape : the forward bias's shape, e.g. ``(n_heads, q_len, k_len)``: dbias is dS summed
        down to it; ``None`` returns dS itself.
    scale : the forward's ``scale``.

    Returns
    -------
    dq, dk, dv : the shapes of q, k, v (summed back over broadcast axes).
    dbias : ``bias_shape``, or the scores' shape ``(..., q_len, k_len)``.

    Examples
    --------
    >>> q, k, v = np.zeros((1, 2)), np.zeros((2, 2)), np.array([[1.0], [3.0]])
    >>> dq, dk, dv, dbias = attend_backward(np.ones((1, 1)), q, k, v, attend(q, k, v)[1])
    >>> dv[:, 0], dbias
    (array([0.5, 0.5]), array([[-0.5,  0.5]]))
    """
    if np.shape(grad_out)[-2:] != (np.shape(weights)[-2], np.shape(v)[-1]):
        raise ValueError(
            f"grad_out {np.shape(grad_out)} must be the outputs' shape (..., q_len, d_v) for "
            f"weights {np.shape(weights)} and v {np.shape(v)}"
        )
    # a Python float, not a NumPy float64 scalar: float32 gradients stay float32 (NEP 50)
    scale = _score_scale(scale, np.shape(q)[-1])
    grad_weights = grad_out @ np.swapaxes(v, -1, -2)  # (..., q_len, k_len)
    grad_scores = softmax_backward(weights, grad_weights)  # (..., q_len, k_len)
    dv = np.swapaxes(weights, -1, -2) @ grad_out  # (..., k_len, d_v)
    dq = (grad_scores @ k) * scale  # (..., q_len, d_head)
    dk = (np.swapaxes(grad_scores, -1, -2) @ q) * scale  # (..., k_len, d_head)
    dbias = grad_scores if bias_shape is None else sum_to_shape(grad_scores, tuple(bias_shape))
    return (
        sum_to_shape(dq, np.shape(q)),
        sum_to_shape(dk, np.shape(k)),
        sum_to_shape(dv, np.shape(v)),
        dbias,
    )
