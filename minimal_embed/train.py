"""Training the embeddings: the bundled corpus, Adam, the loop, checkpoints and baselines.

``model.py`` holds a one-layer attention language model with hand-written gradients; this module
trains it, so the token table (and, with learned positions, the position table) ends up meaning
something. The steps, in order:

1. Data: every corpus file encoded with the bundled tokenizer, files joined by
   ``<|endoftext|>``; the last 10 % of the ids are the validation split, never trained on.
2. Batches: ``batch_size`` random windows of ``seq_len + 1`` ids from the training split, drawn
   from a seeded generator; inputs are a window's first ``seq_len`` ids, targets the last.
3. Steps: loss and gradients from the model, then one dense Adam update of every parameter,
   with a linear warm-up and a cosine decay of the learning rate.
4. Validation: the mean loss over consecutive, non-overlapping windows of the validation split,
   every ``eval_every`` steps; compare it with the unigram and bigram baselines below.
5. Checkpoint: an ``.npz`` file (see :func:`save_checkpoint`) that ``InputEmbedding.load`` and
   ``minimal-embed neighbors`` read. Same configuration and seed, same bytes.

Hands on: ``data/checkpoint.npz``, the trained table that the rest of the package can load.
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import numpy as np

from minimal_embed import data
from minimal_embed._checks import check_choice, check_integer, check_real
from minimal_embed.checkpoint import check_shapes, read_checkpoint, write_checkpoint
from minimal_embed.model import AttentionLM, ModelConfig
from minimal_embed.optim import Adam
from minimal_embed.schemes import POSITION_SCHEMES
from minimal_embed.tokenizer import Tokenizer, load_tokenizer

__all__ = ["TrainConfig", "corpus_ids", "split_ids", "sample_batch", "evaluation_windows",
           "evaluate", "unigram_loss", "bigram_loss", "learning_rate", "train_step", "train",
           "save_checkpoint", "load_checkpoint", "nearest_tokens"]

END_OF_TEXT = "<|endoftext|>"


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run (and so the checkpoint's bytes).

    The defaults are those of the shipped ``data/checkpoint.npz``. They were picked on the
    validation loss: without weight decay it is lowest near step 300 and then climbs while the
    training loss keeps falling (the corpus is small); decay 1.0 over 600 steps ends lowest.
    """

    positions: str = "learned"
    steps: int = 600
    seq_len: int = 64
    d_model: int = 128
    n_heads: int = 4
    batch_size: int = 32
    lr: float = 3e-3
    min_lr: float = 3e-4  # the cosine decay ends here
    warmup: int = 100  # steps of linear warm-up from 0 to lr
    weight_decay: float = 1.0  # AdamW's, on every weight: ~58k training ids overfit quickly
    seed: int = 0
    eval_every: int = 100
    val_fraction: float = 0.1

    def __post_init__(self) -> None:
        check_choice("positions", self.positions, POSITION_SCHEMES)
        # stored as Python numbers (a NumPy scalar is accepted), so the metadata is plain JSON
        for name, least in (("steps", 1), ("seq_len", 1), ("d_model", 1), ("n_heads", 1),
                            ("batch_size", 1), ("eval_every", 1), ("warmup", 0), ("seed", 0)):
            object.__setattr__(self, name, check_integer(name, getattr(self, name), least))
        object.__setattr__(self, "val_fraction", check_real(
            "val_fraction", self.val_fraction, least=0.0, above=True, below=1.0))
        for name in ("lr", "min_lr", "weight_decay"):
            object.__setattr__(self, name, check_real(name, getattr(self, name), least=0.0))
        if not 0.0 <= self.min_lr <= self.lr:
            raise ValueError(f"need 0 <= min_lr <= lr, got min_lr={self.min_lr}, lr={self.lr}")

    def model_config(self, vocab_size: int) -> ModelConfig:
        """The model this run trains; a learned table gets exactly ``seq_len`` rows."""
        return ModelConfig(vocab_size=vocab_size, d_model=self.d_model, n_heads=self.n_heads,
                           max_len=self.seq_len, positions=self.positions)


# --------------------------------------------------------------------------- data


def corpus_ids(tokenizer: Tokenizer | None = None) -> np.ndarray:
    """The bundled corpus as one int64 array of ids, files in sorted order.

    Each file is encoded on its own and followed by ``<|endoftext|>`` (when the tokenizer has
    it), so a window that crosses from one file into the next sees the boundary.
    """
    tokenizer = tokenizer or load_tokenizer()
    end = tokenizer.special_tokens.get(END_OF_TEXT)
    ids: list[int] = []
    for path in data.corpus_files():
        ids.extend(tokenizer.encode_ordinary(path.read_text(encoding="utf-8")))
        if end is not None:
            ids.append(end)
    return np.array(ids, dtype=np.int64)


def split_ids(ids: np.ndarray, val_fraction: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """``(train, validation)``: the last ``val_fraction`` of the ids is validation."""
    n_val = int(round(len(ids) * val_fraction))
    if not 0 < n_val < len(ids):
        raise ValueError(f"{len(ids)} ids cannot be split with val_fraction={val_fraction}: "
                         f"it leaves {n_val} validation ids, and both parts need at least one")
    return ids[:-n_val], ids[-n_val:]


def sample_batch(ids: np.ndarray, seq_len: int, batch_size: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``batch_size`` random windows of ``seq_len + 1`` ids: ``(inputs, targets)``.

    Returns
    -------
    inputs, targets : int64 ``(seq_len, batch_size)``; ``targets[i] == ids[start + i + 1]``.

    Examples
    --------
    >>> inputs, targets = sample_batch(np.arange(100), 4, 2, np.random.default_rng(0))
    >>> inputs.shape, bool((targets == inputs + 1).all())
    ((4, 2), True)
    """
    if len(ids) < seq_len + 1:
        raise ValueError(f"{len(ids)} ids are too few for one window of seq_len + 1 = "
                         f"{seq_len + 1}; use a shorter seq_len")
    starts = rng.integers(0, len(ids) - seq_len, size=batch_size)  # (batch,)
    windows = ids[starts[None, :] + np.arange(seq_len + 1)[:, None]]  # (seq_len + 1, batch)
    return windows[:-1], windows[1:]


def evaluation_windows(ids: np.ndarray, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Consecutive, non-overlapping windows: window w predicts ids ``w*seq_len + 1 ..
    (w+1)*seq_len``. Returns ``(inputs, targets)``, int64 ``(seq_len, n_windows)``; ids past
    the last whole window are left out."""
    n_windows = (len(ids) - 1) // seq_len
    if n_windows < 1:
        raise ValueError(f"{len(ids)} ids hold no window of seq_len + 1 = {seq_len + 1}; "
                         "use a shorter seq_len")
    starts = np.arange(n_windows) * seq_len  # (n_windows,)
    windows = ids[starts[None, :] + np.arange(seq_len + 1)[:, None]]  # (seq_len + 1, n_windows)
    return windows[:-1], windows[1:]


def evaluate(model: AttentionLM, ids: np.ndarray, seq_len: int, *,
             tokens_per_batch: int = 8192) -> float:
    """Mean next-token loss (nats/token) over the `evaluation_windows` of ``ids``.

    Parameters
    ----------
    model : AttentionLM
    ids : int array ``(n,)``, e.g. the validation split.
    seq_len : int
        Window length; every window scores ``seq_len`` targets.
    tokens_per_batch : int
        About how many tokens each forward pass holds (bounds memory, not the result).

    Raises
    ------
    ValueError
        With learned positions, when ``seq_len`` is past the table (it cannot extrapolate).
    """
    inputs, targets = evaluation_windows(ids, seq_len)
    per_batch = max(1, tokens_per_batch // seq_len)  # windows per forward pass
    total = 0.0
    for first in range(0, inputs.shape[1], per_batch):
        part = slice(first, first + per_batch)
        total += model.loss(inputs[:, part], targets[:, part]) * targets[:, part].size
    return total / targets.size


# --------------------------------------------------------------------------- baselines


def unigram_loss(train_ids: np.ndarray, val_ids: np.ndarray, vocab_size: int) -> float:
    """Validation loss of ``P(t) = (count(t) + 1) / (N + V)`` (add-one unigram), nats/token.

    Every validation id except the first is scored, as the models score them.
    """
    counts = np.bincount(train_ids, minlength=vocab_size) + 1.0  # (V,), Laplace smoothing
    return float(-np.mean(np.log(counts[val_ids[1:]] / counts.sum())))


def bigram_loss(train_ids: np.ndarray, val_ids: np.ndarray, vocab_size: int, *,
                discount: float = 0.75) -> float:
    """Validation loss of an interpolated absolute-discounting bigram model, nats/token.

    ``P(w | u) = max(c(u, w) - D, 0) / c(u) + D * n(u) / c(u) * P_uni(w)`` with ``n(u)`` the
    number of distinct words seen after u (Ney, Essen & Kneser, 1994); a context never seen in
    training falls back to the add-one unigram ``P_uni``. ``D = 0.75`` is the usual choice;
    nothing is tuned on the validation split.
    """
    pair_counts = np.zeros((vocab_size, vocab_size))  # (V, V) c(u, w)
    np.add.at(pair_counts, (train_ids[:-1], train_ids[1:]), 1.0)
    unigram = np.bincount(train_ids, minlength=vocab_size) + 1.0
    unigram /= unigram.sum()  # (V,)
    prev, nxt = val_ids[:-1], val_ids[1:]
    context = pair_counts.sum(axis=1)[prev]  # (n,) c(u)
    distinct = np.count_nonzero(pair_counts, axis=1)[prev]  # (n,) n(u)
    seen = np.maximum(context, 1.0)  # avoid 0/0; unseen contexts take the unigram below
    prob = (np.maximum(pair_counts[prev, nxt] - discount, 0.0) / seen
            + discount * distinct / seen * unigram[nxt])
    prob = np.where(context > 0, prob, unigram[nxt])
    return float(-np.mean(np.log(prob)))


# --------------------------------------------------------------------------- one step


def learning_rate(step: int, config: TrainConfig) -> float:
    """Linear warm-up to ``lr`` over ``warmup`` steps, then cosine decay to ``min_lr``.

    ``lr * (step + 1) / warmup`` while ``step < warmup`` (``step`` counts from 0), then
    ``min_lr + (lr - min_lr) (1 + cos(pi t)) / 2`` with ``t`` going from 0 to 1 over the
    remaining steps.

    Examples
    --------
    >>> config = TrainConfig()  # lr 3e-3, warmup 100, 600 steps, min_lr 3e-4
    >>> learning_rate(0, config) == config.lr / config.warmup, learning_rate(100, config)
    (True, 0.003)
    """
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = (step - config.warmup) / max(1, config.steps - config.warmup)  # 0 .. 1
    return config.min_lr + 0.5 * (config.lr - config.min_lr) * (1.0 + math.cos(math.pi * progress))


def train_step(model: AttentionLM, optimizer: Adam, inputs: np.ndarray,
               targets: np.ndarray) -> float:
    """Forward, backward and one optimizer update; returns the batch's loss (nats/token)."""
    loss, grads = model.loss_and_grads(inputs, targets)
    optimizer.step(list(grads.values()))  # dicts keep the parameters' order
    return loss


# --------------------------------------------------------------------------- the loop


@dataclass
class TrainResult:
    """What :func:`train` returns: the trained model and how the run went."""

    model: AttentionLM
    steps_done: int
    train_loss: float  # mean over the last logging interval
    val_loss: float  # at the end
    seconds: float
    interrupted: bool


def _format_seconds(seconds: float) -> str:
    minutes, seconds = divmod(int(round(seconds)), 60)
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


class _StopOnInterrupt:
    """Turn the first Ctrl-C into a request to stop after the current step.

    The step finishes, so the checkpoint is never saved halfway through an Adam update; a
    second Ctrl-C stops at once. Only the main thread can install a signal handler, so
    elsewhere this does nothing.
    """

    def __init__(self) -> None:
        self.requested = False

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> _StopOnInterrupt:
        self._previous = None
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def train(config: TrainConfig, tokenizer: Tokenizer | None = None, *,
          output: str | Path | None = None, log: TextIO | None = sys.stderr,
          log_every: int = 50, log_seconds: float = 3.0) -> TrainResult:
    """Train an :class:`AttentionLM` on the bundled corpus; save it to ``output`` if given.

    Prints a progress line to ``log`` every ``log_every`` steps and at least every
    ``log_seconds`` (step, mean train loss since the last line, the latest validation loss,
    tokens per second, time left), then a line on how to read the two losses. A first Ctrl-C
    stops after the current step and still saves (``interrupted=True`` in the result).

    Parameters
    ----------
    config : TrainConfig
        The run: model shape, position scheme, steps, batches, learning rate, seed.
    tokenizer : Tokenizer, optional
        Encodes the corpus; default the bundled ``data/tokenizer.txt``.
    output : path, optional
        Where to write the checkpoint (:func:`save_checkpoint`); None writes nothing.
    log : text stream or None
        Where the progress lines go; None prints nothing.
    log_every, log_seconds : int and float
        A progress line after this many steps, or this many seconds, whichever comes first.

    Returns
    -------
    TrainResult
        The model, the steps done, the mean train loss of the last ``log_every`` steps, the last
        validation loss, seconds taken, and whether Ctrl-C cut the run short. None of it
        depends on the clock except ``seconds``.
    """
    tokenizer = tokenizer or load_tokenizer()
    train_ids, val_ids = split_ids(corpus_ids(tokenizer), config.val_fraction)
    model = AttentionLM(config.model_config(tokenizer.vocab_size), seed=config.seed)
    optimizer = Adam(list(model.params.values()), lr=config.lr,
                     weight_decay=config.weight_decay, decoupled=True)
    rng = np.random.default_rng(config.seed)  # the batches; the model has its own seeds
    progress = _Progress(log, config, log_every, log_seconds)
    losses: list[float] = []
    val_loss, step = float("nan"), 0
    with _StopOnInterrupt() as stop:
        for step in range(1, config.steps + 1):
            optimizer.lr = learning_rate(step - 1, config)
            inputs, targets = sample_batch(train_ids, config.seq_len, config.batch_size, rng)
            losses.append(train_step(model, optimizer, inputs, targets))
            last = step == config.steps or stop.requested
            if step % config.eval_every == 0 or last:
                val_loss = evaluate(model, val_ids, config.seq_len)
            progress.step(step, losses, val_loss, force=last)
            if stop.requested:
                break
    progress.explain()
    seconds = time.perf_counter() - progress.started
    if output is not None:
        save_checkpoint(output, model, config, tokenizer, steps_done=step)
    train_loss = float(np.mean(losses[-log_every:])) if losses else float("nan")
    return TrainResult(model, step, train_loss, val_loss, seconds, stop.requested)


class _Progress:
    """The progress lines of :func:`train`: by step count or by time, whichever comes first."""

    def __init__(self, log: TextIO | None, config: TrainConfig, every: int,
                 seconds: float) -> None:
        self.log, self.config, self.every, self.seconds = log, config, every, seconds
        self.started = self.printed_at = time.perf_counter()
        self.printed_step = 0

    def step(self, step: int, losses: list[float], val_loss: float, *, force: bool) -> None:
        """Print a line if ``every`` steps or ``seconds`` have passed since the last (or forced)."""
        now = time.perf_counter()
        if self.log is None or not (force or step % self.every == 0
                                    or now - self.printed_at >= self.seconds):
            return
        recent = float(np.mean(losses[self.printed_step:]))  # the steps since the last line
        elapsed = now - self.started
        tokens = step * self.config.seq_len * self.config.batch_size
        val_text = "  -  " if math.isnan(val_loss) else f"{val_loss:.3f}"
        print(f"step {step:>5}/{self.config.steps}  train {recent:.3f}  val {val_text}  "
              f"{tokens / elapsed:,.0f} tok/s  "
              f"ETA {_format_seconds(elapsed / step * (self.config.steps - step))}",
              file=self.log, flush=True)
        self.printed_at, self.printed_step = now, step

    def explain(self) -> None:
        """Say how to read the two losses (the model has no dropout, so that is not why)."""
        if self.log is not None:
            for line in ("(train: the mean over the steps since the line before, taken while the "
                         "model was still learning;",
                         " val: the model as it is at that step, on the held-out last 10 % of "
                         "the corpus;",
                         " so early on val can be lower than train)"):
                print(line, file=self.log, flush=True)


# --------------------------------------------------------------------------- checkpoints


def save_checkpoint(path: str | Path, model: AttentionLM, config: TrainConfig,
                    tokenizer: Tokenizer, *, steps_done: int | None = None) -> None:
    """Write the model to ``path`` as a checkpoint (:mod:`minimal_embed.checkpoint`).

    Arrays: ``model.params`` under their dotted names. Metadata: ``input_embedding`` (the stage's
    config, so :meth:`InputEmbedding.load` rebuilds it exactly), ``model`` (the
    :class:`ModelConfig`), ``train`` (this configuration), ``tokenizer`` and ``steps_done``.
    Nothing depends on the clock, so the same model gives the same bytes.

    Raises
    ------
    ValueError
        If the tokenizer's vocabulary size is not the model's.
    """
    if tokenizer.vocab_size != model.config.vocab_size:
        raise ValueError(f"the tokenizer has {tokenizer.vocab_size} ids, the model "
                         f"{model.config.vocab_size}; save with the tokenizer it was trained on")
    metadata = {"input_embedding": model.input_embedding.config(),
                "model": model.config.as_dict(), "train": asdict(config),
                "tokenizer": "tokenizer.txt",
                "steps_done": config.steps if steps_done is None else int(steps_done)}
    write_checkpoint(path, model.params, metadata)


def load_checkpoint(path: str | Path) -> tuple[AttentionLM, dict[str, Any]]:
    """Read a training checkpoint written by :func:`save_checkpoint` (never unpickles).

    Returns
    -------
    model : AttentionLM with the saved weights.
    metadata : dict, the checkpoint's metadata (``model``, ``train``, ``steps_done`` ...).

    Raises
    ------
    FileNotFoundError, ValueError
        From :func:`~minimal_embed.checkpoint.read_checkpoint`; or a file that holds no model
        (an input stage alone, say), or arrays that do not fit its configuration.
    """
    arrays, metadata = read_checkpoint(path)
    if not isinstance(metadata.get("model"), dict):
        raise ValueError(f"{path} holds no trained model (no 'model' in its metadata); an input "
                         "stage alone loads with InputEmbedding.load")
    try:
        model_config = ModelConfig(**metadata["model"])
        d, vocab_size = model_config.d_model, model_config.vocab_size
        # the claimed sizes against the stored arrays, before a d x d weight is drawn
        check_shapes(arrays, {"token_embedding": (vocab_size, d),
                              **{f"attn.w_{part}": (d, d) for part in "qkvo"}}, str(path))
        model = AttentionLM(model_config, dtype=arrays["token_embedding"].dtype
                            if "token_embedding" in arrays else np.float32)
    except (TypeError, ValueError, MemoryError) as error:  # MemoryError: sizes it only claims
        raise ValueError(f"{path}: its model configuration does not fit ({error})") from None
    model.load_params(arrays, str(path))
    return model, metadata


# --------------------------------------------------------------------------- neighbours


def nearest_tokens(table: np.ndarray, token_id: int, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` rows most similar to row ``token_id`` by cosine similarity (itself excluded).

    ``cos(a, b) = a . b / (|a| |b|)``. Returns ``(ids, similarities)``, most similar first; ties
    go to the smaller id.

    Examples
    --------
    >>> table = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [-1.0, 0.0]])
    >>> ids, sims = nearest_tokens(table, 0, k=2)
    >>> ids.tolist(), sims.round(3).tolist()
    ([1, 2], [0.994, 0.0])
    """
    if not 0 <= token_id < table.shape[0]:
        raise ValueError(f"token id {token_id} is outside the table's 0..{table.shape[0] - 1}; "
                         "pass the id of one of its rows")
    table = table.astype(np.float64)
    norms = np.linalg.norm(table, axis=1)  # (V,)
    similarity = table @ table[token_id] / np.maximum(norms * norms[token_id], 1e-300)  # (V,)
    similarity[token_id] = -np.inf  # not its own neighbour
    order = np.lexsort((np.arange(len(similarity)), -similarity))[:k]  # by -sim, then id
    return order, similarity[order]
