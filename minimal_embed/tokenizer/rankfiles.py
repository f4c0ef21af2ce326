"""Other tools' vocabulary files: tiktoken's rank files and OpenAI's original GPT-2 files.

They read into, and are written from, the one ranked vocabulary (``dict[bytes, int]``, rank ==
id) that ``bpe.py`` merges by, so GPT-2's vocabulary loads into our code and ours into theirs.

1. **tiktoken's rank file** (``gpt2.tiktoken``): one ``base64(token_bytes) rank`` line per token.
   Base64 makes any byte string, even a lone ``0x80`` or a newline, safe to store as text.
   Special tokens are not in the file; the caller supplies them.
2. **OpenAI's GPT-2 release** (2019): ``encoder.json`` maps each token, written as text, to its
   id; ``vocab.bpe`` lists the merges in the order learned, one ``left right`` per line, merge
   ``i`` creating id ``256 + i``. ``<|endoftext|>`` comes last, as 50256.

**Why GPT-2 needed printable stand-ins for bytes.** GPT-2's BPE code worked on Python strings
and stored its merges in a text file split on spaces and newlines. Raw bytes do not fit there:
``0xE4`` alone is not valid UTF-8, a space would split a merge line in the wrong place, a newline
would end it, and control bytes are invisible. So every byte is written as one printable
character (:func:`byte_alphabet`): the 188 printable, non-space Latin-1 bytes (``!``..``~``,
``¡``..``¬``, ``®``..``ÿ``) stand for themselves; the other 68 take U+0100, U+0101, ... in byte
order. Space, the 33rd of them, becomes ``Ġ`` (U+0120) and newline ``Ċ`` (U+010A): hence tokens
like ``Ġthe``. The single bytes got ids in that alphabet's order, so ``!`` is token 0.

The merges and the ranks carry the same information: merge ``i`` is what the encoding rule
leaves of the token of rank ``256 + i`` using only lower ranks (:func:`merges_from_ranks`).
"""

from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path
from typing import BinaryIO

from minimal_embed._files import atomic_write
from minimal_embed.tokenizer.bpe import merge_by_rank_plain
from minimal_embed.tokenizer.bpe_encode import encode_piece
from minimal_embed.tokenizer.checks import MAX_ID, check_ranks

# One tiktoken line: standard base64 (non-empty) and a decimal rank without leading zeros.
_TIKTOKEN_LINE = re.compile(rb"([A-Za-z0-9+/]+={0,2}) (0|[1-9][0-9]*)\r?")
_GPT2_VERSION_LINE = "#version: 0.2"


# --- tiktoken: base64(token) rank ---------------------------------------------------------------


def parse_tiktoken(data: bytes) -> dict[bytes, int]:
    """Parse the contents of a tiktoken rank file into ``{token_bytes: rank}``.

    Each non-empty line is ``base64(token_bytes) rank``, one space between. The base64 must be
    canonical (as :func:`format_tiktoken` writes it), so files round-trip byte for byte. Lines may
    come in any order; empty lines are skipped, as tiktoken does.

    Raises
    ------
    ValueError
        With the line number: a malformed line, bad base64, an empty or repeated token, a repeated
        rank; or a missing single byte or rank.

    Examples
    --------
    >>> lines = [f"{base64.b64encode(bytes([b])).decode()} {b}" for b in range(256)]
    >>> ranks = parse_tiktoken(("\\n".join(lines) + "\\nYWI= 256\\n").encode())
    >>> ranks[b"ab"], len(ranks)
    (256, 257)
    >>> parse_tiktoken(b"YWI= 256\\nYWI=  257\\n")
    Traceback (most recent call last):
    ...
    ValueError: line 2: expected 'BASE64 RANK' ...
    """
    ranks: dict[bytes, int] = {}
    line_of_rank: dict[int, int] = {}
    for number, line in enumerate(data.split(b"\n"), start=1):
        if line in (b"", b"\r"):
            continue
        token, rank = _parse_tiktoken_line(line, number)
        if token in ranks:
            raise ValueError(f"line {number}: token {token!r} already has rank {ranks[token]}")
        if rank in line_of_rank:
            raise ValueError(f"line {number}: rank {rank} was already given on line "
                             f"{line_of_rank[rank]}; ranks must be unique")
        ranks[token] = rank
        line_of_rank[rank] = number
    if not ranks:
        raise ValueError("the rank file holds no tokens; expected lines 'BASE64 RANK'")
    missing = next((rank for rank in range(len(ranks)) if rank not in line_of_rank), None)
    if missing is not None:
        top = max(line_of_rank)
        raise ValueError(f"rank {missing} is missing: {len(ranks)} tokens need ranks "
                         f"0..{len(ranks) - 1}, but line {line_of_rank[top]} has rank {top}")
    check_ranks(ranks)
    return ranks


def _parse_tiktoken_line(line: bytes, number: int) -> tuple[bytes, int]:
    """One ``base64 rank`` line -> (token bytes, rank); ValueError naming line ``number``."""
    match = _TIKTOKEN_LINE.fullmatch(line)
    if match is None:
        shown = line[:60].decode("ascii", "backslashreplace")
        raise ValueError(f"line {number}: expected 'BASE64 RANK' (one space, a decimal rank), "
                         f"got {shown!r}")
    field, rank = match.group(1), int(match.group(2))
    try:
        token = base64.b64decode(field, validate=True)
    except ValueError as error:  # binascii.Error: wrong length or padding
        raise ValueError(f"line {number}: {field.decode()!r} is not valid base64 ({error})") \
            from None
    if not token:
        raise ValueError(f"line {number}: a token must hold at least one byte")
    if base64.b64encode(token) != field:
        raise ValueError(f"line {number}: {field.decode()!r} is not canonical base64 (its "
                         f"unused bits are set); write {base64.b64encode(token).decode()!r}")
    return token, rank


def format_tiktoken(ranks: dict[bytes, int]) -> bytes:
    """Write ``{token_bytes: rank}`` as a tiktoken rank file: one ``base64 rank`` line per token.

    Lines are in rank order and each ends with ``\\n``, as in tiktoken's own files.

    Raises
    ------
    ValueError
        If :func:`check_ranks` refuses ``ranks``.

    Examples
    --------
    >>> format_tiktoken({bytes([b]): b for b in range(256)})[:21]
    b'AA== 0\\nAQ== 1\\nAg== 2\\n'
    """
    check_ranks(ranks)
    by_rank = sorted(ranks.items(), key=lambda item: item[1])
    return b"".join(base64.b64encode(token) + b" %d\n" % rank for token, rank in by_rank)


def read_tiktoken(path: str | os.PathLike) -> dict[bytes, int]:
    """Read a tiktoken rank file (e.g. ``gpt2.tiktoken``); see :func:`parse_tiktoken`.

    Raises
    ------
    ValueError
        As :func:`parse_tiktoken`, the message starting with the file's name.
    """
    content = Path(path).read_bytes()
    try:
        return parse_tiktoken(content)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


def write_tiktoken(ranks: dict[bytes, int], path: str | os.PathLike) -> None:
    """Write ``ranks`` to ``path`` in tiktoken's format (:func:`format_tiktoken`), atomically."""
    content = format_tiktoken(ranks)
    atomic_write(path, lambda file: file.write(content))


# --- GPT-2: encoder.json + vocab.bpe in the byte alphabet -----------------------------------------


def byte_alphabet() -> list[str]:
    """The printable character GPT-2 writes for each byte: ``byte_alphabet()[b]`` stands for ``b``.

    Printable, non-space Latin-1 bytes stand for themselves; the other 68 bytes take U+0100,
    U+0101, ... in byte order (the module docstring says why).

    Examples
    --------
    >>> alphabet = byte_alphabet()
    >>> alphabet[ord("A")], alphabet[ord(" ")], alphabet[ord("\\n")], alphabet[0xE4]
    ('A', 'Ġ', 'Ċ', 'ä')
    """
    alphabet = []
    stand_ins = 0
    for byte in range(256):
        if _prints_as_itself(byte):
            alphabet.append(chr(byte))
        else:
            alphabet.append(chr(256 + stand_ins))
            stand_ins += 1
    return alphabet


def _prints_as_itself(byte: int) -> bool:
    """True for the 188 bytes GPT-2 keeps: '!'..'~', '¡'..'¬', '®'..'ÿ' (Latin-1 code points)."""
    return 0x21 <= byte <= 0x7E or 0xA1 <= byte <= 0xAC or 0xAE <= byte <= 0xFF


def alphabet_order() -> list[int]:
    """The bytes in the order GPT-2 gave them ids 0..255: the 188 printable ones, then the rest.

    Examples
    --------
    >>> order = alphabet_order()
    >>> order[0] == ord("!"), order.index(ord(" "))
    (True, 220)
    """
    kept = [byte for byte in range(256) if _prints_as_itself(byte)]
    return kept + [byte for byte in range(256) if not _prints_as_itself(byte)]


def merges_from_ranks(ranks: dict[bytes, int]) -> list[tuple[bytes, bytes]]:
    """Recover the merges list from ranks: for each longer token, the pair it is built from.

    For the token of rank ``r``, the encoding rule on its bytes with only ranks below ``r``
    (:func:`~.bpe.merge_by_rank_plain` with ``max_rank=r``) must end in two parts: the merge
    ``(left, right)`` that creates it. One merge per token longer than a byte, in rank order.

    Raises
    ------
    ValueError
        If ``ranks`` is not a ranked vocabulary, or a token cannot be built from two tokens of
        lower rank (the encoder would never produce it, so no merges list can hold it).

    Examples
    --------
    >>> ranks = {bytes([b]): b for b in range(256)} | {b"ab": 256, b"abc": 257, b"abab": 258}
    >>> merges_from_ranks(ranks)
    [(b'a', b'b'), (b'ab', b'c'), (b'ab', b'ab')]
    """
    check_ranks(ranks)
    token_of_rank = {rank: token for token, rank in ranks.items()}
    merges = []
    for token, rank in sorted(ranks.items(), key=lambda item: item[1]):
        if len(token) == 1:
            continue
        parts = [token_of_rank[i] for i in merge_by_rank_plain(token, ranks, max_rank=rank)]
        if len(parts) != 2:
            raise ValueError(
                f"token {token!r} (rank {rank}) is not made by merging two tokens of lower rank "
                f"(the encoding rule stops at {parts!r}), so it cannot be written as a merge"
            )
        merges.append((parts[0], parts[1]))
    return merges


def read_gpt2(encoder_json: str | os.PathLike,
              vocab_bpe: str | os.PathLike) -> tuple[dict[bytes, int], dict[str, int]]:
    """Read OpenAI's GPT-2 vocabulary files into ranks and special tokens.

    ``encoder_json`` holds ``{token text in the byte alphabet: id}``, ``vocab_bpe`` an optional
    ``#version: 0.2`` line, then one merge ``left right`` per line. With ``M`` merges, ids
    ``0 .. 255 + M`` are ordinary tokens (returned as ``ranks``) and any id above them (GPT-2:
    ``<|endoftext|>`` = 50256) is a special token (``special_tokens``, text -> id). The files must
    agree: merge ``i`` creates the token ``left + right`` of id ``256 + i`` out of two tokens of
    lower id (the check tiktoken also makes).

    Subtle: a ``vocab.bpe`` cut short at a line end would silently turn every token after its
    last merge into a special token. So the file must end with a newline, and the first id above
    the merges must not be what the next merge would make (two tokens that join into it).

    Raises
    ------
    ValueError
        Naming the file (and the line): not UTF-8, malformed or too deeply nested JSON, an id
        outside ``0 .. 2**63 - 1``, a character outside the byte alphabet, a bad merge line, a
        truncated ``vocab.bpe``, or files that disagree.
    """
    vocab_name, encoder_name = str(vocab_bpe), str(encoder_json)
    merges = _parse_vocab_bpe(_read_utf8(vocab_bpe), vocab_name)
    encoder = _parse_encoder_json(_read_utf8(encoder_json), encoder_name)
    n_ordinary = 256 + len(merges)
    from_char = {char: byte for byte, char in enumerate(byte_alphabet())}
    ranks: dict[bytes, int] = {}
    special_tokens: dict[str, int] = {}
    for text, token_id in encoder.items():
        if token_id >= n_ordinary:
            special_tokens[text] = token_id
        else:
            ranks[_from_alphabet(text, from_char, f"{encoder_name}: key {text!r}")] = token_id
    try:
        check_ranks(ranks)
    except ValueError as error:
        raise ValueError(f"{encoder_name}: {error} (with the {len(merges)} merges of "
                         f"{vocab_name}, ids 0..{n_ordinary - 1} are ordinary tokens)") from None
    for index, (line_number, left, right) in enumerate(merges):
        _check_merge(256 + index, f"{vocab_name}: line {line_number}", left, right, ranks,
                     from_char)
    _check_not_truncated(special_tokens, ranks, from_char, vocab_name, encoder_name)
    return ranks, special_tokens


def _read_utf8(path: str | os.PathLike) -> str:
    """The text of a file, or ValueError naming it if it is not UTF-8."""
    content = Path(path).read_bytes()
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not valid UTF-8 (byte {error.start} is "
                         f"0x{content[error.start]:02x})") from None


def _parse_vocab_bpe(text: str, name: str) -> list[tuple[int, str, str]]:
    """vocab.bpe -> [(line number, left, right), ...], still in the byte alphabet."""
    lines = text.split("\n")
    if lines[-1] != "":
        raise ValueError(f"{name}: line {len(lines)}: the file must end with a newline "
                         "(truncated?)")
    while lines and lines[-1] in ("", "\r"):
        lines.pop()
    first = 1 if lines and lines[0].startswith("#version") else 0
    merges = []
    for index in range(first, len(lines)):
        fields = lines[index].removesuffix("\r").split(" ")
        if len(fields) != 2 or not fields[0] or not fields[1]:
            raise ValueError(f"{name}: line {index + 1}: expected 'LEFT RIGHT' (two tokens, "
                             f"one space), got {lines[index][:60]!r}")
        merges.append((index + 1, fields[0], fields[1]))
    return merges


def _parse_encoder_json(text: str, name: str) -> dict[str, int]:
    """encoder.json -> {token text: id}; ValueError on bad JSON, repeated keys or bad ids."""

    def reject_repeats(pairs: list[tuple[str, object]]) -> dict[str, object]:
        result: dict[str, object] = {}
        for key, value in pairs:
            if key in result:
                raise ValueError(f"the key {key!r} appears twice")
            result[key] = value
        return result

    try:
        encoder = json.loads(text, object_pairs_hook=reject_repeats)
    except json.JSONDecodeError as error:
        raise ValueError(f"{name}: not valid JSON: {error}") from None
    except RecursionError:
        raise ValueError(f"{name}: not one JSON object {{token: id}} (nested too deeply)") \
            from None
    except ValueError as error:  # a repeated key, or a number of more than 4300 digits
        raise ValueError(f"{name}: {error}") from None
    if not isinstance(encoder, dict):
        raise ValueError(f"{name}: must hold one JSON object {{token: id}}")
    seen: dict[int, str] = {}
    for key, token_id in encoder.items():
        if type(token_id) is not int or not 0 <= token_id <= MAX_ID:
            raise ValueError(f"{name}: the id of {key!r} must be an integer in 0..2**63 - 1, "
                             f"got {token_id!r:.40}")
        if token_id in seen:
            raise ValueError(f"{name}: id {token_id} is given to both {seen[token_id]!r} "
                             f"and {key!r}")
        seen[token_id] = key
    return encoder


def _check_not_truncated(special_tokens: dict[str, int], ranks: dict[bytes, int],
                         from_char: dict[str, int], vocab_name: str, encoder_name: str) -> None:
    """The first id above the merges must not be the token the next merge would make."""
    if not special_tokens:
        return
    text, token_id = min(special_tokens.items(), key=lambda item: item[1])
    try:
        token = _from_alphabet(text, from_char, "")
    except ValueError:
        return  # not in the byte alphabet: no merge makes it
    parts = encode_piece(token, ranks)  # merge_by_rank_plain's ids, in about linear time
    if len(parts) == 2:
        token_of_rank = {rank: token for token, rank in ranks.items()}
        alphabet = byte_alphabet()
        left, right = (_to_alphabet(token_of_rank[rank], alphabet) for rank in parts)
        raise ValueError(
            f"{vocab_name}: it ends after {len(ranks) - 256} merges, but {encoder_name} gives "
            f"the next id, {token_id}, to {text!r}, which is the merge {left!r} + {right!r}: "
            "the merges look truncated (ids above the merges are special tokens, which no "
            "merge makes)"
        )


def _from_alphabet(text: str, from_char: dict[str, int], where: str) -> bytes:
    """Token text in GPT-2's byte alphabet -> its bytes; ValueError saying ``where`` if not."""
    try:
        token = bytes(from_char[char] for char in text)
    except KeyError as error:
        raise ValueError(f"{where}: {error.args[0]!r} is not in GPT-2's byte alphabet") from None
    if not token:
        raise ValueError(f"{where}: a token must hold at least one byte")
    return token


def _to_alphabet(token: bytes, alphabet: list[str]) -> str:
    """Token bytes -> its text in GPT-2's byte alphabet (``alphabet`` is :func:`byte_alphabet`)."""
    return "".join(alphabet[byte] for byte in token)


def _check_merge(rank: int, where: str, left: str, right: str, ranks: dict[bytes, int],
                 from_char: dict[str, int]) -> None:
    """The merge ``left right`` must join two tokens of lower rank into the token of ``rank``."""
    left_bytes = _from_alphabet(left, from_char, where)
    right_bytes = _from_alphabet(right, from_char, where)
    if ranks.get(left_bytes + right_bytes) != rank:
        raise ValueError(f"{where}: merge {left!r} + {right!r} should create the token of id "
                         f"{rank} in encoder.json, but that id belongs to another token")
    for part, part_bytes in ((left, left_bytes), (right, right_bytes)):
        if part_bytes not in ranks or ranks[part_bytes] >= rank:
            raise ValueError(f"{where}: {part!r} must be a token of id below {rank} "
                             "(merges can only join tokens that already exist)")


def write_gpt2(ranks: dict[bytes, int], special_tokens: dict[str, int],
               encoder_json: str | os.PathLike, vocab_bpe: str | os.PathLike) -> None:
    """Write a ranked vocabulary as GPT-2's ``encoder.json`` and ``vocab.bpe``.

    The single bytes must have ranks 0..255 (the format numbers merge ``i`` as ``256 + i``), each
    longer token must be a merge (:func:`merges_from_ranks`), and the special tokens' ids must be
    ``len(ranks)`` or more. Both files are written in full before either replaces its old self
    (``_files.atomic_write``), so a full disk leaves the old pair.

    Raises
    ------
    ValueError
        If a single byte has rank 256 or more, a token is not a merge, or a special id collides.
    """
    check_ranks(ranks)
    for byte in range(256):
        if ranks[bytes([byte])] >= 256:
            raise ValueError(f"byte 0x{byte:02x} has rank {ranks[bytes([byte])]}; GPT-2's format "
                             "needs the 256 single bytes at ranks 0..255")
    for text, token_id in special_tokens.items():
        if token_id < len(ranks):
            raise ValueError(f"special token {text!r} has id {token_id}, which belongs to an "
                             f"ordinary token; special ids must be >= {len(ranks)}")
    merges = merges_from_ranks(ranks)
    alphabet = byte_alphabet()
    by_rank = sorted(ranks.items(), key=lambda item: item[1])
    encoder = {_to_alphabet(token, alphabet): rank for token, rank in by_rank}
    encoder.update(sorted(special_tokens.items(), key=lambda item: item[1]))
    encoder_bytes = json.dumps(encoder).encode("utf-8")
    merge_lines = "".join(f"{_to_alphabet(left, alphabet)} {_to_alphabet(right, alphabet)}\n"
                          for left, right in merges)
    vocab_bytes = f"{_GPT2_VERSION_LINE}\n{merge_lines}".encode()

    def write_both(encoder_file: BinaryIO) -> None:
        encoder_file.write(encoder_bytes)
        encoder_file.flush()  # the new encoder.json is whole on disk before vocab.bpe is replaced
        os.fsync(encoder_file.fileno())
        atomic_write(vocab_bpe, lambda vocab_file: vocab_file.write(vocab_bytes))

    atomic_write(encoder_json, write_both)


__all__ = [
    "alphabet_order", "byte_alphabet", "check_ranks", "format_tiktoken", "merges_from_ranks",
    "parse_tiktoken", "read_gpt2", "read_tiktoken", "write_gpt2", "write_tiktoken",
]
