"""Byte-pair encoding on byte sequences: counting pairs, merging them, training, encoding a piece.

This is step 1 of the pipeline without any text handling: everything here works on ``bytes`` and
lists of integer ids (a byte ``b`` starts out as id ``b``). ``tokenizer.py`` adds the split
pattern, special tokens and files on top, and hands token ids on to the embedding.

Training (Sennrich et al. 2016, "Neural Machine Translation of Rare Words with Subword Units";
byte-level as in GPT-2, Radford et al. 2019) repeatedly finds the most frequent adjacent pair of
ids and replaces it everywhere by a new id:

- pairs are counted over adjacent, overlapping occurrences (``aaa`` holds ``(a, a)`` twice);
- merging goes left to right (``aaa`` becomes ``[aa, a]``);
- ties between equally frequent pairs go to the smallest ``(left_id, right_id)``, so the result
  never depends on the order in which pieces were seen;
- training stops early when no adjacent pair is left.

The text reaches the trainer as *pieces* with their frequencies (``{b" the": 5123, ...}``); a
piece is never merged across its ends.

Two trainers compute the same merges:

- :func:`train_naive` recounts every pair of every piece after each merge: with P distinct pieces
  of total length L and M merges it costs O(M * L). It is the readable definition.
- :func:`train` counts once, keeps an index ``pair -> pieces that contain it`` and a max-heap of
  pair counts, and after each merge rewrites only the pieces that contained the merged pair,
  applying the change in their pair counts. A merge costs O(length of the pieces it touches +
  log of the heap), so the whole run costs about O(L + sum of touched lengths * log), which on
  real text is hundreds to thousands of times less than the naive recount.

Encoding a piece with a trained (or loaded) vocabulary uses ranks, tiktoken's rule: the rank of a
token is its id, and the piece's parts are repeatedly merged at the adjacent pair whose
concatenation has the lowest rank (the leftmost such pair on a tie) until no adjacent pair is a
token. For a trained vocabulary this reproduces the training merges, because a merge never
creates a byte string that is already a token (see :func:`merges_to_ranks`). Ranks need not put
the single bytes at 0..255 (GPT-2's do not).

:func:`merge_by_rank` scans a list of pair ranks, O(n^2) at worst but cheap for words;
:func:`merge_by_rank_long` keeps the candidate pairs in buckets by rank, with a heap of the ranks,
over a linked list of parts: about linear time for long pieces (``"a" * 1_000_000``);
:func:`encode_piece` chooses, after cutting a long piece between two bytes that no token holds
side by side (no merge can cross there: :func:`cut_where_no_token_spans`). The tests check both
against the plainest possible version (re-join every adjacent pair of parts, every round).

A text's new words are encoded many at a time (:func:`encode_pieces`): :func:`merge_by_rank_batch`
advances all short pieces together, each merging its own lowest-ranked pair in every round, with
the bookkeeping in NumPy arrays, so only the dictionary lookups of new pairs remain in Python.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Callable, Mapping
from itertools import pairwise, repeat

import numpy as np

Pair = tuple[int, int]

# Pieces at least this long (in bytes) go to merge_by_rank_long, shorter ones to the list scan
# (benchmarks/bpe_encode.py; with GPT-2's ranks and ours the two are equal near 100 bytes, the
# buckets 2x faster at 256 and 4x at 512, the scan 2-5x faster on words).
LONG_PIECE = 100
# Many distinct pieces of at most SHORT_PIECE bytes are merged all together (merge_by_rank_batch),
# with NumPy bookkeeping that costs a few array operations a round, a round per merge of the
# longest piece. With GPT-2's ranks it pays from about 200 words (256: 1.3 ms together, 1.4 ms one
# by one); the 7,400 new words of the 1.1 MB corpus take 25 ms together, 39 ms one by one.
SHORT_PIECE = 16
BATCH_MIN = 256
_NOT_A_TOKEN = float("inf")  # the rank of a pair whose concatenation is not a token


# --- the two basic steps -----------------------------------------------------------------------


def count_pairs(
    ids: list[int], counts: dict[Pair, int] | None = None, weight: int = 1
) -> dict[Pair, int]:
    """Add ``weight`` for every adjacent, overlapping pair in ``ids`` to ``counts``.

    Parameters
    ----------
    ids : list of int
        One sequence of token ids.
    counts : dict, optional
        Running totals to add to (a new dict when None).
    weight : int
        How many times the sequence occurs (its frequency in the corpus).

    Returns
    -------
    dict of (int, int) -> int
        ``counts``, updated.

    Examples
    --------
    >>> count_pairs([97, 97, 97, 98])
    {(97, 97): 2, (97, 98): 1}
    """
    counts = {} if counts is None else counts
    for pair in pairwise(ids):
        counts[pair] = counts.get(pair, 0) + weight
    return counts


def merge_pair(ids: list[int], pair: Pair, new_id: int) -> list[int]:
    """Replace every occurrence of ``pair`` in ``ids`` by ``new_id``, scanning left to right.

    Parameters
    ----------
    ids : list of int
        One sequence of token ids.
    pair : (int, int)
        The adjacent pair to merge.
    new_id : int
        The id that replaces it.

    Returns
    -------
    list of int
        A new list; ``ids`` is not changed.

    Examples
    --------
    >>> merge_pair([97, 97, 97], (97, 97), 256)   # subtle: overlapping, so left to right
    [256, 97]
    """
    merged = []
    i, n = 0, len(ids)
    while i < n:
        if ids[i] == pair[0] and i + 1 < n and ids[i + 1] == pair[1]:
            merged.append(new_id)
            i += 2
        else:
            merged.append(ids[i])
            i += 1
    return merged


# --- training ----------------------------------------------------------------------------------


def train_naive(piece_counts: Mapping[bytes, int], num_merges: int) -> list[Pair]:
    """Learn up to ``num_merges`` merges by recounting every pair after each merge (reference).

    Merge ``k`` creates id ``256 + k``. Costs O(num_merges * total piece length).

    Parameters
    ----------
    piece_counts : mapping of bytes -> int
        Each distinct piece of the training text with its frequency (> 0).
    num_merges : int
        The most merges to learn; fewer when no adjacent pair is left.

    Returns
    -------
    list of (int, int)
        The merged pairs in order.

    Examples
    --------
    >>> train_naive({b"aaab": 1}, 5)   # (256, 97) and (97, 98) tie: the smaller pair wins
    [(97, 97), (97, 98), (256, 257)]
    """
    _check_piece_counts(piece_counts)
    words = [list(piece) for piece in piece_counts]
    freqs = list(piece_counts.values())
    merges: list[Pair] = []
    while len(merges) < num_merges:
        counts: dict[Pair, int] = {}
        for word, freq in zip(words, freqs, strict=True):
            count_pairs(word, counts, freq)
        if not counts:
            break
        # most frequent; on a tie the smallest (left_id, right_id)
        best = min(counts, key=lambda pair: (-counts[pair], pair))
        new_id = 256 + len(merges)
        words = [merge_pair(word, best, new_id) for word in words]
        merges.append(best)
    return merges


def train(
    piece_counts: Mapping[bytes, int],
    num_merges: int,
    progress: Callable[[int, int], None] | None = None,
) -> list[Pair]:
    """Learn up to ``num_merges`` merges, updating pair counts only where a merge changed a piece.

    Same result as :func:`train_naive`. State kept between merges:

    - ``words[w]``: piece ``w`` as its current list of ids, ``freqs[w]`` its frequency;
    - ``counts[pair]``: how often ``pair`` occurs in the whole text (overlapping, weighted);
    - ``where[pair]``: the pieces that contained ``pair`` at some point (a superset is fine:
      a piece that no longer contains it is left unchanged by the merge);
    - ``heap``: entries ``(-count, pair)``; the smallest entry is the most frequent pair, and on a
      tie the smallest pair. An entry is stale when its count is no longer the pair's count;
      stale entries are skipped when popped, and every change of a count pushes a fresh entry.

    Parameters
    ----------
    piece_counts : mapping of bytes -> int
        Each distinct piece of the training text with its frequency (> 0).
    num_merges : int
        The most merges to learn; fewer when no adjacent pair is left.
    progress : callable, optional
        Called as ``progress(merges_done, num_merges)`` every 100 merges and at the end.

    Returns
    -------
    list of (int, int)
        The merged pairs in order; merge ``k`` created id ``256 + k``.

    Examples
    --------
    >>> train({b"aaab": 1, b"ab": 3}, 5)
    [(97, 98), (97, 97), (257, 256)]
    """
    _check_piece_counts(piece_counts)
    words = [list(piece) for piece in piece_counts]
    freqs = list(piece_counts.values())
    counts: dict[Pair, int] = {}
    where: defaultdict[Pair, set[int]] = defaultdict(set)
    for w, word in enumerate(words):
        count_pairs(word, counts, freqs[w])
        for pair in pairwise(word):
            where[pair].add(w)
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
            # so that the new pairs are indexed in the same pass (10% faster over 3,839 merges)
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


def _check_piece_counts(piece_counts: Mapping[bytes, int]) -> None:
    for piece, count in piece_counts.items():
        if not isinstance(piece, bytes) or isinstance(count, bool) or not isinstance(count, int):
            raise TypeError(f"piece_counts must map bytes to int, got {piece!r}: {count!r}")
        if count < 1:
            raise ValueError(f"piece {piece!r} has count {count}; every count must be at least 1")


def _pop_most_frequent(heap: list, counts: dict[Pair, int]) -> Pair | None:
    """Pop heap entries until one is current; return its pair, or None when no pair is left."""
    while heap:
        negative_count, pair = heapq.heappop(heap)
        if counts.get(pair) == -negative_count:
            return pair
    return None


def _apply_changes(changes: dict[Pair, int], counts: dict[Pair, int], heap: list) -> None:
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


def merges_to_ranks(merges: list[Pair]) -> dict[bytes, int]:
    """Turn trained merges into the ranked vocabulary: byte ``b`` has rank ``b``, merge k ``256+k``.

    Subtle: the byte strings are all distinct. A merge never creates a byte string that is
    already a token: a span that no token crosses is segmented exactly as it would be on its own,
    so once a string is a token, every uncrossed occurrence of it is that one token and no later
    pair can spell it again. Hence ids and byte strings are one-to-one.

    Parameters
    ----------
    merges : list of (int, int)
        Merged pairs in training order.

    Returns
    -------
    dict of bytes -> int
        The ranks, dense from 0 to ``255 + len(merges)``.

    Examples
    --------
    >>> merges_to_ranks([(97, 97), (256, 98)])[b"aab"]
    257
    """
    vocab = [bytes([b]) for b in range(256)]
    for left, right in merges:
        vocab.append(vocab[left] + vocab[right])
    return {token: rank for rank, token in enumerate(vocab)}


# --- merging one piece by rank -----------------------------------------------------------------


def merge_by_rank(piece: bytes, ranks: Mapping[bytes, int]) -> list[int]:
    """Merge the lowest-ranked adjacent pair of parts (leftmost on a tie) until none is a token.

    The parts start as single bytes. ``starts`` holds where each part begins (plus the end of
    the piece) and ``pair_ranks[k]`` the rank of part k joined to part k+1 (infinity when that
    is not a token). A merge deletes one boundary and re-ranks only the two pairs beside it, so a
    piece of n bytes costs O(n^2) in the worst case but little per merge: the right choice for
    short pieces (words), see :func:`merge_by_rank_long` for long ones.

    Parameters
    ----------
    piece : bytes
        One piece.
    ranks : mapping of bytes -> int
        The ranked vocabulary; all 256 single bytes must be in it.

    Returns
    -------
    list of int
        The token ids.

    Examples
    --------
    >>> merge_by_rank(b"aaa", {bytes([b]): b for b in range(256)} | {b"aa": 256})
    [256, 97]
    """
    starts = list(range(len(piece) + 1))
    pair_ranks = [ranks.get(piece[i : i + 2], _NOT_A_TOKEN) for i in range(len(piece) - 1)]
    while pair_ranks:
        best = min(pair_ranks)
        if best == _NOT_A_TOKEN:
            break
        k = pair_ranks.index(best)  # the leftmost pair with the lowest rank
        del starts[k + 1], pair_ranks[k]  # parts k and k+1 become one part
        if k > 0:
            pair_ranks[k - 1] = ranks.get(piece[starts[k - 1] : starts[k + 1]], _NOT_A_TOKEN)
        if k < len(pair_ranks):
            pair_ranks[k] = ranks.get(piece[starts[k] : starts[k + 2]], _NOT_A_TOKEN)
    return [ranks[piece[start:stop]] for start, stop in pairwise(starts)]


def merge_by_rank_long(piece: bytes, ranks: Mapping[bytes, int]) -> list[int]:
    """Same result as :func:`merge_by_rank`, in about linear time: for long pieces.

    The parts form a linked list: each part is named by its first byte offset ``i``; ``end[i]``
    is where it stops (the next part starts there), ``end[i] == 0`` marks a part already merged
    into its left neighbour, and ``prev[i]`` is the start of the part before it.

    Candidate pairs wait in ``buckets[rank]`` (the starts of pairs with that rank) and a small
    heap ``pending`` of the ranks that have a bucket, so the heap holds at most one entry per
    vocabulary rank whatever the piece's length. The loop takes the lowest rank and sweeps its
    bucket left to right, which is the rule's order: the lowest rank, leftmost first. A merge makes
    two new pairs with the merged part; their bytes are longer, so their rank differs from the
    current one. In a trained vocabulary (GPT-2's too) it is higher, by the argument in
    :func:`merges_to_ranks`, so each bucket is swept once and sorting the nearly sorted buckets is
    the only cost beyond linear. If one ranks lower (possible in hand-made vocabularies), the
    sweep stops, puts its remaining starts back, and the loop goes to that lower rank first.
    An entry is stale when its left part is gone or has a new right neighbour; then the pair's
    bytes no longer have that rank, which is the check.

    Parameters
    ----------
    piece : bytes
        One piece, typically hundreds of bytes or more.
    ranks : mapping of bytes -> int
        The ranked vocabulary.

    Returns
    -------
    list of int
        The token ids.

    Examples
    --------
    >>> merge_by_rank_long(b"aaaaa", {bytes([b]): b for b in range(256)} | {b"aa": 256})
    [256, 256, 97]
    """
    n = len(piece)
    end = list(range(1, n + 1))
    prev = list(range(-1, n - 1))
    buckets: defaultdict[int, list[int]] = defaultdict(list)
    pending: list[int] = []

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
                continue  # stale: a neighbour changed since this pair was filed
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


# --- cutting long pieces where no merge can reach ----------------------------------------------


def joinable_pairs(ranks: Mapping[bytes, int]) -> np.ndarray:
    """Mark the byte pairs that sit side by side inside some token: ``table[256 * a + b]``.

    Subtle: where two neighbouring bytes of a piece sit side by side in no token, no merge can
    ever join across them (every merge makes a token), so the piece can be cut there and each
    side encoded on its own, with the same ids. Random letters have such places every few bytes
    (with GPT-2's ranks, 2,689 of the 65,536 byte pairs occur inside tokens); one letter repeated
    has none.

    Parameters
    ----------
    ranks : mapping of bytes -> int
        The ranked vocabulary.

    Returns
    -------
    numpy.ndarray
        ``(65536,)`` bool.

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

    Parameters
    ----------
    piece : bytes
        One piece.
    joinable : numpy.ndarray
        ``joinable_pairs(ranks)``, ``(65536,)`` bool.

    Returns
    -------
    list of bytes
        The chunks, in order; they concatenate to ``piece``.

    Examples
    --------
    >>> ranks = {bytes([b]): b for b in range(256)} | {b"ab": 256}
    >>> cut_where_no_token_spans(b"abba", joinable_pairs(ranks))
    [b'ab', b'b', b'a']
    """
    codes = np.frombuffer(piece, dtype=np.uint8).astype(np.intp)  # (n,)
    cuts = (np.flatnonzero(~joinable[codes[:-1] * 256 + codes[1:]]) + 1).tolist()
    return [piece[start:stop] for start, stop in pairwise([0, *cuts, len(piece)])]


# --- encoding a piece, and many pieces at once -------------------------------------------------


def encode_piece(
    piece: bytes, ranks: Mapping[bytes, int], joinable: np.ndarray | None = None
) -> list[int]:
    """Encode one piece with ranked merges, choosing the fastest exact method.

    A piece that is itself a token is that token (tiktoken does the same; for trained
    vocabularies the merges would reach it anyway). Short pieces use :func:`merge_by_rank`, long
    ones :func:`merge_by_rank_long`; both give the same ids. Given the ``joinable`` table, a long
    piece is first cut where no token can span (:func:`cut_where_no_token_spans`).

    Parameters
    ----------
    piece : bytes
        The UTF-8 bytes of one piece of the split text.
    ranks : mapping of bytes -> int
        The ranked vocabulary; all 256 single bytes must be in it.
    joinable : numpy.ndarray, optional
        ``joinable_pairs(ranks)``, ``(65536,)`` bool.

    Returns
    -------
    list of int
        The token ids, whose byte strings concatenate to ``piece``.

    Examples
    --------
    >>> ranks = merges_to_ranks([(108, 111), (256, 119)])   # "lo", then "low"
    >>> encode_piece(b"lowly", ranks)
    [257, 108, 121]
    """
    rank = ranks.get(piece)
    if rank is not None:
        return [rank]
    if len(piece) < LONG_PIECE:
        return merge_by_rank(piece, ranks)
    if joinable is None:
        return merge_by_rank_long(piece, ranks)
    ids: list[int] = []
    for chunk in cut_where_no_token_spans(piece, joinable):
        ids += encode_piece(chunk, ranks)
    return ids


def byte_pair_ranks(ranks: Mapping[bytes, int]) -> np.ndarray:
    """The rank of every two-byte token at ``table[256 * a + b]``, ``len(ranks)`` for the others.

    ``len(ranks)`` is above every rank, so it reads "no token" in a minimum over ranks.

    Parameters
    ----------
    ranks : mapping of bytes -> int
        The ranked vocabulary.

    Returns
    -------
    numpy.ndarray
        ``(65536,)`` int64.

    Examples
    --------
    >>> table = byte_pair_ranks({bytes([b]): b for b in range(256)} | {b"ab": 256})
    >>> int(table[256 * ord("a") + ord("b")]), int(table[256 * ord("b") + ord("a")])
    (256, 257)
    """
    table = np.full(65536, len(ranks), dtype=np.int64)
    for token, rank in ranks.items():
        if len(token) == 2:
            table[256 * token[0] + token[1]] = rank
    return table


def merge_by_rank_batch(
    pieces: list[bytes], ranks: Mapping[bytes, int], pair_table: np.ndarray
) -> list[list[int]]:
    """``[merge_by_rank(piece, ranks) for piece in pieces]``, with all pieces advancing together.

    The pieces are laid end to end. ``starts[j]`` is where part ``j`` begins (all parts of all
    pieces in order), ``part_id[j]`` its token id, ``pair_rank[j]`` the rank of part ``j`` joined
    to part ``j + 1`` (``none`` when that is not a token, ``edge`` when part ``j`` is the last of
    its piece), and ``first[p]`` the index of piece ``p``'s first part. In a round, each piece
    finds its lowest, leftmost pair with one segmented minimum over ``pair_rank * count + j`` and
    merges it: the very step :func:`merge_by_rank` takes, so every piece goes through the same
    merges, and the merged part is the token of that rank. NumPy deletes the merged boundaries;
    only the ranks of the two new pairs beside each merge are dictionary lookups. The rounds
    stop when no piece has a pair left to merge; there are as many as the most merges any one
    piece needs (at most its length), so give it short pieces.

    Parameters
    ----------
    pieces : list of bytes
        Non-empty pieces.
    ranks : mapping of bytes -> int
        The ranked vocabulary; all 256 single bytes must be in it.
    pair_table : numpy.ndarray
        ``byte_pair_ranks(ranks)``, ``(65536,)`` int64.

    Returns
    -------
    list of list of int
        The ids of each piece.

    Examples
    --------
    >>> ranks = {bytes([b]): b for b in range(256)} | {b"aa": 256}
    >>> merge_by_rank_batch([b"aaa", b"ba"], ranks, byte_pair_ranks(ranks))
    [[256, 97], [98, 97]]
    """
    if not pieces:
        return []
    none, edge = len(ranks), len(ranks) + 1  # both above every rank; edge is never merged
    data = b"".join(pieces)
    codes = np.frombuffer(data, dtype=np.uint8).astype(np.int64)  # (n_bytes,)
    first = np.cumsum([0] + [len(piece) for piece in pieces[:-1]])  # (n_pieces,)
    starts = np.arange(len(data) + 1)  # (n_parts + 1,) every byte a part, then the end
    byte_ids = np.array([ranks[bytes([b])] for b in range(256)], dtype=np.int64)  # (256,)
    part_id = byte_ids[codes]  # (n_parts,) the token id of each part
    pair_rank = np.append(pair_table[codes[:-1] * 256 + codes[1:]], edge)  # (n_parts,)
    pair_rank[first[1:] - 1] = edge

    def ranks_of(left: np.ndarray, right: np.ndarray) -> list[int]:
        """The rank of ``data[starts[l]:starts[r]]`` for each l, r (``none`` if not a token)."""
        spans = map(slice, starts[left].tolist(), starts[right].tolist())
        return list(map(ranks.get, map(data.__getitem__, spans), repeat(none)))

    while True:
        count = len(pair_rank)
        lowest = np.minimum.reduceat(pair_rank * count + np.arange(count), first)  # (n_pieces,)
        merging = lowest // count < none  # (n_pieces,) the pieces with a pair left to merge
        if not merging.any():
            break
        k = lowest[merging] % count  # part k of each merging piece absorbs part k + 1
        part_id[k] = lowest[merging] // count  # the merged part is the token of that rank
        part_id = np.delete(part_id, k + 1)
        starts = np.delete(starts, k + 1)
        pair_rank = np.delete(pair_rank, k)
        first -= np.cumsum(merging) - merging  # parts deleted in the pieces before
        k -= np.arange(len(k))  # part indices after the deletions
        left = k[k > first[merging]]  # merged parts with a part on their left in the piece
        pair_rank[left - 1] = ranks_of(left - 1, left + 1)
        right = k[pair_rank[k] != edge]  # ... and with a part on their right
        pair_rank[right] = ranks_of(right, right + 2)
    ids = part_id.tolist()
    cuts = [*first.tolist(), len(ids)]
    return [ids[start:stop] for start, stop in pairwise(cuts)]


def encode_pieces(
    pieces: list[bytes],
    ranks: Mapping[bytes, int],
    joinable: np.ndarray | None = None,
    pair_table: np.ndarray | None = None,
) -> list[list[int]]:
    """Encode many pieces: ``[encode_piece(piece, ranks, joinable) for piece in pieces]``, faster.

    A piece that is a token is that token. Given ``pair_table`` and at least :data:`BATCH_MIN`
    short pieces (at most :data:`SHORT_PIECE` bytes) that are not tokens, those are merged
    together by :func:`merge_by_rank_batch`; otherwise each is merged as :func:`encode_piece`
    would.

    Parameters
    ----------
    pieces : list of bytes
        The pieces, each the UTF-8 bytes of one piece of the split text.
    ranks : mapping of bytes -> int
        The ranked vocabulary; all 256 single bytes must be in it.
    joinable : numpy.ndarray, optional
        ``joinable_pairs(ranks)``, ``(65536,)`` bool.
    pair_table : numpy.ndarray, optional
        ``byte_pair_ranks(ranks)``, ``(65536,)`` int64.

    Returns
    -------
    list of list of int
        The ids of each piece, in order.

    Examples
    --------
    >>> ranks = merges_to_ranks([(108, 111), (256, 119)])   # "lo", then "low"
    >>> encode_pieces([b"lowly", b"low"], ranks)
    [[257, 108, 121], [257]]
    """
    encoded: list = [None] * len(pieces)
    short = []  # the short pieces that are not tokens: merged below, all together if many
    for i, piece in enumerate(pieces):
        rank = ranks.get(piece)
        if rank is not None:
            encoded[i] = [rank]
        elif 2 <= len(piece) <= SHORT_PIECE:
            short.append(i)
        else:
            encoded[i] = encode_piece(piece, ranks, joinable)
    if pair_table is not None and len(short) >= BATCH_MIN:
        merged = merge_by_rank_batch([pieces[i] for i in short], ranks, pair_table)
    else:
        merged = [merge_by_rank(pieces[i], ranks) for i in short]
    for i, ids in zip(short, merged, strict=True):
        encoded[i] = ids
    return encoded
