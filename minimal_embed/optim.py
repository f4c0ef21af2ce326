"""Optimizers: turn the gradients from ``embedding.py`` into in-place updates of the tables.

``SGD`` and ``Adam`` follow PyTorch's update rules (``torch.optim.SGD`` with dampening 0 and no
Nesterov; ``torch.optim.Adam``/``AdamW``, Kingma & Ba 2015, Loshchilov & Hutter 2019). Each
parameter is a NumPy array updated in place; ``opt.step(grads)`` takes one gradient per
parameter, either a dense array of the parameter's shape or a :class:`SparseRows` that lists
only the rows a batch touched.

What a sparse gradient means differs between the two, and the difference is the lesson:

- SGD with ``SparseRows`` gives exactly the dense result. An untouched row has gradient 0, and
  without momentum or weight decay ``p - lr * 0 == p``, so only the listed rows are written.
  Momentum and weight decay move *every* row each step, so then the gradient is expanded to
  the dense table and the dense rule applied: still exact, at the dense cost.
- Adam with ``SparseRows`` is lazy, like PyTorch's ``SparseAdam``: only the listed rows'
  moments and weights change. Dense Adam would keep moving an untouched row (its first moment
  decays but is not zero), so lazy Adam is a different, cheaper optimizer, not a shortcut.

Hands on: updated tables (the caller's arrays); ``train.py`` drives the loop.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from minimal_embed.embedding import SparseRows

Gradient = np.ndarray | SparseRows
_BLOCK_BYTES = 1 << 18  # Adam works through parameters in blocks of rows this large


class SGD:
    """Stochastic gradient descent with optional momentum and L2 weight decay (PyTorch's SGD).

    For each parameter ``p`` with gradient ``g``, every step::

        g <- g + weight_decay * p            (when weight_decay != 0)
        b <- momentum * b + g                (when momentum != 0; b starts at 0, so b_1 = g_1)
        p <- p - lr * b                      (p - lr * g without momentum)

    Parameters
    ----------
    params : list of np.ndarray
        Floating, writeable arrays, updated in place (e.g. ``[emb.weight]``).
    lr : float
        Learning rate (``opt.lr`` may be changed between steps for a schedule).
    momentum : float, default 0.0
    weight_decay : float, default 0.0

    Notes
    -----
    ``SparseRows`` gradients give the same parameters as their dense equivalent, exactly.
    Without momentum and weight decay only the listed rows are written (the others would have
    moved by ``lr * 0``). With either one, untouched rows move too (decay shrinks them, the
    momentum buffer carries them on), so the gradient is expanded with ``to_dense`` and the
    dense rule applied; use ``Adam`` with ``SparseRows`` for a lazy, row-local optimizer.

    Examples
    --------
    >>> w = np.array([[1.0, 1.0], [2.0, 2.0]])
    >>> opt = SGD([w], lr=0.5)
    >>> opt.step([SparseRows(np.array([1]), np.array([[1.0, -1.0]]))])
    >>> w
    array([[1. , 1. ],
           [1.5, 2.5]])
    """

    def __init__(
        self,
        params: Sequence[np.ndarray],
        lr: float,
        *,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
    ) -> None:
        self.params = _check_params(params)
        self.lr = _check_nonnegative("lr", lr)
        self.momentum = _check_nonnegative("momentum", momentum)
        self.weight_decay = _check_nonnegative("weight_decay", weight_decay)
        self.momentum_buffers = [np.zeros_like(p) for p in self.params] if momentum else None

    def step(self, grads: Sequence[Gradient]) -> None:
        """Apply one update; ``grads[i]`` is the gradient of ``params[i]``."""
        grads = _check_grads(self.params, grads)
        for i, (param, grad) in enumerate(zip(self.params, grads, strict=True)):
            if isinstance(grad, SparseRows):
                if not self.momentum and not self.weight_decay:
                    param[grad.indices] -= self.lr * grad.values  # other rows: p - lr * 0 == p
                    continue
                grad = grad.to_dense(param.shape[0])  # every row moves: take the dense rule
            if self.weight_decay:
                grad = grad + self.weight_decay * param
            if self.momentum:
                buffer = self.momentum_buffers[i]
                buffer *= self.momentum
                buffer += grad
                grad = buffer
            param -= self.lr * grad


class Adam:
    """Adam (Kingma & Ba 2015) with PyTorch's update; ``decoupled=True`` is AdamW.

    With step count ``t`` (shared by all parameters, starting at 1), for each parameter ``p``
    with gradient ``g``::

        g <- g + weight_decay * p                  (Adam: L2 penalty in the gradient)
        p <- p * (1 - lr * weight_decay)           (AdamW: decay the weight directly instead)
        m <- beta1 * m + (1 - beta1) * g
        v <- beta2 * v + (1 - beta2) * g**2
        p <- p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    eps is added after the square root and after its bias correction, as in PyTorch's Adam.

    Parameters
    ----------
    params : list of np.ndarray
        Floating, writeable arrays, updated in place.
    lr : float, default 1e-3
    betas : (float, float), default (0.9, 0.999)
    eps : float, default 1e-8
    weight_decay : float, default 0.0
    decoupled : bool, default False
        False: Adam's L2 penalty; True: AdamW's decoupled weight decay.

    Notes
    -----
    A ``SparseRows`` gradient makes the step lazy, like PyTorch's ``SparseAdam``: the rule above
    is applied to the listed rows only (weight decay included), and every other row, with its
    ``m`` and ``v``, stays exactly as it was. ``t`` still counts every step of the optimizer, so
    a row seen for the first time at step 100 gets step 100's bias correction. (PyTorch's
    SparseAdam also adds eps before the bias correction, ``sqrt(v) + eps`` with step size
    ``lr * sqrt(1 - beta2**t) / (1 - beta1**t)``; here the touched rows get exactly the dense
    rule, so the two differ only in the scale of eps.)

    Examples
    --------
    >>> w = np.zeros((3, 2))
    >>> opt = Adam([w], lr=0.1)
    >>> opt.step([SparseRows(np.array([2]), np.array([[1.0, -4.0]]))])
    >>> w.round(6)     # the first step moves each touched weight by lr, against the gradient
    array([[ 0. ,  0. ],
           [ 0. ,  0. ],
           [-0.1,  0.1]])
    """

    def __init__(
        self,
        params: Sequence[np.ndarray],
        lr: float = 1e-3,
        *,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        decoupled: bool = False,
    ) -> None:
        self.params = _check_params(params)
        self.lr = _check_nonnegative("lr", lr)
        beta1, beta2 = betas
        for name, beta in (("betas[0]", beta1), ("betas[1]", beta2)):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {beta!r}")
        self.betas = (float(beta1), float(beta2))
        self.eps = _check_nonnegative("eps", eps)
        self.weight_decay = _check_nonnegative("weight_decay", weight_decay)
        self.decoupled = bool(decoupled)
        self.step_count = 0
        self.exp_avg = [np.zeros_like(p) for p in self.params]  # m, first moments
        self.exp_avg_sq = [np.zeros_like(p) for p in self.params]  # v, second moments

    def step(self, grads: Sequence[Gradient]) -> None:
        """Apply one update; ``grads[i]`` is the gradient of ``params[i]``."""
        grads = _check_grads(self.params, grads)
        self.step_count += 1
        states = zip(self.params, self.exp_avg, self.exp_avg_sq, grads, strict=True)
        for param, m, v, grad in states:
            if isinstance(grad, SparseRows):
                for block in _row_blocks(grad.indices.shape[0], param):
                    rows = grad.indices[block]
                    # gather the touched rows, update the copies, scatter them back
                    p_rows, m_rows, v_rows = param[rows], m[rows], v[rows]  # (rows, d) each
                    self._update(p_rows, m_rows, v_rows, grad.values[block])
                    param[rows], m[rows], v[rows] = p_rows, m_rows, v_rows
            else:
                for block in _row_blocks(param.shape[0], param):
                    self._update(param[block], m[block], v[block], grad[block])  # views

    def _update(self, param: np.ndarray, m: np.ndarray, v: np.ndarray, grad: np.ndarray) -> None:
        """The rule in the class docstring, in place, on one block of rows: views into the
        tables (dense gradient) or gathered copies of the touched rows (``SparseRows``)."""
        beta1, beta2 = self.betas
        if self.weight_decay and self.decoupled:
            param *= 1.0 - self.lr * self.weight_decay
        elif self.weight_decay:
            grad = grad + self.weight_decay * param
        scratch = np.multiply(grad, 1.0 - beta1)  # one temporary, reused for every term below
        m *= beta1
        m += scratch  # m = beta1 * m + (1 - beta1) * g
        np.square(grad, out=scratch)
        scratch *= 1.0 - beta2
        v *= beta2
        v += scratch  # v = beta2 * v + (1 - beta2) * g**2
        np.sqrt(v, out=scratch)
        scratch /= math.sqrt(1.0 - beta2**self.step_count)
        scratch += self.eps  # sqrt(v_hat) + eps
        np.divide(m, scratch, out=scratch)
        scratch *= self.lr / (1.0 - beta1**self.step_count)
        param -= scratch


def _row_blocks(num_rows: int, param: np.ndarray) -> list[slice]:
    """Slices of ``num_rows`` rows, about 256 KiB of ``param`` each.

    Adam's rule is a dozen element-wise NumPy passes. Over a whole 154 MB table each pass streams
    through main memory; over blocks that fit in the core's cache, only the first one does. On
    GPT-2's table (one thread, one run) a dense step went from 226 ms to 122 ms, and a lazy step
    on the 7582 rows of a uniform (8, 1024) batch from 71 ms to 48 ms (its remaining cost is
    mostly gathering and scattering the rows of the weight and the two moments).
    """
    rows_per_block = max(1, _BLOCK_BYTES // max(1, param[0].nbytes))
    return [slice(a, min(a + rows_per_block, num_rows)) for a in range(0, num_rows, rows_per_block)]


def _check_params(params: Sequence[np.ndarray]) -> list[np.ndarray]:
    params = list(params)
    for i, param in enumerate(params):
        if not isinstance(param, np.ndarray) or not np.issubdtype(param.dtype, np.floating):
            raise TypeError(
                f"params[{i}] must be a floating NumPy array updated in place "
                f"(e.g. emb.weight), got {type(param).__name__}"
            )
        if not param.flags.writeable or param.ndim == 0:
            raise ValueError(f"params[{i}] must be a writeable array with at least one axis")
    return params


def _check_grads(params: list[np.ndarray], grads: Sequence[Gradient]) -> list[Gradient]:
    grads = list(grads)
    if len(grads) != len(params):
        raise ValueError(
            f"step() needs one gradient per parameter: {len(params)}, got {len(grads)}"
        )
    for i, (param, grad) in enumerate(zip(params, grads, strict=True)):
        if isinstance(grad, SparseRows):
            _check_sparse_rows(i, param, grad)
        elif not isinstance(grad, np.ndarray) or grad.shape != param.shape:
            shape = getattr(grad, "shape", type(grad).__name__)
            raise ValueError(
                f"grads[{i}] must be SparseRows or an array of shape {param.shape}, got {shape}"
            )
    return grads


def _check_sparse_rows(i: int, param: np.ndarray, grad: SparseRows) -> None:
    indices, values = np.asarray(grad.indices), np.asarray(grad.values)
    if indices.ndim != 1 or not np.issubdtype(indices.dtype, np.integer):
        raise TypeError(f"grads[{i}].indices must be a 1-D integer array, got {indices.dtype}")
    if values.shape != (indices.shape[0], *param.shape[1:]):
        raise ValueError(
            f"grads[{i}].values has shape {values.shape}; {indices.shape[0]} rows of a "
            f"{param.shape} parameter need {(indices.shape[0], *param.shape[1:])}"
        )
    # a repeated row would be written once by a fancy-index update and lose the other repeats
    if np.any(np.diff(indices) <= 0):
        raise ValueError(
            f"grads[{i}].indices must be sorted and unique (as Embedding.backward(sparse=True) "
            "returns them); sum repeated rows first"
        )
    if indices.size and (indices[0] < 0 or indices[-1] >= param.shape[0]):
        raise ValueError(
            f"grads[{i}].indices run from {indices[0]} to {indices[-1]}; "
            f"rows must lie in 0..{param.shape[0] - 1}"
        )


def _check_nonnegative(name: str, value: float) -> float:
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)
