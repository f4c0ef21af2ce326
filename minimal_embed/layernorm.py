"""Layer normalisation over the last axis, with its hand-written backward.

BERT normalises its input embeddings (token + position + token type) before the first layer
(Devlin et al. 2019; eps 1e-12 in the released code), and every Transformer block uses the same
operation (Ba et al. 2016, "Layer Normalization"). For each vector x of width d::

    mu = mean(x),  var = mean((x - mu)**2),  x_hat = (x - mu) / sqrt(var + eps)
    y  = gamma * x_hat + beta                      (gamma, beta: (d,), learned)

The backward, per vector, with g = dL/dy (derived in :func:`layer_norm_backward`)::

    dL/dgamma = sum over vectors of g * x_hat,     dL/dbeta = sum over vectors of g
    dL/dx     = (g_hat - mean(g_hat) - x_hat * mean(g_hat * x_hat)) / sqrt(var + eps),
                with g_hat = g * gamma

Any leading shape works: ``(seq_len, batch, d_model)``, ``(batch, seq_len, d_model)``, ``(n, d)``.
"""

from __future__ import annotations

from numbers import Integral
from typing import NamedTuple

import numpy as np

__all__ = ["LayerNorm", "layer_norm", "layer_norm_backward", "LayerNormCache"]


class LayerNormCache(NamedTuple):
    """What the backward needs from the forward."""

    x_hat: np.ndarray      # (..., d) the normalised input
    inv_std: np.ndarray    # (..., 1) 1 / sqrt(var + eps)
    gamma: np.ndarray      # (d,)


def layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, *,
               eps: float = 1e-5) -> tuple[np.ndarray, LayerNormCache]:
    """``y = gamma * (x - mean) / sqrt(var + eps) + beta`` over the last axis of x.

    Parameters
    ----------
    x : numpy.ndarray
        ``(..., d)``, floating point.
    gamma, beta : numpy.ndarray
        ``(d,)``: scale and shift.
    eps : float, default 1e-5
        Added to the variance (PyTorch's default is 1e-5; BERT uses 1e-12).

    Returns
    -------
    y : numpy.ndarray
        ``(..., d)``.
    cache : LayerNormCache
        Pass it to :func:`layer_norm_backward`.

    Raises
    ------
    ValueError
        If gamma or beta is not of shape ``(d,)`` for x of shape ``(..., d)``, or ``eps < 0``.

    Examples
    --------
    >>> y, _ = layer_norm(np.array([[1.0, 2.0, 3.0]]), np.ones(3), np.zeros(3), eps=0.0)
    >>> y.round(4).tolist()
    [[-1.2247, 0.0, 1.2247]]
    """
    x = np.asarray(x)
    gamma, beta = np.asarray(gamma), np.asarray(beta)
    if x.ndim < 1 or gamma.shape != (x.shape[-1],) or beta.shape != (x.shape[-1],):
        raise ValueError(f"layer_norm normalises the last axis: x (..., d) needs gamma and beta of "
                         f"shape (d,); got x {x.shape}, gamma {gamma.shape}, beta {beta.shape}")
    if not eps >= 0:
        raise ValueError(f"eps must be >= 0, got {eps!r}")
    centred = x - x.mean(axis=-1, keepdims=True)                   # (..., d)
    var = np.mean(centred * centred, axis=-1, keepdims=True)       # (..., 1)
    inv_std = 1.0 / np.sqrt(var + np.asarray(eps, dtype=var.dtype))  # (..., 1)
    x_hat = centred * inv_std                                      # (..., d)
    return x_hat * gamma + beta, LayerNormCache(x_hat, inv_std, gamma)


def layer_norm_backward(grad_out: np.ndarray,
                        cache: LayerNormCache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`layer_norm`: ``(d x, d gamma, d beta)``.

    Derivation, per vector (d entries, ``s = 1/sqrt(var + eps)``): ``x_hat_k = (x_k - mu) s``
    depends on every x_i through mu and s, with ``d mu/d x_i = 1/d`` and
    ``d s/d x_i = -s**3 (x_i - mu) / d = -s**2 x_hat_i / d``, so for ``g_hat = grad_out * gamma``::

        dL/dx_i = sum_k g_hat_k d x_hat_k/d x_i
                = s (g_hat_i - mean(g_hat) - x_hat_i mean(g_hat * x_hat))

    Parameters
    ----------
    grad_out : numpy.ndarray
        ``(..., d)``, dL/dy.
    cache : LayerNormCache
        From the forward call.

    Returns
    -------
    grad_x : numpy.ndarray
        ``(..., d)``.
    grad_gamma, grad_beta : numpy.ndarray
        ``(d,)``, summed over every leading axis.

    Raises
    ------
    ValueError
        If ``grad_out``'s shape is not the forward output's.

    Examples
    --------
    >>> y, cache = layer_norm(np.array([[1.0, 2.0, 3.0]]), np.ones(3), np.zeros(3))
    >>> grad_x, grad_gamma, grad_beta = layer_norm_backward(np.ones((1, 3)), cache)
    >>> grad_x.round(12).tolist(), grad_beta.tolist()    # L = sum(y) = 0 + sum(beta) for any x
    ([[0.0, 0.0, 0.0]], [1.0, 1.0, 1.0])
    """
    x_hat, inv_std, gamma = cache
    grad_out = np.asarray(grad_out)
    if grad_out.shape != x_hat.shape:
        raise ValueError(f"grad_out has shape {grad_out.shape}, the forward output {x_hat.shape}")
    leading = tuple(range(grad_out.ndim - 1))
    grad_gamma = np.sum(grad_out * x_hat, axis=leading)            # (d,)
    grad_beta = np.sum(grad_out, axis=leading)                     # (d,)
    g_hat = grad_out * gamma                                       # (..., d)
    grad_x = inv_std * (g_hat - g_hat.mean(axis=-1, keepdims=True)
                        - x_hat * np.mean(g_hat * x_hat, axis=-1, keepdims=True))
    return grad_x, grad_gamma, grad_beta


class LayerNorm:
    """Layer normalisation with learned ``gamma`` (ones) and ``beta`` (zeros) of width ``dim``.

    ``forward(x)`` keeps what :meth:`backward` needs; ``backward(grad_out)`` uses the last
    forward call and returns ``(grad_x, grad_gamma, grad_beta)``.

    Parameters
    ----------
    dim : int
        Width of the last axis.
    eps : float, default 1e-5
    dtype : floating dtype, default np.float32

    Examples
    --------
    >>> ln = LayerNorm(4, eps=1e-12)
    >>> y = ln.forward(np.arange(8.0).reshape(2, 4))
    >>> y.mean(axis=-1).round(6).tolist()
    [0.0, 0.0]
    >>> [g.shape for g in ln.backward(np.ones((2, 4)))]
    [(2, 4), (4,), (4,)]
    """

    def __init__(self, dim: int, *, eps: float = 1e-5, dtype=np.float32) -> None:
        if not isinstance(dim, Integral) or isinstance(dim, bool) or dim < 1:
            raise ValueError(f"dim must be an integer >= 1, got {dim!r}")
        self.eps = float(eps)
        self.gamma = np.ones(dim, dtype=dtype)                     # (dim,)
        self.beta = np.zeros(dim, dtype=dtype)                     # (dim,)
        self._cache: LayerNormCache | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Normalise the last axis of x: ``(..., dim)`` -> ``(..., dim)``."""
        y, self._cache = layer_norm(x, self.gamma, self.beta, eps=self.eps)
        return y

    def backward(self, grad_out: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(grad_x, grad_gamma, grad_beta)`` for the last :meth:`forward` call.

        Raises
        ------
        RuntimeError
            If :meth:`forward` has not been called (the backward needs its cache).
        ValueError
            If ``grad_out``'s shape is not the last forward output's.
        """
        if self._cache is None:
            raise RuntimeError("LayerNorm.backward called before forward; call forward(x) "
                               "first, then backward with the gradient of its output")
        return layer_norm_backward(grad_out, self._cache)
