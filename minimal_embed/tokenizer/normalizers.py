"""Text -> normalised text: BERT's cleaning, Unicode forms and case, as tokenizer files ask.

The word-model tokenizers (WordPiece, Unigram) rewrite text before cutting it into words; a
``tokenizer.json`` names the steps (its ``normalizer``). Each step here is a small frozen class
called on a str, exact against Hugging Face's ``tokenizers`` on every assigned code point (the
tests run each one through both):

- :class:`BertNormalizer`: drop control characters, turn whitespace into spaces, put spaces
  around CJK ideographs (so each is a word), strip accents, lower-case (Devlin et al. 2019);
- :class:`UnicodeForm`: NFC, NFD, NFKC or NFKD (SentencePiece models usually ask for NFKC);
- :class:`Lowercase`, :class:`StripAccents`, and :class:`Sequence` of several steps.

Subtle: lower-casing is per character, as in Rust's ``char::to_lowercase``: Python's
``str.lower`` writes a final capital sigma as ``ς``, ``tokenizers`` as ``σ``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

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


Normalizer = BertNormalizer | UnicodeForm | Lowercase | StripAccents | Sequence
