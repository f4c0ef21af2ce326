"""Optimizers: turn the gradients from ``embedding.py`` into in-place updates of the tables.

``SGD`` and ``Adam`` follow PyTorch's rules (``torch.optim.SGD`` with dampening 0 and no
Nesterov; ``torch.optim.Adam``/``AdamW``). ``opt.step(grads)`` takes one gradient per parameter:
a dense array of its shape, or :class:`SparseRows` listing only the rows a batch touched. What a
sparse gradient means differs between the two, and the difference is the lesson:

- SGD with ``SparseRows`` gives exactly the dense result: an untouched row has gradient 0, and
  ``p - lr * 0 == p``. Momentum and weight decay move *every* row, so with either the rows are
  expanded to the dense table: still exact, at the dense cost.
- Adam with ``SparseRows`` is lazy, like PyTorch's ``SparseAdam``: only the listed rows'
  moments and weights change. Dense Adam keeps moving an untouched row (its first moment decays
  but is not zero), so lazy Adam is a different, cheaper optimizer, not a shortcut.

Hands on: updated tables (the caller's arrays); ``train.py`` drives the loop.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from minimal_embed._checks import check_integer, check_real
from minimal_embed.embedding import SparseRows

__all__ = ["SGD", "Adam", "lazy_adam_step_plain"]

Gradient = np.ndarray | SparseRows
# Adam's rule is a dozen element-wise passes. Over a whole table each pass streams through main
# memory; over blocks of rows that fit in a core's cache only the first one does. The lazy step's
# blocks are smaller: they also hold gathered copies (see Adam._lazy_step).
_DENSE_BLOCK_BYTES = 1 << 18
_LAZY_BLOCK_BYTES = 96 << 10


class SGD:
    """Stochastic gradient descent with optional momentum and L2 weight decay (PyTorch's SGD).

    For each parameter ``p`` with gradient ``g``, every step::

        g <- g + weight_decay * p            (when weight_decay != 0)
        b <- momentum * b + g                (when momentum != 0; b starts at 0, so b_1 = g_1)
        p <- p - lr * b                      (p - lr * g without momentum)

    ``params`` is a non-empty list of distinct, writeable floating arrays, updated in place (e.g.
    ``[emb.weight]``); ``lr``, ``momentum`` and ``weight_decay`` are finite numbers >= 0
    (``opt.lr`` may be changed between steps for a schedule). ``SparseRows`` gradients give
    exactly the dense result; with momentum or weight decay they are expanded with ``to_dense``.

    Raises TypeError for a parameter that is not a floating NumPy array, or a setting that is not
    a number; ValueError for no parameters, one read-only or 0-d, one given twice (or two that
    overlap: each step would update it twice), or a setting out of range.

    >>> w = np.array([[1.0, 1.0], [2.0, 2.0]])
    >>> SGD([w], lr=0.5).step([SparseRows(np.array([1]), np.array([[1.0, -1.0]]))])
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
        self.lr = check_real("lr", lr, least=0.0)
        self.momentum = check_real("momentum", momentum, least=0.0)
        self.weight_decay = check_real("weight_decay", weight_decay, least=0.0)
        # buffers only with momentum: a second copy of a large table is not free
        self.momentum_buffers: list[np.ndarray] = (
            [np.zeros_like(p) for p in self.params] if self.momentum else []
        )

    def step(self, grads: Sequence[Gradient]) -> None:
        """Apply one update; ``grads[i]`` is the gradient of ``params[i]``.

        Each is an array of its parameter's shape, or ``SparseRows`` whose indices (1-D, of any
        integer dtype) are sorted, unique rows of it. Raises ValueError for another number of
        gradients, another shape, or indices unsorted, repeated or out of range; TypeError for
        indices that are not a 1-D integer array.
        """
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


def lazy_adam_step_plain(
    param: np.ndarray,
    m: np.ndarray,
    v: np.ndarray,
    grad: SparseRows,
    *,
    lr: float,
    betas: tuple[float, float],
    eps: float,
    weight_decay: float,
    decoupled: bool,
    step: int,
) -> None:
    """One lazy Adam step, in place: the rows ``grad.indices`` follow :class:`Adam`'s rule.

    Written plainly, as PyTorch's ``SparseAdam`` defines it: gather the touched rows of the
    weights and both moments, apply the formulas to the copies, write them back. Every other
    row, with its moments, stays exactly as it was; ``step`` (t) counts every step of the
    optimizer, so a row first seen at step 100 gets step 100's bias correction.

    Parameters
    ----------
    param, m, v : np.ndarray, shape (num_rows, ...), one floating dtype
        The weights and their first and second moments.
    grad : SparseRows
        Sorted unique rows of ``param`` and their gradients, values (k, ...).
    lr, betas, eps, weight_decay, decoupled
        As in :class:`Adam`.
    step : int >= 1
        The optimizer's step count t.

    Raises TypeError / ValueError for a ``grad`` that does not fit ``param`` (as ``Adam.step``),
    or a setting of the wrong type / out of range.

    >>> w, m, v = np.zeros((3, 2)), np.zeros((3, 2)), np.zeros((3, 2))
    >>> g = SparseRows(np.array([2]), np.array([[1.0, -4.0]]))
    >>> lazy_adam_step_plain(w, m, v, g, lr=0.1, betas=(0.9, 0.999), eps=1e-8,
    ...                      weight_decay=0.0, decoupled=False, step=1)
    >>> w.round(6).tolist()    # the first step moves each touched weight by lr
    [[0.0, 0.0], [0.0, 0.0], [-0.1, 0.1]]
    """
    rows, g = _check_sparse_rows("grad", param, grad)
    lr, (beta1, beta2), eps, weight_decay = _check_adam_settings(lr, betas, eps, weight_decay)
    t = check_integer("step", step, least=1)
    p_rows, m_rows, v_rows = param[rows], m[rows], v[rows]  # (k, ...) copies
    if weight_decay and decoupled:
        p_rows = p_rows * (1.0 - lr * weight_decay)  # AdamW: decay the weight itself
    elif weight_decay:
        g = g + weight_decay * p_rows  # Adam: an L2 penalty in the gradient
    m_rows = beta1 * m_rows + (1.0 - beta1) * g
    v_rows = beta2 * v_rows + (1.0 - beta2) * g**2
    denominator = np.sqrt(v_rows) / math.sqrt(1.0 - beta2**t) + eps  # sqrt(v_hat) + eps
    p_rows = p_rows - lr / (1.0 - beta1**t) * (m_rows / denominator)  # lr * m_hat / (...)
    param[rows], m[rows], v[rows] = p_rows, m_rows, v_rows


class Adam:
    """Adam (Kingma & Ba 2015) with PyTorch's update; ``decoupled=True`` is AdamW.

    With step count ``t`` (shared by all parameters, starting at 1), for each parameter ``p``
    with gradient ``g``::

        g <- g + weight_decay * p                  (Adam: L2 penalty in the gradient)
        p <- p * (1 - lr * weight_decay)           (AdamW: decay the weight directly instead)
        m <- beta1 * m + (1 - beta1) * g
        v <- beta2 * v + (1 - beta2) * g**2
        p <- p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    eps is added after the square root and its bias correction, as in PyTorch's Adam.

    Parameters
    ----------
    params : list of np.ndarray
        As for :class:`SGD`: distinct, writeable floating arrays, updated in place.
    lr : float >= 0, default 1e-3
    betas : (float, float), each in [0, 1), default (0.9, 0.999)
    eps, weight_decay : float >= 0, default 1e-8 and 0.0
    decoupled : bool, default False
        False: Adam's L2 penalty; True: AdamW's decoupled weight decay.

    Raises TypeError / ValueError as :class:`SGD` does.

    A ``SparseRows`` gradient makes the step lazy (:func:`lazy_adam_step_plain`): the rule on
    the listed rows only, weight decay included. subtle: PyTorch's SparseAdam adds eps before
    the bias correction, ``sqrt(v) + eps`` with step size ``lr * sqrt(1 - beta2**t) / (1 -
    beta1**t)``; here the touched rows get exactly the dense rule, so the two differ in eps.

    >>> w = np.zeros((3, 2))
    >>> Adam([w], lr=0.1).step([SparseRows(np.array([2]), np.array([[1.0, -4.0]]))])
    >>> w.round(6).tolist()
    [[0.0, 0.0], [0.0, 0.0], [-0.1, 0.1]]
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
        self.lr, self.betas, self.eps, self.weight_decay = _check_adam_settings(
            lr, betas, eps, weight_decay
        )
        self.decoupled = bool(decoupled)
        self.step_count = 0
        self.exp_avg = [np.zeros_like(p) for p in self.params]  # m, first moments
        self.exp_avg_sq = [np.zeros_like(p) for p in self.params]  # v, second moments

    def step(self, grads: Sequence[Gradient]) -> None:
        """Apply one update; ``grads[i]`` is the gradient of ``params[i]`` (as ``SGD.step``)."""
        grads = _check_grads(self.params, grads)
        self.step_count += 1
        states = zip(self.params, self.exp_avg, self.exp_avg_sq, grads, strict=True)
        for param, m, v, grad in states:
            if isinstance(grad, SparseRows):
                self._lazy_step(param, m, v, grad)
            else:
                self._dense_step(param, m, v, grad)

    def _dense_step(
        self, param: np.ndarray, m: np.ndarray, v: np.ndarray, grad: np.ndarray
    ) -> None:
        """The rule on every row, a block of rows at a time, on views into the tables."""
        rows_per_block = _rows_per_block(_DENSE_BLOCK_BYTES, param)
        scratch = _block_buffer(rows_per_block, param, np.result_type(param, grad))
        corrections = self._bias_corrections()
        for start in range(0, param.shape[0], rows_per_block):
            block = slice(start, start + rows_per_block)
            p_block, m_block, v_block = param[block], m[block], v[block]  # views
            s = scratch[: p_block.shape[0]]
            g = self._with_l2_penalty(grad[block], p_block)
            self._update_first_moment(m_block, g, s)
            self._update_second_moment(v_block, g, s)
            self._update_param(p_block, m_block, v_block, s, corrections)

    def _lazy_step(self, param: np.ndarray, m: np.ndarray, v: np.ndarray, grad: SparseRows) -> None:
        """:func:`lazy_adam_step_plain` a block of rows at a time, in buffers every block reuses."""
        # Fresh fancy-index copies per block would come from the OS page by page; four buffers
        # that every block reuses do not. Gathered rows are scattered, so the hardware cannot
        # fetch them ahead as it does consecutive blocks; scattering m (then v) back right after
        # its update, before gathering the next table, keeps fewer cache lines in play, which is
        # why the blocks are smaller than the dense step's. Sorted unique ids seldom form runs
        # long enough to update through slices instead (benchmarks/embedding.py has the timings).
        rows_per_block = _rows_per_block(_LAZY_BLOCK_BYTES, param)
        buffer_rows = min(rows_per_block, grad.indices.shape[0])  # a small gradient, small buffers
        p_buffer, m_buffer, v_buffer = (
            _block_buffer(buffer_rows, param, param.dtype) for _ in range(3)
        )
        scratch = _block_buffer(buffer_rows, param, np.result_type(param, grad.values))
        corrections = self._bias_corrections()
        for start in range(0, grad.indices.shape[0], rows_per_block):
            block = slice(start, start + rows_per_block)
            rows = grad.indices[block]
            n = rows.shape[0]  # rows_per_block, fewer in the last block
            p_rows, m_rows, v_rows, s = p_buffer[:n], m_buffer[:n], v_buffer[:n], scratch[:n]
            g = self._with_l2_penalty(grad.values[block], param, rows)
            # subtle: mode="clip" gathers straight into the buffer, where the default "raise"
            # goes through a hidden temporary; the rows are checked, so nothing is clipped
            np.take(m, rows, axis=0, out=m_rows, mode="clip")  # gather: m_rows = m[rows]
            self._update_first_moment(m_rows, g, s)
            m[rows] = m_rows  # scatter back
            np.take(v, rows, axis=0, out=v_rows, mode="clip")
            self._update_second_moment(v_rows, g, s)
            v[rows] = v_rows
            np.take(param, rows, axis=0, out=p_rows, mode="clip")
            self._update_param(p_rows, m_rows, v_rows, s, corrections)
            param[rows] = p_rows

    # The rule of the class docstring in three parts, each in place on one block of rows: views
    # into the tables (dense gradient) or gathered copies of the touched rows (SparseRows). Each
    # line is one NumPy pass into m, v, the weights or the scratch buffer, so nothing allocates
    # and the block stays in cache. (Folding the bias corrections into eps and the step size
    # would save a pass, but it changes the rounding.)

    def _bias_corrections(self) -> tuple[float, float]:
        """This step's ``lr / (1 - beta1**t)`` and ``sqrt(1 - beta2**t)``."""
        beta1, beta2 = self.betas
        t = self.step_count
        return self.lr / (1.0 - beta1**t), math.sqrt(1.0 - beta2**t)

    def _with_l2_penalty(
        self, grad: np.ndarray, param: np.ndarray, rows: np.ndarray | None = None
    ) -> np.ndarray:
        """A new ``g + weight_decay * param[rows]`` for Adam's L2 penalty, else ``g`` itself."""
        if not self.weight_decay or self.decoupled:
            return grad
        return grad + self.weight_decay * (param if rows is None else param[rows])

    def _update_first_moment(self, m: np.ndarray, grad: np.ndarray, scratch: np.ndarray) -> None:
        """``m = beta1 * m + (1 - beta1) * g`` in place."""
        beta1 = self.betas[0]
        np.multiply(grad, 1.0 - beta1, out=scratch)
        m *= beta1
        m += scratch

    def _update_second_moment(self, v: np.ndarray, grad: np.ndarray, scratch: np.ndarray) -> None:
        """``v = beta2 * v + (1 - beta2) * g**2`` in place."""
        beta2 = self.betas[1]
        np.square(grad, out=scratch)
        scratch *= 1.0 - beta2
        v *= beta2
        v += scratch

    def _update_param(
        self,
        param: np.ndarray,
        m: np.ndarray,
        v: np.ndarray,
        scratch: np.ndarray,
        corrections: tuple[float, float],
    ) -> None:
        """AdamW's decay, then ``p -= lr * m_hat / (sqrt(v_hat) + eps)`` in place."""
        step_size, bias2_sqrt = corrections  # lr / (1 - beta1**t), sqrt(1 - beta2**t)
        if self.weight_decay and self.decoupled:
            param *= 1.0 - self.lr * self.weight_decay  # AdamW
        np.sqrt(v, out=scratch)
        scratch /= bias2_sqrt
        scratch += self.eps  # sqrt(v_hat) + eps
        np.divide(m, scratch, out=scratch)
        scratch *= step_size  # lr * m_hat / (sqrt(v_hat) + eps)
        param -= scratch


def _rows_per_block(block_bytes: int, param: np.ndarray) -> int:
    """How many rows of ``param`` make about ``block_bytes`` (at least one)."""
    return max(1, block_bytes // max(1, param[0].nbytes))


def _block_buffer(num_rows: int, param: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """An uninitialised ``(num_rows, *param.shape[1:])`` buffer for a block of rows."""
    return np.empty((num_rows, *param.shape[1:]), dtype=dtype)


def _check_adam_settings(
    lr: float, betas: tuple[float, float], eps: float, weight_decay: float
) -> tuple[float, tuple[float, float], float, float]:
    """``lr``, ``betas``, ``eps``, ``weight_decay`` as Python floats, each checked."""
    beta1, beta2 = betas
    checked_betas = (
        check_real("betas[0]", beta1, least=0.0, below=1.0),
        check_real("betas[1]", beta2, least=0.0, below=1.0),
    )
    return (check_real("lr", lr, least=0.0), checked_betas, check_real("eps", eps, least=0.0),
            check_real("weight_decay", weight_decay, least=0.0))


def _check_params(params: Sequence[np.ndarray]) -> list[np.ndarray]:
    """``params`` as a list of distinct, writeable floating arrays with at least one axis."""
    if isinstance(params, np.ndarray):
        raise TypeError(
            f"params must be a list of arrays such as [emb.weight], got one array of shape "
            f"{params.shape}"
        )
    params = list(params)
    if not params:
        raise ValueError("params is empty: pass the arrays to update, e.g. [emb.weight]")
    for i, param in enumerate(params):
        if not isinstance(param, np.ndarray) or not np.issubdtype(param.dtype, np.floating):
            got = type(param).__name__
            if isinstance(param, np.ndarray):
                got = f"an array of dtype {param.dtype}"
            raise TypeError(
                f"params[{i}] must be a floating NumPy array updated in place "
                f"(e.g. emb.weight), got {got}"
            )
        if not param.flags.writeable or param.ndim == 0:
            raise ValueError(
                f"params[{i}] must be a writeable array with at least one axis, got shape "
                f"{param.shape}, writeable={param.flags.writeable}; pass the table itself, "
                "not a read-only view or a scalar"
            )
        for j in range(i):
            if np.shares_memory(params[j], param):
                raise ValueError(
                    f"params[{j}] and params[{i}] are the same array (or overlapping views of "
                    "one), so every step would update it twice; pass each table once"
                )
    return params


def _check_grads(params: list[np.ndarray], grads: Sequence[Gradient]) -> list[Gradient]:
    """``grads`` as a list, one per parameter, ``SparseRows`` indices made ``np.intp``."""
    grads = list(grads)
    if len(grads) != len(params):
        raise ValueError(
            f"step() needs one gradient per parameter: expected {len(params)}, got {len(grads)}"
        )
    for i, (param, grad) in enumerate(zip(params, grads, strict=True)):
        if isinstance(grad, SparseRows):
            grads[i] = _check_sparse_rows(f"grads[{i}]", param, grad)
        elif not isinstance(grad, np.ndarray) or grad.shape != param.shape:
            shape = getattr(grad, "shape", type(grad).__name__)
            raise ValueError(
                f"grads[{i}] must be SparseRows or an array of shape {param.shape}, got {shape}"
            )
    return grads


def _check_sparse_rows(name: str, param: np.ndarray, grad: SparseRows) -> SparseRows:
    """``grad`` with ``np.intp`` indices, after checking they are sorted unique rows of param."""
    indices, values = np.asarray(grad.indices), np.asarray(grad.values)
    if indices.ndim != 1 or indices.dtype.kind not in "iu":
        raise TypeError(
            f"{name}.indices must be a 1-D integer array, got shape {indices.shape} of "
            f"dtype {indices.dtype}"
        )
    if values.shape != (indices.shape[0], *param.shape[1:]):
        raise ValueError(
            f"{name}.values has shape {values.shape}; {indices.shape[0]} rows of a "
            f"{param.shape} parameter need {(indices.shape[0], *param.shape[1:])}"
        )
    # a repeated row would be written once by a fancy-index update and lose the other repeats.
    # subtle: compare neighbours, not np.diff(indices) > 0: on unsigned indices 1 - 3 wraps
    # around to a large positive number, and [1, 3, 1] would look sorted
    if np.any(indices[1:] <= indices[:-1]):
        raise ValueError(
            f"{name}.indices must be sorted and unique (as Embedding.backward(sparse=True) "
            "returns them); sum repeated rows first"
        )
    if indices.size and (indices[0] < 0 or indices[-1] >= param.shape[0]):
        raise ValueError(
            f"{name}.indices run from {indices[0]} to {indices[-1]}; "
            f"rows must lie in 0..{param.shape[0] - 1}"
        )
    return SparseRows(indices.astype(np.intp, copy=False), values)
