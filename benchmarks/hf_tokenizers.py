"""Encoding speed of the three tokenizer.json models next to HF tokenizers (Rust, one thread).

    python benchmarks/hf_tokenizers.py [CORPUS] [--vocab-size 4096] [--rounds 3]

CORPUS defaults to $MINIMAL_EMBED_CORPUS when set, else the bundled corpus. HF ``tokenizers``
trains a byte-level BPE, a WordPiece (BERT's normaliser and pre-tokenizer) and a Unigram
(Metaspace) model on the corpus (not timed; Unigram on its first 300 kB, as its trainer is
slow), saves each as tokenizer.json, and ``load_hf_tokenizer`` reads it. Then, in alternating
rounds, the whole corpus is encoded as one text by HF (``RAYON_NUM_THREADS=1``) and by ours with
a cold cache (a tokenizer freshly read from the file) and a warm one; the best round counts and
the ids must be equal. A second table encodes the corpus line by line (ours: ``encode`` per
line, cold; HF: ``encode_batch`` of the lines on its one thread), where per-call costs count.

Targets on the 1.1 MB corpus: ours (cold) at least 1x HF for BPE, at least 0.5x for WordPiece
and Unigram (the whole corpus as one text).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

os.environ["RAYON_NUM_THREADS"] = "1"  # before tokenizers starts its thread pool
os.environ["TOKENIZERS_PARALLELISM"] = "false"
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from corpus import read_corpus  # noqa: E402  (benchmarks/corpus.py)

from minimal_embed import load_hf_tokenizer  # noqa: E402

TARGETS = {"BPE (byte-level)": 1.0, "WordPiece (BERT)": 0.5, "Unigram (Metaspace)": 0.5}


def train_hf_models(text: str, vocab_size: int, folder: str) -> dict[str, str]:
    """Train the three models with HF tokenizers; return {label: tokenizer.json path}."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator([text], trainers.BpeTrainer(
        vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False))
    bpe.add_special_tokens(["<|endoftext|>"])
    bert = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    bert.normalizer = normalizers.BertNormalizer(lowercase=True)
    bert.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    bert.decoder = decoders.WordPiece()
    bert.train_from_iterator([text], trainers.WordPieceTrainer(
        vocab_size=vocab_size, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"],
        show_progress=False))
    unigram = Tokenizer(models.Unigram())
    unigram.pre_tokenizer = pre_tokenizers.Metaspace()
    unigram.decoder = decoders.Metaspace()
    unigram.train_from_iterator([text[:300_000]], trainers.UnigramTrainer(
        vocab_size=vocab_size, special_tokens=["<pad>", "</s>", "<unk>"], unk_token="<unk>",
        show_progress=False))
    paths = {}
    for label, model in zip(TARGETS, (bpe, bert, unigram), strict=True):
        paths[label] = os.path.join(folder, label.split()[0] + ".json")
        model.save(paths[label])
    return paths


def timed(run) -> tuple[float, object]:
    started = time.perf_counter()
    result = run()
    return time.perf_counter() - started, result


def line_by_line(paths: dict[str, str], text: str, rounds: int) -> None:
    """The second table: each line encoded on its own, both sides cold the first time."""
    from tokenizers import Tokenizer

    lines = text.splitlines(keepends=True)
    megabytes = len(text.encode("utf-8")) / 1e6
    print(f"\nline by line ({len(lines)} lines)")
    print(f"{'model':<22} {'ours cold':>10} {'HF':>8} {'ours / HF':>10}  ids")
    for label, path in paths.items():
        theirs = Tokenizer.from_file(path)
        ours_times, peer_times = [], []
        for _ in range(rounds):
            seconds, hf_ids = timed(lambda t=theirs: [e.ids for e in t.encode_batch(
                lines, add_special_tokens=False)])
            peer_times.append(seconds)
            ours = load_hf_tokenizer(path)
            seconds, our_ids = timed(lambda t=ours: [t.encode(line, allowed_special="all")
                                                     for line in lines])
            ours_times.append(seconds)
        equal = "equal" if our_ids == hf_ids else "DIFFER"
        print(f"{label:<22} {megabytes / min(ours_times):>6.2f}MB/s "
              f"{megabytes / min(peer_times):>4.2f}MB/s "
              f"{min(peer_times) / min(ours_times):>9.2f}x  {equal}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?")
    parser.add_argument("--vocab-size", type=int, default=4096)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    text, name = read_corpus(args.corpus)
    megabytes = len(text.encode("utf-8")) / 1e6
    try:
        from tokenizers import Tokenizer
    except ImportError:
        print("HF tokenizers: not installed (it trains the models this script compares)")
        return
    print(f"corpus: {name}, {megabytes:.2f} MB; vocab_size {args.vocab_size}; "
          f"best of {args.rounds} alternating rounds; HF on one thread")
    with tempfile.TemporaryDirectory() as folder:
        paths = train_hf_models(text, args.vocab_size, folder)
        print(f"{'model':<22} {'ours cold':>10} {'ours warm':>10} {'HF':>8} "
              f"{'cold / HF':>10} {'target':>7}  ids")
        for label, path in paths.items():
            theirs = Tokenizer.from_file(path)
            cold, warm, peer = [], [], []
            for _ in range(args.rounds):
                seconds, hf_ids = timed(
                    lambda t=theirs: t.encode(text, add_special_tokens=False).ids)
                peer.append(seconds)
                ours = load_hf_tokenizer(path)  # a fresh tokenizer: nothing cached
                seconds, our_ids = timed(lambda t=ours: t.encode(text, allowed_special="all"))
                cold.append(seconds)
                warm.append(timed(lambda t=ours: t.encode(text, allowed_special="all"))[0])
            ratio = min(peer) / min(cold)
            equal = "equal" if our_ids == hf_ids else "DIFFER"
            print(f"{label:<22} {megabytes / min(cold):>8.2f}MB/s {megabytes / min(warm):>6.2f}MB/s"
                  f" {megabytes / min(peer):>4.2f}MB/s {ratio:>9.2f}x {TARGETS[label]:>6.1f}x  "
                  f"{equal}")
        line_by_line(paths, text, args.rounds)


if __name__ == "__main__":
    main()
