"""The walkthrough: your own text through every step of the pipeline, printed with real numbers.

It adds no mathematics: it runs the earlier modules' steps one at a time and prints what each
hands to the next, with its array shape (``minimal-embed embed`` numbers its lines so):

1. text → pieces: the tokenizer's split pattern (BPE never merges across two pieces);
2. pieces → tokens: byte-level BPE, each token a byte string;
3. tokens → ids: each token's id is its rank; several texts are padded into one
   ``(seq_len, batch)`` array with a mask;
4. ids → token vectors: row lookup ``E[ids]`` in the token table, ``(seq_len, batch, d_model)``;
5. positions 0..n-1 → position vectors: a sinusoidal or a learned table, ``(seq_len, d_model)``;
6. the sum, broadcast over the batch: the input embeddings the first layer reads.

The tables are the trained ones of ``data/checkpoint.npz`` when it is bundled, otherwise seeded
random ones (N(0, 0.02²), GPT-2's initialisation), and the output says which.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from minimal_embed import data
from minimal_embed._checks import check_choice, check_integer
from minimal_embed._files import atomic_write
from minimal_embed.checkpoint import copy_arrays
from minimal_embed.pipeline import InputEmbedding
from minimal_embed.schemes import RoPE, scheme_class

if TYPE_CHECKING:
    from minimal_embed.pretrained import PretrainedModel
    from minimal_embed.schemes import PositionScheme
    from minimal_embed.tokenizer import Tokenizer

DEFAULT_D_MODEL = 128  # the bundled checkpoint's width, so the untrained stand-in looks the same
DEFAULT_MAX_LEN = 64   # and its learned table's length (checkpoint contract: max_len == seq_len)
RANDOM_SEED = 0
INDENT = " " * 23       # where the text after a step's label starts
MAX_PRINTED_ROWS = 12  # vector rows printed per step; --save keeps them all


def bundled_checkpoint() -> Path | None:
    """The path of ``data/checkpoint.npz``, or None when no checkpoint is bundled."""
    try:
        return data.path("checkpoint.npz")
    except FileNotFoundError:
        return None


@dataclass
class Stage:
    """The input stage a walkthrough runs, and where its tables came from (printed)."""

    embedding: InputEmbedding
    token_source: str
    position_source: str
    head_dim: int | None = None  # a published model's head width: what its scheme acts on


def choose_stage(tokenizer: Tokenizer, positions: str | None,
                 checkpoint: str | os.PathLike | None) -> Stage:
    """The :class:`InputEmbedding` to walk through: the checkpoint's, or a seeded stand-in.

    Parameters
    ----------
    tokenizer : Tokenizer
        A checkpoint whose token table has another row count lends only its width.
    positions : {"learned", "sinusoidal"} or None
        None keeps the checkpoint's own scheme (sinusoidal without a checkpoint). Another
        choice keeps its token table and swaps the scheme: sinusoidal rows come with the
        original Transformer's ``sqrt(d_model)`` scale; a learned table not in the checkpoint is
        a seeded stand-in N(0, 0.01^2) of 64 rows.
    checkpoint : path or None
        Any checkpoint :meth:`InputEmbedding.load` reads; None: seeded random tables.

    Returns
    -------
    Stage

    Raises
    ------
    ValueError, FileNotFoundError
        For a checkpoint that cannot be read (see :func:`~minimal_embed.checkpoint.
        read_checkpoint`).
    """
    if positions is not None:
        check_choice("positions", positions, ("learned", "sinusoidal"))
    vocab_size = tokenizer.vocab_size
    trained = None if checkpoint is None else InputEmbedding.load(checkpoint, None)
    name = "" if checkpoint is None else Path(checkpoint).name
    if trained is not None and trained.token_embedding.num_embeddings == vocab_size and \
            (positions is None or positions == trained.positions.name):
        return Stage(trained.eval(), f"trained, from {name}",
                     f"{trained.positions.name}: trained, from {name}")
    d_model = DEFAULT_D_MODEL if trained is None else trained.d_model
    chosen = positions or (trained.positions.name if trained is not None else "sinusoidal")
    if chosen not in ("learned", "sinusoidal"):
        chosen = "none"  # the checkpoint's scheme acts inside attention; no rows to show
    stage = InputEmbedding(tokenizer, d_model, positions=chosen, max_len=DEFAULT_MAX_LEN,
                           scale=scheme_class(chosen).scales_tokens, seed=RANDOM_SEED).eval()
    token_source = "random N(0, 0.02^2), seed 0: no trained checkpoint"
    if trained is not None and trained.token_embedding.num_embeddings == vocab_size:
        copy_arrays({"token_embedding": stage.token_embedding.weight},
                    {"token_embedding": trained.token_embedding.weight}, name)
        token_source = f"trained, from {name}"
    elif trained is not None:
        token_source = (f"random N(0, 0.02^2), seed 0 (the checkpoint's table has "
                        f"{trained.token_embedding.num_embeddings} rows, not {vocab_size})")
    position_source = {
        "sinusoidal": "PE[p, 2j] = sin(p / 10000^(2j/d)), PE[p, 2j+1] = cos(same angle)",
        "learned": "random N(0, 0.01^2), seed 0 (the checkpoint has no trained table)",
        "none": f"none: {trained.positions.name if trained else '?'} acts inside attention",
    }[chosen]
    return Stage(stage, token_source, position_source)


def pretrained_stage(model: PretrainedModel) -> Stage:
    """The input stage of a model :func:`~minimal_embed.pretrained.load_pretrained` read.

    Its tables are the checkpoint's; a scheme acting inside attention is described by what it
    does there (``head_dim`` tells the walkthrough the width it rotates).
    """
    where = f"the {model.family} checkpoint in {model.folder}"
    scheme = model.positions
    unscaled = " (unscaled: q.k, no 1/sqrt(d_head))" if model.score_scale == 1.0 else ""
    source = {"input": f"trained, from {where}",
              "rotation": _rope_summary(scheme, model.head_dim),
              "scores": f"{scheme.name} adds a bias to the scores of each of its "
                        f"{model.n_heads} heads{unscaled}"}.get(scheme.acts_on, "none")
    return Stage(model.input_embedding, f"trained, from {where}", source,
                 head_dim=model.head_dim)


def _rope_summary(scheme: PositionScheme, head_dim: int) -> str:
    """One line on what a RoPE scheme rotates: which dims, which pairs, which base."""
    if not isinstance(scheme, RoPE):
        return f"{scheme.name} rotates q and k inside attention"
    dims = scheme.rotary_dim or head_dim
    pairs = "interleaved pairs (2t, 2t+1)" if scheme.interleaved else \
        f"rotate-half pairs (t, t+{dims // 2})"
    stretched = (f", {scheme.scaling['kind']} scaling x{scheme.scaling['factor']:g}"
                 if scheme.scaling else "")
    return (f"RoPE rotates q and k inside attention: {dims} of {head_dim} head dims, {pairs}, "
            f"base {scheme.base:g}{stretched}")


# --- printing --------------------------------------------------------------------------------

def show_token(token: bytes, *, quoted: bool = True, space: str = " ") -> str:
    """A token's bytes as a person reads them: ``repr`` of its text, or of its bytes.

    Whole UTF-8 characters show as a string literal (``' love'``, a newline as ``\\n``); a token
    that splits a character (BPE may cut an emoji's four bytes in two) shows as a bytes literal,
    ``b'\\xf0\\x9f'``, so the reader sees which bytes it holds. Every place that shows a token
    calls this; the pictures pass ``quoted=False`` (no quotes, no ``b``) and ``space="·"`` (each
    space drawn as a visible mark).

    Examples
    --------
    >>> show_token(b" love"), show_token(b"\\xf0\\x9f")
    ("' love'", "b'\\\\xf0\\\\x9f'")
    >>> show_token(b" love\\n", quoted=False, space="·")
    '·love\\\\n'
    """
    try:
        shown = repr(token.decode("utf-8"))
    except UnicodeDecodeError:
        shown = repr(token)
    if not quoted:
        shown = shown[2:-1] if shown.startswith("b") else shown[1:-1]
    return shown.replace(" ", space)


def _values(row: np.ndarray, dim: int) -> str:
    shown = " ".join(f"{value:+.4f}" for value in row[:dim].tolist())
    rest = len(row) - dim
    return shown + (f"  ... {rest} more" if rest > 0 else "")


def _shape(array: np.ndarray) -> str:
    return f"{tuple(array.shape)} {array.dtype}"


@dataclass
class Result:
    """Every array the walkthrough printed (what ``--save`` writes)."""

    ids: np.ndarray                  # (seq_len, batch) or (batch, seq_len), int64
    mask: np.ndarray                 # same shape, bool, True = real token
    token_embeddings: np.ndarray     # (seq_len, batch, d_model) or (batch, seq_len, d_model)
    position_embeddings: np.ndarray  # (seq_len, d_model); (0, d_model) when the scheme adds none
    input_embeddings: np.ndarray     # like token_embeddings

    def save(self, path: str | os.PathLike) -> Path:
        """Write the five arrays to an ``.npz`` file at ``path``, atomically (no pickles)."""
        arrays = {"ids": self.ids, "mask": self.mask, "token_embeddings": self.token_embeddings,
                  "position_embeddings": self.position_embeddings,
                  "input_embeddings": self.input_embeddings}
        return atomic_write(path, lambda file: np.savez(file, allow_pickle=False, **arrays))


def walk(texts: list[str], tokenizer: Tokenizer, *, tokenizer_name: str,
         positions: str | None = None, dim: int = 6, batch_first: bool = False,
         allow_special: bool = False, checkpoint: str | os.PathLike | None = None,
         stage: Stage | None = None) -> tuple[list[str], Result]:
    """Run the pipeline on ``texts`` and return the printed lines and the arrays.

    Parameters
    ----------
    texts : list of str
        One or more non-empty texts; several texts make a padded batch.
    tokenizer, tokenizer_name : Tokenizer, str
        The tokenizer, and how the output names it (e.g. "bundled BPE").
    positions : {"learned", "sinusoidal"} or None
        The position scheme; None keeps the checkpoint's (see :func:`choose_stage`).
    dim : int
        How many values of each vector row to print.
    batch_first : bool
        Lay arrays out as ``(batch, seq_len, ...)`` instead of ``(seq_len, batch, ...)``.
    allow_special : bool
        Encode special-token text (``<|endoftext|>``) as its id; by default it is refused, as
        untrusted text must not smuggle in control tokens.
    checkpoint : path or None
        A checkpoint (e.g. :func:`bundled_checkpoint`), or None for seeded random tables.
    stage : Stage, optional
        The stage to walk instead of :func:`choose_stage`'s (e.g. :func:`pretrained_stage`);
        ``positions`` and ``checkpoint`` are then unused.

    Returns
    -------
    tuple
        The lines to print, and a :class:`Result` with the five arrays.

    Raises
    ------
    ValueError
        For an empty text, special-token text without ``allow_special``, ``dim < 1``, an
        unknown ``positions``, or a text longer than the learned table.
    TypeError
        If ``dim`` is not an integer.

    Examples
    --------
    >>> from minimal_embed import load_tokenizer
    >>> lines, result = walk(["I love LLMs", "Hi"], load_tokenizer(), tokenizer_name="bundled",
    ...                      positions="sinusoidal")
    >>> result.ids.shape[1], result.input_embeddings.shape[1:]  # (seq_len, batch, d_model)
    (2, (2, 128))
    """
    for number, text in enumerate(texts):
        if not text:
            which = f"text {number} (counting from 0)" if len(texts) > 1 else "the text"
            raise ValueError(f"{which} is empty; give some text, "
                             'e.g. minimal-embed embed "I love LLMs"')
        for special in tokenizer.special_tokens:
            if special in text and not allow_special:
                raise ValueError(f"the text {text!r} contains the special token {special!r}; "
                                 "pass --allow-special to encode it as its id")
    check_integer("--dim", dim, least=1)
    stage = choose_stage(tokenizer, positions, checkpoint) if stage is None else stage
    stage.embedding.batch_first = batch_first
    allowed = "all" if allow_special else ()
    ids, mask = tokenizer.encode_batch(texts, batch_first=batch_first,
                                       allowed_special=allowed)  # (seq_len, batch), or swapped
    _check_length(stage, ids.shape[1 if batch_first else 0])
    steps = stage.embedding.forward_steps(ids)  # every array below comes from the stage
    rows = steps.position_rows
    if rows is None:
        rows = np.zeros((0, stage.embedding.d_model), dtype=steps.embeddings.dtype)
    result = Result(ids, mask, steps.token_vectors, rows, steps.embeddings)

    lines = _text_lines(texts, tokenizer, tokenizer_name, allowed)
    lines += _id_lines(ids, mask, batch_first)
    labels = _row_labels(ids, mask, tokenizer)
    table = stage.embedding.token_embedding.weight
    lines += [f"step 4: token vectors  E[ids] -> {_shape(steps.token_vectors)} = "
              f"{_layout(batch_first, 'd_model')}",
              f"{INDENT}E {_shape(table)}: {stage.token_source}"]
    lines += _vector_lines(steps.token_vectors, labels, dim)
    lines += _position_lines(steps.position_rows, stage, dim)
    if steps.position_rows is None and stage.head_dim is not None:
        lines += _inside_attention_lines(stage.embedding.positions, ids.shape[1 if batch_first
                                                                              else 0],
                                         stage.head_dim, dim)
    lines += _sum_lines(steps.token_scale, steps.position_rows is not None, batch_first,
                        _shape(steps.embeddings))
    lines += _normalised_lines(stage.embedding)
    lines += _vector_lines(steps.embeddings, labels, dim)
    return lines, result


def _position_lines(rows: np.ndarray | None, stage: Stage, dim: int) -> list[str]:
    """Step 5: the position rows the stage adds, or why it adds none."""
    if rows is None:
        return [f"step 5: positions      no rows are added: {stage.position_source}"]
    name = stage.embedding.positions.name
    lines = [f"step 5: positions      {name} table, rows 0..{len(rows) - 1}"
             f" -> {_shape(rows)} = (seq_len, d_model)",
             f"{INDENT}{stage.position_source}"]
    return lines + _vector_lines(rows[:, None, :], [f"[{p}]" for p in range(len(rows))], dim)


def _inside_attention_lines(scheme: PositionScheme, seq_len: int, head_dim: int,
                            dim: int) -> list[str]:
    """Step 5 for a scheme acting in attention: the rotation angles, or the bias on the scores."""
    last = seq_len - 1
    if isinstance(scheme, RoPE):
        theta = scheme.frequencies(head_dim)
        return [f"{INDENT}pair t of q and k turns by p * theta_t; theta "
                f"{_shape(theta)}: {_values(theta, dim)}",
                f"{INDENT}at the last position p = {last}, the angles (radians): "
                f"{_values(last * theta, dim)}",
                f"{INDENT}so q_m . k_n depends on m - n only: nothing is added to the "
                "vectors below"]
    bias = scheme.score_bias(seq_len)  # (n_heads, q_len, k_len)
    if bias is None:
        return []
    return [f"{INDENT}bias {_shape(bias)} = (n_heads, q_len, k_len); head 0, the last "
            f"query against keys 0..{last}:",
            f"{INDENT}{_values(bias[0, -1], dim)}",
            f"{INDENT}(it changes the attention weights, not the vectors below)"]


def _normalised_lines(embedding: InputEmbedding) -> list[str]:
    """What comes after the sum in BERT's and BLOOM's stages: token types, LayerNorm."""
    steps = []
    if embedding.token_type_embedding is not None:
        steps.append("+ the token-type rows T[0] (every token is of type 0 here)")
    if embedding.layer_norm is not None:
        steps.append(f"LayerNorm (eps {embedding.layer_norm.eps:g}, the checkpoint's gamma "
                     "and beta)")
    return [f"{INDENT}then {step}" for step in steps]


def _check_length(stage: Stage, seq_len: int) -> None:
    """Refuse a text longer than a learned table, saying how to walk it anyway."""
    table = stage.embedding.parameters().get("position_embedding")
    if table is not None and seq_len > len(table):
        raise ValueError(
            f"the text has {seq_len} tokens but the learned position table has only "
            f"{len(table)} rows (max_len={len(table)}); shorten the text or pass "
            "--positions sinusoidal (no length limit)")


def _sum_lines(token_scale: float, has_rows: bool, batch_first: bool,
               shape: str) -> list[str]:
    """Step 6's heading: the formula of the sum, with the scale when the stage applies one."""
    tokens = "E[ids]" if token_scale == 1.0 else f"{token_scale:.4g} * E[ids]"
    if not has_rows:
        return [f"step 6: input vectors  {tokens} (nothing is added) -> {shape}"]
    broadcast = "positions[None, :, :]" if batch_first else "positions[:, None, :]"
    lines = [f"step 6: sum            {tokens} + {broadcast} -> {shape}",
             f"{INDENT}(one position row serves every text: broadcasting, no copies)"]
    if token_scale != 1.0:
        lines += [f"{INDENT}{token_scale:.4g} = sqrt(d_model): the sinusoid's entries "
                  "reach 1, so the token",
                  f"{INDENT}vectors are scaled up to match (Vaswani et al., 2017, 3.4)"]
    return lines


def _layout(batch_first: bool, *last: str) -> str:
    axes = ["batch", "seq_len"] if batch_first else ["seq_len", "batch"]
    return "(" + ", ".join(axes + list(last)) + ")"


def _text_lines(texts: list[str], tokenizer, tokenizer_name: str, allowed) -> list[str]:
    lines = ["text -> pieces -> tokens -> ids -> token vectors + position vectors"
             " = input embeddings",
             f"tokenizer              {tokenizer_name}, {tokenizer.vocab_size} ids"]
    for number, text in enumerate(texts):
        prefix = f"text {number}" if len(texts) > 1 else "text"
        pieces = tokenizer.split(text, allowed_special=allowed)
        ids = tokenizer.encode(text, allowed_special=allowed)
        tokens = [tokenizer.token_bytes(i) for i in ids]
        shown_pieces = "  ".join(repr(piece) for piece in pieces)
        shown_tokens = "  ".join(show_token(token) for token in tokens)
        lines += [f"{prefix:<23}{abridged(repr(text), len(text), 'characters')}",
                  f"step 1: pieces         {abridged(shown_pieces, len(pieces), 'pieces')}",
                  f"step 2: tokens         {abridged(shown_tokens, len(tokens), 'tokens')}"]
    return lines


MAX_LINE = 240  # characters of a text, pieces or tokens line; longer ones show head and tail


def abridged(line: str, count: int, what: str) -> str:
    """``line`` if short, else its head and tail around a note of how much was left out.

    ``count`` is how many items (characters, pieces, tokens) the whole line shows; the note
    says about how many of them the middle held.

    Examples
    --------
    >>> abridged("a b c", 3, "pieces")
    'a b c'
    >>> abridged(" ".join(["x"] * 500), 500, "pieces")[96:140]
    'x x  ... [400 of 500 pieces left out] ...  x'
    """
    if len(line) <= MAX_LINE:
        return line
    keep = (MAX_LINE - 40) // 2
    left_out = round(count * (len(line) - 2 * keep) / len(line))
    return f"{line[:keep]} ... [{left_out:,} of {count:,} {what} left out] ... {line[-keep:]}"


def _id_lines(ids: np.ndarray, mask: np.ndarray, batch_first: bool) -> list[str]:
    """ids and mask printed as the arrays they are: one printed line per row of the array."""
    if ids.shape[1 if batch_first else 0] == 0:
        return ["step 3: ids            (no tokens)"]
    lines = [f"step 3: ids            {_shape(ids)} = {_layout(batch_first)}, one "
             + ("row" if batch_first else "column") + " per text"]
    if not mask.all():
        lines += [f"{INDENT}beside it the mask {_shape(mask)}: True = real "
                  "token, False = padding (id 0)",
                  f"{INDENT}padded slots get id 0's vectors below; attention's "
                  "mask hides them, so they never count"]
    width = max(len(str(int(ids.max()))), 5)
    row_name = "text" if batch_first else "pos"
    for r, (id_row, mask_row) in enumerate(zip(ids.tolist(), mask.tolist(), strict=True)):
        shown = " ".join(f"{i:>{width}}" for i in id_row)
        flags = " ".join(f"{str(m):>5}" for m in mask_row)
        padding = "" if mask.all() else f"   [{flags}]"
        lines.append(f"   {row_name} {r:<3} [{shown}]{padding}")
        if r + 1 == MAX_PRINTED_ROWS and len(ids) > MAX_PRINTED_ROWS:
            lines.append(f"   ... {len(ids) - MAX_PRINTED_ROWS} more rows")
            break
    return lines


def _row_labels(ids: np.ndarray, mask: np.ndarray, tokenizer) -> list[str]:
    """Labels of the printed rows, in index order: ``[pos,text] 'token'`` (``[text,pos]``
    when batch first); only the first MAX_PRINTED_ROWS, however long the text."""
    labels = []
    for index in islice(np.ndindex(ids.shape), MAX_PRINTED_ROWS):
        token = show_token(tokenizer.token_bytes(int(ids[index]))) if mask[index] else "(padding)"
        labels.append(f"[{index[0]},{index[1]}] {token}")
    return labels


def _vector_lines(vectors: np.ndarray, labels: list[str], dim: int) -> list[str]:
    rows = vectors.reshape(-1, vectors.shape[-1])  # (seq_len * batch, d_model), index order
    width = min(max(len(label) for label in labels), 22)
    lines = [f"   {label[:width]:<{width}}  {_values(row, dim)}"
             for label, row in zip(labels[:MAX_PRINTED_ROWS], rows, strict=False)]
    if len(rows) > MAX_PRINTED_ROWS:
        lines.append(f"   ... {len(rows) - MAX_PRINTED_ROWS} more rows (--save keeps them all)")
    return lines


def pick_tokenizer(gpt2_ranks: str | os.PathLike | None = None) -> tuple[Tokenizer, str]:
    """The bundled tokenizer, or GPT-2's from its tiktoken rank file; and a name for it.

    Raises
    ------
    FileNotFoundError
        If ``gpt2_ranks`` names no file.
    """
    from minimal_embed.tokenizer import Tokenizer, load_tokenizer

    if gpt2_ranks is None:
        return load_tokenizer(), "bundled byte-level BPE (data/tokenizer.txt)"
    if not Path(gpt2_ranks).is_file():
        raise FileNotFoundError(f"no such file: {str(gpt2_ranks)!r}; --gpt2 wants GPT-2's "
                                "tiktoken rank file (gpt2.tiktoken)")
    tokenizer = Tokenizer.from_tiktoken(Path(gpt2_ranks), special_tokens={"<|endoftext|>": 50256})
    return tokenizer, f"GPT-2's vocabulary ({Path(gpt2_ranks).name})"
