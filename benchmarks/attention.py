"""What each position scheme adds to the key-query product, in milliseconds.

Every scheme modifies the scores ``q @ k.T`` of one attention layer; this prints the cost of its
bias (or rotation) next to the cost of that plain matrix product, and their ratio (target: <= 1).

- Bias schemes (ALiBi, T5, Transformer-XL): 16 heads x 2048 queries x 2048 keys, float32; the
  product is ``q @ k.T`` with q, k of shape (16, 2048, 64) -> scores (16, 2048, 2048) = 256 MB.
- RoPE: batch 8, 2048 positions, d_head 64, float32; q and k (8, 2048, 64) are both rotated and
  the product is ``q @ k.T`` -> (8, 2048, 2048).

Run: python benchmarks/attention.py   (PyTorch, when installed, is timed as a peer.)
"""

from __future__ import annotations

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
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
        del result  # free the 256 MB output before the next call
    return 1e3 * min(times)


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

    matmul = milliseconds(lambda: q @ np.swapaxes(k, -1, -2))  # (16, 2048, 2048)
    rope_matmul = milliseconds(lambda: x @ np.swapaxes(x, -1, -2))  # (8, 2048, 2048)
    rows = [
        ("ALiBi", "alibi_bias(16, 2048)", milliseconds(lambda: alibi_bias(HEADS, SEQ)),
         matmul, "alibi"),
        ("ALiBi", "alibi_bias(..., symmetric=True)",
         milliseconds(lambda: alibi_bias(HEADS, SEQ, symmetric=True)), matmul, None),
        ("T5", "t5_relative_buckets(2048, 2048)",
         milliseconds(lambda: t5_relative_buckets(SEQ, SEQ)), matmul, None),
        ("T5", "T5RelativeBias(32, 16)(2048)", milliseconds(lambda: t5(SEQ)), matmul, None),
        ("T5", "backward: diagonal sums (fast)",
         milliseconds(lambda: t5.backward(grad_bias)), matmul, None),
        ("T5", "backward_reference: np.add.at",
         milliseconds(lambda: t5.backward_reference(grad_bias), repeats=1), matmul, None),
        ("Transformer-XL", "rel_shift of (16, 2048, 2048)",
         milliseconds(lambda: rel_shift(by_distance)), matmul, None),
        ("Transformer-XL", "position term: (q+v) @ r.T + rel_shift",
         milliseconds(lambda: rel_shift(q @ np.swapaxes(k, -1, -2))), matmul, None),
        ("RoPE (NeoX)", "rope(q) and rope(k), (8, 2048, 64)",
         milliseconds(lambda: (rope(x, positions), rope(x, positions))), rope_matmul, "rope"),
        ("RoPE (GPT-J)", "interleaved=True, q and k",
         milliseconds(lambda: [rope(x, positions, interleaved=True) for _ in "qk"]),
         rope_matmul, None),
        ("RoPE (NeoX 25%)", "rotary_dim=16, q and k",
         milliseconds(lambda: [rope(x, positions, rotary_dim=16) for _ in "qk"]),
         rope_matmul, None),
        ("(any)", "softmax of (16, 2048, 2048) scores",
         milliseconds(lambda: softmax(by_distance)), matmul, None),
    ]
    peers = torch_peers(q, k, x, slopes)

    print(f"numpy {np.__version__}; torch {torch.__version__ if torch else 'not installed'}; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end; best of 5")
    print(f"q @ k.T, (16, 2048, 64) @ (16, 64, 2048): numpy {matmul:.1f} ms, torch "
          + (f"{peers['matmul']:.1f} ms" if peers else "not installed"))
    print(f"q @ k.T, (8, 2048, 64) @ (8, 64, 2048):   numpy {rope_matmul:.1f} ms, torch "
          + (f"{peers['rope matmul']:.1f} ms" if peers else "not installed"))
    print()
    header = f"| {'scheme':<16} | {'what is timed':<40} | {'ours ms':>8} | {'q@k.T ms':>8} |"
    header += f" {'ratio':>6} | {'torch ms':>12} |"
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for scheme, what, ours, reference, peer in rows:
        if peer is None:
            theirs = "-"
        else:
            theirs = f"{peers[peer]:.1f}" if peers else "not installed"
        print(f"| {scheme:<16} | {what:<40} | {ours:>8.1f} | {reference:>8.1f} |"
              f" {ours / reference:>5.2f}x | {theirs:>12} |")


if __name__ == "__main__":
    main()
