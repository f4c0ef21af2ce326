"""Pieces -> ids, each distinct piece encoded once: what makes encoding real text fast.

Text repeats its words, so the Tokenizer keeps the ids of the pieces it has encoded. The pieces
of a text not seen before are encoded together by :func:`~.bpe_encode.encode_pieces` (the short
ones in one NumPy batch), with the two lookup tables it needs built once per vocabulary. A long
text can come as the positions of its pieces (:meth:`IdCache.encode_spans`), which are grouped
into the distinct pieces without making a string of each.

The cache is bounded by the bytes it holds, not by its number of pieces (a few long pieces can
weigh more than many words), and one cache may serve many threads at once.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Mapping
from itertools import chain

import numpy as np

from minimal_embed._checks import check_integer
from minimal_embed.tokenizer import bpe_encode, hashing
from minimal_embed.tokenizer.token_pairs import token_pairs

CACHE_BYTES = 64 * 2**20  # what one tokenizer's cache may hold: about 250,000 typical words
# What CPython allocates for one entry beyond the piece's str (sys.getsizeof): the list header
# and the dict slot, then per id the list's pointer (over-allocated by up to 1/8) and an int
# object (the batch merger makes new ones). The tests measure that these are upper bounds.
_ENTRY_BYTES = 160
_ID_BYTES = 48
_ASCII_STR_BYTES = sys.getsizeof("")  # an ASCII str of n characters takes this + n bytes


def entry_bytes(pieces: list[str], encoded: list[list[int]]) -> int:
    """What remembering ``pieces[i] -> encoded[i]`` for every i costs, in bytes (an upper bound).

    Examples
    --------
    >>> entry_bytes(["ab"], [[256]]) == sys.getsizeof("ab") + _ENTRY_BYTES + _ID_BYTES
    True
    """
    ids = sum(map(len, encoded))
    characters = "".join(pieces)
    if characters.isascii():  # then each str is one byte a character beyond a fixed header
        strings = _ASCII_STR_BYTES * len(pieces) + len(characters)
    else:
        strings = sum(map(sys.getsizeof, pieces))
    return strings + _ENTRY_BYTES * len(pieces) + _ID_BYTES * ids


class IdCache:
    """Encodes lists of pieces with ``encode_new`` (a list of new pieces -> their id lists),
    remembering the ids in ``max_bytes``; the BPE tokenizer and the word models share it.

    The entries live in two generations, ``recent`` and ``older``, each at most half of
    ``max_bytes`` (counted by :func:`entry_bytes`). New pieces go into ``recent``; when it is
    full it becomes ``older`` and a new empty ``recent`` begins, so the pieces used since the
    last turn survive it (a piece found in ``older`` is copied into ``recent``). A piece whose
    entry alone exceeds half the budget is encoded every time.

    Subtle, for threads: a dict of the cache is never changed except by adding entries (under
    ``_lock``); a generation is dropped by replacing it, never emptied in place. So a call that
    holds a generation keeps every entry it saw there, while other threads add and turn
    generations, and the lookups need no lock.

    Examples
    --------
    >>> cache = IdCache(lambda words: [[len(word)] for word in words])
    >>> cache.encode(["ab", "cab", "ab"])
    [2, 3, 2]
    """

    def __init__(self, encode_new: Callable[[list[str]], list[list[int]]],
                 max_bytes: int = CACHE_BYTES) -> None:
        self._encode_new = encode_new
        self.max_bytes = check_integer("max_bytes", max_bytes)
        self._lock = threading.Lock()
        self._recent: dict[str, list[int]] = {}
        self._older: dict[str, list[int]] = {}
        self._recent_bytes = self._older_bytes = 0

    @property
    def nbytes(self) -> int:
        """The bytes the two generations hold, as :func:`entry_bytes` counts them."""
        return self._recent_bytes + self._older_bytes

    def encode(self, pieces: list[str]) -> list[int]:
        """The ids of ``pieces``, one piece after the other."""
        table = self._table_for(set(pieces))
        ids: list[int] = []
        for piece_ids in map(table.__getitem__, pieces):
            ids += piece_ids  # extending one list beats chain() over many short lists
        return ids

    def encode_spans(self, text: str, codes: np.ndarray, starts: np.ndarray) -> list[int]:
        """:meth:`encode` of the pieces ``text[starts[j]:starts[j + 1]]`` (the last to the end),
        without making a string of each: only of each distinct piece.

        ``codes`` (``(n,)``, the text's code points) and ``starts`` (``(pieces,)``) are as in
        :func:`~.hashing.distinct_spans`, which groups the pieces; their ids are gathered in
        NumPy.
        """
        found = hashing.distinct_spans(text, codes, starts)
        if found is None:  # two different pieces with one hash: no shortcut
            ends = [*starts[1:].tolist(), len(text)]
            return self.encode(list(map(text.__getitem__, map(slice, starts.tolist(), ends))))
        distinct, which = found
        table = self._table_for(set(distinct))
        return _laid_end_to_end(list(map(table.__getitem__, distinct)), which)

    def _table_for(self, distinct: set[str]) -> dict[str, list[int]]:
        """A dict with the ids of every piece in ``distinct``: ``recent`` if it has them all."""
        table = self._recent  # it only grows (see the class docstring), so no piece found leaves
        new = distinct.difference(table)
        if new:
            known = table
            table = self._look_up_or_encode(new)
            table.update((piece, known[piece]) for piece in distinct.difference(new))
        return table

    def _look_up_or_encode(self, pieces: set[str]) -> dict[str, list[int]]:
        """The ids of ``pieces`` (not in ``recent``): from ``older``, or encoded and remembered."""
        older = self._older
        found = {piece: older[piece] for piece in pieces if piece in older}
        fresh = [piece for piece in pieces if piece not in found]
        found.update(zip(fresh, self._encode_new(fresh), strict=True))
        self._remember(found)
        return found

    def _remember(self, entries: dict[str, list[int]]) -> None:
        """Add ``entries`` to ``recent``, turning the generations whenever it would overflow."""
        half = self.max_bytes // 2
        pieces, encoded = list(entries), list(entries.values())
        with self._lock:
            total = entry_bytes(pieces, encoded)
            if self._recent_bytes + total <= half:  # the usual case: all fit
                self._recent.update(entries)
                self._recent_bytes += total
                return
            for piece, ids in entries.items():
                size = entry_bytes([piece], [ids])
                if size > half:
                    continue
                if self._recent_bytes + size > half:
                    self._older, self._older_bytes = self._recent, self._recent_bytes
                    self._recent, self._recent_bytes = {}, 0
                self._recent[piece] = ids
                self._recent_bytes += size


class PieceCache(IdCache):
    """An :class:`IdCache` of BPE pieces encoded with ``ranks`` (tiktoken's rule).

    Examples
    --------
    >>> cache = PieceCache({bytes([b]): b for b in range(256)} | {b"ab": 256})
    >>> cache.encode(["ab", "cab", "ab"])
    [256, 99, 256, 256]
    """

    def __init__(self, ranks: Mapping[bytes, int], max_bytes: int = CACHE_BYTES) -> None:
        super().__init__(self._encode_utf8, max_bytes)
        self.ranks = ranks
        self.joinable = bpe_encode.joinable_pairs(ranks)  # where long pieces can be cut
        self.pairs = token_pairs(ranks)  # which two tokens join: for merging many pieces at once

    def _encode_utf8(self, pieces: list[str]) -> list[list[int]]:
        """The ids of new pieces, merged many at a time from their UTF-8 bytes."""
        utf8 = [piece.encode("utf-8") for piece in pieces]
        return bpe_encode.encode_pieces(utf8, self.ranks, self.joinable, self.pairs)


def _laid_end_to_end(encoded: list[list[int]], which: np.ndarray) -> list[int]:
    """``encoded[which[0]] + encoded[which[1]] + ...``, gathered in NumPy."""
    sizes = np.fromiter(map(len, encoded), dtype=np.intp, count=len(encoded))
    flat = np.fromiter(chain.from_iterable(encoded), dtype=np.int64, count=int(sizes.sum()))
    counts = sizes[which]  # (pieces,) the ids each piece takes
    # the k-th id of piece j is flat[first id of encoded[which[j]] + k]
    shift = np.cumsum(sizes)[which] - counts - (np.cumsum(counts) - counts)
    return flat[np.repeat(shift, counts) + np.arange(int(counts.sum()))].tolist()
