"""GPT-2's split as whole-array rules: where each piece starts, found in NumPy.

The regular expression of :data:`~.patterns.GPT2_PATTERN` makes one Python string per piece;
a megabyte of text has about 300,000 pieces but only about 15,000 distinct ones. Found as
positions in an array, the pieces can be grouped into equal ones without making the strings at
all (see :meth:`~.piece_cache.IdCache.encode_spans`). The pattern's choices come down to local
rules over four classes of characters: letter (``\\p{L}``), digit (``\\p{N}``), whitespace
(``\\s``) and other (punctuation, symbols, marks, control characters):

1. a run of one class other than whitespace is one piece (letters, digits, or "other");
2. a space just before such a run joins it (the optional space of `` ?\\p{L}+`` and the
   like);
3. a run of whitespace that reaches the end of the text is one piece (``\\s++$``); any other
   run gives its last character to what follows: that character is the space of rule 2, or a
   piece of its own (``\\s``), and the rest of the run, if any, is one piece (``\\s+(?!\\S)``);
4. an apostrophe that starts a piece, followed by ``s d m t ll ve re``, is a contraction
   piece, and the letters after it start a new piece. An apostrophe starts a piece unless it
   follows "other" (it continues that run) or a space (which joins it by rule 2).

The class of a character is asked of ``regex`` itself, once per character a process meets.
The tests hold :func:`gpt2_piece_starts` to the published pattern on every string of up to four
characters from an alphabet of each case, and on random text.
"""

from __future__ import annotations

import threading

import numpy as np
import regex

LETTER, DIGIT, OTHER, SPACE_CLASS = 0, 1, 2, 3
_UNKNOWN = -1
# The class of every code point, learnt as texts bring them: ASCII's are set here (the tests
# check them against `regex`), the others asked of `regex` by character_classes.
_CLASS_OF = np.full(0x110000, _UNKNOWN, dtype=np.int8)
_CLASS_OF[:128] = OTHER
_CLASS_OF[[*range(ord("A"), ord("Z") + 1), *range(ord("a"), ord("z") + 1)]] = LETTER
_CLASS_OF[ord("0") : ord("9") + 1] = DIGIT
_CLASS_OF[list(b"\t\n\v\f\r ")] = SPACE_CLASS
_CLASS_PATTERNS = [(LETTER, regex.compile(r"\p{L}")), (DIGIT, regex.compile(r"\p{N}")),
                   (SPACE_CLASS, regex.compile(r"\s"))]
_LEARNING = threading.Lock()
_APOSTROPHE, _SPACE = ord("'"), ord(" ")
_ONE_LETTER_CONTRACTION = np.zeros(256, dtype=bool)  # 's 'd 'm 't
_ONE_LETTER_CONTRACTION[list(b"sdmt")] = True


def character_classes(codes: np.ndarray) -> np.ndarray:
    """The class (LETTER, DIGIT, OTHER, SPACE_CLASS) of each code point, ``(n,)`` int8.

    Examples
    --------
    >>> character_classes(np.array([ord(c) for c in "a7 .é٣"])).tolist()  # ٣: an Arabic 3
    [0, 1, 3, 2, 0, 1]
    """
    kinds = _CLASS_OF[codes]
    if (kinds == _UNKNOWN).any():
        with _LEARNING:  # one thread asks regex; what it writes is the same for any thread
            for code in np.unique(codes[kinds == _UNKNOWN]).tolist():
                character = chr(code)
                found = [kind for kind, pattern in _CLASS_PATTERNS if pattern.match(character)]
                _CLASS_OF[code] = found[0] if found else OTHER
        kinds = _CLASS_OF[codes]
    return kinds


def gpt2_piece_starts(codes: np.ndarray) -> np.ndarray:
    """Where each piece of GPT-2's split begins, for a text given as its code points.

    Parameters
    ----------
    codes : np.ndarray
        ``(n,)`` unsigned integers, the text's code points (uint8 for ASCII text, uint32 for
        any text: ``np.frombuffer(text.encode("utf-32-le"), np.uint32)``).

    Returns
    -------
    np.ndarray
        ``(pieces,)`` intp, increasing, the first index of each piece (``[0, ...]``; empty for
        an empty text); piece ``j`` ends where piece ``j + 1`` starts, the last at ``n``.

    Examples
    --------
    >>> text = b"I'm  here!\\n"
    >>> starts = gpt2_piece_starts(np.frombuffer(text, np.uint8))
    >>> [text[a:b] for a, b in zip(starts, [*starts[1:], len(text)])]
    [b'I', b"'m", b' ', b' here', b'!', b'\\n']
    """
    n = len(codes)
    if n == 0:
        return np.zeros(0, dtype=np.intp)
    kind = character_classes(codes)  # (n,)
    before = np.concatenate([[-1], kind[:-1]])  # (n,) the class before each character
    after = np.concatenate([kind[1:], [SPACE_CLASS]])  # (n,) after; the end counts as a space
    space = kind == SPACE_CLASS
    after_space = np.concatenate([[False], codes[:-1] == _SPACE])  # (n,) just after a " "
    run_begins = ~space & (kind != before)  # rule 1 (a whitespace class before counts too)
    starts = run_begins & ~after_space  # rule 2 moves the others one back, onto the space
    starts |= space & (before != SPACE_CLASS)  # rule 3: each whitespace run begins a piece,
    starts |= space & (after != SPACE_CLASS)  # and its last character another, unless at the end
    starts |= _contraction_cuts(codes, before, after_space, starts)
    starts[0] = True
    return np.flatnonzero(starts)


def _contraction_cuts(codes: np.ndarray, before: np.ndarray, after_space: np.ndarray,
                      starts: np.ndarray) -> np.ndarray:
    """Rule 4: the starts after each contraction piece (and none inside it, changing ``starts``)."""
    n = len(codes)
    cuts = np.zeros(n, dtype=bool)
    candidate = np.flatnonzero((codes == _APOSTROPHE) & (before != OTHER) & ~after_space)
    padded = np.concatenate([codes, np.zeros(2, dtype=codes.dtype)])  # reads past the end
    first, second = padded[candidate + 1], padded[candidate + 2]
    two = _ONE_LETTER_CONTRACTION[np.minimum(first, 255)]  # 255 is no contraction letter
    three = ~two & (((first == ord("l")) & (second == ord("l")))
                    | ((first == ord("v")) & (second == ord("e")))
                    | ((first == ord("r")) & (second == ord("e"))))
    for length, found in ((2, two), (3, three)):
        apostrophes = candidate[found]
        for inside in range(1, length):
            starts[apostrophes + inside] = False
        ends = apostrophes + length
        cuts[ends[ends < n]] = True  # what follows starts anew (letters would not by rule 1)
    return cuts
