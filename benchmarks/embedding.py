"""Embedding lookup, its backward, and Adam steps: ours next to the memory floor and PyTorch.

    python benchmarks/embedding.py [--repeats N]

GPT-2 sized: V = 50257, d = 768, a (8, 1024) batch of ids, float32. Two id sets: uniform ids,
and ids of real text (8 windows of 1024 GPT-2 tokens of $MINIMAL_EMBED_CORPUS, tokenized with
tiktoken; a Zipf sample stands in when either is missing, and the output says so). Times are the
best of N runs, in milliseconds. PyTorch (optional) runs with as many threads as NumPy uses
here: one, since NumPy's indexing and element-wise loops are single-threaded (no BLAS call).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from minimal_embed import Adam, Embedding  # noqa: E402

V, D, BATCH, SEQ = 50257, 768, 8, 1024
NUMPY_THREADS = 1
GPT2_SPLIT = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


def best_ms(run, repeats):
    run()  # warm up: first-touch page faults, caches, lazy state
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best * 1e3


def gpt2_encoding():
    """tiktoken's GPT-2 encoding, from $MINIMAL_EMBED_GPT2_RANKS if set (no network) or tiktoken."""
    try:
        import tiktoken
        from tiktoken.load import load_tiktoken_bpe
    except ImportError:
        return None, "tiktoken not installed"
    ranks_path = os.environ.get("MINIMAL_EMBED_GPT2_RANKS")
    if ranks_path and Path(ranks_path).is_file():
        ranks = load_tiktoken_bpe(ranks_path)
        special = {"<|endoftext|>": 50256}
        return tiktoken.Encoding("gpt2", pat_str=GPT2_SPLIT, mergeable_ranks=ranks,
                                 special_tokens=special), f"tiktoken, ranks from {ranks_path}"
    try:
        return tiktoken.get_encoding("gpt2"), "tiktoken.get_encoding('gpt2')"
    except Exception as error:  # no cached file and no network
        return None, f"tiktoken could not load gpt2 ({type(error).__name__})"


def text_ids(rng):
    """(BATCH, SEQ) GPT-2 ids of real text, or a Zipf sample; and where they came from."""
    corpus = os.environ.get("MINIMAL_EMBED_CORPUS")
    encoding, how = gpt2_encoding()
    if corpus and Path(corpus).is_file() and encoding is not None:
        tokens = np.array(encoding.encode_ordinary(Path(corpus).read_text(encoding="utf-8")))
        if tokens.size >= BATCH * SEQ:
            starts = np.linspace(0, tokens.size - SEQ, BATCH).astype(np.int64)
            windows = tokens[starts[:, None] + np.arange(SEQ)]  # (BATCH, SEQ)
            return windows, f"GPT-2 tokens of {Path(corpus).name} ({how})"
    why = "MINIMAL_EMBED_CORPUS not set" if not corpus else how
    zipf = np.minimum(rng.zipf(1.1, (BATCH, SEQ)) - 1, V - 1)
    return zipf, f"Zipf(1.1) sample standing in for text ({why})"


def import_torch():
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(NUMPY_THREADS)
    return torch


def measure(ids, emb, grad_out, torch, repeats):
    """{row name: (ours ms, reference ms or None)} for one id set."""
    rows = {}
    floor_src = emb(ids)
    floor_dst = np.empty_like(floor_src)
    copy_ms = best_ms(lambda: np.copyto(floor_dst, floor_src), repeats)
    rows["forward vs np.copyto floor"] = (best_ms(lambda: emb(ids), repeats), copy_ms)

    buffer = np.empty_like(emb.weight)
    ours_dense = best_ms(lambda: emb.backward(ids, grad_out), repeats)
    ours_out = best_ms(lambda: emb.backward(ids, grad_out, out=buffer), repeats)
    ours_sparse = best_ms(lambda: emb.backward(ids, grad_out, sparse=True), repeats)
    torch_fwd = torch_bwd = torch_index_add = None
    if torch is not None:
        weight = torch.from_numpy(emb.weight).requires_grad_(True)  # shares our table's memory
        t_ids, t_grad = torch.from_numpy(ids), torch.from_numpy(grad_out)
        with torch.no_grad():
            torch_fwd = best_ms(lambda: torch.nn.functional.embedding(t_ids, weight), repeats)
        looked_up = torch.nn.functional.embedding(t_ids, weight)

        def autograd_backward():
            weight.grad = None  # a fresh gradient every time, as in a training step
            looked_up.backward(t_grad, retain_graph=True)

        torch_bwd = best_ms(autograd_backward, repeats)
        t_buffer = torch.empty(V, D)

        def index_add():
            t_buffer.zero_()
            t_buffer.index_add_(0, t_ids.view(-1), t_grad.view(-1, D))

        torch_index_add = best_ms(index_add, repeats)
    rows["forward vs torch F.embedding"] = (rows["forward vs np.copyto floor"][0], torch_fwd)
    rows["dense backward vs torch autograd"] = (ours_dense, torch_bwd)
    rows["backward out= vs torch zero_+index_add_"] = (ours_out, torch_index_add)
    rows["sparse backward vs torch autograd"] = (ours_sparse, torch_bwd)

    sparse_grad = emb.backward(ids, grad_out, sparse=True)
    dense_grad = emb.backward(ids, grad_out)
    lazy_param, dense_param = emb.weight.copy(), emb.weight.copy()
    lazy, dense = Adam([lazy_param]), Adam([dense_param])
    rows["lazy Adam (SparseRows) vs our dense Adam"] = (
        best_ms(lambda: lazy.step([sparse_grad]), repeats),
        best_ms(lambda: dense.step([dense_grad]), repeats),
    )
    rows["our dense Adam vs torch Adam"] = (rows["lazy Adam (SparseRows) vs our dense Adam"][1],
                                            torch_adam_ms(torch, dense_grad, repeats))
    return rows, sparse_grad.indices.size


def torch_adam_ms(torch, dense_grad, repeats):
    if torch is None:
        return None
    param = torch.zeros(V, D, requires_grad=True)
    param.grad = torch.from_numpy(dense_grad)
    opt = torch.optim.Adam([param], lr=1e-3)
    return best_ms(opt.step, repeats)


TARGETS = {  # the targets: ours / reference must not exceed these
    "forward vs np.copyto floor": 2.5,
    "dense backward vs torch autograd": 1.0,
    "backward out= vs torch zero_+index_add_": 2.0,
    "sparse backward vs torch autograd": 0.5,
    "lazy Adam (SparseRows) vs our dense Adam": 0.25,
}


def print_table(title, rows):
    print(f"\n{title}")
    print(f"{'':44}{'ours ms':>9}{'ref ms':>9}{'ratio':>8}{'target':>9}  met")
    for name, (ours, ref) in rows.items():
        target = TARGETS.get(name)
        target_text = f"<= {target:g}" if target else "-"
        if ref is None:
            print(f"{name:44}{ours:9.2f}{'not installed':>17}{target_text:>9}")
            continue
        ratio = ours / ref
        met = ("yes" if ratio <= target else "NO") if target else ""
        print(f"{name:44}{ours:9.2f}{ref:9.2f}{ratio:8.2f}{target_text:>9}  {met}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    torch = import_torch()
    print(f"V={V} d={D} ids=({BATCH}, {SEQ}) float32; best of {args.repeats} runs")
    print(f"threads: numpy {NUMPY_THREADS} (indexing and ufunc loops are single-threaded), "
          + (f"torch {torch.get_num_threads()} (torch.set_num_threads) torch {torch.__version__}"
             if torch is not None else "torch not installed"))
    emb = Embedding(V, D, seed=0)
    grad_out = rng.standard_normal((BATCH, SEQ, D), dtype=np.float32)
    uniform = rng.integers(0, V, (BATCH, SEQ))
    text, source = text_ids(rng)
    for name, ids in (("uniform ids", uniform), (source, text)):
        rows, touched = measure(ids, emb, grad_out, torch, args.repeats)
        print_table(f"{name}: {touched} distinct ids of {ids.size}", rows)
    print("\nNote: a fresh dense gradient is np.zeros, whose pages the OS zeroes on first touch;"
          "\nrows the batch never touched are paid for later, when something reads them.")


if __name__ == "__main__":
    main()
