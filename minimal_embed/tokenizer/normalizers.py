"""Text -> normalised text: BERT's cleaning, Unicode forms and case, as tokenizer files ask.

The word-model tokenizers (WordPiece, Unigram) rewrite text before cutting it into words; a
``tokenizer.json`` names the steps (its ``normalizer``). Each step here is a small frozen class
called on a str, exact against Hugging Face's ``tokenizers`` on every assigned code point (the
tests run each one through both):

- :class:`BertNormalizer`: drop control characters, turn whitespace into spaces, put spaces
  around CJK ideographs (so each is a word), strip accents, lower-case (Devlin et al. 2019);
- :class:`UnicodeForm`: NFC, NFD, NFKC or NFKD (SentencePiece models usually ask for NFKC);
- :class:`Precompiled`: SentencePiece's compiled rules (T5, ALBERT, XLNet, mT5 files);
- :class:`Lowercase`, :class:`StripAccents`, :class:`Replace`, :class:`Strip`, and
  :class:`Sequence` of several steps.

Subtle: lower-casing is per character, as in Rust's ``char::to_lowercase``: Python's
``str.lower`` writes a final capital sigma as ``ς``, ``tokenizers`` as ``σ``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import regex

from minimal_embed._checks import check_choice

# Removed by BERT's cleaning: NUL, U+FFFD and the control, format and private-use characters
# (Cc, Cf, Co), except tab, newline and carriage return, which are whitespace.
_CONTROL = regex.compile(r"[\x00\ufffd\p{Cc}\p{Cf}\p{Co}--[\t\n\r]]+", regex.V1)
_WHITESPACE = regex.compile(r"[\t\n\r\p{White_Space}]")
# The CJK Unified Ideographs blocks and their extensions, as BERT lists them.
_CJK = regex.compile(
    "([\u4e00-\u9fff\u3400-\u4dbf\U00020000-\U0002a6df\U0002a700-\U0002b73f"
    "\U0002b740-\U0002b81f\U0002b920-\U0002ceaf\uf900-\ufaff\U0002f800-\U0002fa1f])"
)
_NONSPACING_MARKS = regex.compile(r"\p{Mn}+")
_MARKS = regex.compile(r"\p{M}+")
_CAPITAL_SIGMA = "\u03a3"


def lowercase(text: str) -> str:
    """Each character lower-cased on its own (no final-sigma rule: ``"ΟΔΟΣ"`` -> ``"οδοσ"``)."""
    if _CAPITAL_SIGMA not in text:
        return text.lower()  # the same, character by character, without a capital sigma
    return "".join(character.lower() for character in text)


def strip_accents(text: str) -> str:
    """Decompose (NFD), then drop the non-spacing marks (category Mn): ``"Café"`` -> ``"Cafe"``."""
    if text.isascii():
        return text
    return _NONSPACING_MARKS.sub("", unicodedata.normalize("NFD", text))


@dataclass(frozen=True)
class BertNormalizer:
    """BERT's normaliser: clean, space out CJK ideographs, strip accents, lower-case, in order.

    ``strip_accents=None`` means "as ``lowercase``" (uncased BERT strips, cased BERT keeps them).

    Examples
    --------
    >>> BertNormalizer()("Héllo\\tWörld\\x00 中文")
    'hello world  中  文 '
    """

    clean_text: bool = True
    handle_chinese_chars: bool = True
    strip_accents: bool | None = None
    lowercase: bool = True

    def __call__(self, text: str) -> str:
        if self.clean_text:
            text = _WHITESPACE.sub(" ", _CONTROL.sub("", text))
        if self.handle_chinese_chars and not text.isascii():
            text = _CJK.sub(r" \1 ", text)
        if self.lowercase if self.strip_accents is None else self.strip_accents:
            text = strip_accents(text)
        if self.lowercase:
            text = lowercase(text)
        return text


@dataclass(frozen=True)
class UnicodeForm:
    """One of Unicode's normal forms: "NFC", "NFD", "NFKC" or "NFKD".

    Examples
    --------
    >>> UnicodeForm("NFKC")("ﬁ①")
    'fi1'
    """

    form: Literal["NFC", "NFD", "NFKC", "NFKD"]

    def __post_init__(self) -> None:
        check_choice("form", self.form, ("NFC", "NFD", "NFKC", "NFKD"))

    def __call__(self, text: str) -> str:
        return text if text.isascii() else unicodedata.normalize(self.form, text)


@dataclass(frozen=True)
class Lowercase:
    """:func:`lowercase` as a step."""

    def __call__(self, text: str) -> str:
        return lowercase(text)


@dataclass(frozen=True)
class StripAccents:
    """Drop every combining mark (categories Mn, Mc, Me), without decomposing first: files put
    an NFD or NFKD step before it. Subtle: BERT's own stripping drops Mn only."""

    def __call__(self, text: str) -> str:
        return text if text.isascii() else _MARKS.sub("", text)


@dataclass(frozen=True)
class Sequence:
    """Several steps, applied in order.

    Examples
    --------
    >>> Sequence((UnicodeForm("NFD"), StripAccents(), Lowercase()))("Ça")
    'ca'
    """

    steps: tuple[Callable[[str], str], ...]

    def __call__(self, text: str) -> str:
        for step in self.steps:
            text = step(text)
        return text


@dataclass(frozen=True)
class Replace:
    """Every match of ``pattern`` replaced by ``content``: a literal string, or a regex (in
    ``regex``'s syntax, which agrees with ``tokenizers``' Oniguruma on the usual constructs).

    Examples
    --------
    >>> Replace(" {2,}", " ", is_regex=True)("a   b")
    'a b'
    """

    pattern: str
    content: str
    is_regex: bool = False

    def __call__(self, text: str) -> str:
        if not self.is_regex:
            return text.replace(self.pattern, self.content)
        return regex.sub(self.pattern, lambda _: self.content, text)  # content is literal


@dataclass(frozen=True)
class Strip:
    """Whitespace removed at the start (``left``) and the end (``right``)."""

    left: bool = True
    right: bool = True

    def __call__(self, text: str) -> str:
        if self.left:
            text = _LEADING_SPACE.sub("", text)
        return _TRAILING_SPACE.sub("", text) if self.right else text


_LEADING_SPACE = regex.compile(r"^\p{White_Space}+")
_TRAILING_SPACE = regex.compile(r"\p{White_Space}+$")
_GRAPHEME = regex.compile(r"\X", regex.DOTALL)


class Precompiled:
    """SentencePiece's compiled normalisation rules: ``precompiled_charsmap`` of a model file.

    The map is a trie of UTF-8 strings (a Darts double array of 32-bit units) and the
    NUL-terminated strings they become. Subtle (``tokenizers``' rule, kept for its ids): each
    grapheme cluster of fewer than 6 bytes is looked up whole, and the *shortest* key that
    starts it replaces all of it; otherwise, or with no key, each character is looked up alone.

    Raises
    ------
    ValueError
        If ``charsmap`` is not such a map (sizes that do not add up, strings not UTF-8).
    """

    def __init__(self, charsmap: bytes) -> None:
        if len(charsmap) < 4:
            raise ValueError("precompiled_charsmap is shorter than its 4-byte header")
        size = int.from_bytes(charsmap[:4], "little")
        if size % 4 or size + 4 > len(charsmap):
            raise ValueError(f"precompiled_charsmap: a trie of {size} bytes does not fit in "
                             f"{len(charsmap)} bytes")
        self.charsmap, self._strings = bytes(charsmap), bytes(charsmap[4 + size :])
        try:
            self._strings.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ValueError(f"precompiled_charsmap: its strings are not UTF-8 ({error})") \
                from None
        self._units = np.frombuffer(charsmap, dtype="<u4", count=size // 4, offset=4).tolist()
        self._cache: dict[str, str] = {}  # grapheme -> normalised, as text repeats them

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Precompiled) and other.charsmap == self.charsmap

    __hash__ = None  # type: ignore[assignment]  # equal by value, mutable cache

    def __repr__(self) -> str:
        return f"Precompiled(<{len(self.charsmap)} bytes>)"

    def lookup(self, chunk: str) -> str | None:
        """What the shortest key that starts ``chunk`` becomes, or None if no key starts it."""
        units = self._units
        position = _offset(units[0]) if units else 0
        for byte in chunk.encode("utf-8"):
            position ^= byte
            unit = units[position] if byte and position < len(units) else 0
            if unit & 0x800000FF != byte or not byte:  # the child's label must be the byte
                return None
            position ^= _offset(unit)
            if unit >> 8 & 1:  # a key ends here: the shortest one is the one that counts
                start = units[position] & 0x7FFFFFFF
                stop = self._strings.find(b"\0", start)
                return self._strings[start : None if stop < 0 else stop].decode("utf-8")
        return None

    def _grapheme(self, grapheme: str) -> str:
        """One grapheme cluster, normalised (see the class docstring)."""
        if len(grapheme.encode("utf-8")) < 6:
            whole = self.lookup(grapheme)
            if whole is not None:
                return whole
        parts = []
        for character in grapheme:
            replaced = self.lookup(character)
            parts.append(character if replaced is None else replaced)
        return "".join(parts)

    def __call__(self, text: str) -> str:
        cache = self._cache
        if len(cache) > 100_000:
            cache.clear()
        parts = []
        for grapheme in _GRAPHEME.findall(text):
            normalised = cache.get(grapheme)
            if normalised is None:
                normalised = cache[grapheme] = self._grapheme(grapheme)
            parts.append(normalised)
        return "".join(parts)


def _offset(unit: int) -> int:
    """Where a Darts double-array unit's children start (relative, by XOR)."""
    return (unit >> 10) << ((unit & (1 << 9)) >> 6)


Normalizer = (BertNormalizer | UnicodeForm | Lowercase | StripAccents | Replace | Strip
              | Precompiled | Sequence)
