"""Encoding speed: our Tokenizer next to tiktoken (Rust) on the same vocabulary, and worst cases.

    python benchmarks/bpe_encode.py [CORPUS] [--vocab-size 4096]

CORPUS defaults to $MINIMAL_EMBED_CORPUS when set, else the bundled corpus. A vocabulary of
``--vocab-size`` ids is trained on the corpus (not timed), then:

1. throughput on the whole corpus with a cold piece cache (a fresh tokenizer each run) and a warm
   one, next to tiktoken given the very same ranks and pattern (ids must be equal);
2. single long pieces (one letter repeated, random letters, spaces) at 100 kB and 1 MB: the time
   should grow like n log n, so 10x the input at most ~12x the time;
3. the piece-merging methods by piece length (why ``bpe.LONG_PIECE`` is what it is);
4. GPT-2's vocabulary next to tiktoken (``gpt2_section``, the GPT-2 issue's part).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from minimal_embed import Tokenizer, bpe, data  # noqa: E402

EOT = "<|endoftext|>"


def read_corpus(path: str | None) -> tuple[str, str]:
    path = path or os.environ.get("MINIMAL_EMBED_CORPUS")
    if path:
        with open(path, encoding="utf-8") as handle:
            return handle.read(), path
    return data.corpus_text(), "bundled corpus (data/corpus)"


def best_time(run, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def fresh(tok: Tokenizer) -> Tokenizer:
    """The same vocabulary with an empty piece cache."""
    return Tokenizer(tok.ranks, pattern=tok.pattern, special_tokens=tok.special_tokens)


def tiktoken_encoding(tok: Tokenizer, name: str):
    try:
        import tiktoken
    except ImportError:
        return None
    return tiktoken.Encoding(
        name, pat_str=tok.pattern, mergeable_ranks=tok.ranks, special_tokens=tok.special_tokens
    )


def throughput_section(tok: Tokenizer, text: str) -> None:
    megabytes = len(text.encode("utf-8")) / 1e6
    cold_runs = [fresh(tok) for _ in range(3)]
    cold = min(best_time(lambda t=t: t.encode_ordinary(text), repeat=1) for t in cold_runs)
    tok.encode_ordinary(text)
    warm = best_time(lambda: tok.encode_ordinary(text))
    split = best_time(lambda: tok.split(text))
    ours = tok.encode_ordinary(text)
    rows = [
        ("minimal_embed, cold cache", cold),
        ("minimal_embed, warm cache", warm),
        ("  (of which the regex split alone)", split),
    ]
    encoding = tiktoken_encoding(tok, "ours")
    equal = "tiktoken not installed"
    if encoding is not None:
        peer = best_time(lambda: encoding.encode_ordinary(text))
        rows.append(("tiktoken, same ranks and pattern", peer))
        equal = "ids equal to tiktoken's" if encoding.encode_ordinary(text) == ours else (
            "IDS DIFFER from tiktoken's"
        )
    print(f"{'encoder':<36} {'seconds':>8} {'MB/s':>7} {'speed / ours cold':>18}")
    for label, seconds in rows:
        print(f"{label:<36} {seconds:>8.3f} {megabytes / seconds:>7.2f} {cold / seconds:>18.2f}")
    if encoding is None:
        print(f"{'tiktoken':<36} {'not installed':>8}")
    print(f"({len(ours)} tokens; {equal}; decode(encode(text)) == text: "
          f"{tok.decode(ours) == text})")


def long_piece_section(tok: Tokenizer) -> None:
    rng = random.Random(0)
    letters = "abcdefghijklmnopqrstuvwxyz"
    cases = {
        "one letter repeated": lambda n: "a" * n,
        "random letters": lambda n: "".join(rng.choice(letters) for _ in range(n)),
        "spaces": lambda n: " " * n,
    }
    print(f"{'one long piece':<22} {'100 kB (s)':>10} {'1 MB (s)':>9} {'ratio':>6} {'tokens':>8}")
    for label, make in cases.items():
        small, large = make(100_000), make(1_000_000)
        small_time = best_time(lambda s=small: fresh(tok).encode_ordinary(s), repeat=2)
        large_time = best_time(lambda s=large: fresh(tok).encode_ordinary(s), repeat=2)
        count = len(tok.encode_ordinary(large))
        print(f"{label:<22} {small_time:>10.3f} {large_time:>9.3f} "
              f"{large_time / small_time:>6.1f} {count:>8}")


def merge_method_section(tok: Tokenizer, text: str) -> None:
    ranks = tok.ranks
    source = "".join(tok.split(text)[:50_000]).encode("utf-8")
    print(f"{'piece bytes':>11} {'list scan (us)':>15} {'heap (us)':>10}")
    for length in [4, 8, 16, 32, 64, 128, 512]:
        pieces = [source[i : i + length] for i in range(0, 200 * length, length)]
        scan = best_time(lambda p=pieces: [bpe.merge_by_rank(x, ranks) for x in p])
        heap = best_time(lambda p=pieces: [bpe.merge_by_rank_heap(x, ranks) for x in p])
        print(f"{length:>11} {scan / len(pieces) * 1e6:>15.1f} {heap / len(pieces) * 1e6:>10.1f}")
    print(f"(encode_piece uses the heap from bpe.LONG_PIECE = {bpe.LONG_PIECE} bytes)")


# --- GPT-2 vs tiktoken: the GPT-2 issue adds its comparison here ----------------------------


def gpt2_section(args: argparse.Namespace) -> None:
    if not hasattr(Tokenizer, "from_tiktoken"):
        print("GPT-2's vocabulary vs tiktoken: see issue 4 (Tokenizer.from_tiktoken not yet there)")
        return
    print("GPT-2's vocabulary vs tiktoken: see issue 4")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", help="a UTF-8 text file")
    parser.add_argument("--vocab-size", type=int, default=4096)
    args = parser.parse_args()
    text, name = read_corpus(args.corpus)
    tok = Tokenizer.train(text, args.vocab_size, special_tokens=[EOT])
    megabytes = len(text.encode("utf-8")) / 1e6
    print(f"corpus: {name}, {megabytes:.2f} MB; our vocabulary: {tok.vocab_size} ids "
          "trained on it\n")
    throughput_section(tok, text)
    print()
    long_piece_section(tok)
    print()
    merge_method_section(tok, text)
    print()
    gpt2_section(args)


if __name__ == "__main__":
    main()
