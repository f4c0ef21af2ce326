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
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from minimal_embed import data
from minimal_embed._checks import check_choice, check_integer
from minimal_embed.positional import LearnedPositions, add_positions, sinusoidal_table

if TYPE_CHECKING:
    from minimal_embed.tokenizer import Tokenizer

DEFAULT_D_MODEL = 128  # the bundled checkpoint's width, so the untrained stand-in looks the same
DEFAULT_MAX_LEN = 64   # and its learned table's length (checkpoint contract: max_len == seq_len)
RANDOM_SEED = 0
MAX_PRINTED_ROWS = 12  # vector rows printed per step; --save keeps them all


def bundled_checkpoint() -> dict[str, np.ndarray] | None:
    """Return the arrays of ``data/checkpoint.npz``, or None when no checkpoint is bundled yet.

    Keys used here: ``token_embedding`` ``(vocab_size, d_model)``, ``positions`` (the scheme's
    name) and, for learned positions, ``position_embedding`` ``(max_len, d_model)``.

    Raises
    ------
    ValueError
        If the file is there but is not a readable ``.npz`` or has no ``token_embedding``.
    """
    try:
        path = data.path("checkpoint.npz")
    except FileNotFoundError:
        return None
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise ValueError(f"{path} is not a readable checkpoint ({error}); "
                         "retrain it with `minimal-embed train`") from None
    if "token_embedding" not in arrays:
        raise ValueError(f"{path} has no 'token_embedding' array (it has {sorted(arrays)})")
    return arrays


@dataclass
class Tables:
    """The two tables a walkthrough reads, and where each came from (printed for the reader)."""

    token: np.ndarray      # (vocab_size, d_model)
    token_source: str
    position: np.ndarray   # (num_positions, d_model)
    position_name: str     # "learned" or "sinusoidal"
    position_source: str


def choose_tables(vocab_size: int, num_positions: int, positions: str | None,
                  checkpoint: dict[str, np.ndarray] | None) -> Tables:
    """Pick the token table and the position table for a text of ``num_positions`` tokens.

    Parameters
    ----------
    vocab_size : int
        The tokenizer's; a checkpoint whose token table has another row count is not used.
    num_positions : int
        The sequence length; the position table returned has this many rows.
    positions : {"learned", "sinusoidal"} or None
        None means: learned when the checkpoint has a learned table, else sinusoidal.
    checkpoint : dict or None
        The arrays of :func:`bundled_checkpoint`; with None, seeded random tables stand in.

    Returns
    -------
    Tables
        ``token`` ``(vocab_size, d_model)``, ``position`` ``(num_positions, d_model)``, and
        where each came from.

    Raises
    ------
    ValueError
        If ``positions="learned"`` and the text is longer than the learned table.
    """
    if checkpoint is not None and checkpoint["token_embedding"].shape[0] == vocab_size:
        token = checkpoint["token_embedding"]
        source = "trained, from data/checkpoint.npz"
    else:
        rng = np.random.default_rng(RANDOM_SEED)
        d_model = DEFAULT_D_MODEL if checkpoint is None else checkpoint["token_embedding"].shape[1]
        token = (rng.standard_normal((vocab_size, d_model)) * 0.02).astype(np.float32)
        source = ("random N(0, 0.02^2), seed 0: no trained checkpoint yet"
                  if checkpoint is None else
                  f"random N(0, 0.02^2), seed 0 (the checkpoint's table has "
                  f"{checkpoint['token_embedding'].shape[0]} rows, not {vocab_size})")
    d_model = token.shape[1]
    learned_table = None if checkpoint is None else checkpoint.get("position_embedding")
    if positions is None:
        positions = "learned" if learned_table is not None else "sinusoidal"
    if positions == "sinusoidal":
        return Tables(token, source, sinusoidal_table(num_positions, d_model), "sinusoidal",
                      "PE[p, 2j] = sin(p / 10000^(2j/d)), PE[p, 2j+1] = cos(same angle)")
    if learned_table is not None and learned_table.shape[1] == d_model:
        table, where = learned_table, "trained, from data/checkpoint.npz"
    else:
        table = LearnedPositions(DEFAULT_MAX_LEN, d_model, std=0.01, seed=RANDOM_SEED).weight
        where = "random N(0, 0.01^2), seed 0 (no trained position table is bundled yet)"
    if num_positions > len(table):
        raise ValueError(
            f"the text has {num_positions} tokens but the learned position table has only "
            f"{len(table)} rows (max_len={len(table)}); shorten the text or pass "
            "--positions sinusoidal (no length limit)")
    return Tables(token, source, table[:num_positions], "learned",
                  f"the table is {_shape(table)}, {where}")


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
    position_embeddings: np.ndarray  # (seq_len, d_model)
    input_embeddings: np.ndarray     # like token_embeddings

    def save(self, path: str | os.PathLike) -> Path:
        """Write the five arrays to an ``.npz`` file (``np.savez``; no pickles)."""
        path = Path(path)
        if not path.parent.is_dir():
            raise FileNotFoundError(f"folder {str(path.parent)!r} does not exist; create it "
                                    "first or choose another --save path")
        np.savez(path, ids=self.ids, mask=self.mask, token_embeddings=self.token_embeddings,
                 position_embeddings=self.position_embeddings,
                 input_embeddings=self.input_embeddings)
        return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")


def walk(texts: list[str], tokenizer: Tokenizer, *, tokenizer_name: str,
         positions: str | None = None, dim: int = 6, batch_first: bool = False,
         allow_special: bool = False, checkpoint: dict[str, np.ndarray] | None = None
         ) -> tuple[list[str], Result]:
    """Run the pipeline on ``texts`` and return the printed lines and the arrays.

    Parameters
    ----------
    texts : list of str
        One or more non-empty texts; several texts make a padded batch.
    tokenizer, tokenizer_name : Tokenizer, str
        The tokenizer, and how the output names it (e.g. "bundled BPE").
    positions : {"learned", "sinusoidal"} or None
        The position table; None picks learned when the checkpoint has one.
    dim : int
        How many values of each vector row to print.
    batch_first : bool
        Lay arrays out as ``(batch, seq_len, ...)`` instead of ``(seq_len, batch, ...)``.
    allow_special : bool
        Encode special-token text (``<|endoftext|>``) as its id; by default it is refused, as
        untrusted text must not smuggle in control tokens.
    checkpoint : dict or None
        The arrays of a trained checkpoint (:func:`bundled_checkpoint`), or None.

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
    if positions is not None:
        check_choice("positions", positions, ("learned", "sinusoidal"))
    allowed = "all" if allow_special else ()
    ids, mask = tokenizer.encode_batch(texts, batch_first=batch_first,
                                       allowed_special=allowed)  # (seq_len, batch), or swapped
    seq_axis = 1 if batch_first else 0
    tables = choose_tables(tokenizer.vocab_size, ids.shape[seq_axis], positions, checkpoint)
    token_emb = tables.token[ids]  # (seq_len, batch, d_model), or batch first
    summed = add_positions(token_emb, tables.position, batch_first=batch_first)
    result = Result(ids, mask, token_emb, tables.position, summed)

    lines = _text_lines(texts, tokenizer, tokenizer_name, allowed)
    lines += _id_lines(ids, mask, batch_first)
    labels = _row_labels(ids, mask, tokenizer)
    broadcast = "positions[None, :, :]" if batch_first else "positions[:, None, :]"
    lines += [f"4 token vectors  E[ids] -> {_shape(token_emb)} = {_layout(batch_first, 'd_model')}",
              f"                 E {_shape(tables.token)}: {tables.token_source}"]
    lines += _vector_lines(token_emb, labels, dim)
    lines += [f"5 positions      {tables.position_name} table, rows 0..{len(tables.position) - 1}"
              f" -> {_shape(tables.position)} = (seq_len, d_model)",
              f"                 {tables.position_source}"]
    lines += _vector_lines(tables.position[:, None, :], [f"[{p}]" for p in
                                                          range(len(tables.position))], dim)
    lines += [f"6 sum            E[ids] + {broadcast} -> {_shape(summed)}",
              "                 (one position row serves every text: broadcasting, no copies)"]
    lines += _vector_lines(summed, labels, dim)
    return lines, result


def _layout(batch_first: bool, *last: str) -> str:
    axes = ["batch", "seq_len"] if batch_first else ["seq_len", "batch"]
    return "(" + ", ".join(axes + list(last)) + ")"


def _text_lines(texts: list[str], tokenizer, tokenizer_name: str, allowed) -> list[str]:
    lines = ["text -> pieces -> tokens -> ids -> token vectors + position vectors"
             " = input embeddings",
             f"tokenizer        {tokenizer_name}, {tokenizer.vocab_size} ids"]
    for number, text in enumerate(texts):
        prefix = f"text {number}" if len(texts) > 1 else "text"
        pieces = tokenizer.split(text, allowed_special=allowed)
        ids = tokenizer.encode(text, allowed_special=allowed)
        tokens = [tokenizer.token_bytes(i) for i in ids]
        lines += [f"{prefix:<17}{text!r}",
                  f"1 pieces         {'  '.join(repr(piece) for piece in pieces)}",
                  f"2 tokens         {'  '.join(show_token(token) for token in tokens)}"]
    return lines


def _id_lines(ids: np.ndarray, mask: np.ndarray, batch_first: bool) -> list[str]:
    """ids and mask printed as the arrays they are: one printed line per row of the array."""
    if ids.shape[1 if batch_first else 0] == 0:
        return ["3 ids            (no tokens)"]
    lines = [f"3 ids            {_shape(ids)} = {_layout(batch_first)}, one "
             + ("row" if batch_first else "column") + " per text"]
    if not mask.all():
        lines.append(f"                 beside it the mask {_shape(mask)}: True = real token, "
                     "False = padding (id 0)")
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
    """Row labels in index order: ``[pos,text] 'token'`` (``[text,pos]`` when batch first)."""
    labels = []
    for index in np.ndindex(ids.shape):
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
