"""Training speed and memory: our BPE trainer next to HF tokenizers (Rust), on three corpora.

    python benchmarks/bpe_train.py [CORPUS] [--vocab-size 4096] [--naive-merges 200]
                                   [--sections prose,long,code] [--sizes 1,10,30]

1. prose: CORPUS (default $MINIMAL_EMBED_CORPUS, else the bundled corpus), vocab_size 4096,
   next to HF tokenizers and the plain trainer ``bpe.train_plain`` (recount every pair after
   every merge) and the textbook loop over every occurrence, both timed for a few hundred merges
   and extrapolated; on a slice the plain and the fast trainer run to the end and must agree.
2. long pieces: 3 MB of CJK-like text without spaces (``corpus.long_piece_text``, every piece a
   clause of 5-60 characters), vocab_size 8192, next to HF with one thread.
3. code: the standard library's ``.py`` files (found through ``sysconfig``), the first 1, 10 and
   30 MB, vocab_size 8192: ours with 1 and 2 worker processes, HF with 1 and 2 threads
   (``RAYON_NUM_THREADS``).

Sections 2 and 3 run every trainer in a fresh process and report its time (the training call
alone, from the files) and the peak memory of its process tree (``peak_memory.py``).

Targets: prose no slower than HF; long pieces at most 1.5x HF with one thread; 30 MB of code
with 2 workers at most 1.0x HF with 2 threads, peak memory at most 1.5x HF's; from 10 to 30 MB
the time grows at most 1.2x faster than the corpus.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import regex

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
import peak_memory  # noqa: E402  (benchmarks/peak_memory.py)
from corpus import long_piece_text, python_sources, read_corpus  # noqa: E402

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


def prose_section(args) -> None:
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


# --- sections 2 and 3: each trainer in a fresh process ------------------------------------------


def child(trainer: str, files: list[str], vocab_size: int) -> None:
    """Train once on ``files`` and print the seconds as JSON (run in a fresh process)."""
    if trainer.startswith("hf"):
        from tokenizers import Tokenizer as HFTokenizer
        from tokenizers import models, pre_tokenizers, trainers

        hf = HFTokenizer(models.BPE())
        hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        bpe_trainer = trainers.BpeTrainer(
            vocab_size=vocab_size, special_tokens=[EOT], show_progress=False,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        )
        started = time.perf_counter()
        hf.train(files, trainer=bpe_trainer)
    else:
        workers = int(trainer.removeprefix("ours-"))
        started = time.perf_counter()
        Tokenizer.train([Path(file) for file in files], vocab_size, special_tokens=[EOT],
                        workers=workers)
    print(json.dumps(time.perf_counter() - started))


def measured(trainer: str, files: list[str], vocab_size: int) -> tuple[float, float]:
    """(seconds, peak MB) of one training run in a fresh process."""
    env = dict(os.environ)
    if trainer.startswith("hf-"):
        env["RAYON_NUM_THREADS"] = trainer.removeprefix("hf-")
    command = [sys.executable, os.path.abspath(__file__), "--child", trainer,
               "--vocab-size", str(vocab_size), *files]
    output, peak = peak_memory.run(command, env)
    return json.loads(output.strip().splitlines()[-1]), peak


def hf_installed() -> bool:
    try:
        import tokenizers  # noqa: F401
    except ImportError:
        return False
    return True


def long_piece_section(folder: str) -> None:
    path = os.path.join(folder, "long_pieces.txt")
    Path(path).write_text(long_piece_text(3), encoding="utf-8")
    megabytes = os.path.getsize(path) / 1e6
    print(f"long pieces: {megabytes:.1f} MB of CJK-like text without spaces (pieces of 5-60 "
          "characters), vocab_size 8192")
    trainers = ["ours-1"] + (["hf-1"] if hf_installed() else [])
    results = {trainer: measured(trainer, [path], 8192) for trainer in trainers}
    print(f"{'trainer':<34} {'seconds':>8} {'peak MB':>8}")
    for trainer, (seconds, peak) in results.items():
        print(f"{LABELS[trainer]:<34} {seconds:>8.2f} {peak:>8.0f}")
    if "hf-1" in results:
        ratio = results["ours-1"][0] / results["hf-1"][0]
        print(f"(ours / HF one thread: {ratio:.2f}x time, target <= 1.5x; "
              f"{results['ours-1'][1] / results['hf-1'][1]:.2f}x memory)")
    else:
        print("(HF tokenizers not installed)")


LABELS = {"ours-1": "minimal_embed, 1 process", "ours-2": "minimal_embed, 2 worker processes",
          "hf-1": "HF tokenizers, 1 thread", "hf-2": "HF tokenizers, 2 threads"}


def code_section(sizes: list[float]) -> None:
    print(f"code: the .py files under {sysconfig.get_paths()['stdlib']} (not site-packages), "
          "the first N MB, vocab_size 8192")
    trainers = ["ours-1", "ours-2"] + (["hf-1", "hf-2"] if hf_installed() else [])
    print(f"{'MB':>6} " + " ".join(f"{name:>18}" for name in trainers)
          + f" {'ours 2 / HF 2':>14}")
    print(f"{'':>6} " + " ".join(f"{'s, peak MB':>18}" for _ in trainers)
          + f" {'time, memory':>14}")
    table = {}
    for size in sizes:
        files = [str(path) for path in python_sources(size)]
        megabytes = sum(os.path.getsize(file) for file in files) / 1e6
        row = {trainer: measured(trainer, files, 8192) for trainer in trainers}
        table[megabytes] = row
        cells = " ".join(f"{row[t][0]:>9.2f}, {row[t][1]:>6.0f}" for t in trainers)
        versus = ""
        if "hf-2" in row:
            versus = (f"{row['ours-2'][0] / row['hf-2'][0]:>7.2f}x, "
                      f"{row['ours-2'][1] / row['hf-2'][1]:.2f}x")
        print(f"{megabytes:>6.1f} {cells} {versus:>14}")
    sizes_mb = sorted(table)
    if len(sizes_mb) >= 2:
        small, large = sizes_mb[-2], sizes_mb[-1]
        for trainer in trainers:
            growth = (table[large][trainer][0] / table[small][trainer][0]) / (large / small)
            print(f"  {LABELS[trainer]:<34} from {small:.0f} to {large:.0f} MB the time grows "
                  f"{growth:.2f}x as fast as the corpus (target <= 1.2x for ours)")
    print("(targets at the largest size: ours with 2 workers <= 1.0x HF with 2 threads, "
          "peak memory <= 1.5x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", help="a UTF-8 text file")
    parser.add_argument("--vocab-size", type=int, default=4096)
    parser.add_argument("--naive-merges", type=int, default=200,
                        help="naive merges to time (every-occurrence: a quarter of this)")
    parser.add_argument("--sections", default="prose,long,code")
    parser.add_argument("--sizes", default="1,10,30", help="MB of code for the scaling table")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    if args.child:
        child(args.child, [args.corpus, *rest] if args.corpus else rest, args.vocab_size)
        return
    sections = args.sections.split(",")
    if "prose" in sections:
        prose_section(args)
        print()
    with tempfile.TemporaryDirectory() as folder:
        if "long" in sections:
            long_piece_section(folder)
            print()
    if "code" in sections:
        code_section([float(size) for size in args.sizes.split(",")])


if __name__ == "__main__":
    main()
