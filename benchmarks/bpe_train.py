"""Training speed: our incremental BPE trainer next to HF tokenizers (Rust) and the plain trainer.

    python benchmarks/bpe_train.py [CORPUS] [--vocab-size 4096] [--naive-merges 200]

CORPUS defaults to $MINIMAL_EMBED_CORPUS when set, else the bundled corpus. The plain trainer
``bpe.train_plain`` (recount every pair after every merge) and the textbook loop over every
occurrence are run for a few hundred merges and extrapolated to the full run; on a small slice
the plain and the incremental trainer run to the end and must agree.

Targets on the 1.1 MB corpus with vocab_size 4096: no slower than HF tokenizers (Rust) in the
same run, and at least 1000x faster than the naive recount of every occurrence.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import regex

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from corpus import read_corpus  # noqa: E402  (benchmarks/corpus.py)

from minimal_embed import GPT2_PATTERN, Tokenizer  # noqa: E402
from minimal_embed.tokenizer import bpe, bpe_train, count_pieces  # noqa: E402

EOT = "<|endoftext|>"


def piece_counts(text: str) -> dict[bytes, int]:
    """The distinct pieces and their counts, as Tokenizer.train computes them."""
    return count_pieces(text, special_tokens=[EOT])


def time_ours(text: str, vocab_size: int) -> float:
    started = time.perf_counter()
    Tokenizer.train(text, vocab_size, special_tokens=[EOT])
    return time.perf_counter() - started


def time_hf_tokenizers(text: str, vocab_size: int) -> float | None:
    try:
        from tokenizers import Tokenizer as HFTokenizer
        from tokenizers import decoders, models, pre_tokenizers, trainers
    except ImportError:
        return None
    started = time.perf_counter()
    hf = HFTokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    hf.train_from_iterator([text], trainer=trainer)
    return time.perf_counter() - started


def naive_every_occurrence(pieces: list[bytes], num_merges: int) -> None:
    """The textbook loop (as in minbpe): every piece occurrence kept, every pair recounted."""
    words = [list(piece) for piece in pieces]
    for new_id in range(256, 256 + num_merges):
        counts: dict = {}
        for word in words:
            bpe.count_pairs(word, counts)
        best = min(counts, key=lambda pair: (-counts[pair], pair))
        words = [bpe.merge_pair(word, best, new_id) for word in words]


def extrapolated_naive(run, first_merges: int, num_merges: int, shrink: float) -> float:
    """Time ``first_merges`` naive merges and extrapolate to ``num_merges``.

    A naive merge costs time proportional to the total length of the pieces, which falls from
    its start to ``shrink`` times that by the end; the average over the run is (1 + shrink) / 2.
    """
    started = time.perf_counter()
    run(first_merges)
    per_merge = (time.perf_counter() - started) / first_merges
    return per_merge * num_merges * (1 + shrink) / 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", help="a UTF-8 text file")
    parser.add_argument("--vocab-size", type=int, default=4096)
    parser.add_argument("--naive-merges", type=int, default=200,
                        help="naive merges to time (every-occurrence: a quarter of this)")
    args = parser.parse_args()
    text, name = read_corpus(args.corpus)
    size_mb = len(text.encode("utf-8")) / 1e6
    num_merges = args.vocab_size - 257
    print(f"corpus: {name}, {size_mb:.2f} MB; vocab_size {args.vocab_size} "
          f"(256 bytes + {num_merges} merges + {EOT})\n")

    ours_runs, hf = [], []
    for _ in range(3):  # alternating, so load on a shared machine slows both alike
        ours_runs.append(time_ours(text, args.vocab_size))
        hf.append(time_hf_tokenizers(text, args.vocab_size))
    ours = min(ours_runs)
    started = time.perf_counter()
    counts = piece_counts(text)
    split_time = time.perf_counter() - started
    trained = Tokenizer.train(text, args.vocab_size, special_tokens=[EOT])
    bytes_before = sum(len(piece) * count for piece, count in counts.items())
    tokens_after = sum(len(trained.encode_ordinary(p.decode())) * c for p, c in counts.items())
    shrink = tokens_after / bytes_before
    pieces = [piece.encode("utf-8") for piece in regex.findall(GPT2_PATTERN, text)]
    naive_distinct = split_time + extrapolated_naive(
        lambda n: bpe.train_plain(counts, n), args.naive_merges, num_merges, shrink
    )
    naive_all = split_time + extrapolated_naive(
        lambda n: naive_every_occurrence(pieces, n), args.naive_merges // 4, num_merges, shrink
    )

    rows = [("minimal_embed Tokenizer.train (incremental)", f"{ours:.2f}", "1.00")]
    if hf[0] is None:
        rows.append(("HF tokenizers BpeTrainer (Rust)", "not installed", ""))
    else:
        rows.append(("HF tokenizers BpeTrainer (Rust)", f"{min(hf):.2f}", f"{min(hf) / ours:.2f}"))
    rows.append(("naive recount of every occurrence*",
                 f"{naive_all:.0f}", f"{naive_all / ours:.0f}"))
    rows.append(("plain recount of distinct pieces (bpe.train_plain)*",
                 f"{naive_distinct:.0f}", f"{naive_distinct / ours:.0f}"))
    print(f"{'trainer':<52} {'seconds':>13} {'time / ours':>12}")
    for label, seconds, ratio in rows:
        print(f"{label:<52} {seconds:>13} {ratio:>12}")
    print(f"\n(best of 3 alternating runs; of ours, splitting and counting the pieces takes "
          f"{split_time:.2f} s for {len(pieces)} pieces, {len(counts)} distinct)")
    print(f"* timed over the first {args.naive_merges // 4} / {args.naive_merges} merges and "
          f"extrapolated to {num_merges}, scaled by the pieces' mean length over the run\n"
          f"  (training shrinks them to {shrink:.2f} of their bytes)")

    # both trainers to the end on a slice: same merges, and the speed-up at small scale
    slice_counts = piece_counts(text[:50_000])
    started = time.perf_counter()
    fast_merges = bpe_train.train(slice_counts, 700)
    fast_time = time.perf_counter() - started
    started = time.perf_counter()
    plain_merges = bpe.train_plain(slice_counts, 700)
    plain_time = time.perf_counter() - started
    agree = "identical" if fast_merges == plain_merges else "DIFFERENT"
    print(f"\nslice of 50,000 characters, 700 merges: incremental {fast_time:.3f} s, "
          f"plain {plain_time:.2f} s ({plain_time / fast_time:.0f}x); merges {agree}")


if __name__ == "__main__":
    main()
