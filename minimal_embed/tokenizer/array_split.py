"""GPT-2's split of ASCII text as whole-array rules: where each piece starts, found in NumPy.

The regular expression of :data:`~.patterns.GPT2_PATTERN` makes one Python string per piece;
a megabyte of text has about 300,000 pieces but only about 15,000 distinct ones. Found as
positions in an array, the pieces can be grouped into equal ones without making the strings at
all (see :meth:`~.piece_cache.IdCache.encode_spans`). On ASCII text the pattern's choices come
down to local rules over the character classes letter (``[A-Za-z]``), digit (``[0-9]``),
whitespace (``[\\t\\n\\v\\f\\r ]``) and other (punctuation and control characters):

1. a run of one class other than whitespace is one piece (letters, digits, or "other");
2. a space just before such a run joins it (the optional space of `` ?\\p{L}+`` and the
   like);
3. a run of whitespace that reaches the end of the text is one piece (``\\s++$``); any other
   run gives its last character to what follows: that character is the space of rule 2, or a
   piece of its own (``\\s``), and the rest of the run, if any, is one piece (``\\s+(?!\\S)``);
4. an apostrophe that starts a piece, followed by ``s d m t ll ve re``, is a contraction
   piece, and the letters after it start a new piece. An apostrophe starts a piece unless it
   follows "other" (it continues that run) or a space (which joins it by rule 2).

The tests hold :func:`gpt2_ascii_piece_starts` to ``re``'s pieces on every string of up to four
characters from an alphabet of each case, and on random text.
"""

from __future__ import annotations

import numpy as np

LETTER, DIGIT, OTHER, SPACE_CLASS = 0, 1, 2, 3
ASCII_CLASS = np.full(128, OTHER, dtype=np.int8)  # the class of each ASCII code
ASCII_CLASS[[*range(ord("A"), ord("Z") + 1), *range(ord("a"), ord("z") + 1)]] = LETTER
ASCII_CLASS[np.frombuffer(b"0123456789", np.uint8)] = DIGIT
ASCII_CLASS[np.frombuffer(b"\t\n\v\f\r ", np.uint8)] = SPACE_CLASS
_APOSTROPHE, _SPACE = ord("'"), ord(" ")
_ONE_LETTER_CONTRACTION = np.zeros(256, dtype=bool)  # 's 'd 'm 't
_ONE_LETTER_CONTRACTION[list(b"sdmt")] = True


def gpt2_ascii_piece_starts(codes: np.ndarray) -> np.ndarray:
    """Where each piece of GPT-2's split begins, for ASCII text given as its codes.

    Parameters
    ----------
    codes : np.ndarray
        ``(n,)`` uint8, the text's ASCII codes (all below 128).

    Returns
    -------
    np.ndarray
        ``(pieces,)`` intp, increasing, the first index of each piece (``[0, ...]``; empty for
        an empty text); piece ``j`` ends where piece ``j + 1`` starts, the last at ``n``.

    Examples
    --------
    >>> text = b"I'm  here!\\n"
    >>> starts = gpt2_ascii_piece_starts(np.frombuffer(text, np.uint8))
    >>> [text[a:b] for a, b in zip(starts, [*starts[1:], len(text)])]
    [b'I', b"'m", b' ', b' here', b'!', b'\\n']
    """
    n = len(codes)
    if n == 0:
        return np.zeros(0, dtype=np.intp)
    kind = ASCII_CLASS[codes]  # (n,)
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
    two = _ONE_LETTER_CONTRACTION[first]
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
