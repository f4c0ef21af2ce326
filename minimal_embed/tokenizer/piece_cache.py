"""Pieces -> ids, each distinct piece encoded once: what makes encoding real text fast.

Text repeats its words, so the Tokenizer keeps the ids of every piece it has encoded. The pieces
of a text not seen before are encoded together by :func:`~.bpe_encode.encode_pieces` (the short
ones in one NumPy batch), with the two lookup tables it needs built once per vocabulary.
"""

from __future__ import annotations

from collections.abc import Mapping

from minimal_embed.tokenizer import bpe_encode

CACHE_SIZE = 100_000  # distinct pieces kept between calls; the cache is emptied beyond this


class PieceCache:
    """Encodes lists of pieces with ``ranks`` (checked), remembering every distinct piece's ids.

    At most ``size`` pieces are kept; beyond it the cache starts again empty.

    Examples
    --------
    >>> cache = PieceCache({bytes([b]): b for b in range(256)} | {b"ab": 256})
    >>> cache.encode(["ab", "cab", "ab"])
    [256, 99, 256, 256]
    """

    def __init__(self, ranks: Mapping[bytes, int], size: int = CACHE_SIZE) -> None:
        self.ranks, self.size = ranks, size
        self.ids: dict[str, list[int]] = {}
        self.joinable = bpe_encode.joinable_pairs(ranks)  # where long pieces can be cut
        self.pair_table = bpe_encode.byte_pair_ranks(ranks)  # the first merges of many pieces

    def encode(self, pieces: list[str]) -> list[int]:
        """The ids of ``pieces``, one piece after the other."""
        if len(self.ids) > self.size:
            self.ids.clear()
        new = list(set(pieces).difference(self.ids))
        utf8 = [piece.encode("utf-8") for piece in new]
        encoded = bpe_encode.encode_pieces(utf8, self.ranks, self.joinable, self.pair_table)
        self.ids.update(zip(new, encoded, strict=True))
        ids: list[int] = []
        for piece_ids in map(self.ids.__getitem__, pieces):
            ids += piece_ids  # extending one list beats chain() over many short lists
        return ids
