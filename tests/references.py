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


def reference_merge(piece, ranks):
    """Tiktoken's rule, plainly: join the lowest-ranked adjacent pair (leftmost) until none is."""
    parts = [bytes([b]) for b in piece]
    while True:
        joined = [(ranks.get(parts[i] + parts[i + 1]), i) for i in range(len(parts) - 1)]
        candidates = [(rank, i) for rank, i in joined if rank is not None]
        if not candidates:
            return [ranks[part] for part in parts]
        _, i = min(candidates)
        parts[i : i + 2] = [parts[i] + parts[i + 1]]
