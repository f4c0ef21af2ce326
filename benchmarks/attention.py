"""What each position scheme adds to the key-query product, in milliseconds.

Every scheme modifies the scores ``q @ k.T`` of one attention layer; this prints the cost of its
bias (or rotation) next to the cost of that plain matrix product, and their ratio (target: <= 1).

- Bias schemes (ALiBi, T5, Transformer-XL): 16 heads x 2048 queries x 2048 keys, float32; the
  product is ``q @ k.T`` with q, k of shape (16, 2048, 64) -> scores (16, 2048, 2048) = 256 MB.
- RoPE: batch 8, 2048 positions, d_head 64, float32; q and k (8, 2048, 64) are both rotated and
  the product is ``q @ k.T`` -> (8, 2048, 2048).

Run: python benchmarks/attention.py   (PyTorch, when installed, is timed as a peer.)

Our code is single-threaded NumPy; the product uses every BLAS thread. On a shared machine,
busy cores slow multi-threaded BLAS far more than anything else, so for a per-core comparison
that other processes do not distort, run it as OPENBLAS_NUM_THREADS=1 python benchmarks/attention.py
"""

from __future__ import annotations

import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from minimal_embed.attention import (  # noqa: E402
    T5RelativeBias,
    alibi_bias,
    alibi_slopes,
    rel_shift,
    rope,
    softmax,
    t5_relative_buckets,
)

try:
    import torch
except ImportError:  # the peer is optional
    torch = None

HEADS, SEQ, D_HEAD, ROPE_BATCH = 16, 2048, 64, 8


def milliseconds(run, repeats: int = 5) -> float:
    """Best wall time of ``run()`` over ``repeats`` calls, after one warm-up call.

    The minimum, as timeit reports, because other processes on a shared machine only ever add
    time (multi-threaded BLAS suffers most when a core is busy)."""
    return paired(run, None, repeats)[0]


def paired(run, reference, repeats: int = 5) -> tuple[float, float]:
    """Best times of ``run()`` and ``reference()``, called alternately so both see the same load.

    ``reference=None`` times ``run`` alone; the second time is then ``inf``."""
    best = {run: math.inf, reference: math.inf}
    for attempt in range(repeats + 1):
        for function in (run, reference) if reference else (run,):
            start = time.perf_counter()
            result = function()
            elapsed = time.perf_counter() - start
            del result  # free the 256 MB output before the next call
            if attempt:  # the first round only warms up
                best[function] = min(best[function], elapsed)
    return 1e3 * best[run], 1e3 * best[reference]


def torch_peers(q, k, x, slopes):
    """The same operations in PyTorch (CPU), or None when it is not installed."""
    if torch is None:
        return {}
    tq, tk, tx = torch.from_numpy(q), torch.from_numpy(k), torch.from_numpy(x)
    relative = (torch.arange(SEQ)[None, :] - torch.arange(SEQ)[:, None]).float()  # j - i
    theta = 10000.0 ** (-torch.arange(0, D_HEAD, 2, dtype=torch.float64) / D_HEAD)
    angles = torch.arange(SEQ, dtype=torch.float64)[:, None] * theta
    cos = torch.cat([angles.cos(), angles.cos()], -1).float()
    sin = torch.cat([angles.sin(), angles.sin()], -1).float()
    tslopes = torch.from_numpy(slopes)

    def torch_rope(t):  # GPT-NeoX's rotate-half
        half = torch.cat([-t[..., D_HEAD // 2:], t[..., : D_HEAD // 2]], -1)
        return t * cos + half * sin

    with torch.no_grad():
        return {
            "matmul": milliseconds(lambda: tq @ tk.transpose(-1, -2)),
            "alibi": milliseconds(lambda: tslopes[:, None, None] * relative),
            "rope": milliseconds(lambda: (torch_rope(tx), torch_rope(tx))),
            "rope matmul": milliseconds(lambda: tx @ tx.transpose(-1, -2)),
        }


def main() -> None:
    rng = np.random.default_rng(0)
    q = rng.standard_normal((HEADS, SEQ, D_HEAD), dtype=np.float32)  # (heads, q_len, d_head)
    k = rng.standard_normal((HEADS, SEQ, D_HEAD), dtype=np.float32)  # (heads, k_len, d_head)
    x = rng.standard_normal((ROPE_BATCH, SEQ, D_HEAD), dtype=np.float32)  # (batch, seq, d_head)
    positions = np.arange(SEQ)
    t5 = T5RelativeBias(32, HEADS, seed=0)
    grad_bias = rng.standard_normal((HEADS, SEQ, SEQ), dtype=np.float32)
    by_distance = q @ np.swapaxes(k, -1, -2)  # stands in for (q + v) @ r.T, (heads, SEQ, SEQ)
    slopes = alibi_slopes(HEADS)  # (heads,)

    def matmul():
        return q @ np.swapaxes(k, -1, -2)  # (16, 2048, 2048)

    def rope_matmul():
        return x @ np.swapaxes(x, -1, -2)  # (8, 2048, 2048)

    rows = [  # (scheme, what is timed, ours, the product it modifies, torch peer, repeats)
        ("ALiBi", "alibi_bias(16, 2048)", lambda: alibi_bias(HEADS, SEQ), matmul, "alibi", 5),
        ("ALiBi", "alibi_bias(..., symmetric=True)",
         lambda: alibi_bias(HEADS, SEQ, symmetric=True), matmul, None, 5),
        ("T5", "t5_relative_buckets(2048, 2048)",
         lambda: t5_relative_buckets(SEQ, SEQ), matmul, None, 5),
        ("T5", "T5RelativeBias(32, 16)(2048)", lambda: t5(SEQ), matmul, None, 5),
        ("T5", "backward: diagonal sums (fast)", lambda: t5.backward(grad_bias), matmul, None, 5),
        ("T5", "backward_plain: np.add.at",
         lambda: t5.backward_plain(grad_bias), matmul, None, 1),
        ("Transformer-XL", "rel_shift of (16, 2048, 2048)",
         lambda: rel_shift(by_distance), matmul, None, 5),
        ("Transformer-XL", "position term: (q+v) @ r.T + rel_shift",
         lambda: rel_shift(q @ np.swapaxes(k, -1, -2)), matmul, None, 5),
        ("RoPE (NeoX)", "rope(q) and rope(k), (8, 2048, 64)",
         lambda: [rope(x, positions) for _ in "qk"], rope_matmul, "rope", 5),
        ("RoPE (GPT-J)", "interleaved=True, q and k",
         lambda: [rope(x, positions, interleaved=True) for _ in "qk"], rope_matmul, None, 5),
        ("RoPE (NeoX 25%)", "rotary_dim=16, q and k",
         lambda: [rope(x, positions, rotary_dim=16) for _ in "qk"], rope_matmul, None, 5),
        ("(any)", "softmax of (16, 2048, 2048) scores",
         lambda: softmax(by_distance), matmul, None, 5),
    ]
    timed = [(scheme, what, *paired(run, reference, repeats), peer)
             for scheme, what, run, reference, peer, repeats in rows]
    peers = torch_peers(q, k, x, slopes)

    print(f"numpy {np.__version__}; torch {torch.__version__ if torch else 'not installed'}; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end; best of 5 "
          f"runs (the slow np.add.at reference: 1 run)")
    print("q @ k.T: (16, 2048, 64) @ (16, 64, 2048) for the bias rows, "
          "(8, 2048, 64) @ (8, 64, 2048) for RoPE; timed alternately with each row")
    if peers:
        print(f"torch q @ k.T: {peers['matmul']:.1f} ms and {peers['rope matmul']:.1f} ms")
    print()
    header = f"| {'scheme':<16} | {'what is timed':<40} | {'ours ms':>8} | {'q@k.T ms':>8} |"
    header += f" {'ratio':>6} | {'torch ms':>12} |"
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for scheme, what, ours, reference, peer in timed:
        if peer is None:
            theirs = "-"
        else:
            theirs = f"{peers[peer]:.1f}" if peers else "not installed"
        print(f"| {scheme:<16} | {what:<40} | {ours:>8.1f} | {reference:>8.1f} |"
              f" {ours / reference:>5.2f}x | {theirs:>12} |")


if __name__ == "__main__":
    main()
