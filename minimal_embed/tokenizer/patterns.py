"""Text -> pieces: GPT-2's and GPT-4's split patterns, and a splitter with a fast path for ASCII.

Before any merging, a regular expression cuts text into pieces: words with their leading space,
numbers, punctuation runs, whitespace. BPE never merges across pieces, so the split decides which
tokens can exist at all. The patterns use ``regex`` for Unicode's letter and number classes
(``\\p{L}``, ``\\p{N}``); all-ASCII stretches of text go through an exact twin of the pattern
written for Python's own ``re``, which is faster. For encoding, a long text under GPT-2's pattern
is split by :mod:`~.array_split`'s rules instead, into positions rather than strings
(:meth:`Splitter.piece_starts`).
"""

from __future__ import annotations

import re

import numpy as np
import regex

from minimal_embed.tokenizer import array_split, checks

# GPT-2's split (Radford et al. 2019; openai/gpt-2 encoder.py). Same pieces as the original
# "'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+", rewritten so that no
# alternative can backtrack over a long run: `\s+(?!\S)` still backtracks exactly one character, so
# a run of spaces before a word gives its last space to the word; the original's final `\s+` can
# only ever match one character (a longer run would have matched `\s+(?!\S)`), hence `\s`; the
# possessive `\s++$` takes a trailing run in one step. The letter, number and punctuation runs end
# their alternative, so nothing after them can make them backtrack: plain `+` is as safe as `++`.
GPT2_PATTERN = (
    r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s++$|\s+(?!\S)|\s"""
)

# GPT-4's split (OpenAI's cl100k_base): case-insensitive contractions, a letter run may take one
# leading non-letter, numbers in groups of at most three digits, newlines kept with what precedes.
GPT4_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s*[\r\n]|\s++$|\s+(?!\S)|\s"""
)

# The same two splits for all-ASCII text, in Python's own `re` (3.11+ for `++`). Among ASCII
# characters \p{L} is exactly [A-Za-z], \p{N} exactly [0-9], and `regex`'s \s exactly re.ASCII's
# [\t\n\v\f\r ], so on ASCII text they give the same pieces (the tests compare them on every pair
# of ASCII characters and on random text).
_ASCII_TWINS = {
    GPT2_PATTERN:
        r"""'(?:[sdmt]|ll|ve|re)| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s++$|\s+(?!\S)|\s""",
    GPT4_PATTERN:
        r"""'(?i:[sdmt]|ll|ve|re)|[^\r\nA-Za-z0-9]?+[A-Za-z]++|[0-9]{1,3}+"""
        r"""| ?[^\sA-Za-z0-9]++[\r\n]*+|\s*[\r\n]|\s++$|\s+(?!\S)|\s""",
}
# Text that is not all ASCII is cut into stretches of about _ASCII_CHUNK characters, each split by
# the twin when it is all ASCII, so one curly apostrophe costs only its stretch. The cuts go after
# an ASCII letter followed by a space: in both patterns that letter ends its piece (a letter run or
# a contraction; a space is never part of either's end), no alternative looks back, and `$` cannot
# match before a letter, so both sides split as they would together.
_CUT_AFTER = re.compile(r"[A-Za-z](?= )")
_ASCII_CHUNK = 256
# Where a long text may be cut into parts for separate workers (Splitter.cut_after): after an
# ASCII letter followed by a space, as above, or after a newline between two characters that are
# not whitespace. That newline is a piece of its own in both patterns, together or alone at the
# end of the left part (GPT-2: `\s` before a non-space, `\s++$` at the end; GPT-4: `\s*[\r\n]`,
# or the end of a punctuation run's `[\r\n]*`), the piece before it ends before it, and the right
# part starts where the whole text's next piece starts. `regex`, for the patterns' own `\s`.
_PART_CUT = regex.compile(r"[A-Za-z](?= )|(?<=\S)\n(?=\S)")


# From this many characters, a text is split by array_split's rules instead (the pieces of
# piece_starts): below it NumPy's cost per call outweighs what it saves (benchmarks/bpe_encode.py).
ARRAY_SPLIT_MIN = 16384

# Any other pattern may come from a file, and a regular expression can backtrack for hours on a
# short text. So such a pattern must pass checks.check_pattern_speed when it is given, and each
# split gets SPLIT_SECONDS plus SPLIT_SECONDS_PER_CHAR per character (regex's timeout=, which
# slows the split a few times; a pattern that does not backtrack needs far less).
SPLIT_SECONDS = 1.0
SPLIT_SECONDS_PER_CHAR = 1e-5


class Splitter:
    """Cuts text into pieces by a split pattern, with ``re``'s twin on all-ASCII stretches.

    ``pattern`` is in ``regex`` syntax, without capturing groups; ``self.regex`` is it compiled,
    ``self.ascii_regex`` its ``re`` twin (None for other patterns, and before Python 3.11).
    ``self.bounded`` is True for a pattern other than :data:`GPT2_PATTERN` and
    :data:`GPT4_PATTERN` (whose splits the tests hold linear): it is probed when given and every
    split runs under a time bound (see above).

    Raises
    ------
    TypeError, ValueError
        If ``pattern`` is not a str, does not compile, has capturing groups, or backtracks
        catastrophically (:func:`~.checks.check_pattern_speed`); :meth:`split` raises
        ValueError when it runs out of time.

    Examples
    --------
    >>> Splitter(GPT2_PATTERN).split("I'm   here!")
    ['I', "'m", '  ', ' here', '!']
    >>> Splitter(r"(?:a|a)+$|.")
    Traceback (most recent call last):
    ...
    ValueError: pattern '(?:a|a)+$|.' backtracks catastrophically: ...
    """

    def __init__(self, pattern: str) -> None:
        self.regex = checks.compiled_pattern(pattern)
        self.bounded = pattern not in _ASCII_TWINS
        if self.bounded:
            checks.check_pattern_speed(self.regex)
        self.ascii_regex = _ascii_twin(pattern)
        self.cuttable = pattern in _ASCII_TWINS  # the rule of _PART_CUT is proved for these
        self.array_split = pattern == GPT2_PATTERN  # array_split.py has this pattern's rules

    def split(self, text: str, chunk: int = _ASCII_CHUNK) -> list[str]:
        """The pieces of ``text``, in order; ``chunk`` is the stretch length tried on ``re``."""
        if self.bounded:
            return self._split_in_time(text)
        if self.ascii_regex is None:
            return self.regex.findall(text)
        if text.isascii():
            return self.ascii_regex.findall(text)
        pieces = []
        start = 0
        while start < len(text):
            cut = _CUT_AFTER.search(text, start + chunk)
            stop = cut.end() if cut else len(text)
            stretch = text[start:stop]
            pieces += (self.ascii_regex if stretch.isascii() else self.regex).findall(stretch)
            start = stop
        return pieces

    def piece_starts(self, text: str) -> tuple[np.ndarray, np.ndarray] | None:
        """``(codes, starts)`` for :meth:`~.piece_cache.IdCache.encode_spans`: the text's code
        points (``(n,)`` uint8 if it is ASCII, else uint32) and where its pieces start
        (:func:`~.array_split.gpt2_piece_starts`), when that is the faster way: the pattern is
        :data:`GPT2_PATTERN` and ``text`` has at least :data:`ARRAY_SPLIT_MIN` characters;
        else None. ``text`` must hold no lone surrogates."""
        if not self.array_split or len(text) < ARRAY_SPLIT_MIN:
            return None
        if text.isascii():
            codes = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
        else:
            codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        return codes, array_split.gpt2_piece_starts(codes)

    def cut_after(self, text: str, start: int) -> int | None:
        """The first place at or after ``start`` where ``text`` can be cut into two parts whose
        pieces are those of the whole; None if there is none, or the pattern is not one of ours.

        Examples
        --------
        >>> text = "one two\\nthree"
        >>> cut = Splitter(GPT2_PATTERN).cut_after(text, 4)   # after the newline
        >>> text[:cut], text[cut:]
        ('one two\\n', 'three')
        """
        found = _PART_CUT.search(text, start) if self.cuttable else None
        return found.end() if found else None

    def _split_in_time(self, text: str) -> list[str]:
        """``self.regex.findall(text)`` within the time bound, else ValueError."""
        seconds = SPLIT_SECONDS + SPLIT_SECONDS_PER_CHAR * len(text)
        try:
            return self.regex.findall(text, timeout=seconds)
        except TimeoutError:
            raise ValueError(
                f"the split pattern {self.regex.pattern[:80]!r} did not finish a text of "
                f"{len(text)} characters in {seconds:.1f} s: it backtracks too much on it (a "
                "pattern other than GPT2_PATTERN and GPT4_PATTERN is stopped this way rather "
                "than left to hang)"
            ) from None


def _ascii_twin(pattern: str) -> re.Pattern | None:
    """The `re` twin of a known pattern, for all-ASCII text; None when there is none."""
    twin = _ASCII_TWINS.get(pattern)
    if twin is None:
        return None
    try:
        return re.compile(twin, re.ASCII)
    except re.error:  # before Python 3.11, `re` has no possessive quantifiers: use `regex` only
        return None
