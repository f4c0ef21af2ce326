"""Many texts' ids -> one padded id array and its mask: the batch every tokenizer hands on.

Each of the three tokenizers (byte-level BPE, WordPiece, Unigram) encodes the texts of a batch
one by one; this module lays the id lists out as the ``(seq_len, batch)`` array the embedding
reads, so the walkthrough and the input stage take any of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import chain

import numpy as np

from minimal_embed._checks import check_integer


def checked_texts(texts: Iterable[str]) -> list[str]:
    """``texts`` as a list; TypeError for one str (a common slip: wrap it) or a non-str item."""
    if isinstance(texts, str):
        raise TypeError("texts must be a list of str, not one str; wrap it: [text]")
    if not isinstance(texts, Iterable):
        raise TypeError(f"texts must be a list of str, got {type(texts).__name__}")
    texts = list(texts)
    for number, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"item {number} of texts is a {type(text).__name__}, not a str")
    return texts


def pad_batch(
    encoded: list[list[int]],
    *,
    max_len: int | None = None,
    pad_id: int = 0,
    batch_first: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Lay id lists out as one array padded at the end with ``pad_id``, and a mask of real ids.

    Each list keeps its first ``max_len`` ids; ``seq_len`` is the longest list after that.

    Returns
    -------
    ids : np.ndarray of int64, shape (seq_len, batch)
        ``(batch, seq_len)`` with ``batch_first``.
    mask : np.ndarray of bool, same shape
        True at real ids, False at padding.

    Raises
    ------
    TypeError, ValueError
        If ``max_len`` is not an integer >= 1.

    Examples
    --------
    >>> ids, mask = pad_batch([[5, 6, 7], [8]], pad_id=0)
    >>> ids.tolist(), mask.tolist()   # one column per text
    ([[5, 8], [6, 0], [7, 0]], [[True, True], [True, False], [True, False]])
    """
    if max_len is not None:
        max_len = check_integer("max_len", max_len, least=1)
        encoded = [ids[:max_len] for ids in encoded]
    lengths = np.array([len(ids) for ids in encoded], dtype=np.int64)  # (batch,)
    seq_len = int(lengths.max(initial=0))
    mask = np.arange(seq_len) < lengths[:, None]  # (batch, seq_len)
    ids = np.full(mask.shape, pad_id, dtype=np.int64)  # (batch, seq_len)
    # row-major order of the True cells is exactly the texts' ids one after the other
    ids[mask] = np.fromiter(chain.from_iterable(encoded), np.int64, int(lengths.sum()))
    if batch_first:
        return ids, mask
    return np.ascontiguousarray(ids.T), np.ascontiguousarray(mask.T)  # (seq_len, batch)
