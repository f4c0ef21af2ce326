"""Our own tokenizer file: a whole tokenizer as one human-readable UTF-8 text file.

What ``Tokenizer.save`` writes and ``Tokenizer.load`` reads: the ranked vocabulary, the split
pattern and the special tokens, handed back as plain values. One item per line::

    minimal_embed tokenizer v1                  the version line
    pattern "<the split pattern>"               a JSON string
    special_tokens K
    <id> "<text>"                               K lines, by increasing id; the text a JSON string
    tokens N
    <rank> <bytes> "<readable>"                 N lines, ranks 0..N-1 in order

``<bytes>`` is the token's bytes with printable ASCII (``!``..``~``) as itself, a backslash as
``\\\\`` and every other byte as ``\\xNN`` (lower-case hex), so the field never holds a space and
every byte string has exactly one spelling. ``"<readable>"`` is the bytes decoded as UTF-8 (a
broken character shown as U+FFFD), written as a JSON string: it is there for people and is checked,
never used. For example GPT-2's token 220 is a single space, written ``220 \\x20 " "``.

Why text: a vocabulary is something to read, diff and grep (``grep ' "ing"$'`` finds a token),
and a damaged file fails with its line number. Why never pickle: unpickling runs whatever code
the file names. The reader accepts exactly what the writer writes (one spelling per value), so
reading a file and writing it again gives the same bytes.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import NoReturn

from minimal_embed._files import atomic_write

FILE_HEADER = "minimal_embed tokenizer v1"
# A token's bytes in the file: printable ASCII except backslash as itself, "\\" and "\xNN".
_ESCAPED_BYTES = re.compile(r"(?:[!-\[\]-~]|\\\\|\\x[0-9a-f]{2})+")


def format_tokenizer(
    ranks: Mapping[bytes, int], pattern: str, special_tokens: Mapping[str, int]
) -> str:
    """The file's text for a tokenizer: the lines above, each ending with a newline.

    ``ranks`` are dense from 0; ``special_tokens`` maps texts to ids.

    Examples
    --------
    >>> ranks = {bytes([b]): b for b in range(256)} | {b"ab": 256}
    >>> print(format_tokenizer(ranks, r"\\w+", {"<|eot|>": 257}).splitlines()[-1])
    256 ab "ab"
    """
    tokens = sorted(ranks, key=ranks.__getitem__)
    lines = [FILE_HEADER, f"pattern {json.dumps(pattern)}"]
    lines.append(f"special_tokens {len(special_tokens)}")
    for text, token_id in sorted(special_tokens.items(), key=lambda item: item[1]):
        lines.append(_special_line(token_id, text))
    lines.append(f"tokens {len(tokens)}")
    lines += [_token_line(rank, token) for rank, token in enumerate(tokens)]
    return "\n".join(lines) + "\n"


def write_tokenizer(
    path: str | os.PathLike, ranks: Mapping[bytes, int], pattern: str,
    special_tokens: Mapping[str, int],
) -> None:
    """Write :func:`format_tokenizer`'s text to ``path`` as UTF-8, atomically (``_files.py``)."""
    content = format_tokenizer(ranks, pattern, special_tokens).encode("utf-8")
    atomic_write(path, lambda file: file.write(content))


def parse_tokenizer(content: bytes, name: str) -> tuple[dict[bytes, int], str, dict[str, int]]:
    """Read the file's contents back into ``(ranks, pattern, special_tokens)``.

    Only the exact spelling :func:`format_tokenizer` writes is accepted. The values are not
    checked as a tokenizer (all single bytes present, special ids above the ranks): the
    ``Tokenizer`` constructor does that. ``name`` (the path) is what errors call the file.

    Raises
    ------
    ValueError
        ``"<name>: line <n>: <what is wrong>"`` for a truncated, reordered, duplicated, altered or
        garbage file.

    Examples
    --------
    >>> ranks = {bytes([b]): b for b in range(256)}
    >>> text = format_tokenizer(ranks, "x", {})
    >>> parse_tokenizer(text.encode(), "tok.txt") == (ranks, "x", {})
    True
    >>> parse_tokenizer(text.replace('97 a "a"', '97 b "b"').encode(), "tok.txt")
    Traceback (most recent call last):
    ...
    ValueError: tok.txt: line 103: token b'b' already has rank 97
    """
    lines = content.split(b"\n")
    if lines[-1] != b"":
        raise ValueError(f"{name}: line {len(lines)}: the file must end with a newline")
    lines.pop()
    reader = _LineReader(lines, name)
    if reader.next() != FILE_HEADER:
        reader.fail(f"expected the header {FILE_HEADER!r}")
    field = reader.field("pattern")
    pattern = reader.json_string(field)
    if json.dumps(pattern) != field:
        reader.fail(f"the pattern should be written {json.dumps(pattern)}")
    special_tokens = _read_special_tokens(reader)
    ranks = _read_tokens(reader)
    if reader.index < len(lines):
        reader.index += 1
        reader.fail("unexpected line after the last token")
    return ranks, pattern, special_tokens


def _read_special_tokens(reader: _LineReader) -> dict[str, int]:
    special_tokens: dict[str, int] = {}
    for _ in range(reader.count("special_tokens")):
        line = reader.next()
        id_field, _, text_field = line.partition(" ")
        token_id, text = reader.integer(id_field), reader.json_string(text_field)
        if text in special_tokens or token_id <= max(special_tokens.values(), default=-1):
            reader.fail("special tokens must be distinct and listed by increasing id")
        if line != _special_line(token_id, text):
            reader.fail(f"expected {_special_line(token_id, text)!r}")
        special_tokens[text] = token_id
    return special_tokens


def _read_tokens(reader: _LineReader) -> dict[bytes, int]:
    ranks: dict[bytes, int] = {}
    for expected_rank in range(reader.count("tokens")):
        line = reader.next()
        fields = line.split(" ", 2)
        if len(fields) < 3 or reader.integer(fields[0]) != expected_rank:
            reader.fail(f"expected '{expected_rank} <bytes> \"<readable>\"'")
        token = _unescape(fields[1])
        if token is None:
            reader.fail(f"{fields[1]!r} is not escaped bytes (printable ASCII, \\\\, \\xNN)")
        if token in ranks:
            reader.fail(f"token {token!r} already has rank {ranks[token]}")
        if line != _token_line(expected_rank, token):
            reader.fail(f"expected {_token_line(expected_rank, token)!r} (the readable column "
                        "must match the bytes)")
        ranks[token] = expected_rank
    return ranks


# --- one line each ---------------------------------------------------------------------------


def _special_line(token_id: int, text: str) -> str:
    """One special-token line."""
    return f"{token_id} {json.dumps(text, ensure_ascii=False)}"


def _token_line(rank: int, token: bytes) -> str:
    """One token line: rank, escaped bytes, readable text."""
    readable = json.dumps(token.decode("utf-8", errors="replace"), ensure_ascii=False)
    return f"{rank} {_escape(token)} {readable}"


def _escape(token: bytes) -> str:
    """The token's bytes as written in the file."""
    return "".join(
        "\\\\" if b == 0x5C else chr(b) if 0x21 <= b <= 0x7E else f"\\x{b:02x}" for b in token
    )


def _unescape(field: str) -> bytes | None:
    """The bytes written by :func:`_escape`, or None if ``field`` is not in exactly that form."""
    if not _ESCAPED_BYTES.fullmatch(field):
        return None
    token = field.encode("ascii").decode("unicode_escape").encode("latin-1")
    return token if _escape(token) == field else None


class _LineReader:
    """The file's lines in order; ``index`` (1-based) is the line just read, which errors name."""

    def __init__(self, lines: list[bytes], name: str) -> None:
        self.lines, self.name, self.index = lines, name, 0

    def fail(self, message: str) -> NoReturn:
        raise ValueError(f"{self.name}: line {self.index}: {message}")

    def next(self) -> str:
        self.index += 1
        if self.index > len(self.lines):
            self.fail("the file ends too early (truncated?)")
        try:
            return self.lines[self.index - 1].decode("utf-8")
        except UnicodeDecodeError:
            self.fail("not valid UTF-8")

    def field(self, key: str) -> str:
        line = self.next()
        if not line.startswith(key + " "):
            self.fail(f"expected '{key} ...'")
        return line[len(key) + 1 :]

    def count(self, key: str) -> int:
        return self.integer(self.field(key))

    def integer(self, field: str) -> int:
        if not field.isascii() or not field.isdigit() or (len(field) > 1 and field[0] == "0"):
            self.fail(f"{field!r} is not a non-negative integer")
        if len(field) > 12:
            self.fail(f"{field!r} is too large")
        return int(field)

    def json_string(self, field: str) -> str:
        try:
            value = json.loads(field)
        except (ValueError, RecursionError):  # RecursionError: "[[[[..." nested too deeply
            value = None
        if not isinstance(value, str):
            self.fail(f"{field!r} is not a JSON string")
        return value
