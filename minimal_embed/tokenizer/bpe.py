"""Byte-pair encoding, the plain definitions: count pairs, merge one, train, encode a piece by rank.

On ``bytes`` and lists of ids (byte ``b`` starts as id ``b``), as plainly as possible;
``bpe_train.py`` and ``bpe_encode.py`` compute the same fast, and the tests prove them equal.

Training (Sennrich et al. 2016; byte-level as in GPT-2) takes the pieces of the split text with
their counts (``{b" the": 5123, ...}``) and repeatedly replaces the most frequent adjacent pair
of ids by a new id; no merge crosses the end of a piece.

Encoding uses ``ranks``, a ranked vocabulary: distinct byte strings -> rank (== id), dense from 0,
all 256 single bytes in it. A piece's parts are joined where the adjacent pair's concatenation
has the lowest rank until no pair is a token (tiktoken's rule); for a trained vocabulary this
replays the training merges (:func:`merges_to_ranks` says why).
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import pairwise

from minimal_embed._checks import check_integer
from minimal_embed.tokenizer.checks import check_piece_counts

Pair = tuple[int, int]
NOT_A_TOKEN = float("inf")  # the rank of a pair whose concatenation is not a token


def count_pairs(
    ids: list[int], counts: dict[Pair, int] | None = None, weight: int = 1
) -> dict[Pair, int]:
    """Add ``weight`` to ``counts[(a, b)]`` for every adjacent, overlapping pair of ``ids``.

    ``counts`` (a new dict when None) is returned, updated; ``weight`` is how often ``ids`` occurs.

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
    """A new list: ``ids`` with every occurrence of ``pair`` replaced by ``new_id``, left to right.

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


def train_plain(piece_counts: Mapping[bytes, int], num_merges: int) -> list[Pair]:
    """Learn up to ``num_merges`` merges, recounting every pair of every piece after each merge.

    ``piece_counts`` maps each distinct piece of the training text to its count. Merge ``k`` is
    the most frequent pair (weighted by the counts; ties to the smallest), replaced everywhere by
    id ``256 + k``; the merged pairs come back in order, fewer when no pair is left. Costs
    O(num_merges * total piece length); :func:`~.bpe_train.train` is the fast version.

    Raises
    ------
    TypeError, ValueError
        If a piece is not bytes, or a count or ``num_merges`` is not an integer in range.

    Examples
    --------
    >>> train_plain({b"aaab": 1}, 5)   # (256, 97) and (97, 98) tie: the smaller pair wins
    [(97, 97), (97, 98), (256, 257)]
    """
    check_piece_counts(piece_counts)
    num_merges = check_integer("num_merges", num_merges)
    words = [list(piece) for piece in piece_counts]
    freqs = list(piece_counts.values())
    merges: list[Pair] = []
    while len(merges) < num_merges:
        counts: dict[Pair, int] = {}
        for word, freq in zip(words, freqs, strict=True):
            count_pairs(word, counts, freq)
        if not counts:
            break
        best = min(counts, key=lambda pair: (-counts[pair], pair))
        words = [merge_pair(word, best, 256 + len(merges)) for word in words]
        merges.append(best)
    return merges


def merges_to_ranks(merges: list[Pair]) -> dict[bytes, int]:
    """The ranked vocabulary of trained merges: byte ``b`` has rank ``b``, merge ``k`` ``256 + k``.

    Subtle: the byte strings are all distinct. A merge never creates a byte string that is
    already a token: a span that no token crosses is segmented exactly as it would be on its own,
    so once a string is a token, every uncrossed occurrence of it is that one token and no later
    pair can spell it again. Hence ids and byte strings are one-to-one.

    Examples
    --------
    >>> merges_to_ranks([(97, 97), (256, 98)])[b"aab"]
    257
    """
    vocab = [bytes([b]) for b in range(256)]
    for left, right in merges:
        vocab.append(vocab[left] + vocab[right])
    return {token: rank for rank, token in enumerate(vocab)}


def merge_by_rank_plain(
    piece: bytes, ranks: Mapping[bytes, int], max_rank: int | None = None
) -> list[int]:
    """Encode a piece: join the lowest-ranked adjacent pair of parts until none is a token.

    The parts start as single bytes; each round ranks every adjacent pair ``ranks[left + right]``
    and joins the lowest (the leftmost on a tie). O(n^2) for n bytes; ``bpe_encode.py`` has the
    fast versions. With ``max_rank``, only pairs of rank below it are joined: what is left of a
    token of rank ``r`` with ``max_rank=r`` is the merge that made it
    (:func:`~.rankfiles.merges_from_ranks`). Returns the ids of the parts.

    Examples
    --------
    >>> ranks = {bytes([b]): b for b in range(256)} | {b"aa": 256, b"ab": 257}
    >>> merge_by_rank_plain(b"aaab", ranks)   # subtle: leftmost first, so "aa" + "ab"
    [256, 257]
    """
    limit = NOT_A_TOKEN if max_rank is None else max_rank
    parts = [piece[i : i + 1] for i in range(len(piece))]
    while len(parts) > 1:
        pair_ranks = [ranks.get(left + right, NOT_A_TOKEN) for left, right in pairwise(parts)]
        best = min(pair_ranks)
        if best >= limit:
            break
        k = pair_ranks.index(best)  # the leftmost pair of the lowest rank
        parts[k : k + 2] = [parts[k] + parts[k + 1]]
    return [ranks[part] for part in parts]
