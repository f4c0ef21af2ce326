"""Independent references shared by several test modules: obviously-correct, slow on purpose."""

import numpy as np


def central_differences(loss, array, h=1e-6):
    """d loss / d array, one entry at a time: (loss(a + h) - loss(a - h)) / 2h.

    ``loss`` takes no arguments and reads ``array``, which is changed in place and restored.
    """
    grad = np.zeros_like(array)
    for index in np.ndindex(array.shape):
        keep = array[index]
        array[index] = keep + h
        up = loss()
        array[index] = keep - h
        down = loss()
        array[index] = keep
        grad[index] = (up - down) / (2 * h)
    return grad


def byte_merges(merges):
    """Trained merges ``(left_id, right_id)`` as byte pairs: byte b is id b, merge k is 256 + k."""
    vocab = [bytes([b]) for b in range(256)]
    for left, right in merges:
        vocab.append(vocab[left] + vocab[right])
    return [(vocab[left], vocab[right]) for left, right in merges]


def merges_in_order(piece, merges, ranks):
    """Encode ``piece`` the way training segmented it: each merge, in order, everywhere.

    ``merges`` are ``(left_bytes, right_bytes)`` in rank order; each is applied to the whole
    piece left to right before the next, and the parts are then looked up in ``ranks``.

    This equals the rank rule (join the lowest-ranked adjacent pair, leftmost first) on a
    vocabulary whose tokens are made by their merges: for every token of rank r, the rule on its
    bytes with only ranks below r stops at exactly the two parts of its merge. Trained
    vocabularies (and GPT-2's) are such; hand-made ones need not be (with "bc" < "ab" < "abc"
    and "abc" listed as ab + c, the rule still joins a + bc, the merges never do).
    """
    parts = [bytes([b]) for b in piece]
    for left, right in merges:
        joined, i = [], 0
        while i < len(parts):
            if i + 1 < len(parts) and parts[i] == left and parts[i + 1] == right:
                joined.append(left + right)
                i += 2
            else:
                joined.append(parts[i])
                i += 1
        parts = joined
    return [ranks[part] for part in parts]
