"""Which two tokens join into a token: the table that lets many pieces merge in NumPy alone.

When two neighbouring parts ``a`` and ``b`` of a piece are compared for merging, tiktoken's rule
asks for the rank of their joined bytes ``a + b``. Every pair that has one splits some token
``t`` in two tokens, ``t[:k]`` and ``t[k:]``, so one pass over the vocabulary finds them all:
GPT-2's 50,257 tokens have 108,299 such splits. With the pairs in a table keyed by the two ids,
the rank of a joined pair is one array lookup instead of a slice and a dictionary lookup each.

:func:`token_pairs_plain` looks up both halves of every split in ``ranks``. :func:`token_pairs`
does the same in whole-array steps: each byte span gets a polynomial hash, the tokens' hashes go
into an :class:`~.hashing.IntTable` (a hash table in NumPy arrays), and the bytes of every hit
are compared, so a collision of hashes can only cost time, never give a wrong pair.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from minimal_embed.tokenizer import hashing
from minimal_embed.tokenizer.hashing import IntTable


def token_pairs_plain(ranks: Mapping[bytes, int]) -> dict[tuple[int, int], int]:
    """Every pair of tokens that joins into a token: ``(rank(t[:k]), rank(t[k:])) -> rank(t)``.

    Examples
    --------
    >>> ranks = {bytes([b]): b for b in range(256)} | {b"ab": 256, b"abc": 257}
    >>> token_pairs_plain(ranks)
    {(97, 98): 256, (256, 99): 257}
    """
    pairs = {}
    for token, rank in ranks.items():
        for k in range(1, len(token)):
            left, right = ranks.get(token[:k]), ranks.get(token[k:])
            if left is not None and right is not None:
                pairs[left, right] = rank
    return pairs


class TokenPairs:
    """The rank of two tokens joined, for whole arrays of pairs.

    Built from the pairs ``(left[i], right[i]) -> joined[i]`` (``(p,)`` integer arrays of ids),
    as :func:`token_pairs` does for a vocabulary.

    Examples
    --------
    >>> pairs = TokenPairs(np.array([97]), np.array([98]), np.array([256]))
    >>> pairs.joined(np.array([97, 98]), np.array([98, 97]), default=-1)
    array([256,  -1])
    """

    def __init__(self, left: np.ndarray, right: np.ndarray, joined: np.ndarray) -> None:
        left, right = np.asarray(left, dtype=np.int64), np.asarray(right, dtype=np.int64)
        self.width = 1 + int(max(left.max(initial=0), right.max(initial=0)))  # above every id
        self._table = IntTable(left * self.width + right, joined)

    @classmethod
    def from_dict(cls, pairs: Mapping[tuple[int, int], int]) -> TokenPairs:
        """The pairs of :func:`token_pairs_plain`'s dict."""
        left, right = (np.array([pair[side] for pair in pairs], dtype=np.int64) for side in (0, 1))
        return cls(left, right, np.fromiter(pairs.values(), dtype=np.int64, count=len(pairs)))

    def joined(self, left: np.ndarray, right: np.ndarray, default: int) -> np.ndarray:
        """The rank of token ``left[i]`` followed by ``right[i]``, ``default`` if no token."""
        known = (left < self.width) & (right < self.width)  # ids above every pair's: no token
        found = self._table.get(np.where(known, left * self.width + right, -1), default)
        return np.where(known, found, default)


def token_pairs(ranks: Mapping[bytes, int]) -> TokenPairs:
    """:func:`token_pairs_plain` of ``ranks``, found in whole-array steps, as :class:`TokenPairs`.

    Every split ``(t, k)`` of every token looks up the hashes of ``t[:k]`` and ``t[k:]`` among
    the tokens' hashes; then every split found is checked byte by byte, so only true splits are
    kept. (Should two tokens share a hash, the plain version builds the table.)

    Examples
    --------
    >>> pairs = token_pairs({bytes([b]): b for b in range(256)} | {b"ab": 256, b"abc": 257})
    >>> pairs.joined(np.array([97, 256, 256]), np.array([98, 99, 98]), default=-1)
    array([256, 257,  -1])
    """
    tokens = list(ranks)
    ids = np.fromiter(ranks.values(), dtype=np.int64, count=len(tokens))  # (V,)
    lengths = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))  # (V,)
    data = np.frombuffer(b"".join(tokens), dtype=np.uint8)  # every token's bytes, end to end
    ends = np.cumsum(lengths)
    starts = ends - lengths
    tables = hashing.span_hashes(data)
    try:
        token_of_hash = IntTable(hashing.span_hash(tables, starts, ends), np.arange(len(tokens)))
    except ValueError:  # two tokens with one hash: not worth a cleverer table
        return TokenPairs.from_dict(token_pairs_plain(ranks))
    # every split (owner, k) of a token of two bytes or more, k = 1 .. length - 1
    splits = np.maximum(lengths - 1, 0)
    owner = np.repeat(np.arange(len(tokens)), splits)  # (S,)
    k = np.arange(len(owner)) - np.repeat(np.cumsum(splits) - splits, splits) + 1  # (S,)
    middle = starts[owner] + k
    left = token_of_hash.get(hashing.span_hash(tables, starts[owner], middle), -1)
    owner, middle, left = owner[left >= 0], middle[left >= 0], left[left >= 0]
    right = token_of_hash.get(hashing.span_hash(tables, middle, ends[owner]), -1)
    found = right >= 0
    owner, middle, left, right = owner[found], middle[found], left[found], right[found]
    true = _halves_match(data, starts, lengths, owner, middle - starts[owner], left, right)
    owner, left, right = owner[true], left[true], right[true]
    return TokenPairs(ids[left], ids[right], ids[owner])


def _halves_match(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray, owner: np.ndarray,
                  k: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """For each split found by hash: are tokens ``left`` and ``right`` really the bytes of token
    ``owner`` before and after ``k``? (all token indices into ``starts`` and ``lengths``) Halves
    of at most :data:`~.hashing.EXACT_SPAN` bytes are equal if their hashes are; a split with a
    longer half is compared byte by byte."""
    size = lengths[owner]
    fits = (lengths[left] == k) & (lengths[right] == size - k)
    long_half = np.maximum(k, size - k) > hashing.EXACT_SPAN
    checked = np.flatnonzero(fits & long_half)
    if not len(checked):
        return fits
    owner, k, left, right = owner[checked], k[checked], left[checked], right[checked]
    rest = size[checked] - k
    fits[checked] = (hashing.equal_spans(data, starts[owner], starts[left], k)
                     & hashing.equal_spans(data, starts[owner] + k, starts[right], rest))
    return fits
