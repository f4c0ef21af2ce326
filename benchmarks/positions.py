"""Position tables and the whole input stage, timed next to the floor and next to PyTorch.

    python benchmarks/positions.py

1. ``sinusoidal_table(8192, 1024)`` in float32, with its max error against the float64 formula,
   next to a bare float64 ``np.sin`` over the same 8192 x 1024 angles (the floor a naive table
   pays: it needs that and a cos as well), the plain reference, and PyTorch's usual recipe.
   Target: <= 0.5x the floor at <= 1e-6 max error.
2. ``InputEmbedding`` (GPT-2 preset: learned positions, dropout 0.1) forward + backward for
   8 x 1024 random ids, d_model 768, V 50257, next to the same model in PyTorch.

Each figure is the best of several runs (the minimum is the least disturbed by other work).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # run from a plain checkout

from minimal_embed import InputEmbedding, sinusoidal_table  # noqa: E402
from minimal_embed.positional import sinusoidal_table_plain  # noqa: E402

N_POS, DIM = 8192, 1024
BATCH, SEQ_LEN, D_MODEL, VOCAB = 8, 1024, 768, 50257

try:
    import torch
except ImportError:                                      # the peer is optional
    torch = None


def best_ms(fn, repeats: int = 7) -> float:
    fn()                                                 # warm up caches and allocators
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best * 1e3


def float64_formula() -> tuple[np.ndarray, np.ndarray]:
    """The angles p * w_j and the exact table (interleaved) in float64."""
    w = 1.0 / 10000.0 ** (2 * np.arange(DIM // 2) / DIM)
    angles = np.arange(N_POS)[:, None] * w               # (8192, 512)
    exact = np.empty((N_POS, DIM))
    exact[:, 0::2], exact[:, 1::2] = np.sin(angles), np.cos(angles)
    return angles, exact


def torch_recipe():
    """PyTorch's usual table: float32 angles from exp(-log(base) * 2j / dim)."""
    position = torch.arange(N_POS, dtype=torch.float32)[:, None]
    w = torch.exp(torch.arange(0, DIM, 2, dtype=torch.float32) * (-np.log(10000.0) / DIM))
    table = torch.empty(N_POS, DIM)
    table[:, 0::2] = torch.sin(position * w)
    table[:, 1::2] = torch.cos(position * w)
    return table


def table_rows() -> list[tuple[str, float, str]]:
    angles, exact = float64_formula()
    same_size = np.concatenate([angles, angles], axis=1)  # (8192, 1024): as many elements
    rows = [("bare float64 np.sin, 8192x1024 (floor)", best_ms(lambda: np.sin(same_size)), "-")]
    for name, fn in (("sinusoidal_table (ours, float32)",
                      lambda: sinusoidal_table(N_POS, DIM)),
                     ("sinusoidal_table_plain (float32)",
                      lambda: sinusoidal_table_plain(N_POS, DIM))):
        error = np.abs(fn().astype(np.float64) - exact).max()
        rows.append((name, best_ms(fn), f"{error:.1e}"))
    if torch is None:
        rows.append(("torch (float32 recipe)", float("nan"), "not installed"))
    else:
        error = np.abs(torch_recipe().numpy().astype(np.float64) - exact).max()
        rows.append((f"torch {torch.__version__} (float32 recipe)", best_ms(torch_recipe),
                     f"{error:.1e}"))
    return rows


def pipeline_rows() -> list[tuple[str, float]]:
    ids = np.random.default_rng(0).integers(0, VOCAB, size=(SEQ_LEN, BATCH))  # (seq_len, batch)
    emb = InputEmbedding.preset("gpt2", None, vocab_size=VOCAB, d_model=D_MODEL, seed=0)
    x, _ = emb.forward(ids)
    grad = np.random.default_rng(1).standard_normal(x.shape).astype(np.float32)
    rows = [("ours: forward", best_ms(lambda: emb.forward(ids))),
            ("ours: backward, dense token grad", best_ms(lambda: emb.backward(grad))),
            ("ours: backward, SparseRows token grad",
             best_ms(lambda: emb.backward(grad, sparse=True)))]

    def ours(sparse):
        return lambda: (emb.forward(ids), emb.backward(grad, sparse=sparse))
    rows += [("ours: forward + backward (dense)", best_ms(ours(False))),
             ("ours: forward + backward (sparse)", best_ms(ours(True)))]
    if torch is None:
        rows.append(("torch: forward + backward", float("nan")))
        return rows
    for sparse in (False, True):
        wte = torch.nn.Embedding(VOCAB, D_MODEL, sparse=sparse)
        wpe = torch.nn.Embedding(1024, D_MODEL, sparse=sparse)
        drop = torch.nn.Dropout(0.1)
        t_ids, t_pos, t_grad = torch.from_numpy(ids), torch.arange(SEQ_LEN), torch.from_numpy(grad)

        def step(wte=wte, wpe=wpe, drop=drop, t_ids=t_ids, t_pos=t_pos, t_grad=t_grad):
            wte.weight.grad = wpe.weight.grad = None
            out = drop(wte(t_ids) + wpe(t_pos)[:, None, :])  # (seq_len, batch, d_model)
            out.backward(t_grad)
        kind = "sparse" if sparse else "dense"
        rows.append((f"torch {torch.__version__}: forward + backward ({kind})", best_ms(step)))
    return rows


def main() -> None:
    print(f"sinusoidal_table({N_POS}, {DIM}), float32; error = max |table - float64 formula|")
    rows = table_rows()
    floor = rows[0][1]
    print(f"{'':44s} {'ms':>8s} {'max error':>13s} {'x floor':>8s}")
    for name, ms, error in rows:
        print(f"{name:44s} {ms:8.2f} {error:>13s} {ms / floor:8.3f}")
    print()
    tokens = BATCH * SEQ_LEN
    print(f"InputEmbedding.preset('gpt2'): {BATCH} x {SEQ_LEN} tokens, d_model {D_MODEL}, "
          f"V {VOCAB}, dropout 0.1")
    rows = pipeline_rows()
    print(f"{'':52s} {'ms':>8s} {'tokens/s':>12s}")
    for name, ms in rows:
        rate = f"{tokens / ms * 1e3:12,.0f}" if ms == ms else f"{'not installed':>12s}"
        print(f"{name:52s} {ms:8.1f} {rate}")
    by_name = dict(rows)
    for kind in ("dense", "sparse"):
        peer = [ms for name, ms in rows if name.startswith("torch") and kind in name]
        if peer:
            ratio = by_name[f"ours: forward + backward ({kind})"] / peer[0]
            print(f"ours / torch, forward + backward ({kind}): {ratio:.2f}")


if __name__ == "__main__":
    main()
