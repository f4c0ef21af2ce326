"""What each position scheme buys: validation loss at the training length and beyond it.

For each scheme (learned, sinusoidal, none, alibi, rope, t5) the model of ``minimal_embed/model.py``
is trained exactly like the shipped checkpoint (``TrainConfig()``: d_model 128, seq_len 64, the
same steps, seed, batches and data), then evaluated on the validation split in consecutive
windows of 64, 128 and 256 tokens. The question is the one of "Train Short, Test Long" (Press et
al., 2022): does a scheme still work on sequences longer than any it was trained on? A learned
table has no rows past 64, so it cannot be evaluated there; the table says so.

Every length scores the same validation tokens (the split is cut to 1 + a multiple of 256 ids),
so the columns differ only in how much context each token gets. The unigram and bigram baselines
(``train.unigram_loss``, ``train.bigram_loss``) are computed from the same split and score the
same tokens.

    python benchmarks/positions_ablation.py [--steps N] [--threads 1] [--seed 0]
                                            [--lengths 64 128 256]
"""

from __future__ import annotations

import argparse
import os
import sys


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=None,
                        help="training steps per scheme (default: the shipped checkpoint's)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of weights and batches (default 0)")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    parser.add_argument("--lengths", type=int, nargs="+", default=[64, 128, 256],
                        help="evaluation window lengths (default 64 128 256)")
    return parser.parse_args()


ARGS = parse_args()
os.environ["OPENBLAS_NUM_THREADS"] = str(ARGS.threads)  # before NumPy (and its BLAS) is loaded

import time  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from minimal_embed.model import POSITION_SCHEMES  # noqa: E402
from minimal_embed.tokenizer import load_tokenizer  # noqa: E402
from minimal_embed.train import (  # noqa: E402
    TrainConfig,
    bigram_loss,
    corpus_ids,
    evaluate,
    split_ids,
    train,
    unigram_loss,
)


def main() -> None:
    tokenizer = load_tokenizer()
    base = TrainConfig(seed=ARGS.seed)
    steps = base.steps if ARGS.steps is None else ARGS.steps
    train_ids, val_ids = split_ids(corpus_ids(tokenizer), base.val_fraction)
    longest = max(ARGS.lengths)
    val_ids = val_ids[: 1 + (len(val_ids) - 1) // longest * longest]  # same targets everywhere
    print(f"positions ablation: d_model {base.d_model}, {base.n_heads} heads, trained at seq_len "
          f"{base.seq_len}, {steps} steps x {base.batch_size} windows, lr {base.lr}, "
          f"seed {ARGS.seed}, {ARGS.threads} thread(s)")
    print(f"validation loss in nats/token on the same {len(val_ids) - 1} tokens (last 10 % of "
          f"the bundled corpus), evaluated in windows of each length")
    header = "".join(f"{f'len {n}':>10}" for n in ARGS.lengths)
    print(f"{'scheme':<12}{header}   training time")
    for scheme in POSITION_SCHEMES:
        config = TrainConfig(positions=scheme, steps=steps, seed=ARGS.seed)
        started = time.perf_counter()
        model = train(config, tokenizer, log=None).model
        seconds = time.perf_counter() - started
        cells = ""
        for length in ARGS.lengths:
            try:
                cells += f"{evaluate(model, val_ids, length):>10.3f}"
            except ValueError:  # a learned table has max_len == seq_len rows, no more
                cells += "   learned tables cannot extrapolate"
                break
        print(f"{scheme:<12}{cells}   {seconds:.0f} s", flush=True)
    vocab = tokenizer.vocab_size
    for name, loss in (("unigram", unigram_loss(train_ids, val_ids, vocab)),
                       ("bigram", bigram_loss(train_ids, val_ids, vocab))):
        print(f"{name:<12}" + f"{loss:>10.3f}" * len(ARGS.lengths))


if __name__ == "__main__":
    main()
