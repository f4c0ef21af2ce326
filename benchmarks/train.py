"""Training throughput: the hand-written NumPy step next to the same model in PyTorch.

One step = forward, loss, backward and an Adam update of every parameter, for the model of
``minimal_embed/model.py`` with learned positions: d_model 128, 4 heads, seq_len 64, batch 32,
the bundled tokenizer's 2048 ids (the tied output ``LayerNorm(h) @ E.T`` is most of the work).
PyTorch runs the same architecture with autograd (``scaled_dot_product_attention`` for the
attention) and ``torch.optim.Adam``, on the same number of threads. Target: NumPy at least 0.5x
PyTorch.

    python benchmarks/train.py [--threads 1] [--steps 10] [--rounds 5]

NumPy's BLAS reads its thread count when NumPy is imported, so ``--threads`` is applied before
the import. The machine may be shared: each implementation is timed in alternating rounds and
the fastest round counts (the least disturbed one).
"""

from __future__ import annotations

import argparse
import os
import sys


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="BLAS/torch threads (default 1)")
    parser.add_argument("--steps", type=int, default=10, help="steps per timed round")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (best counts)")
    return parser.parse_args()


ARGS = parse_args()
for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[variable] = str(ARGS.threads)  # before NumPy (and its BLAS) is loaded

import time  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from minimal_embed.model import AttentionLM, ModelConfig  # noqa: E402
from minimal_embed.optim import Adam  # noqa: E402
from minimal_embed.tokenizer import load_tokenizer  # noqa: E402
from minimal_embed.train import corpus_ids, sample_batch, split_ids, train_step  # noqa: E402

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # the peer is optional
    torch = None

D_MODEL, N_HEADS, SEQ_LEN, BATCH, LR = 128, 4, 64, 32, 1e-3


def numpy_step_function(vocab_size: int):
    model = AttentionLM(ModelConfig(vocab_size=vocab_size, d_model=D_MODEL, n_heads=N_HEADS,
                                    max_len=SEQ_LEN, positions="learned"), seed=0)
    optimizer = Adam(list(model.params.values()), lr=LR)

    def step(inputs: np.ndarray, targets: np.ndarray) -> float:
        return train_step(model, optimizer, inputs, targets)

    return step


def torch_step_function(vocab_size: int):
    """The same model in PyTorch: learned positions, causal 4-head attention with a residual,
    final LayerNorm, logits through the tied token table; (seq_len, batch) layout."""
    torch.manual_seed(0)
    std = 0.02
    params = {
        "token_embedding": torch.randn(vocab_size, D_MODEL) * std,
        "position_embedding": torch.randn(SEQ_LEN, D_MODEL) * 0.01,
        **{name: torch.randn(D_MODEL, D_MODEL) * std for name in ("w_q", "w_k", "w_v", "w_o")},
        "gamma": torch.ones(D_MODEL), "beta": torch.zeros(D_MODEL),
    }
    for tensor in params.values():
        tensor.requires_grad_(True)
    optimizer = torch.optim.Adam(list(params.values()), lr=LR)
    d_head = D_MODEL // N_HEADS

    def heads(x):  # (seq_len, batch, d_model) -> (batch, heads, seq_len, d_head)
        return x.view(x.shape[0], x.shape[1], N_HEADS, d_head).permute(1, 2, 0, 3)

    def step(inputs: np.ndarray, targets: np.ndarray) -> float:
        ids, tgt = torch.from_numpy(inputs), torch.from_numpy(targets)
        x = params["token_embedding"][ids] + params["position_embedding"][: ids.shape[0], None]
        q, k, v = (heads(x @ params[name]) for name in ("w_q", "w_k", "w_v"))
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (batch, H, seq, d_head)
        merged = a.permute(2, 0, 1, 3).reshape(x.shape)
        h = x + merged @ params["w_o"]
        y = F.layer_norm(h, (D_MODEL,), params["gamma"], params["beta"])
        logits = y @ params["token_embedding"].T  # (seq_len, batch, V)
        loss = F.cross_entropy(logits.reshape(-1, vocab_size), tgt.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    return step


def best_round_seconds(steps: dict, batches: list, rounds: int) -> dict[str, float]:
    """Alternate the implementations round by round; keep each one's fastest round."""
    for step in steps.values():  # warm up: allocations, BLAS buffers, torch's first call
        for inputs, targets in batches[:3]:
            step(inputs, targets)
    best = dict.fromkeys(steps, float("inf"))
    for _ in range(rounds):
        for name, step in steps.items():
            started = time.perf_counter()
            for inputs, targets in batches:
                step(inputs, targets)
            best[name] = min(best[name], (time.perf_counter() - started) / len(batches))
    return best


def main() -> None:
    tokenizer = load_tokenizer()
    train_ids, _ = split_ids(corpus_ids(tokenizer))
    rng = np.random.default_rng(0)
    batches = [sample_batch(train_ids, SEQ_LEN, BATCH, rng) for _ in range(ARGS.steps)]
    steps = {"minimal_embed (NumPy)": numpy_step_function(tokenizer.vocab_size)}
    torch_name = "PyTorch (not installed)"
    if torch is not None:
        torch.set_num_threads(ARGS.threads)
        torch_name = f"PyTorch {torch.__version__}"
        steps[torch_name] = torch_step_function(tokenizer.vocab_size)
    seconds = best_round_seconds(steps, batches, ARGS.rounds)
    tokens = SEQ_LEN * BATCH
    print(f"training step: d_model {D_MODEL}, {N_HEADS} heads, seq_len {SEQ_LEN}, batch {BATCH}, "
          f"vocab {tokenizer.vocab_size}, learned positions, float32, {ARGS.threads} thread(s); "
          f"best of {ARGS.rounds} rounds x {ARGS.steps} steps")
    print(f"{'implementation':<26} {'ms/step':>9} {'tokens/s':>10}")
    for name, value in seconds.items():
        print(f"{name:<26} {value * 1e3:>9.1f} {tokens / value:>10,.0f}")
    if torch is None:
        print(f"{torch_name:<26} {'-':>9} {'-':>10}")
        return
    ratio = seconds[torch_name] / seconds["minimal_embed (NumPy)"]
    verdict = "met" if ratio >= 0.5 else "NOT met"
    print(f"throughput ratio NumPy / PyTorch: {ratio:.2f}x (target >= 0.5x: {verdict})")


if __name__ == "__main__":
    main()
