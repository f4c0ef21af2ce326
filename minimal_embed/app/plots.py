"""The three pictures people draw to explain input embeddings (``minimal-embed plot ...``).

1. ``positions``: the sinusoidal table as a heatmap, positions down and dimensions across
   (Vaswani et al., 2017, section 3.5). Each column pair (2j, 2j+1) is one frequency
   ``1 / 10000^(2j/d)``; the left columns turn fastest (period 2π positions), so they show thin
   stripes, and the right ones so slowly that they barely change over the rows shown.
2. ``similarity``: the position–position dot products ``P @ P.T`` of the sinusoidal table and of
   the trained learned table side by side. For the sinusoid ``PE[p] · PE[q]`` depends only on
   ``p - q`` (a sum of cosines of the offset), so the picture is constant along diagonals;
   a learned table shows how much of that structure training found on its own.
3. ``tokens``: the trained token vectors of a few tokens projected on their first two principal
   components (PCA by SVD of the centred rows), labelled: tokens used alike end up close.

``plot positions --model FOLDER`` draws a published model's scheme instead: its learned table's
cosine similarities (GPT-2's picture), its RoPE angles, or its score bias per head.

Each picture is either an RGB image for a PNG file or text for the terminal
(:mod:`~minimal_embed.app.viz`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from minimal_embed._checks import check_integer
from minimal_embed.app import viz
from minimal_embed.app.font5x7 import GLYPH_HEIGHT
from minimal_embed.app.walkthrough import show_token
from minimal_embed.positional import sinusoidal_table
from minimal_embed.schemes import ALiBi, Learned, RoPE, T5Buckets

if TYPE_CHECKING:
    from minimal_embed.pipeline import InputEmbedding
    from minimal_embed.pretrained import PretrainedModel
    from minimal_embed.tokenizer import Tokenizer

SPACE_MARK = "·"  # how a token's leading space is drawn in the pictures


def _ticks(count: int) -> list[int]:
    """Up to five evenly spread indices: 0, count/4, count/2, 3count/4 and count - 1."""
    return sorted({min(int(round(t)), count - 1) for t in np.linspace(0, count, 5)})


def framed_heatmap(values: np.ndarray, cmap: str, *, scale: int, title: str, rows: str,
                   columns: str, vmin: float | None = None, vmax: float | None = None,
                   bar: bool = True, row_height: int | None = None,
                   column_origin: int = 0) -> np.ndarray:
    """A heatmap ``(rows, cols)`` with a title, tick labels, axis names and a colour bar.

    The title wraps to the picture's width, and a tick whose label would touch its neighbour's
    is left out, so no text is ever cut or drawn over other text. Each value is ``scale``
    pixels wide and ``row_height`` (default ``scale``) high; column ticks count from
    ``column_origin``.
    """
    vmin = float(values.min()) if vmin is None else vmin
    vmax = float(values.max()) if vmax is None else vmax
    repeat = 1 if row_height is None else max(1, row_height // scale)
    picture = viz.heatmap(np.repeat(values, repeat, axis=0), cmap, scale=scale, vmin=vmin,
                          vmax=vmax)
    height, width, _ = picture.shape
    row_ticks = _spread(_ticks(values.shape[0]), scale * repeat, lambda t: GLYPH_HEIGHT + 2)
    col_ticks = _spread(_ticks(values.shape[1]), scale,
                        lambda t: viz.text_width(str(t + column_origin)) + 6)
    left = max(viz.text_width(str(t)) for t in row_ticks) + GLYPH_HEIGHT + 10
    # a narrow picture still gets room for its axis name and 24 characters of title a line
    room = max(viz.text_width(columns), viz.text_width("x" * 24) - left) - width
    body = viz.pad(picture, bottom=2 * GLYPH_HEIGHT + 12, left=left, right=max(room, 0))
    for tick in row_ticks:  # tick labels right-aligned beside the row's first pixel line
        label = str(tick)
        viz.draw_text(body, label, left - 3 - viz.text_width(label),
                      min(tick * scale * repeat, height - GLYPH_HEIGHT))
    for tick in col_ticks:
        label = str(tick + column_origin)
        viz.draw_text(body, label, left + min(tick * scale, width - viz.text_width(label)),
                      height + 3)
    viz.draw_text(body, columns, left + max((width - viz.text_width(columns)) // 2, 0),
                  height + GLYPH_HEIGHT + 8)
    viz.draw_text(body, rows, 0, (height - viz.text_width(rows)) // 2, vertical=True)
    out = viz.titled(body, title)
    if bar:
        top = out.shape[0] - body.shape[0]
        scale_bar = viz.colorbar(cmap, height, vmin=vmin, vmax=vmax)
        out = viz.side_by_side([out, viz.pad(scale_bar, top=top)], gap=8)
    return out


def _spread(ticks: list[int], scale: int, room: Callable[[int], int]) -> list[int]:
    """The ticks whose labels keep ``room(tick)`` pixels from the last one kept (and the end)."""
    kept: list[int] = []
    for tick in ticks:
        if not kept or (tick - kept[-1]) * scale >= room(kept[-1]):
            kept.append(tick)
        elif tick == ticks[-1]:  # the last tick beats the one before it: it shows the size
            kept[-1] = tick
            if len(kept) > 1 and (kept[-1] - kept[-2]) * scale < room(kept[-2]):
                kept.pop(-2)
    return kept


# --- 1. the sinusoidal table ---------------------------------------------------------------------

def positions_image(length: int, dim: int, *, halves: bool = False) -> np.ndarray:
    """The sinusoidal table ``(length, dim)`` as an RGB picture: blue -1, grey 0, red +1.

    ``halves=True`` draws the ``[all sin | all cos]`` layout instead of interleaved columns.
    """
    table = sinusoidal_table(length, dim, interleaved=not halves)  # (length, dim)
    scale = max(1, min(8, 512 // max(length, dim)))
    layout = "[sin | cos] halves" if halves else "sin, cos interleaved"
    image = framed_heatmap(table, "coolwarm", scale=scale, vmin=-1.0, vmax=1.0,
                           title=f"sinusoidal position table PE ({length} positions x {dim} "
                                 f"dims, {layout})",
                           rows="position p", columns="dimension i")
    return viz.pad(image, top=8, bottom=8, left=8, right=8)


def positions_text(length: int, dim: int, *, color: bool, halves: bool = False) -> str:
    """The sinusoidal table for the terminal, with a line saying how to read it."""
    table = sinusoidal_table(length, dim, interleaved=not halves)
    legend = ("blue -1, grey 0, red +1" if color else
              f"'{viz.ASCII_RAMP[0]}' = -1 ... '{viz.ASCII_RAMP[-1]}' = +1")
    per_line = "two positions per line" if color else "one position per line"
    layout = "[sin | cos] halves" if halves else "sin, cos interleaved"
    return (f"sinusoidal position table PE ({layout}): {length} positions down ({per_line}), "
            f"{dim} dimensions across; {legend}\n"
            + viz.terminal_heatmap(table, "coolwarm", color=color, vmin=-1.0, vmax=1.0))


# --- 2. position-position similarity --------------------------------------------------------------

def similarity_matrices(learned: np.ndarray, *, cosine: bool = False
                        ) -> tuple[np.ndarray, np.ndarray]:
    """``(S @ S.T, P @ P.T)`` for the sinusoidal table S shaped like the learned table P.

    Both are ``(max_len, max_len)`` float64: entry (p, q) is the dot product of positions p, q,
    or with ``cosine=True`` the cosine ``P[p] . P[q] / (|P[p]| |P[q]|)``. Every sinusoid row has
    the same norm (``sqrt(d/2)`` for even d), so cosine only rescales the left panel; a trained
    table's first rows are much longer than the rest and dominate its dot products, so cosine
    shows how the directions of later rows relate.
    """
    learned = learned.astype(np.float64)                    # (max_len, d_model)
    sines = sinusoidal_table(*learned.shape, dtype=np.float64)  # (max_len, d_model)
    if cosine:
        sines = sines / np.linalg.norm(sines, axis=1, keepdims=True)
        norms = np.linalg.norm(learned, axis=1, keepdims=True)  # (max_len, 1)
        learned = learned / np.where(norms == 0.0, 1.0, norms)  # a zero row stays zero
    return sines @ sines.T, learned @ learned.T


def similarity_image(learned: np.ndarray, *, cosine: bool = True) -> np.ndarray:
    """The two similarity matrices side by side, each on its own colour scale (viridis)."""
    sines, trained = similarity_matrices(learned, cosine=cosine)
    scale = max(1, 256 // len(sines))
    measure = "cos" if cosine else "."
    what = ("cosine similarity (row lengths taken out; --dot for dot products)" if cosine else
            "dot products (--dot; the default shows cosines)")
    panels = [framed_heatmap(sines, "viridis", scale=scale, rows="position p",
                             columns="position q", title=f"sinusoidal PE[p] {measure} PE[q]"),
              framed_heatmap(trained, "viridis", scale=scale, rows="position p",
                             columns="position q", title=f"learned P[p] {measure} P[q] (trained)")]
    picture = viz.titled(viz.side_by_side(panels, gap=24), f"position-position {what}")
    return viz.pad(picture, top=8, bottom=8, left=8, right=8)


def similarity_text(learned: np.ndarray, *, color: bool, cosine: bool = True) -> str:
    """The two similarity matrices for the terminal, one under the other."""
    sines, trained = similarity_matrices(learned, cosine=cosine)
    n = len(sines)
    measure = "cos" if cosine else "."
    return "\n".join([
        f"sinusoidal PE[p] {measure} PE[q] for p, q in 0..{n - 1} (p down, q across), "
        f"from {sines.min():.3g} (dark) to {sines.max():.3g} (light)",
        viz.terminal_heatmap(sines, "viridis", color=color),
        f"learned P[p] {measure} P[q] (trained table), "
        f"from {trained.min():.3g} to {trained.max():.3g}",
        viz.terminal_heatmap(trained, "viridis", color=color)])


# --- 3. tokens in two dimensions ------------------------------------------------------------------

def pca_2d(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project rows ``(n, d)`` on their first two principal components.

    Centre the rows, take the SVD ``X - mean = U S V^T``; the coordinates are
    ``(X - mean) @ V[:, :2]`` and the share of variance each keeps is ``S² / sum(S²)``.

    Returns
    -------
    tuple
        coordinates ``(n, 2)`` float64 and the explained-variance ratios ``(2,)``.

    Examples
    --------
    >>> points, share = pca_2d(np.array([[0.0, 0.0, 0.0], [2.0, 0.0, 0.0], [4.0, 1e-9, 0.0]]))
    >>> np.round(np.abs(points[:, 0]), 6).tolist(), round(float(share[0]), 6)
    ([2.0, 0.0, 2.0], 1.0)
    """
    centred = vectors.astype(np.float64) - vectors.mean(axis=0)  # (n, d)
    _, singular, components = np.linalg.svd(centred, full_matrices=False)
    variance = singular ** 2
    share = variance[:2] / variance.sum() if variance.sum() > 0 else np.zeros(2)
    return centred @ components[:2].T, share  # (n, 2)


def tokens_image(points: np.ndarray, labels: list[str], share: np.ndarray) -> np.ndarray:
    """The labelled PCA scatter as an RGB picture with a title."""
    title = (f"{len(labels)} trained token vectors, first two principal components "
             f"({share[0]:.0%} + {share[1]:.0%} of the variance); {SPACE_MARK} marks a "
             "leading space")
    image = viz.titled(viz.scatter(points, labels, size=640), title)
    return viz.pad(image, top=4, bottom=8, left=8, right=8)


def tokens_text(points: np.ndarray, labels: list[str], share: np.ndarray, width: int) -> str:
    """The labelled PCA scatter drawn with characters."""
    return (f"{len(labels)} trained token vectors on their first two principal components "
            f"({share[0]:.0%} + {share[1]:.0%} of the variance; {SPACE_MARK} = leading space)\n"
            + viz.terminal_scatter(points, labels, width=width, height=24))


# --- the commands: a PNG file with --out, else the terminal -------------------------------------

def _require_stage(stage: InputEmbedding | None, picture: str) -> InputEmbedding:
    """The trained stage, or a ValueError saying how to get one."""
    if stage is None:
        raise ValueError(
            f"no trained checkpoint is bundled yet (data/checkpoint.npz is missing), and "
            f"`plot {picture}` draws the trained tables; train one with `minimal-embed train` "
            "or draw the untrained picture `minimal-embed plot positions` meanwhile")
    return stage


def _written(path: str | os.PathLike, image: np.ndarray) -> str:
    written = viz.write_png(path, image)
    return f"wrote {written} ({image.shape[1]} x {image.shape[0]} pixels)"


def plot_positions(*, out: str | os.PathLike | None = None, color: bool, length: int,
                   dim: int | None, terminal_width: int, halves: bool = False) -> str:
    """``plot positions``: the sinusoidal table as a PNG or in the terminal; returns what to print.

    The PNG has 128 dimensions unless ``dim`` says otherwise, the terminal as many as fit (<= 128).

    Raises
    ------
    ValueError, TypeError
        If ``length`` or ``dim`` is not an integer >= 1.
    """
    check_integer("--length", length, least=1)
    if dim is not None:
        check_integer("--dim", dim, least=1)
    if out is not None:
        width = 128 if dim is None else dim
        _check_picture_size(length, width)
        return _written(out, positions_image(length, width, halves=halves))
    fitting = max(2, min(128, terminal_width - 1) // 2 * 2)
    width = fitting if dim is None else dim
    _check_picture_size(length, width)
    return positions_text(length, width, color=color, halves=halves)


MAX_PICTURE_CELLS = 1 << 22  # 4 Mi table entries: a 2048 x 2048 picture, 16 MB of float32


def _check_picture_size(length: int, dim: int) -> None:
    """Refuse a table too large to draw before it is computed (not a MemoryError later)."""
    if length * dim > MAX_PICTURE_CELLS:
        raise ValueError(f"--length {length} x --dim {dim} = {length * dim:,} table entries, more "
                         f"than a picture can show (at most {MAX_PICTURE_CELLS:,}); draw fewer "
                         "positions or dimensions")


def plot_similarity(stage: InputEmbedding | None, *, out: str | os.PathLike | None = None,
                    color: bool, cosine: bool = True) -> str:
    """``plot similarity``: sinusoidal vs trained learned position dot products (or cosines).

    ``stage`` is a trained input stage (``InputEmbedding.load`` of a checkpoint).

    Raises
    ------
    ValueError
        If there is no stage, or it has no learned position table.
    """
    stage = _require_stage(stage, "similarity")
    if "position_embedding" not in stage.parameters():
        raise ValueError(f"the checkpoint has no learned position table (its positions are "
                         f"{stage.positions.name!r}); retrain it with "
                         "`minimal-embed train --positions learned -o checkpoint.npz`")
    learned = stage.parameters()["position_embedding"]  # (max_len, d_model)
    if out is not None:
        return _written(out, similarity_image(learned, cosine=cosine))
    return similarity_text(learned, color=color, cosine=cosine)


def choose_tokens(tokenizer: Tokenizer, texts: list[str], top: int, corpus: str) -> list[int]:
    """Ids to draw: each of ``texts`` (each must be a single token), or else the ``top`` most
    frequent word tokens in ``corpus``: letters only, with or without a leading space, at least
    three bytes long (so ``' a'`` and ``'s'`` are left out); ties go to the smaller id.

    Raises
    ------
    ValueError
        If a text is not exactly one token, or ``top < 2``.
    """
    if texts:
        ids = []
        for text in texts:
            encoded = tokenizer.encode(text)
            if len(encoded) != 1:
                parts = " ".join(show_token(tokenizer.token_bytes(i)) for i in encoded)
                raise ValueError(f"{text!r} is {len(encoded)} tokens ({parts or 'none'}), not "
                                 "one; give single tokens, e.g. ' love' with its leading space")
            ids += encoded
        return ids
    check_integer("--top", top, least=2)  # a scatter needs two points
    counts = np.bincount(tokenizer.encode(corpus), minlength=tokenizer.vocab_size)
    words = np.array([i for i in range(tokenizer.vocab_size - len(tokenizer.special_tokens))
                      if tokenizer.token_bytes(i).strip().isalpha()
                      and len(tokenizer.token_bytes(i)) > 2], dtype=np.int64)
    order = np.argsort(-counts[words], kind="stable")  # most frequent first, ties by id
    return words[order[:top]].tolist()


def plot_tokens(stage: InputEmbedding | None, tokenizer: Tokenizer, texts: list[str], *, top: int,
                corpus: str, out: str | os.PathLike | None = None, terminal_width: int) -> str:
    """``plot tokens``: a labelled PCA scatter of trained token vectors (:func:`choose_tokens`).

    Raises
    ------
    ValueError
        If there is no stage, its token table does not fit the tokenizer, or fewer than two
        tokens are chosen.
    """
    table = _require_stage(stage, "tokens").token_embedding.weight  # (vocab_size, d_model)
    if table.shape[0] != tokenizer.vocab_size:
        raise ValueError(f"the checkpoint's token table has {table.shape[0]} rows but the "
                         f"tokenizer has {tokenizer.vocab_size} ids; they do not belong together")
    note = ""
    if not texts and top > MAX_TOKENS_SHOWN:
        note = (f"(--top {top} would draw an unreadable blob of labels: showing the "
                f"{MAX_TOKENS_SHOWN} most frequent)\n")
        top = MAX_TOKENS_SHOWN
    ids = choose_tokens(tokenizer, texts, top, corpus)
    if len(ids) < 2:
        raise ValueError(f"a scatter needs at least two tokens, got {len(ids)}; "
                         "give two or more tokens")
    points, share = pca_2d(table[ids])
    labels = [show_token(tokenizer.token_bytes(i), quoted=False, space=SPACE_MARK) for i in ids]
    if out is not None:
        return note + _written(out, tokens_image(points, labels, share))
    return note + tokens_text(points, labels, share, width=max(40, terminal_width - 1))


MAX_TOKENS_SHOWN = 60  # more labels than this overlap into a blob on a 640-pixel square


# --- 4. a published model's positions ------------------------------------------------------------

class Picture(NamedTuple):
    """A matrix to draw as a heatmap, with its colour map, title and axis names."""

    values: np.ndarray
    cmap: str
    title: str
    rows: str
    columns: str
    vmin: float | None = None
    vmax: float | None = None
    column_origin: int = 0  # the value column 0 stands for (key - query starts below 0)


def model_positions_picture(model: PretrainedModel, length: int | None = None) -> Picture:
    """What ``plot positions --model`` draws for the model's position scheme.

    - a learned table P (GPT-2, BERT): the cosine similarity ``P[p] . P[q] / (|P[p]| |P[q]|)``
      of its first ``length`` rows (default all), ``(length, length)``: GPT-2's picture of
      nearby positions alike and a band that fades with distance;
    - RoPE: ``cos(p theta_t)`` for positions p down and frequency pairs t across,
      ``(length, rotary_dim / 2)`` (default 64 positions): fast pairs left, slow ones right;
    - a score bias (ALiBi, T5's encoder table): every head's bias against ``key - query``, from
      ``-(length - 1)`` to ``length - 1`` (``(n_heads, 2 length - 1)``), or to 0 for a causal
      scheme, whose bias on future keys is masked away.

    Raises
    ------
    ValueError
        For a model without a position scheme, or a ``length`` < 1 or past a learned table.
    """
    scheme, name = model.positions, model.folder.name
    if length is not None:
        check_integer("--length", length, least=1)
    if isinstance(scheme, Learned):
        table = scheme.table.weight
        length = len(table) if length is None else length
        if length > len(table):
            raise ValueError(f"--length {length} is more than the {len(table)} rows of "
                             f"{name}'s learned table")
        _check_picture_size(length, length)
        cosine = similarity_matrices(table[:length], cosine=True)[1]
        return Picture(cosine, "viridis", f"{name}: cosine similarity of learned positions",
                       "position p", "position q")
    length = 64 if length is None else length
    if isinstance(scheme, RoPE):
        theta = scheme.frequencies(model.head_dim)            # (rotary_dim / 2,)
        _check_picture_size(length, len(theta))
        angles = np.arange(length)[:, None] * theta           # (length, rotary_dim / 2)
        return Picture(np.cos(angles), "coolwarm", f"{name}: RoPE cos(p theta_t), base "
                       f"{scheme.base:g}, {2 * len(theta)} of {model.head_dim} dims",
                       "position p", "pair t", -1.0, 1.0)
    bias = scheme.score_bias(length)                          # (n_heads, length, length)
    if bias is None:
        raise ValueError(f"{name}'s model adds no position information ({scheme.name}); "
                         "there is nothing to draw")
    _check_picture_size(len(bias), 2 * length)
    # key - query = -(length-1) .. 0 along the last query's row, 1 .. length-1 along the first's;
    # a causal scheme's bias on future keys is masked away, so only the past is drawn
    two_sided = scheme.symmetric if isinstance(scheme, ALiBi) else \
        isinstance(scheme, T5Buckets) and scheme.bias.bidirectional
    by_distance = np.concatenate([bias[:, -1, :]] + ([bias[:, 0, 1:]] if two_sided else []), 1)
    last = length - 1 if two_sided else 0
    return Picture(by_distance, "viridis", f"{name}: {scheme.name} score bias by head, key - "
                   f"query from {1 - length} to {last}", "head h", "key - query",
                   column_origin=1 - length)


def plot_model_positions(model: PretrainedModel, *, out: str | os.PathLike | None = None,
                         color: bool, length: int | None = None, terminal_width: int) -> str:
    """``plot positions --model``: :func:`model_positions_picture` as a PNG or in the terminal.

    The terminal gets evenly spaced rows and columns of it, as many as fit.

    Raises
    ------
    ValueError
        As :func:`model_positions_picture`.
    """
    picture = model_positions_picture(model, length)
    values = picture.values
    if out is not None:
        scale = max(1, min(8, 512 // max(values.shape)))
        image = framed_heatmap(values, picture.cmap, scale=scale, title=picture.title,
                               rows=picture.rows, columns=picture.columns, vmin=picture.vmin,
                               vmax=picture.vmax, column_origin=picture.column_origin,
                               row_height=max(scale, 256 // len(values)))  # a band per head
        return _written(out, viz.pad(image, top=8, bottom=8, left=8, right=8))
    columns = max(2, terminal_width - 1)
    rows = 2 * columns // 3 if color else columns // 3  # about square on the screen
    shown = values[_evenly(len(values), rows)][:, _evenly(values.shape[1], columns)]
    note = "" if shown.shape == values.shape else \
        f" ({shown.shape[0]} of {values.shape[0]} rows, {shown.shape[1]} of {values.shape[1]} " \
        "columns, evenly spread)"
    return (f"{picture.title}: {picture.rows} down, {picture.columns} across, from "
            f"{values.min():.3g} (dark) to {values.max():.3g} (light){note}\n"
            + viz.terminal_heatmap(shown, picture.cmap, color=color, vmin=picture.vmin,
                                   vmax=picture.vmax))


def _evenly(count: int, most: int) -> np.ndarray:
    """At most ``most`` evenly spaced indices of ``count``, first and last included."""
    return np.unique(np.linspace(0, count - 1, min(count, most)).round().astype(int))
