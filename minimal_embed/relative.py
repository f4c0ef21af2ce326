"""Position put into the key-query product of :mod:`minimal_embed.attention`, not the inputs.

- ALiBi: a fixed per-head penalty, linear in the distance (Press et al., 2022, "Train Short,
  Test Long", ICLR; used by BLOOM and MPT).
- T5: a learned scalar per head and distance *bucket*, exact for near keys, log-spaced for far
  ones (Raffel et al., 2020, "Exploring the Limits of Transfer Learning...", JMLR).
- RoPE: q and k rotated by angles proportional to their positions; rotations compose, so
  ``q_m . k_n`` depends only on ``m - n`` (Su et al., 2021, "RoFormer", arXiv:2104.09864;
  GPT-NeoX, GPT-J, LLaMA).
- Transformer-XL: queries against projected sinusoids of the distance, plus global content and
  position biases (Dai et al., 2019, "Transformer-XL", ACL), lined up by `rel_shift`.

Queries are aligned as in :func:`~minimal_embed.attention.attention_scores`. The T5 table and
RoPE have their backward beneath the forward (ALiBi learns nothing; Transformer-XL is forward
only). Hands on: biases and rotations, which :mod:`minimal_embed.schemes` wraps for the model.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from minimal_embed._checks import check_float_array, check_integer, check_real
from minimal_embed.attention import attention_scores, query_key_distance, query_key_lengths
from minimal_embed.positional import frequencies

__all__ = ["alibi_slopes", "alibi_bias", "t5_relative_buckets", "T5RelativeBias",
           "ROPE_SCALINGS", "rope_frequencies", "rope", "rope_backward", "relative_sinusoids",
           "rel_shift", "transformer_xl_scores"]

# ALiBi's and T5's biases depend on (i, j) only through key - query, so each is constant along
# the diagonals of the scores (a Toeplitz matrix): compute one value per diagonal, then spread.


def _relative_positions(q_len: int, k_len: int) -> np.ndarray:
    """Every value of key - query, ``-(k_len - 1) .. q_len - 1``: one per diagonal of the scores."""
    return np.arange(-(k_len - 1), q_len)  # (q_len + k_len - 1,)


def _expand_relative(per_relative: np.ndarray, q_len: int, k_len: int) -> np.ndarray:
    """Values per key - query ``(..., q_len + k_len - 1)`` -> Toeplitz ``(..., q_len, k_len)``."""
    # window s covers relative positions s-(k_len-1) .. s; query i needs s = q_len-1-i
    windows = sliding_window_view(per_relative, k_len, axis=-1)  # (..., q_len, k_len) view
    return np.ascontiguousarray(windows[..., ::-1, :])


def _sum_relative(grad: np.ndarray, q_len: int, k_len: int) -> np.ndarray:
    """Adjoint of `_expand_relative`: sum each diagonal of ``(..., q_len, k_len)``."""
    # rel_shift run in reverse: row i goes, in reversed row order, into row s = q_len-1-i of a
    # buffer k_len + q_len wide; re-read in rows one shorter, row s starts s columns later, so
    # column j - i + q_len - 1 (key - query + k_len - 1) holds grad[i, j] and the column sums
    # are the diagonal sums
    lead = grad.shape[:-2]
    padded = np.zeros(lead + (q_len, k_len + q_len), grad.dtype)  # (..., q_len, k_len + q_len)
    padded[..., :k_len] = grad[..., ::-1, :]
    flat = padded.reshape(lead + (q_len * (k_len + q_len),))[..., : q_len * (k_len + q_len - 1)]
    return flat.reshape(lead + (q_len, k_len + q_len - 1)).sum(axis=-2)


# --------------------------------------------------------------------------- ALiBi


def alibi_slopes(n_heads: int, *, dtype: npt.DTypeLike = np.float32) -> np.ndarray:
    """ALiBi's per-head slopes m_h (Press et al., 2022, section 3).

    For n a power of two: ``m_h = 2^(-8h/n)``, h = 1..n (8 heads give 1/2, 1/4, ..., 1/256).
    Otherwise, as the authors' reference implementation does: the slopes of the largest power of
    two ``n' < n``, then every other slope of ``2n'`` heads (``2^(-8h/(2n'))`` for h = 1, 3, 5,
    ...) until there are n; so 12 heads get the 8-head slopes, then 2^-0.5, 2^-1.5, 2^-2.5, 2^-3.5.
    Returns ``(n_heads,)`` of ``dtype``, decreasing within each of the two groups.

    Examples
    --------
    >>> alibi_slopes(4)
    array([0.25      , 0.0625    , 0.015625  , 0.00390625], dtype=float32)
    """
    n_heads = check_integer("n_heads", n_heads, 1)
    lower = 1 << (n_heads.bit_length() - 1)  # the largest power of two <= n_heads
    exponents = 8.0 / lower * np.arange(1, lower + 1)  # (lower,)
    if lower < n_heads:
        odd = np.arange(1, 2 * (n_heads - lower), 2)  # h = 1, 3, 5, ... of the 2*lower sequence
        exponents = np.concatenate([exponents, 8.0 / (2 * lower) * odd])
    return np.exp2(-exponents).astype(dtype)


def alibi_bias(
    n_heads: int,
    q_len: int,
    k_len: int | None = None,
    *,
    symmetric: bool = False,
    dtype: npt.DTypeLike = np.float32,
) -> np.ndarray:
    """ALiBi bias ``bias[h, i, j] = -m_h * (i + k_len - q_len - j)`` (Press et al., 2022).

    A penalty linear in how far key j lies behind query i (at ``i + k_len - q_len``, so it serves
    incremental decoding). Future keys get positive values and are meant to be masked
    (``causal=True``); under a causal softmax this equals BLOOM's shift-invariant ``m_h * j``, as
    ``-m_h * i`` is constant along a row. ``symmetric=True`` uses
    ``-m_h * |i + k_len - q_len - j|``, an encoder variant (not in the paper, which is about causal
    language models). Returns ``(n_heads, q_len, k_len)`` of ``dtype``; add it to the scores of
    every batch item.

    Examples
    --------
    >>> alibi_bias(8, 3)[0]  # the first head's slope is 1/2
    array([[ 0. ,  0.5,  1. ],
           [-0.5,  0. ,  0.5],
           [-1. , -0.5,  0. ]], dtype=float32)
    """
    q_len, k_len = query_key_lengths(q_len, k_len)
    relative = _relative_positions(q_len, k_len)  # key - query, (q_len + k_len - 1,)
    if symmetric:
        relative = -np.abs(relative)
    slopes = alibi_slopes(n_heads, dtype=dtype)  # (n_heads,)
    # one value per diagonal, spread over the (q_len, k_len) grid: one write per entry
    per_relative = slopes[:, None] * relative.astype(dtype)  # (n_heads, q_len + k_len - 1)
    return _expand_relative(per_relative, q_len, k_len)  # (n_heads, q_len, k_len)


# --------------------------------------------------------------------------- T5 buckets


def _t5_bucket(relative: np.ndarray, bidirectional: bool, num_buckets: int, max_distance: int):
    """T5's bucket of each relative position (key - query), any integer array shape."""
    buckets = np.zeros(relative.shape, np.int64)
    if bidirectional:
        num_buckets //= 2
        buckets += np.where(relative > 0, num_buckets, 0)  # keys after the query: upper half
        distance = np.abs(relative)
    else:
        distance = np.maximum(-relative, 0)  # a decoder never sees future keys: all bucket 0
    max_exact = num_buckets // 2
    # subtle: clamping to max_exact before log2 keeps log(0) from ever being evaluated; those
    # entries take the exact branch below anyway
    log_ratio = np.log2(np.maximum(distance, max_exact) / max_exact) / np.log2(
        max_distance / max_exact
    )
    spaced = max_exact + (log_ratio * (num_buckets - max_exact)).astype(np.int64)  # floor, >= 0
    spaced = np.minimum(spaced, num_buckets - 1)  # everything past max_distance shares the last
    return buckets + np.where(distance < max_exact, distance, spaced)


def _check_buckets(bidirectional: bool, num_buckets: int, max_distance: int) -> None:
    num_buckets = check_integer("num_buckets", num_buckets, 4 if bidirectional else 2)
    max_exact = (num_buckets // 2 if bidirectional else num_buckets) // 2
    if check_integer("max_distance", max_distance, 1) <= max_exact:
        raise ValueError(
            f"max_distance={max_distance} must exceed the {max_exact} exactly-bucketed "
            f"distances for num_buckets={num_buckets}; pass a larger max_distance"
        )


def t5_relative_buckets(
    q_len: int,
    k_len: int | None = None,
    *,
    bidirectional: bool = True,
    num_buckets: int = 32,
    max_distance: int = 128,
) -> np.ndarray:
    """T5's relative-position buckets (Raffel et al., 2020, section 2.1): int64 ``(q_len, k_len)``.

    With ``r = j - (i + k_len - q_len)`` (key minus query): when ``bidirectional``, keys after the
    query get the upper half of the buckets (``r > 0`` adds ``num_buckets/2``) and ``d = |r|``;
    otherwise ``d = max(-r, 0)`` and future keys share bucket 0. With ``n`` the buckets left and
    ``e = n/2``, each distance ``d < e`` has its own bucket; larger ones get ``e + floor(log(d/e) /
    log(max_distance/e) * (n - e))``, clipped at ``n - 1``, so every ``d >= max_distance`` lands in
    the last bucket. Values lie in ``[0, num_buckets)``. Raises TypeError or ValueError for
    lengths or counts that are not integers in range (``q_len <= k_len``, ``max_distance > e``).

    Examples
    --------
    >>> row = t5_relative_buckets(1, 129)[0]  # the query sits at position 128
    >>> row[[0, 64, 108, 121, 128]]  # key - query = -128, -64, -20, -7, 0
    array([15, 14, 10,  7,  0])
    """
    q_len, k_len = query_key_lengths(q_len, k_len)
    _check_buckets(bidirectional, num_buckets, max_distance)
    relative = _relative_positions(q_len, k_len)  # (q_len + k_len - 1,)
    per_relative = _t5_bucket(relative, bidirectional, num_buckets, max_distance)
    return _expand_relative(per_relative, q_len, k_len)  # (q_len, k_len)


class T5RelativeBias:
    """A learned scalar per (bucket, head): ``bias[h, i, j] = weight[bucket(i, j), h]``.

    ``bucket`` is `t5_relative_buckets`. T5 learns one such table per stack, held by the first
    layer and reused by the others; the encoder's is bidirectional, the decoder's causal. (T5 also
    leaves out the ``1/sqrt(d_head)`` score scaling, folding it into the initialisation:
    ``attention_scores(..., scale=1.0)``.)

    Parameters
    ----------
    num_buckets, n_heads : the table ``weight`` is ``(num_buckets, n_heads)``.
    bidirectional, max_distance : as for `t5_relative_buckets`.
    std : initial weights are ``N(0, std^2)`` (Hugging Face's T5 uses ``d_model ** -0.5``).
    seed, dtype : for the initial weights.

    Examples
    --------
    >>> t5 = T5RelativeBias(32, 2, seed=0)
    >>> t5(3, 5).shape, t5.backward(np.ones((2, 3, 5))).sum(axis=0)
    ((2, 3, 5), array([15., 15.], dtype=float32))
    """

    def __init__(
        self,
        num_buckets: int,
        n_heads: int,
        *,
        bidirectional: bool = True,
        max_distance: int = 128,
        std: float = 0.02,
        seed: int | None = None,
        dtype: npt.DTypeLike = np.float32,
    ) -> None:
        _check_buckets(bidirectional, num_buckets, max_distance)
        self.num_buckets, self.n_heads = num_buckets, check_integer("n_heads", n_heads, 1)
        self.bidirectional, self.max_distance = bidirectional, max_distance
        self.weight = (np.zeros((num_buckets, n_heads), dtype) if std == 0.0 else  # to load into
                       (np.random.default_rng(seed).standard_normal((num_buckets, n_heads))
                        * std).astype(dtype))

    def _relative_buckets(self, q_len: int, k_len: int) -> np.ndarray:
        relative = _relative_positions(q_len, k_len)  # (q_len + k_len - 1,)
        return _t5_bucket(relative, self.bidirectional, self.num_buckets, self.max_distance)

    def __call__(self, q_len: int, k_len: int | None = None) -> np.ndarray:
        """The bias ``(n_heads, q_len, k_len)``; queries are the last q_len keys."""
        q_len, k_len = query_key_lengths(q_len, k_len)
        # the bias depends on i, j only through j - i: look up q_len + k_len - 1 values, then
        # spread them along the diagonals instead of gathering q_len * k_len * n_heads entries
        per_relative = self.weight[self._relative_buckets(q_len, k_len)].T  # (n_heads, q+k-1)
        # contiguous rows make each row of the spread a plain copy
        per_relative = np.ascontiguousarray(per_relative)
        return _expand_relative(per_relative, q_len, k_len)  # (n_heads, q_len, k_len)

    forward = __call__

    def _check_grad(self, grad_bias: np.ndarray) -> np.ndarray:
        grad_bias = check_float_array("grad_bias", grad_bias)
        if grad_bias.ndim < 3 or grad_bias.shape[-3] != self.n_heads:
            raise ValueError(
                f"grad_bias must be (..., n_heads={self.n_heads}, q_len, k_len), "
                f"got {grad_bias.shape}"
            )
        query_key_lengths(grad_bias.shape[-2], grad_bias.shape[-1])
        if grad_bias.ndim > 3:  # the same bias was added to every batch item
            grad_bias = grad_bias.reshape((-1,) + grad_bias.shape[-3:]).sum(axis=0)
        return grad_bias

    def backward_plain(self, grad_bias: np.ndarray) -> np.ndarray:
        """Gradient of the table, plainly: one scatter-add of all q_len * k_len entries.

        ``grad[b, h] = sum of grad_bias[..., h, i, j] over all (i, j) in bucket b``. Raises
        TypeError for a non-float gradient; ValueError for another head count or q_len > k_len.

        Parameters
        ----------
        grad_bias : float ``(..., n_heads, q_len, k_len)``, dL/dbias (`attend_backward`'s dbias);
            leading axes are summed, as the one bias served every batch item.

        Returns
        -------
        ``(num_buckets, n_heads)`` of the table's dtype.
        """
        grad_bias = self._check_grad(grad_bias)  # (n_heads, q_len, k_len)
        buckets = t5_relative_buckets(
            *grad_bias.shape[-2:], bidirectional=self.bidirectional,
            num_buckets=self.num_buckets, max_distance=self.max_distance,
        )  # (q_len, k_len)
        grad = np.zeros_like(self.weight)
        np.add.at(grad, buckets, np.moveaxis(grad_bias, 0, -1).astype(grad.dtype))
        return grad

    def backward(self, grad_bias: np.ndarray) -> np.ndarray:
        """`backward_plain`'s gradient, fast: diagonal sums first, then the scatter-add.

        Each diagonal is one relative position, so only q_len + k_len - 1 sums are scattered
        into their buckets. Same argument, result and errors as `backward_plain`.
        """
        grad_bias = self._check_grad(grad_bias)  # (n_heads, q_len, k_len)
        q_len, k_len = grad_bias.shape[-2:]
        per_relative = _sum_relative(grad_bias, q_len, k_len)  # (n_heads, q_len + k_len - 1)
        grad = np.zeros_like(self.weight)
        # subtle: np.add.at, not grad[b] += ..., because many relative positions share a bucket
        np.add.at(grad, self._relative_buckets(q_len, k_len), per_relative.T.astype(grad.dtype))
        return grad


# --------------------------------------------------------------------------- RoPE


def _rotation_pairs(rotary_dim: int, interleaved: bool) -> tuple[slice, slice]:
    """Which dims rotate together: GPT-J pairs (2t, 2t+1), GPT-NeoX pairs (t, t + rotary_dim/2)."""
    if interleaved:
        return slice(0, rotary_dim, 2), slice(1, rotary_dim, 2)
    return slice(0, rotary_dim // 2), slice(rotary_dim // 2, rotary_dim)


ROPE_SCALINGS = ("linear", "llama3")  # the kinds of `rope_frequencies`' scaling


def rope_frequencies(
    rotary_dim: int, base: float = 10000.0, *, scaling: dict | None = None
) -> np.ndarray:
    """RoPE's frequencies ``theta_t = base^(-2t / rotary_dim)``, optionally stretched.

    A model trained on L positions is run on longer texts by slowing its rotations down
    (``scaling["kind"]``, with the settings beside it):

    - ``"linear"`` (position interpolation, Chen et al., 2023): ``theta_t / factor``, i.e.
      position p turns as p / factor did.
    - ``"llama3"`` (Meta's Llama 3.1): with wavelength ``w_t = 2 pi / theta_t`` and ``L =
      original_max_len``: ``theta_t`` where ``w_t < L / high_freq_factor`` (fast pairs keep their
      local detail); ``theta_t / factor`` where ``w_t > L / low_freq_factor``; in between
      ``(1 - s) theta_t / factor + s theta_t`` with ``s = (L / w_t - low_freq_factor) /
      (high_freq_factor - low_freq_factor)``.

    Returns
    -------
    float64 ``(rotary_dim / 2,)``.

    Raises
    ------
    ValueError
        For an odd ``rotary_dim``, an unknown kind (naming ``ROPE_SCALINGS``), a missing
        setting, or settings out of range (factors > 0, ``high_freq_factor > low_freq_factor``).

    Examples
    --------
    >>> rope_frequencies(4, scaling={"kind": "linear", "factor": 4.0}).tolist()
    [0.25, 0.0025]
    """
    rotary_dim = check_integer("rotary_dim", rotary_dim, 2)
    if rotary_dim % 2:
        raise ValueError(f"rotary_dim={rotary_dim} must be even: RoPE rotates pairs of dims")
    theta = frequencies(rotary_dim, base)  # (rotary_dim / 2,)
    if scaling is None:
        return theta
    kind = scaling.get("kind") if isinstance(scaling, dict) else None
    if kind not in ROPE_SCALINGS:
        raise ValueError(f"RoPE scaling {kind!r} is not supported; the supported kinds are "
                         f"{', '.join(ROPE_SCALINGS)} (a dict with 'kind' and its settings)")
    try:
        factor = check_real("factor", scaling["factor"], least=0.0, above=True)
        if kind == "linear":
            return theta / factor
        low = check_real("low_freq_factor", scaling["low_freq_factor"], least=0.0, above=True)
        high = check_real("high_freq_factor", scaling["high_freq_factor"], least=low, above=True)
        length = check_real("original_max_len", scaling["original_max_len"], least=0.0,
                            above=True)
    except KeyError as error:
        raise ValueError(f"RoPE scaling {kind!r} needs the setting {error}") from None
    wavelength = 2 * np.pi / theta
    smooth = (length / wavelength - low) / (high - low)  # 0 at L / low, 1 at L / high
    mixed = (1 - smooth) * theta / factor + smooth * theta
    return np.where(wavelength < length / high, theta,
                    np.where(wavelength > length / low, theta / factor, mixed))


def rope(
    x: np.ndarray,
    positions: np.ndarray,
    *,
    base: float = 10000.0,
    interleaved: bool = False,
    rotary_dim: int | None = None,
    scaling: dict | None = None,
) -> np.ndarray:
    """Rotary position embedding (Su et al., 2021): rotate each pair of dims by ``p * theta_t``.

    For pair t = 0 .. rotary_dim/2 - 1, with ``theta_t = base^(-2t / rotary_dim)`` and the row's
    position p, the pair ``(a, b)`` becomes ``(a cos - b sin, b cos + a sin)`` of ``p theta_t``.
    Raises TypeError for a non-float x or non-integer positions; ValueError for positions not
    ``(seq,)`` or a rotary_dim that is odd or more than d_head.

    Parameters
    ----------
    x : float ``(..., seq, d_head)``, e.g. q or k as ``(batch, heads, seq, d_head)``.
    positions : integer ``(seq,)``, the absolute position of each row (negative rotates back).
    base : the frequency base (10000 in the paper and most models).
    interleaved : False pairs dim t with t + rotary_dim/2 (GPT-NeoX's "rotate half"); True pairs 2t
        with 2t + 1 (GPT-J; also Meta's LLaMA code, whose Hugging Face port permutes the q/k weights
        to use rotate-half). The two agree up to a fixed permutation of dims.
    rotary_dim : even, ``<= d_head``, default d_head: only these first dims rotate (GPT-NeoX: 25 %
        of d_head; GPT-J: 64 of 256); the rest pass through unchanged.
    scaling : a `rope_frequencies` scaling (``{"kind": "linear", "factor": 4.0}``), or None.

    Returns
    -------
    array of x's shape and dtype (angles are computed in float64).

    Examples
    --------
    >>> rope(np.array([[1.0, 0.0]]), np.array([1]))  # the angle 1 radian
    array([[0.5403, 0.8415]])
    """
    x = check_float_array("x", x)
    if x.ndim < 2:
        raise ValueError(f"x must be (..., seq, d_head), got shape {x.shape}")
    seq, d_head = x.shape[-2:]
    rotary_dim = d_head if rotary_dim is None else check_integer("rotary_dim", rotary_dim, 2)
    if rotary_dim % 2 or rotary_dim > d_head:
        raise ValueError(f"rotary_dim={rotary_dim} must be even and at most d_head={d_head}")
    positions = np.asarray(positions)
    if positions.dtype.kind not in "iu":  # subtle: np.issubdtype counts timedelta64 as integer
        raise TypeError(f"positions must be integers, got dtype {positions.dtype}")
    if positions.shape != (seq,):
        raise ValueError(f"positions must have shape (seq,) = ({seq},), got {positions.shape}")
    theta = rope_frequencies(rotary_dim, base, scaling=scaling)  # (rotary_dim / 2,)
    angles = positions[:, None] * theta  # (seq, rotary_dim / 2), float64
    cos, sin = np.cos(angles).astype(x.dtype), np.sin(angles).astype(x.dtype)
    first, second = _rotation_pairs(rotary_dim, interleaved)
    a, b = x[..., first], x[..., second]  # (..., seq, rotary_dim / 2) each
    out = x.copy()
    out[..., first] = a * cos - b * sin
    out[..., second] = b * cos + a * sin
    return out


def rope_backward(
    grad_out: np.ndarray,
    positions: np.ndarray,
    *,
    base: float = 10000.0,
    interleaved: bool = False,
    rotary_dim: int | None = None,
    scaling: dict | None = None,
) -> np.ndarray:
    """Gradient through `rope`: the inverse rotation, i.e. `rope` at ``-positions``.

    rope is linear, ``y = R(p) x`` with R orthogonal, so ``dx = R(p)^T dy = R(-p) dy``.
    Same parameters as `rope`; returns an array of ``grad_out``'s shape.

    Examples
    --------
    >>> x = np.array([[0.3, -1.2]])
    >>> np.allclose(rope_backward(rope(x, np.array([5])), np.array([5])), x)
    True
    """
    positions = np.asarray(positions)
    if positions.dtype.kind not in "iu":  # subtle: np.issubdtype counts timedelta64 as integer
        raise TypeError(f"positions must be integers, got dtype {positions.dtype}")
    # negate in a signed type: on unsigned positions, -p would wrap around to a huge position
    return rope(grad_out, -positions.astype(np.int64), base=base, interleaved=interleaved,
                rotary_dim=rotary_dim, scaling=scaling)


# --------------------------------------------------------------------------- Transformer-XL


def relative_sinusoids(
    k_len: int, dim: int, *, base: float = 10000.0, dtype: npt.DTypeLike = np.float32
) -> np.ndarray:
    """Transformer-XL's fixed encodings R of the distances ``k_len - 1, ..., 1, 0`` (in that order).

    Row c encodes ``d = k_len - 1 - c`` as ``[sin(d theta_t) | cos(d theta_t)]`` over t = 0 ..
    dim/2 - 1, ``theta_t = base^(-2t/dim)`` (all sines, then all cosines, as in the authors' code);
    descending order is what lets `rel_shift` line the rows up. Returns ``(k_len, dim)`` of
    ``dtype``; project it per head with a learned ``W_r``.

    Examples
    --------
    >>> relative_sinusoids(3, 2).round(4)  # rows: distance 2, 1, 0
    array([[ 0.9093, -0.4161],
           [ 0.8415,  0.5403],
           [ 0.    ,  1.    ]], dtype=float32)
    """
    k_len, dim = check_integer("k_len", k_len, 1), check_integer("dim", dim, 2)
    if dim % 2:
        raise ValueError(f"dim={dim} must be even (a sine and a cosine per frequency)")
    theta = frequencies(dim, base)  # (dim / 2,) base^(-2t / dim)
    angles = np.arange(k_len - 1, -1, -1)[:, None] * theta  # (k_len, dim / 2)
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=-1).astype(dtype)


def rel_shift(x: np.ndarray) -> np.ndarray:
    """Turn scores against distances into scores against keys (Dai et al., 2019, appendix B).

    ``x[..., i, c]`` scores query i against distance ``k_len - 1 - c`` (the rows of
    `relative_sinusoids`). Key j lies ``i + k_len - q_len - j`` behind query i, which is column
    ``c = j + (q_len - 1 - i)``; so row i moves left by ``q_len - 1 - i``::

        out[..., i, j] = x[..., i, j + q_len - 1 - i]      for j <= i + k_len - q_len

    The future keys ``j > i + k_len - q_len`` hold junk and must be masked (`transformer_xl_scores`
    does). ``x`` is ``(..., q_len, k_len)`` with ``q_len <= k_len`` (ValueError otherwise); the
    result has its shape, a view into a new buffer.

    Examples
    --------
    >>> rel_shift(np.array([[1, 2, 3], [4, 5, 6]]))
    array([[2, 3, 0],
           [4, 5, 6]])
    """
    x = np.asarray(x)
    if x.ndim < 2:
        raise ValueError(f"x must be (..., q_len, k_len), got shape {x.shape}")
    q_len, k_len = query_key_lengths(x.shape[-2], x.shape[-1])
    # The shift without indexing: a zero column in front makes rows of k_len + 1; drop the first
    # q_len flat entries and re-read in rows of k_len. Row i then starts at flat offset
    # q_len + i k_len = i (k_len + 1) + (q_len - i), column q_len - 1 - i of the old row i:
    # exactly its shift. Entries past a row's end run on into the zero and the next row; those
    # are the future keys, masked by the caller.
    lead = x.shape[:-2]
    padded = np.concatenate([np.zeros(lead + (q_len, 1), x.dtype), x], axis=-1)  # (.., q, k+1)
    flat = padded.reshape(lead + (q_len * (k_len + 1),))[..., q_len:]  # drop q_len entries
    return flat.reshape(x.shape)


def transformer_xl_scores(
    q: np.ndarray, k: np.ndarray, r: np.ndarray, u: np.ndarray, v: np.ndarray
) -> np.ndarray:
    """Transformer-XL's relative scores (Dai et al., 2019, section 3.3), causal::

        s[i, j] = ((q_i + u) . k_j + (q_i + v) . r_{i-j}) / sqrt(d_head),    r_d = W_r R_d

    with R_d the sinusoid of distance d. u (global content bias) and v (global position bias)
    replace the query's own absolute position. The second term is scored against all k_len
    distances at once and lined up by `rel_shift`; future keys get ``-inf``. Raises as
    `attention_scores`, and ValueError for an r not shaped like k.

    Parameters
    ----------
    q : float ``(..., q_len, d_head)``, e.g. ``(n_heads, q_len, d_head)``.
    k : float ``(..., k_len, d_head)``; keys include the cached memory, ``k_len >= q_len``.
    r : float ``(..., k_len, d_head)``: projected `relative_sinusoids` (distances k_len-1 .. 0).
    u, v : float ``(..., d_head)``, q's axes without q_len, e.g. ``(n_heads, d_head)``.

    Returns
    -------
    ``(..., q_len, k_len)`` scores with ``-inf`` above the (aligned) diagonal.

    Examples
    --------
    >>> q = np.zeros((2, 4)); k = np.zeros((3, 4)); u = v = np.zeros(4)
    >>> r = np.arange(12.0).reshape(3, 4)  # rows for distances 2, 1, 0
    >>> transformer_xl_scores(q, k, r, u, v + 1.0)  # (q + v) . r_d / 2 = 3, 11, 19 for d = 2, 1, 0
    array([[ 11.,  19., -inf],
           [  3.,  11.,  19.]])
    """
    q, k, r = check_float_array("q", q), check_float_array("k", k), check_float_array("r", r)
    u, v = check_float_array("u", u), check_float_array("v", v)
    if r.shape[-2:] != k.shape[-2:]:
        raise ValueError(f"r {r.shape} must be (..., k_len, d_head) like k {k.shape}")
    content = attention_scores(q + u[..., None, :], k)  # (a) + (c): (..., q_len, k_len)
    by_distance = attention_scores(q + v[..., None, :], r)  # (b) + (d), column c: k_len-1-c
    scores = content + rel_shift(by_distance)  # column j: distance i + k_len - q_len - j
    np.copyto(scores, -np.inf, where=query_key_distance(*scores.shape[-2:]) < 0)
    return scores
