"""The fast encoders: the ids of :func:`~.bpe.merge_by_rank_plain`, for short, long and many pieces.

- :func:`merge_by_rank` re-ranks only the two pairs beside a merge: cheapest for words;
- :func:`merge_by_rank_long` files candidate pairs in buckets by rank over a linked list of
  parts: about linear time, for long pieces;
- :func:`merge_by_rank_rounds` does the same with all pairs of a rank at once in NumPy: for the
  longest pieces (``"a" * 1_000_000``);
- :func:`encode_piece` picks between them, after cutting a long piece where no token spans;
- :func:`merge_by_rank_batch` advances many short pieces together, its bookkeeping in NumPy,
  and :func:`encode_pieces` sends a text's new words there.

``ranks`` is a ranked vocabulary as in ``bpe.py``; its single bytes need not be 0..255 (GPT-2's
are not). The tests check every function here against the plain rule.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Callable, Mapping
from itertools import pairwise

import numpy as np

from minimal_embed.tokenizer.bpe import NOT_A_TOKEN
from minimal_embed.tokenizer.token_pairs import TokenPairs

# Where one method overtakes another (benchmarks/bpe_encode.py has the measurements): pieces of
# at least LONG_PIECE bytes go to merge_by_rank_long, of at least HUGE_PIECE merge_by_rank_rounds;
# at least BATCH_MIN distinct pieces of at most SHORT_PIECE bytes are merged together by
# merge_by_rank_batch.
LONG_PIECE = 100
HUGE_PIECE = 10_000
SHORT_PIECE = 16
BATCH_MIN = 256


def merge_by_rank(piece: bytes, ranks: Mapping[bytes, int]) -> list[int]:
    """:func:`~.bpe.merge_by_rank_plain`'s ids, re-ranking only the two pairs beside each merge.

    O(n^2) at worst for n bytes, but little work per merge: the right choice for short pieces.

    Examples
    --------
    >>> merge_by_rank(b"aaa", {bytes([b]): b for b in range(256)} | {b"aa": 256})
    [256, 97]
    """
    starts = list(range(len(piece) + 1))  # where each part begins, then the end of the piece
    # pair_ranks[k]: the rank of part k joined to part k + 1
    pair_ranks = [ranks.get(piece[i : i + 2], NOT_A_TOKEN) for i in range(len(piece) - 1)]
    while pair_ranks:
        best = min(pair_ranks)
        if best == NOT_A_TOKEN:
            break
        k = pair_ranks.index(best)  # the leftmost pair with the lowest rank
        del starts[k + 1], pair_ranks[k]  # parts k and k+1 become one part
        if k > 0:
            pair_ranks[k - 1] = ranks.get(piece[starts[k - 1] : starts[k + 1]], NOT_A_TOKEN)
        if k < len(pair_ranks):
            pair_ranks[k] = ranks.get(piece[starts[k] : starts[k + 2]], NOT_A_TOKEN)
    return [ranks[piece[start:stop]] for start, stop in pairwise(starts)]


def merge_by_rank_long(piece: bytes, ranks: Mapping[bytes, int]) -> list[int]:
    """:func:`~.bpe.merge_by_rank_plain`'s ids in about linear time: for long pieces.

    Candidate pairs wait in buckets by rank; the loop sweeps the lowest rank's bucket left to
    right, the rule's order. Subtle: a merge makes two new pairs with longer bytes, so of a
    different rank. In a trained vocabulary it is nearly always higher (the token of the new
    pair was made by a later merge), so each bucket is swept once and sorting the nearly sorted
    buckets is the only cost beyond linear. If one ranks lower (hand-made vocabularies, or rare
    pairs that are not the ones the trainer joined), the sweep stops, puts its remaining starts
    back and the lower rank goes first.

    Examples
    --------
    >>> merge_by_rank_long(b"aaaaa", {bytes([b]): b for b in range(256)} | {b"aa": 256})
    [256, 256, 97]
    """
    # The parts form a linked list named by their first byte offset i: end[i] is where part i
    # stops (0 once it is merged into its left neighbour), prev[i] where the part before starts.
    n = len(piece)
    end = list(range(1, n + 1))
    prev = list(range(-1, n - 1))
    buckets: defaultdict[int, list[int]] = defaultdict(list)  # rank -> starts of such pairs
    pending: list[int] = []  # heap of the ranks that have a bucket: one entry per rank at most

    def add_candidate(start: int, stop: int) -> int | None:
        """File the pair spanning piece[start:stop] under its rank; return the rank."""
        rank = ranks.get(piece[start:stop])
        if rank is not None:
            if rank not in buckets:
                heapq.heappush(pending, rank)
            buckets[rank].append(start)
        return rank

    for i in range(n - 1):
        add_candidate(i, i + 2)
    while pending:
        rank = heapq.heappop(pending)
        starts = sorted(buckets.pop(rank, ()))  # already nearly sorted: appended left to right
        for k, i in enumerate(starts):
            middle = end[i]
            if middle == 0 or middle == n:
                continue  # the left part is gone, or it has become the last part
            stop = end[middle]
            if ranks.get(piece[i:stop]) != rank:
                continue  # stale: the left part got a new right neighbour since it was filed
            end[i], end[middle] = stop, 0
            new_ranks = []
            if stop < n:
                prev[stop] = i
                new_ranks.append(add_candidate(i, end[stop]))
            if prev[i] >= 0:
                new_ranks.append(add_candidate(prev[i], stop))
            if any(new is not None and new < rank for new in new_ranks):
                if k + 1 < len(starts):  # a lower rank appeared: finish it first, then resume
                    if rank not in buckets:
                        heapq.heappush(pending, rank)
                    buckets[rank].extend(starts[k + 1 :])
                break
    ids = []
    i = 0
    while i < n:
        ids.append(ranks[piece[i : end[i]]])
        i = end[i]
    return ids


def merge_by_rank_rounds(piece: bytes, ranks: Mapping[bytes, int]) -> list[int]:
    """:func:`~.bpe.merge_by_rank_plain`'s ids, each round merging all pairs of one rank at once.

    The rounds take the ranks in increasing order, as :func:`merge_by_rank_long` does, but do a
    rank's merges in whole-array NumPy steps; only the ranks of the new pairs are dictionary
    lookups. For the longest pieces (``"a" * 1_000_000``), where NumPy's fixed cost per round is
    small beside the work. Subtle: all merges of rank ``r`` at once equal them one by one, left to
    right, as long as none of them makes a pair of a rank below ``r`` (one that would have to go
    first), counting the pairs that exist only in between: in ``"bbbb"`` with ``bb`` before
    ``bbb``, the first ``bb`` meets a lone ``b`` before that one is merged too. In a trained
    vocabulary such a pair is rare (see :func:`merge_by_rank_long`); if one appears, the piece
    is merged again by :func:`merge_by_rank_long`.

    Examples
    --------
    >>> merge_by_rank_rounds(b"aaaaa", {bytes([b]): b for b in range(256)} | {b"aa": 256})
    [256, 256, 97]
    """
    n = len(piece)
    if n < 2:
        return [ranks[piece]] if n else []
    none = len(ranks)  # above every rank: the rank of a pair that is not a token
    codes = np.frombuffer(piece, dtype=np.uint8).astype(np.int64)  # (n,)
    part_id = np.array([ranks[bytes([b])] for b in range(256)], dtype=np.int64)[codes]  # (n,)
    # The parts form a linked list named by their first byte offset i: end[i] is where part i
    # stops (0 once merged into its left neighbour), before[i] where the part before starts, and
    # pair_rank[i] the rank of part i joined to the next one (`none` after the last part).
    end = np.arange(1, n + 1)  # (n,)
    before = np.arange(-1, n - 1)  # (n,)
    byte_pairs = codes[:-1] * 256 + codes[1:]  # (n - 1,)
    table = np.full(65536, none, dtype=np.int64)
    present = np.zeros(65536, dtype=bool)
    present[byte_pairs] = True
    for code in np.flatnonzero(present).tolist():
        table[code] = ranks.get(bytes([code >> 8, code & 255]), none)
    pair_rank = np.append(table[byte_pairs], none)  # (n,)
    buckets: dict[int, list[np.ndarray]] = {}  # rank -> the parts whose pair may have that rank
    _file(buckets, np.arange(n), pair_rank, none)
    pending = sorted(buckets)  # a heap of the ranks with a bucket
    while pending:
        rank = heapq.heappop(pending)
        starts = np.sort(np.concatenate(buckets.pop(rank)))
        starts = starts[np.append(True, starts[1:] != starts[:-1])]  # each once
        starts = starts[pair_rank[starts] == rank]  # the others' pairs have changed since
        middles = end[starts]
        # "aaa" has two pairs "aa" in a chain; left to right, the first is merged, so in a chain
        # of pairs of this rank the 1st, 3rd, ... are.
        chained = np.append(False, middles[:-1] == starts[1:])
        run_start = np.maximum.accumulate(np.where(chained, 0, np.arange(len(starts))))
        keep = (np.arange(len(starts)) - run_start) % 2 == 0
        starts, middles = starts[keep], middles[keep]
        stops = end[middles]
        if _meets_a_lower_rank_between(piece, ranks, rank, starts, middles, stops, part_id):
            return merge_by_rank_long(piece, ranks)
        part_id[starts], end[starts], end[middles] = rank, stops, 0
        pair_rank[middles] = -1  # a merged-away part holds no pair
        has_next = stops < n
        before[stops[has_next]] = starts[has_next]
        prevs = before[starts]
        # the new pairs: each merged part with the next, and with the one before unless that one
        # was merged in this round too (then its pair with the next is this one)
        left_new = prevs[(prevs >= 0) & ~np.append(False, prevs[1:] == starts[:-1])]
        new = np.concatenate([starts[has_next], left_new])
        def look_up(pick: np.ndarray, new: np.ndarray = new) -> list[int]:
            spans = map(slice, new[pick].tolist(), end[end[new[pick]]].tolist())
            return [ranks.get(piece[span], none) for span in spans]

        new_ranks = _once_per_distinct(part_id[new] * none + part_id[end[new]], look_up)
        if (new_ranks < rank).any():
            return merge_by_rank_long(piece, ranks)  # a pair that should go first: not here
        pair_rank[new] = new_ranks
        for new_rank in _file(buckets, new, new_ranks, none):
            heapq.heappush(pending, new_rank)
    return part_id[end > 0].tolist()


def _meets_a_lower_rank_between(
    piece: bytes, ranks: Mapping[bytes, int], rank: int, starts: np.ndarray, middles: np.ndarray,
    stops: np.ndarray, part_id: np.ndarray,
) -> bool:
    """Would merging the pairs ``starts -> middles -> stops`` one by one, left to right, make a
    pair ranked below ``rank`` that exists only in between? A merged part first meets the next
    part as it was; when that part is merged in this round too, their pair is gone by the end."""
    follows = np.flatnonzero(stops[:-1] == starts[1:])  # pair i + 1 starts where pair i stops
    if not len(follows):
        return False
    none = len(ranks)

    def look_up(pick: np.ndarray) -> list[int]:
        spans = map(slice, starts[follows[pick]].tolist(), middles[follows[pick] + 1].tolist())
        return [ranks.get(piece[span], none) for span in spans]

    # the merged part is the token `rank`, so equal ids of the next part give equal bytes
    between = _once_per_distinct(part_id[starts[follows + 1]], look_up)
    return bool((between < rank).any())


def _once_per_distinct(codes: np.ndarray, look_up: Callable[[np.ndarray], list[int]]) -> np.ndarray:
    """``look_up(indices)`` asked only for one index of each distinct code, the answers spread to
    all: the pairs of equal ids are equal byte strings, so one dictionary lookup does for them."""
    order = np.argsort(codes)
    firsts = np.flatnonzero(np.diff(codes[order], prepend=-1))
    answers = np.repeat(look_up(order[firsts]), np.diff(np.append(firsts, len(codes))))
    spread = np.empty(len(codes), dtype=np.int64)
    spread[order] = answers
    return spread


def _file(
    buckets: dict[int, list[np.ndarray]], starts: np.ndarray, ranks: np.ndarray, none: int
) -> list[int]:
    """Add each of ``starts`` to the bucket of its pair's rank; return the ranks new to buckets."""
    is_token = ranks < none
    starts, ranks = starts[is_token], ranks[is_token]
    order = np.argsort(ranks, kind="stable")
    starts, ranks = starts[order], ranks[order]
    firsts = np.flatnonzero(np.diff(ranks, prepend=-1))
    added = []
    for rank, group in zip(ranks[firsts].tolist(), np.split(starts, firsts[1:]), strict=False):
        if rank not in buckets:
            buckets[rank] = []
            added.append(rank)
        buckets[rank].append(group)
    return added


# --- cutting long pieces where no merge can reach ----------------------------------------------


def joinable_pairs(ranks: Mapping[bytes, int]) -> np.ndarray:
    """The byte pairs found side by side inside some token: ``(65536,)`` bool, at ``256 * a + b``.

    Subtle: where two neighbouring bytes of a piece sit side by side in no token, no merge can
    ever join across them (every merge makes a token), so the piece can be cut there and each
    side encoded on its own, with the same ids. Random letters have such places every few bytes
    (with GPT-2's ranks, 2,689 of the 65,536 byte pairs occur inside tokens); one letter repeated
    has none.

    Examples
    --------
    >>> table = joinable_pairs({bytes([b]): b for b in range(256)} | {b"ab": 256})
    >>> bool(table[256 * ord("a") + ord("b")]), bool(table[256 * ord("b") + ord("a")])
    (True, False)
    """
    longer = [token for token in ranks if len(token) > 1]
    codes = np.frombuffer(b"".join(longer), dtype=np.uint8).astype(np.intp)  # (total_bytes,)
    pair_codes = codes[:-1] * 256 + codes[1:]  # (total_bytes - 1,) each byte with the next
    inside = np.ones(len(pair_codes), dtype=bool)  # (total_bytes - 1,)
    last_bytes = np.cumsum([len(token) for token in longer], dtype=np.intp) - 1  # (n_longer,)
    inside[last_bytes[:-1]] = False  # one token's last byte beside the next token's first
    table = np.zeros(65536, dtype=bool)
    table[pair_codes[inside]] = True
    return table


def cut_where_no_token_spans(piece: bytes, joinable: np.ndarray) -> list[bytes]:
    """Cut ``piece`` between every two neighbouring bytes that no token holds side by side.

    ``joinable`` is :func:`joinable_pairs` of the vocabulary; the chunks concatenate to ``piece``.

    Examples
    --------
    >>> ranks = {bytes([b]): b for b in range(256)} | {b"ab": 256}
    >>> cut_where_no_token_spans(b"abba", joinable_pairs(ranks))
    [b'ab', b'b', b'a']
    """
    codes = np.frombuffer(piece, dtype=np.uint8).astype(np.intp)  # (n,)
    cuts = (np.flatnonzero(~joinable[codes[:-1] * 256 + codes[1:]]) + 1).tolist()
    return [piece[start:stop] for start, stop in pairwise([0, *cuts, len(piece)])]


def encode_piece(
    piece: bytes, ranks: Mapping[bytes, int], joinable: np.ndarray | None = None
) -> list[int]:
    """Encode one piece with ranked merges, by the fastest exact method for its length.

    A piece that is itself a token is that token (as in tiktoken; a trained vocabulary's merges
    reach it anyway); otherwise the ids of :func:`~.bpe.merge_by_rank_plain`, from
    :func:`merge_by_rank` below :data:`LONG_PIECE` bytes, :func:`merge_by_rank_long` below
    :data:`HUGE_PIECE` and :func:`merge_by_rank_rounds` above, where a long piece is first cut
    by :func:`cut_where_no_token_spans` if ``joinable`` (:func:`joinable_pairs` of ``ranks``,
    ``(65536,)`` bool) is given.

    Examples
    --------
    >>> from minimal_embed.tokenizer.bpe import merges_to_ranks
    >>> encode_piece(b"lowly", merges_to_ranks([(108, 111), (256, 119)]))   # "lo", then "low"
    [257, 108, 121]
    """
    rank = ranks.get(piece)
    if rank is not None:
        return [rank]
    if len(piece) < LONG_PIECE:
        return merge_by_rank(piece, ranks)
    if joinable is None:
        long = merge_by_rank_long if len(piece) < HUGE_PIECE else merge_by_rank_rounds
        return long(piece, ranks)
    ids: list[int] = []
    for chunk in cut_where_no_token_spans(piece, joinable):
        ids += encode_piece(chunk, ranks)
    return ids


# --- many pieces at once -----------------------------------------------------------------------


def merge_by_rank_batch(
    pieces: list[bytes], ranks: Mapping[bytes, int], pairs: TokenPairs
) -> list[list[int]]:
    """``[merge_by_rank(piece, ranks) for piece in pieces]``, with all pieces advancing together.

    In a round every piece merges its lowest, leftmost pair, found for all pieces at once by a
    segmented minimum of ``pair_rank * count + j`` over their parts ``j``; NumPy deletes the
    merged boundaries, and the ranks of the two new pairs per merge come from ``pairs``
    (:func:`~.token_pairs.token_pairs` of ``ranks``), so a round is whole-array steps only. There
    are as many rounds as the most merges one piece needs, so give it short pieces (not empty).

    Examples
    --------
    >>> from minimal_embed.tokenizer.token_pairs import token_pairs
    >>> ranks = {bytes([b]): b for b in range(256)} | {b"aa": 256}
    >>> merge_by_rank_batch([b"aaa", b"ba"], ranks, token_pairs(ranks))
    [[256, 97], [98, 97]]
    """
    if not pieces:
        return []
    # The pieces laid end to end, every byte a part at first. pair_rank[j] is the rank of part j
    # joined to part j + 1: `none` when that is not a token, `edge` after a piece's last part.
    none, edge = len(ranks), len(ranks) + 1  # both above every rank; edge is never merged
    codes = np.frombuffer(b"".join(pieces), dtype=np.uint8)  # (n_bytes,)
    first = np.cumsum([0] + [len(piece) for piece in pieces[:-1]])  # (n_pieces,) first parts
    byte_ids = np.array([ranks[bytes([b])] for b in range(256)], dtype=np.int64)  # (256,)
    part_id = byte_ids[codes]  # (n_parts,) the token id of each part
    pair_rank = np.append(pairs.joined(part_id[:-1], part_id[1:], none), edge)  # (n_parts,)
    pair_rank[first[1:] - 1] = edge
    while True:
        count = len(pair_rank)
        lowest = np.minimum.reduceat(pair_rank * count + np.arange(count), first)  # (n_pieces,)
        merging = lowest // count < none  # (n_pieces,) the pieces with a pair left to merge
        if not merging.any():
            break
        k = lowest[merging] % count  # part k of each merging piece absorbs part k + 1
        part_id[k] = lowest[merging] // count  # the merged part is the token of that rank
        part_id = np.delete(part_id, k + 1)
        pair_rank = np.delete(pair_rank, k)
        first -= np.cumsum(merging) - merging  # parts deleted in the pieces before
        k -= np.arange(len(k))  # part indices after the deletions
        left = k[k > first[merging]]  # merged parts with a part on their left in the piece
        pair_rank[left - 1] = pairs.joined(part_id[left - 1], part_id[left], none)
        right = k[pair_rank[k] != edge]  # ... and with a part on their right
        pair_rank[right] = pairs.joined(part_id[right], part_id[right + 1], none)
    ids = part_id.tolist()
    cuts = [*first.tolist(), len(ids)]
    return [ids[start:stop] for start, stop in pairwise(cuts)]


def encode_pieces(
    pieces: list[bytes],
    ranks: Mapping[bytes, int],
    joinable: np.ndarray | None = None,
    pairs: TokenPairs | None = None,
) -> list[list[int]]:
    """``[encode_piece(piece, ranks, joinable) for piece in pieces]``, faster for many pieces.

    Given ``pairs`` (:func:`~.token_pairs.token_pairs` of ``ranks``) and at least
    :data:`BATCH_MIN` pieces of 2 to :data:`SHORT_PIECE` bytes that are not tokens, those are
    merged together by :func:`merge_by_rank_batch`. ``joinable`` is as in :func:`encode_piece`.

    Examples
    --------
    >>> from minimal_embed.tokenizer.bpe import merges_to_ranks
    >>> encode_pieces([b"lowly", b"low"], merges_to_ranks([(108, 111), (256, 119)]))
    [[257, 108, 121], [257]]
    """
    found = list(map(ranks.get, pieces))
    encoded = [None if rank is None else [rank] for rank in found]
    # the short pieces that are not tokens: merged below, all together if many
    short = [i for i, rank in enumerate(found)
             if rank is None and 2 <= len(pieces[i]) <= SHORT_PIECE]
    if pairs is not None and len(short) >= BATCH_MIN:
        merged = merge_by_rank_batch([pieces[i] for i in short], ranks, pairs)
    else:
        merged = [merge_by_rank(pieces[i], ranks) for i in short]
    for i, ids in zip(short, merged, strict=True):
        encoded[i] = ids
    return [ids if ids is not None else encode_piece(piece, ranks, joinable)
            for piece, ids in zip(pieces, encoded, strict=True)]
