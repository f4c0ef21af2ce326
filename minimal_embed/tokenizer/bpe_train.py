"""The fast trainer: the merges of :func:`~.bpe.train_plain`, with pair counts kept up to date.

``train_plain`` recounts every pair of every piece after each merge. :func:`train` counts once,
then rewrites only the pieces that held the merged pair and applies the change in their pair
counts: a merge costs O(length of the pieces it touches + log of the heap of counts).
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Callable, Mapping
from itertools import pairwise

from minimal_embed._checks import check_integer
from minimal_embed.tokenizer.bpe import Pair, count_pairs, merge_pair
from minimal_embed.tokenizer.checks import check_piece_counts

_Heap = list[tuple[int, Pair]]


def train(
    piece_counts: Mapping[bytes, int],
    num_merges: int,
    progress: Callable[[int, int], None] | None = None,
) -> list[Pair]:
    """Learn up to ``num_merges`` merges: the result of :func:`~.bpe.train_plain`, incrementally.

    Parameters
    ----------
    piece_counts : mapping of bytes -> int
        Each distinct piece of the training text with its count (>= 1).
    num_merges : int
        The most merges to learn; fewer when no adjacent pair is left.
    progress : callable, optional
        Called as ``progress(merges_done, num_merges)`` every 100 merges and at the end.

    Returns
    -------
    list of (int, int)
        The merged pairs in order; merge ``k`` created id ``256 + k``.

    Raises
    ------
    TypeError, ValueError
        If a piece is not bytes, or a count or ``num_merges`` is not an integer in range.

    Examples
    --------
    >>> train({b"aaab": 1, b"ab": 3}, 5)
    [(97, 98), (97, 97), (257, 256)]
    """
    check_piece_counts(piece_counts)
    num_merges = check_integer("num_merges", num_merges)
    words = [list(piece) for piece in piece_counts]  # piece w as its current list of ids
    freqs = list(piece_counts.values())
    counts: dict[Pair, int] = {}  # occurrences of each pair in the whole text, weighted
    # The pieces that held a pair at some point: a superset is fine, since a piece that no longer
    # holds the pair is left unchanged by its merge.
    where: defaultdict[Pair, set[int]] = defaultdict(set)
    for w, word in enumerate(words):
        count_pairs(word, counts, freqs[w])
        for pair in pairwise(word):
            where[pair].add(w)
    # Entries (-count, pair): the smallest is the most frequent pair, on a tie the smallest pair.
    # An entry whose count is no longer the pair's is stale and skipped when popped; every change
    # of a count pushes a fresh entry.
    heap = [(-count, pair) for pair, count in counts.items()]
    heapq.heapify(heap)

    merges: list[Pair] = []
    while len(merges) < num_merges:
        best = _pop_most_frequent(heap, counts)
        if best is None:
            break
        new_id = 256 + len(merges)
        merges.append(best)
        changes: dict[Pair, int] = {}  # pair -> change in its count from this merge
        left, right = best
        for w in where.pop(best):
            old = words[w]
            if left not in old or right not in old:
                continue  # stale index entry, caught by a fast test (an earlier merge removed it)
            new = merge_pair(old, best, new_id)
            if len(new) == len(old):
                continue  # stale index entry
            # count_pairs(old, changes, -freq) and count_pairs(new, changes, freq), written out
            # so that the new pairs are indexed in the same pass
            freq = freqs[w]
            for pair in pairwise(old):
                changes[pair] = changes.get(pair, 0) - freq
            for pair in pairwise(new):
                changes[pair] = changes.get(pair, 0) + freq
                if new_id in pair:  # any other pair of `new` was in `old`, so is indexed already
                    where[pair].add(w)
            words[w] = new
        _apply_changes(changes, counts, heap)
        if progress is not None and len(merges) % 100 == 0:
            progress(len(merges), num_merges)
    if progress is not None:
        progress(len(merges), num_merges)
    return merges


def _pop_most_frequent(heap: _Heap, counts: dict[Pair, int]) -> Pair | None:
    """Pop heap entries until one is current; return its pair, or None when no pair is left."""
    while heap:
        negative_count, pair = heapq.heappop(heap)
        if counts.get(pair) == -negative_count:
            return pair
    return None


def _apply_changes(changes: dict[Pair, int], counts: dict[Pair, int], heap: _Heap) -> None:
    """Add each pair's change to ``counts`` and push a fresh heap entry for every changed count."""
    for pair, change in changes.items():
        if change == 0:
            continue
        count = counts.get(pair, 0) + change
        if count > 0:
            counts[pair] = count
            heapq.heappush(heap, (-count, pair))
        else:
            counts.pop(pair, None)  # the pair no longer occurs anywhere
