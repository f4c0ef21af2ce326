"""The fast trainer: the merges of :func:`~.bpe.train_plain`, at a cost that follows the merges.

``train_plain`` recounts every pair of every piece after each merge. :func:`train` counts once,
then touches only the places where the merged pair occurs. Its state, for the distinct pieces
laid end to end (``n`` bytes in all, one *node* per byte at first):

- a linked list of the nodes: ``symbol[i]`` is the id at node ``i`` (-1 once it has been merged
  into its left neighbour), ``after[i]`` / ``before[i]`` the next and previous live node of the
  same piece (-1 at the piece's ends), ``weight[i]`` the count of the piece;
- ``counts``: pair -> how often it occurs in the whole text, weighted by the pieces' counts;
- a heap of ``(-count, pair)`` holding, for every pair, an entry at least as large as its count:
  a count that grows gets a new entry, one that falls is corrected when its entry comes up;
- the index of occurrences, in blocks: block 0 lists the nodes where each byte pair starts,
  block ``k + 1`` the nodes where merge ``k`` made a new pair. Subtle: a pair made of ids
  ``a, b`` first appears when the later of them is made (each id is made by one merge), so its
  occurrences are all in one block, the one of ``max(a, b)``. A node whose pair changed since is
  skipped when it comes up.

A pair ``(a, b)`` is packed into the integer ``a * base + b`` (``base`` above every id), so that
integers order as pairs do (ties go to the smallest pair) and NumPy can sort and group them.

A merge of ``(a, b)`` into ``new`` looks up its nodes in its block, keeps those that still hold
``a`` followed by ``b`` and, left to right as :func:`~.bpe.merge_pair` does, replaces them:
``a`` becomes ``new``, ``b``'s node leaves the list, and the pairs with the neighbours on either
side change (``(x, a)`` -> ``(x, new)``, ``(b, y)`` -> ``(new, y)``). A few occurrences are
done one by one in Python (:meth:`_Nodes.merge_each`), many with whole-array NumPy steps
(:meth:`_Nodes.merge_all`). The cost is O(k log k) for the merge's ``k`` occurrences among the
distinct pieces, plus a dictionary update (and at most one heap push) for each distinct pair
that changed; the length of the pieces that hold them does not enter.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping

import numpy as np

from minimal_embed._checks import check_integer
from minimal_embed.tokenizer.bpe import Pair
from minimal_embed.tokenizer.checks import check_piece_counts

_Heap = list[tuple[int, int]]
_Block = tuple[np.ndarray, np.ndarray]  # (pair codes, sorted; the node where each pair starts)
_LARGEST_COUNT = 2**63 - 1  # pair counts are summed in int64
FEW = 48  # merges with fewer candidate nodes run in Python (NumPy's fixed cost would dominate)


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
        If a piece is not bytes, a count or ``num_merges`` is not an integer in range, or the
        counts are so large that a pair's count could pass ``2**63 - 1``.

    Examples
    --------
    >>> train({b"aaab": 1, b"ab": 3}, 5)
    [(97, 98), (97, 97), (257, 256)]
    """
    check_piece_counts(piece_counts)
    num_merges = check_integer("num_merges", num_merges)
    if sum(count * len(piece) for piece, count in piece_counts.items()) > _LARGEST_COUNT:
        raise ValueError("the piece counts are too large: pair counts must stay below 2**63")
    nodes = _Nodes(piece_counts)
    base = 256 + min(num_merges, len(nodes.symbol))  # each merge leaves one node fewer
    counts, block = nodes.pairs(base)
    blocks = [block]
    least = 2  # pairs counted once (most of them) wait outside the heap until only they are left
    heap = [(-count, code) for code, count in counts.items() if count >= least]
    heapq.heapify(heap)
    merges: list[Pair] = []
    while len(merges) < num_merges:
        code = _pop_most_frequent(heap, counts, least)
        if code is None:
            if least == 1 or not counts:
                break
            least, heap = 1, [(-1, code) for code in sorted(counts)]  # sorted: a valid heap
            continue
        left, right = divmod(code, base)
        merges.append((left, right))
        codes, starts = blocks[max(left, right) - 255 if max(left, right) > 255 else 0]
        first, stop = np.searchsorted(codes, [code, code + 1]).tolist()
        new_id, found = 255 + len(merges), starts[first:stop]
        if len(found) < FEW:
            changes, block = nodes.merge_each(found.tolist(), left, right, new_id, base)
        else:
            changes, block = nodes.merge_all(found, left, right, new_id, base)
        _apply_changes(changes, counts, heap, least)
        blocks.append(block)
        if progress is not None and len(merges) % 100 == 0:
            progress(len(merges), num_merges)
    if progress is not None:
        progress(len(merges), num_merges)
    return merges


class _Nodes:
    """The distinct pieces as one linked list of nodes (see the module docstring)."""

    def __init__(self, piece_counts: Mapping[bytes, int]) -> None:
        lengths = np.fromiter(map(len, piece_counts), np.int64, len(piece_counts))  # (n_pieces,)
        ends = np.cumsum(lengths)  # (n_pieces,) one past each piece's last node
        n = int(ends[-1]) if len(ends) else 0
        # node numbers in int32 when they fit, which halves the memory of big corpora
        self.index = index = np.int32 if n < 2**31 - 1 else np.int64
        codes = np.frombuffer(b"".join(piece_counts), dtype=np.uint8)  # (n,)
        self.symbol = codes.astype(index)  # (n,)
        self.after = np.arange(1, n + 1, dtype=index)  # (n,)
        self.after[ends - 1] = -1
        self.before = np.arange(-1, n - 1, dtype=index)  # (n,)
        self.before[ends - lengths] = -1
        counts = np.array(list(piece_counts.values()), dtype=np.int64)  # (n_pieces,)
        self.weight = np.repeat(counts, lengths)  # (n,)
        # the same memory, read and written as Python ints (faster one element at a time)
        self.views = [array.data for array in (self.symbol, self.after, self.before, self.weight)]

    def pairs(self, base: int) -> tuple[dict[int, int], _Block]:
        """The count of every pair as the pieces are, and block 0 of the index."""
        starts = np.flatnonzero(self.after >= 0)  # (n_pairs,) every node with a right neighbour
        codes = self.symbol[starts].astype(np.int64) * base + self.symbol[starts + 1]
        return _sum_by_code(codes, self.weight[starts]), _block(codes, starts.astype(self.index))

    def merge_each(
        self, starts: list[int], left: int, right: int, new_id: int, base: int
    ) -> tuple[dict[int, int], _Block]:
        """Merge ``(left, right)`` at those ``starts`` that still hold it, one after the other.

        Returns the change in each pair's count and the block of the new pairs.
        """
        symbol, after, before, weight = self.views
        changes: dict[int, int] = {}
        new_codes, new_starts = [], []
        for i in sorted(starts):
            second = after[i]
            if symbol[i] != left or second < 0 or symbol[second] != right:
                continue  # stale (an earlier merge changed it), or taken by the merge before
            w, prev, next_ = weight[i], before[i], after[second]
            changes[left * base + right] = changes.get(left * base + right, 0) - w
            if prev >= 0:
                gone, new = symbol[prev] * base + left, symbol[prev] * base + new_id
                changes[gone] = changes.get(gone, 0) - w
                changes[new] = changes.get(new, 0) + w
                new_codes.append(new)
                new_starts.append(prev)
            if next_ >= 0:
                gone, new = right * base + symbol[next_], new_id * base + symbol[next_]
                changes[gone] = changes.get(gone, 0) - w
                changes[new] = changes.get(new, 0) + w
                new_codes.append(new)
                new_starts.append(i)
                before[next_] = i
            symbol[i], symbol[second], after[i] = new_id, -1, next_
        return changes, _block(np.array(new_codes, np.int64), np.array(new_starts, self.index))

    def merge_all(
        self, starts: np.ndarray, left: int, right: int, new_id: int, base: int
    ) -> tuple[dict[int, int], _Block]:
        """:meth:`merge_each`, with all occurrences at once."""
        symbol, after, before = self.symbol, self.after, self.before
        starts = np.sort(starts)
        seconds = after[starts]
        held = (symbol[starts] == left) & (seconds >= 0) & (symbol[seconds] == right)
        starts, seconds = starts[held], seconds[held]
        if left == right:  # in a run of `left`, take the 1st, 3rd, ... pair, as merge_pair does
            chained = np.concatenate([[False], seconds[:-1] == starts[1:]])
            run_start = np.maximum.accumulate(np.where(chained, 0, np.arange(len(starts))))
            keep = (np.arange(len(starts)) - run_start) % 2 == 0
            starts, seconds = starts[keep], seconds[keep]
        nexts, prevs, weight = after[seconds], before[starts], self.weight[starts]
        # Two merges side by side ("abab") share the pair between them: count it once, as the
        # right neighbour of the first; in the new text it is (new, new).
        shared = np.concatenate([[False], prevs[1:] == seconds[:-1], [False]])
        has_next, has_prev = nexts >= 0, (prevs >= 0) & ~shared[:-1]
        next_old = symbol[nexts[has_next]].astype(np.int64)
        next_new = np.where(shared[1:][has_next], new_id, next_old)
        prev_symbol = symbol[prevs[has_prev]].astype(np.int64)
        codes = np.concatenate([
            [left * base + right], right * base + next_old, prev_symbol * base + left,  # gone
            new_id * base + next_new, prev_symbol * base + new_id,  # new
        ])
        w_next, w_prev = weight[has_next], weight[has_prev]
        deltas = np.concatenate([[-weight.sum()], -w_next, -w_prev, w_next, w_prev])
        new_starts = np.concatenate([starts[has_next], prevs[has_prev]])
        block = _block(codes[1 + len(w_next) + len(w_prev) :], new_starts)
        symbol[starts], symbol[seconds] = new_id, -1
        after[starts] = nexts
        before[nexts[has_next]] = starts[has_next]
        return _sum_by_code(codes, deltas), block


def _block(codes: np.ndarray, starts: np.ndarray) -> _Block:
    """The pairs ``codes`` starting at ``starts``, sorted by code."""
    order = np.argsort(codes)
    return codes[order], starts[order]


def _sum_by_code(codes: np.ndarray, deltas: np.ndarray) -> dict[int, int]:
    """``{code: sum of its deltas}`` for the distinct ``codes``."""
    codes, deltas = _block(codes, deltas)
    firsts = np.flatnonzero(np.diff(codes, prepend=-1))
    totals = np.add.reduceat(deltas, firsts) if len(firsts) else deltas
    return dict(zip(codes[firsts].tolist(), totals.tolist(), strict=True))


def _pop_most_frequent(heap: _Heap, counts: dict[int, int], least: int) -> int | None:
    """Pop heap entries until one is current; return its pair, or None when the heap is empty."""
    while heap:
        negative_count, code = heapq.heappop(heap)
        count = counts.get(code, 0)
        if count == -negative_count:
            return code
        if least <= count < -negative_count:  # the count fell since: back in, corrected
            heapq.heappush(heap, (-count, code))
        # else the count rose since (a newer entry is in the heap), or fell below `least`
    return None


def _apply_changes(
    changes: dict[int, int], counts: dict[int, int], heap: _Heap, least: int
) -> None:
    """Add each pair's change to ``counts``; a count that grows to ``least`` or more is pushed."""
    for code, change in changes.items():
        count = counts.get(code, 0) + change
        if count > 0:
            counts[code] = count
            if change > 0 and count >= least:
                heapq.heappush(heap, (-count, code))
        else:
            counts.pop(code, None)  # the pair no longer occurs anywhere
