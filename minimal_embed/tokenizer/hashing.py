"""Byte spans as int64 keys, and a hash table over int64 keys, in whole-array NumPy steps.

Two fast paths need to find equal byte strings among many without making a Python object of
each: the pairs of tokens (:mod:`~.token_pairs`) and the pieces of a text
(:func:`distinct_spans`, for :meth:`~.piece_cache.IdCache.encode_spans` and
:func:`~.tokenizer.count_pieces`). Both give every span a polynomial hash computed from prefix
sums (:func:`span_hashes`, :func:`span_hash`) and then look the hashes up in, or group them
with, an open-addressing table held in NumPy arrays (:class:`IntTable`, :func:`group_equal`).

Subtle: with the base 257 and the byte values counted from 1, the hash of a span of at most
:data:`EXACT_SPAN` bytes is its bytes written as a number in base 257, which stays below
``2**64``, so such spans have equal hashes only if they are equal. Longer spans, and spans of
code points above 255 (a digit of more than 257), can collide; the callers compare them.
"""

from __future__ import annotations

import numpy as np

# Fibonacci hashing (Knuth, TAOCP vol. 3, 6.4): multiply by 2**64 / golden ratio, keep the top bits.
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
# The base of the span hashes: odd, so that it has an inverse modulo 2**64 (span_hash needs it).
HASH_BASE = 257
EXACT_SPAN = 7  # 256 * (1 + 257 + ... + 257**6) < 2**64: spans this short never collide


def span_hashes(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Prefix sums from which :func:`span_hash` gets any span's hash in O(1).

    ``summed[j] = sum_{i<j} (data[i] + 1) * B**i`` and ``inverse[j] = B**-j`` modulo ``2**64``,
    for ``B =`` :data:`HASH_BASE`; both ``(n + 1,)`` uint64 for ``data`` of ``(n,)`` bytes or
    code points (unsigned integers), wrapping as uint64 arithmetic does.
    """
    powers, inverse = _powers(len(data) + 1)
    summed = np.zeros(len(data) + 1, dtype=np.uint64)
    np.cumsum((data.astype(np.uint64) + np.uint64(1)) * powers[:-1], out=summed[1:])
    return summed, inverse


# The powers B**j and B**-j for j < len, kept for the next text: they are the same for every text
# (at most _POWERS_KEPT of them, 16 MB; a longer text gets its own).
_POWERS_KEPT = 2**20 + 1
_kept_powers: tuple[int, np.ndarray, np.ndarray] = (0, np.ones(0, np.uint64), np.ones(0, np.uint64))


def _powers(count: int) -> tuple[np.ndarray, np.ndarray]:
    """``(B**j, B**-j)`` for ``j < count`` modulo ``2**64``, two ``(count,)`` uint64 arrays."""
    global _kept_powers
    base, powers, inverse = _kept_powers  # one read: another thread may replace the tuple
    if base == HASH_BASE and len(powers) >= count:
        return powers[:count], inverse[:count]
    size = min(max(count, 2 * len(powers)), _POWERS_KEPT) if count <= _POWERS_KEPT else count
    powers, inverse = np.ones(size, dtype=np.uint64), np.ones(size, dtype=np.uint64)
    np.cumprod(np.full(size - 1, np.uint64(HASH_BASE)), out=powers[1:])
    np.cumprod(np.full(size - 1, np.uint64(pow(HASH_BASE, -1, 2**64))), out=inverse[1:])
    if size <= _POWERS_KEPT:
        _kept_powers = (HASH_BASE, powers, inverse)
    return powers[:count], inverse[:count]


def span_hash(tables: tuple[np.ndarray, np.ndarray], lo: np.ndarray, hi: np.ndarray
              ) -> np.ndarray:
    """The hash of each ``data[lo[i]:hi[i]]``: ``sum_k (data[lo + k] + 1) * B**k`` modulo
    ``2**64``, as ``(m,)`` int64 (``tables`` from :func:`span_hashes` of ``data``).

    Examples
    --------
    >>> data = np.frombuffer(b"abab", np.uint8)
    >>> hashes = span_hash(span_hashes(data), np.array([0, 2, 1]), np.array([2, 4, 3]))
    >>> hashes.tolist() == [98 + 99 * 257] * 2 + [99 + 98 * 257]
    True
    """
    summed, inverse = tables
    return ((summed[hi] - summed[lo]) * inverse[lo]).view(np.int64)


def _first_slots(keys: np.ndarray, bits: int) -> np.ndarray:
    """Where each key's probe starts in a table of ``2**bits`` slots: the top bits of
    ``key * _GOLDEN`` (wrapping)."""
    return ((keys.view(np.uint64) * _GOLDEN) >> np.uint64(64 - bits)).astype(np.intp)


class IntTable:
    """Distinct int64 ``keys`` -> int64 ``values``, built and queried a whole array at a time.

    Open addressing with linear probing in a power-of-two array at most a quarter full: a key's
    first slot is the top bits of the key times :data:`_GOLDEN`; while another key holds that
    slot, it tries the next one. Building and lookup go in rounds, every key still looking moving
    on one slot per round, so there are as many rounds as the longest probe (a handful).

    Raises
    ------
    ValueError
        If a key is given twice.

    Examples
    --------
    >>> table = IntTable(np.array([7, -3, 2**40]), np.array([70, 30, 40]))
    >>> table.get(np.array([2**40, 5, 7]), default=-1)
    array([40, -1, 70])
    """

    def __init__(self, keys: np.ndarray, values: np.ndarray) -> None:
        keys = np.asarray(keys, dtype=np.int64)  # (n,)
        bits = max(3, (4 * len(keys) - 1).bit_length())
        self._bits = bits
        self._mask = (1 << bits) - 1
        holder = np.full(1 << bits, -1, dtype=np.intp)  # slot -> the index of its key, or -1
        waiting = np.arange(len(keys))
        slots = _first_slots(keys, bits)
        while len(waiting):
            free = holder[slots] == -1
            holder[slots[free]] = waiting[free]  # of the keys after one free slot, one gets it
            placed = holder[slots] == waiting
            twice = keys[holder[slots[~placed]]] == keys[waiting[~placed]]
            if twice.any():
                repeated = int(keys[waiting[~placed]][twice][0])
                raise ValueError(f"IntTable keys must be distinct; {repeated} is given twice")
            waiting, slots = waiting[~placed], (slots[~placed] + 1) & self._mask
        self._used = holder >= 0  # (slots,) keys and values stored in place: one lookup each
        self._keys = np.where(self._used, keys[holder] if len(keys) else 0, 0)
        self._values = np.where(self._used, np.asarray(values, np.int64)[holder]
                                if len(keys) else 0, 0)

    def get(self, queries: np.ndarray, default: int) -> np.ndarray:
        """The value of each of ``queries`` (``(m,)`` int64), ``default`` where it is no key."""
        queries = np.asarray(queries, dtype=np.int64)
        found = np.full(len(queries), default, dtype=np.int64)  # (m,)
        waiting = np.arange(len(queries))
        slots = _first_slots(queries, self._bits)
        while len(waiting):
            used = self._used[slots]
            match = used & (self._keys[slots] == queries[waiting])
            found[waiting[match]] = self._values[slots[match]]
            going = used & ~match  # an empty slot ends the search: not a key
            waiting, slots = waiting[going], (slots[going] + 1) & self._mask
        return found


def group_equal(keys: np.ndarray) -> np.ndarray:
    """For each key, the index of one key equal to it, the same for all equal keys.

    ``keys`` is ``(n,)`` int64; the answer ``(n,)`` intp. It is :class:`IntTable`'s probing
    with claiming: in each round, every key still looking claims its slot if that is empty
    (one of the keys claiming one slot gets it), joins the key that holds it if equal, and
    otherwise moves on one slot.

    Examples
    --------
    >>> keys = np.array([5, 9, 5, 5, 9])
    >>> group = group_equal(keys)
    >>> bool((keys[group] == keys).all()), len(set(group.tolist()))
    (True, 2)
    """
    keys = np.asarray(keys, dtype=np.int64)
    bits = max(3, (2 * len(keys) - 1).bit_length())  # at most half full
    holder = np.full(1 << bits, -1, dtype=np.intp)
    group = np.empty(len(keys), dtype=np.intp)
    waiting = np.arange(len(keys))
    slots = _first_slots(keys, bits)
    while len(waiting):
        free = holder[slots] == -1
        holder[slots[free]] = waiting[free]
        held = holder[slots]
        same = keys[held] == keys[waiting]
        group[waiting[same]] = held[same]
        waiting, slots = waiting[~same], (slots[~same] + 1) & ((1 << bits) - 1)
    return group


def distinct_spans(text: str, codes: np.ndarray, starts: np.ndarray
                   ) -> tuple[list[str], np.ndarray] | None:
    """The distinct pieces ``text[starts[j]:starts[j + 1]]`` (the last to the end) and which of
    them each piece is, grouped by :func:`span_hash` without making a string of each piece.

    ``codes`` is ``(n,)``, the text's code points (uint8 for ASCII text, else uint32), and
    ``starts`` ``(pieces,)`` increasing from 0. Returns ``(distinct, which)`` with
    ``text``'s j-th piece ``== distinct[which[j]]`` (``which`` is ``(pieces,)`` intp), or None
    if two different pieces share a hash: the hash is exact for pieces of up to
    :data:`EXACT_SPAN` characters below 256, and every other piece is compared with its
    group's.

    Examples
    --------
    >>> text = "ab ab c"
    >>> distinct_spans(text, np.frombuffer(text.encode(), np.uint8), np.array([0, 2, 5]))
    (['ab', ' ab', ' c'], array([0, 1, 2]))
    """
    if not len(starts):
        return [], np.zeros(0, dtype=np.intp)
    ends = np.append(starts[1:], len(codes))  # (pieces,)
    group = group_equal(span_hash(span_hashes(codes), starts, ends))
    if not _groups_are_equal_spans(codes, starts, ends, group):
        return None
    firsts = np.flatnonzero(group == np.arange(len(group)))  # one of each distinct piece
    distinct = list(map(text.__getitem__, map(slice, starts[firsts].tolist(),
                                              ends[firsts].tolist())))
    which = np.empty(len(group), dtype=np.intp)
    which[firsts] = np.arange(len(firsts))
    return distinct, which[group]


def _groups_are_equal_spans(codes: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                            group: np.ndarray) -> bool:
    """Is every span ``codes[starts[j]:ends[j]]`` equal to that of ``group[j]``? (Only spans of
    more than :data:`EXACT_SPAN` codes, or with a code above 255, can differ: those are compared.)
    """
    sizes = ends - starts
    if (sizes[group] != sizes).any():
        return False
    maybe = sizes > EXACT_SPAN
    if codes.dtype != np.uint8:
        wide = np.zeros(len(codes) + 1, dtype=np.intp)  # wide[i]: codes above 255 before i
        np.cumsum(codes > 255, out=wide[1:])
        maybe |= wide[ends] > wide[starts]
    checked = np.flatnonzero(maybe | maybe[group])  # a short narrow piece in a wide one's group
    if not len(checked):
        return True
    return bool(equal_spans(codes, starts[checked], starts[group[checked]], sizes[checked]).all())


def equal_spans(data: np.ndarray, first: np.ndarray, second: np.ndarray, sizes: np.ndarray
                ) -> np.ndarray:
    """Is ``data[first[j]:first[j] + sizes[j]] == data[second[j]:second[j] + sizes[j]]``, for
    each j? ``(m,)`` bool, every span compared element by element in one NumPy step.

    Examples
    --------
    >>> data = np.frombuffer(b"abcabd", np.uint8)
    >>> equal_spans(data, np.array([0, 0, 2]), np.array([3, 3, 2]), np.array([2, 3, 0])).tolist()
    [True, False, True]
    """
    sizes = np.asarray(sizes, dtype=np.intp)
    begins = np.cumsum(sizes) - sizes  # where each span's comparisons begin
    offsets = np.arange(int(sizes.sum())) - np.repeat(begins, sizes)  # (total,) inside its span
    differ = data[np.repeat(first, sizes) + offsets] != data[np.repeat(second, sizes) + offsets]
    before = np.zeros(len(differ) + 1, dtype=np.intp)  # before[i]: differences in the first i
    np.cumsum(differ, out=before[1:])
    return before[begins + sizes] == before[begins]
