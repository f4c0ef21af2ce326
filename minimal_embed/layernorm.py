"""Layer normalisation over the last axis (Ba et al. 2016), with its hand-written backward.

BERT normalises its summed input embeddings with it (Devlin et al. 2019), as every Transformer
block does; what it hands on has the input's shape, ``(seq_len, batch, d)`` or any ``(..., d)``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from minimal_embed._checks import check_float_dtype, check_integer, check_real

__all__ = ["LayerNorm", "layer_norm", "layer_norm_backward", "LayerNormCache"]


class LayerNormCache(NamedTuple):
    """What the backward needs from the forward."""

    x_hat: np.ndarray      # (..., d) the normalised input
    inv_std: np.ndarray    # (..., 1) 1 / sqrt(var + eps)
    gamma: np.ndarray      # (d,)


def layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, *,
               eps: float = 1e-5) -> tuple[np.ndarray, LayerNormCache]:
    """``y = gamma * x_hat + beta`` for each vector x of width d (the last axis), where::

        mu = mean(x),  var = mean((x - mu)**2),  x_hat = (x - mu) / sqrt(var + eps)

    ``x`` (..., d) floating, scale ``gamma`` and shift ``beta`` (d,), ``eps`` >= 0 (PyTorch's
    default 1e-5; BERT uses 1e-12). Returns ``y`` (..., d) and the :class:`LayerNormCache` for
    :func:`layer_norm_backward`. Raises ValueError for a gamma or beta not ``(d,)`` or eps < 0,
    TypeError for an eps that is not a number.

    >>> y, _ = layer_norm(np.array([[1.0, 2.0, 3.0]]), np.ones(3), np.zeros(3), eps=0.0)
    >>> y.round(4).tolist()
    [[-1.2247, 0.0, 1.2247]]
    """
    x = np.asarray(x)
    gamma, beta = np.asarray(gamma), np.asarray(beta)
    if x.ndim < 1 or gamma.shape != (x.shape[-1],) or beta.shape != (x.shape[-1],):
        raise ValueError(f"layer_norm normalises the last axis: x (..., d) needs gamma and beta of "
                         f"shape (d,); got x {x.shape}, gamma {gamma.shape}, beta {beta.shape}")
    eps = check_real("eps", eps, least=0.0)
    centred = x - x.mean(axis=-1, keepdims=True)                   # (..., d)
    var = np.mean(centred * centred, axis=-1, keepdims=True)       # (..., 1)
    inv_std = 1.0 / np.sqrt(var + np.asarray(eps, dtype=var.dtype))  # (..., 1)
    x_hat = centred * inv_std                                      # (..., d)
    return x_hat * gamma + beta, LayerNormCache(x_hat, inv_std, gamma)


def layer_norm_backward(grad_out: np.ndarray,
                        cache: LayerNormCache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`layer_norm` from ``g = grad_out = dL/dy`` (..., d)::

        dL/dgamma = sum over vectors of g * x_hat,     dL/dbeta = sum over vectors of g
        dL/dx     = (g_hat - mean(g_hat) - x_hat * mean(g_hat * x_hat)) / sqrt(var + eps),
                    with g_hat = g * gamma

    Returns ``(grad_x, grad_gamma, grad_beta)`` of shapes (..., d), (d,), (d,). Raises ValueError
    if ``grad_out``'s shape is not the forward output's.

    >>> _, cache = layer_norm(np.array([[1.0, 2.0, 3.0]]), np.ones(3), np.zeros(3))
    >>> layer_norm_backward(np.ones((1, 3)), cache)[0].round(12).tolist()  # L = sum(y) = sum(beta)
    [[0.0, 0.0, 0.0]]
    """
    x_hat, inv_std, gamma = cache
    grad_out = np.asarray(grad_out)
    if grad_out.shape != x_hat.shape:
        raise ValueError(f"grad_out has shape {grad_out.shape}, the forward output {x_hat.shape}")
    leading = tuple(range(grad_out.ndim - 1))
    grad_gamma = np.sum(grad_out * x_hat, axis=leading)            # (d,)
    grad_beta = np.sum(grad_out, axis=leading)                     # (d,)
    # Per vector, with s = 1/sqrt(var + eps): x_hat_k = (x_k - mu) s depends on every x_i
    # through mu and s, d mu/d x_i = 1/d and d s/d x_i = -s**3 (x_i - mu)/d = -s**2 x_hat_i/d,
    # so dL/dx_i = sum_k g_hat_k d x_hat_k/d x_i = s (g_hat_i - mean(g_hat) - x_hat_i mean(g_hat
    # x_hat))
    g_hat = grad_out * gamma                                       # (..., d)
    grad_x = inv_std * (g_hat - g_hat.mean(axis=-1, keepdims=True)
                        - x_hat * np.mean(g_hat * x_hat, axis=-1, keepdims=True))
    return grad_x, grad_gamma, grad_beta


class LayerNorm:
    """Layer normalisation with learned ``gamma`` (ones) and ``beta`` (zeros), both ``(dim,)``.

    ``dim`` is an integer >= 1, ``eps`` a number >= 0 (default 1e-5), ``dtype`` floating (default
    float32): TypeError for a wrong type, ValueError for a wrong value.

    >>> ln = LayerNorm(4, eps=1e-12)
    >>> ln.forward(np.arange(8.0).reshape(2, 4)).round(4).tolist()[0]
    [-1.3416, -0.4472, 0.4472, 1.3416]
    """

    def __init__(self, dim: int, *, eps: float = 1e-5, dtype: npt.DTypeLike = np.float32) -> None:
        dim = check_integer("dim", dim, least=1)
        self.eps: float = check_real("eps", eps, least=0.0)
        self.gamma: np.ndarray = np.ones(dim, dtype=check_float_dtype("dtype", dtype))  # (dim,)
        self.beta: np.ndarray = np.zeros(dim, dtype=self.gamma.dtype)                   # (dim,)
        self._cache: LayerNormCache | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Normalise the last axis, ``(..., dim)`` -> ``(..., dim)``; keeps what backward needs."""
        y, self._cache = layer_norm(x, self.gamma, self.beta, eps=self.eps)
        return y

    def backward(self, grad_out: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(grad_x, grad_gamma, grad_beta)`` for the last :meth:`forward` call.

        Raises RuntimeError before any forward; ValueError if grad_out is not the output's shape.
        """
        if self._cache is None:
            raise RuntimeError("LayerNorm.backward called before forward; call forward(x) "
                               "first, then backward with the gradient of its output")
        return layer_norm_backward(grad_out, self._cache)
