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
# Adam's rule is a dozen element-wise NumPy passes. Over a whole 154 MB table each pass streams
# through main memory; over blocks of rows that fit in the core's cache, only the first one does.
# On GPT-2's table (one thread) a dense step went from 226 ms to 122 ms with 256 KiB blocks.
# The lazy step gathers rows into buffers and scatters them back; _lazy_step says why its blocks
# are smaller.
_DENSE_BLOCK_BYTES = 1 << 18
_LAZY_BLOCK_BYTES = 96 << 10


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
        """Apply one update; ``grads[i]`` is the gradient of ``params[i]``.

        Parameters
        ----------
        grads : sequence of np.ndarray or SparseRows
            One per parameter, in the order of ``params``: an array of the parameter's shape,
            or ``SparseRows`` whose indices are sorted, unique rows of it.

        Raises
        ------
        ValueError
            If the number of gradients differs from the number of parameters, a dense gradient
            has another shape, or ``SparseRows`` indices are unsorted, repeated or out of range.
        TypeError
            If ``SparseRows`` indices are not a 1-D integer array.
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
        """Apply one update; ``grads[i]`` is the gradient of ``params[i]``.

        Parameters
        ----------
        grads : sequence of np.ndarray or SparseRows
            One per parameter, in the order of ``params``: an array of the parameter's shape,
            or ``SparseRows`` whose indices are sorted, unique rows of it.

        Raises
        ------
        ValueError
            If the number of gradients differs from the number of parameters, a dense gradient
            has another shape, or ``SparseRows`` indices are unsorted, repeated or out of range.
        TypeError
            If ``SparseRows`` indices are not a 1-D integer array.
        """
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
        """The rule on the rows ``grad.indices`` only; every other row stays as it was.

        The plain version gathers the touched rows with fancy indexing, updates the copies and
        scatters them back::

            rows = grad.indices
            p_rows, m_rows, v_rows = param[rows], m[rows], v[rows]    # (k, d) copies
            ...  # the rule on p_rows, m_rows, v_rows with g = grad.values, in place
            param[rows], m[rows], v[rows] = p_rows, m_rows, v_rows

        This does the same a block of rows at a time, with ``np.take`` gathering into four small
        buffers that every block reuses; each table's rows go back as soon as they are final.
        Per row, the arithmetic is the dense step's. What the lazy step adds is moving rows, and
        its gathers read scattered rows that the hardware cannot fetch ahead while the arithmetic
        runs, as it does for the dense step's consecutive blocks. Measured on GPT-2's table (one
        thread, a uniform (8, 1024) batch touching 7569 of 50257 rows, each lazy step timed
        right after a dense one, as in the benchmark; a busy shared 2-core machine, so figures
        move by 10-20 % from run to run):

        - Fancy indexing made fresh arrays for every 256 KiB block, which the allocator took
          straight from the OS: ~7,200 page faults per step, 39-48 ms. Buffers reused by every
          block: no page faults, 30-37 ms (a dense step takes 110-125 ms).
        - ``mode="clip"``: with the default ``mode="raise"``, ``np.take`` gathers into a hidden
          temporary and copies that into ``out`` (13 ms vs 10 ms to gather the three tables'
          rows). ``_check_sparse_rows`` has checked the rows, so nothing is clipped.
        - Block size: each block costs ~15 us of NumPy calls, so larger is better until the
          block's buffers and the tables' cache lines it reads and writes outgrow the core's
          2 MiB L2. Gathering all three tables first, 64 KiB blocks were best (43 ms; 48, 96,
          128 and 256 KiB: 47, 46, 48, 60 ms). Scattering m (then v) back right after its
          update, before gathering the next table, keeps fewer lines in play: 96 KiB blocks
          (32 rows of 768 float32) then took a median 33-37 ms against 38-40 ms.
        - Sorted unique ids seldom form runs that slices could update without copying: 7569
          uniform rows make 6410 runs, and the 1710 rows of a real-text batch 1443.
        - What is left: gathering the three tables' rows alone takes 13 ms after a dense step
          (9 ms for as many consecutive rows), the arithmetic on the buffers about 14 ms, the
          NumPy calls about 4 ms. (``np.subtract.at(param, rows, step)`` would update the
          weights without a gather, but took 37 ms where gather, subtract, scatter take 5.)
        """
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
    # line is one NumPy pass over the block, into m, v, the weights or the scratch buffer, so
    # nothing allocates, and the block stays in cache across all thirteen passes. (Folding the
    # bias corrections into eps and the step size would save a pass, but it changes the
    # rounding, and it speeds the dense step more than the lazy one: 124 -> 117 ms against
    # 31.7 -> 30.7 ms.)

    def _bias_corrections(self) -> tuple[float, float]:
        """This step's ``lr / (1 - beta1**t)`` and ``sqrt(1 - beta2**t)``, once per step."""
        beta1, beta2 = self.betas
        t = self.step_count
        return self.lr / (1.0 - beta1**t), math.sqrt(1.0 - beta2**t)

    def _with_l2_penalty(
        self, grad: np.ndarray, param: np.ndarray, rows: np.ndarray | None = None
    ) -> np.ndarray:
        """``g + weight_decay * p`` for Adam's L2 penalty (``param[rows]`` when rows are given);
        ``g`` itself for AdamW or no decay. A new array: the caller's gradient is not changed."""
        if not self.weight_decay or self.decoupled:
            return grad
        return grad + self.weight_decay * (param if rows is None else param[rows])

    def _update_first_moment(self, m: np.ndarray, grad: np.ndarray, scratch: np.ndarray) -> None:
        beta1 = self.betas[0]
        np.multiply(grad, 1.0 - beta1, out=scratch)
        m *= beta1
        m += scratch  # m = beta1 * m + (1 - beta1) * g

    def _update_second_moment(self, v: np.ndarray, grad: np.ndarray, scratch: np.ndarray) -> None:
        beta2 = self.betas[1]
        np.square(grad, out=scratch)
        scratch *= 1.0 - beta2
        v *= beta2
        v += scratch  # v = beta2 * v + (1 - beta2) * g**2

    def _update_param(
        self,
        param: np.ndarray,
        m: np.ndarray,
        v: np.ndarray,
        scratch: np.ndarray,
        corrections: tuple[float, float],
    ) -> None:
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


def _check_params(params: Sequence[np.ndarray]) -> list[np.ndarray]:
    params = list(params)
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
    return params


def _check_grads(params: list[np.ndarray], grads: Sequence[Gradient]) -> list[Gradient]:
    grads = list(grads)
    if len(grads) != len(params):
        raise ValueError(
            f"step() needs one gradient per parameter: expected {len(params)}, got {len(grads)}"
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
        raise TypeError(
            f"grads[{i}].indices must be a 1-D integer array, got shape {indices.shape} of "
            f"dtype {indices.dtype}"
        )
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
