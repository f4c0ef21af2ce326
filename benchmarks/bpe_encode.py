"""Encoding speed: our Tokenizer next to tiktoken (Rust) on the same vocabulary, and worst cases.

    python benchmarks/bpe_encode.py [CORPUS] [--vocab-size 4096]

CORPUS defaults to $MINIMAL_EMBED_CORPUS when set, else the bundled corpus. A vocabulary of
``--vocab-size`` ids is trained on the corpus (not timed), then:

1. throughput on the whole corpus with a cold piece cache (a fresh tokenizer each run) and a warm
   one, next to tiktoken given the very same ranks and pattern (ids must be equal);
2. single long pieces (one letter repeated, random letters, spaces) at 100 kB and 1 MB: the time
   should grow like n log n, so 10x the input at most ~12x the time;
3. the split alone on long runs of one character (spaces, newlines, "!", ...) at 100 kB and
   1 MB, with ``regex``, the ``re`` twin and the array rules (``array_split.py``): a pattern
   that backtracked over a run would
   show 10x the text taking far more than 10x the time (the tests check only the pieces);
4. the piece-merging methods by piece length (why ``bpe_encode.LONG_PIECE`` is what it is), and
   many short pieces merged together or one by one (``SHORT_PIECE``, ``BATCH_MIN``);
5. GPT-2's vocabulary next to tiktoken's own GPT-2 encoding, when $MINIMAL_EMBED_GPT2_RANKS
   names ``gpt2.tiktoken``: the corpus as it is, with some curly apostrophes, and split by
   ``regex`` alone; what building each encoder costs (the cold rows leave it out); then long
   pieces;
6. at scale, with GPT-2's vocabulary: the standard library's ``.py`` files (about 30 MB, found
   through ``sysconfig``) as a batch with 1 and 2 worker processes and as one file
   (``encode_file``), next to tiktoken's ``encode_ordinary_batch`` with 1 and 2 threads; and the
   3 MB long-piece corpus of ``corpus.long_piece_text``.

Every "cold" time builds its tokenizer before the clock starts (section 5 times the building).
Targets on the 1.1 MB corpus: at least 4 MB/s with a cold cache on our 4096-token vocabulary;
a 1 MB piece under 3 s, and 10x the input at most 12x the time (compare the reference row, which
shows what strictly linear Python work costs at these sizes on the machine at hand); with
GPT-2's vocabulary, a cold cache at least 0.8x tiktoken's single-thread speed, and
``"a" * 1_000_000`` at most 3x tiktoken's time.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import regex  # noqa: E402
from corpus import long_piece_text, python_sources, read_corpus  # noqa: E402

from minimal_embed import GPT2_PATTERN, GPT4_PATTERN, Tokenizer  # noqa: E402
from minimal_embed.tokenizer import bpe_encode  # noqa: E402
from minimal_embed.tokenizer.patterns import Splitter  # noqa: E402
from minimal_embed.tokenizer.token_pairs import token_pairs  # noqa: E402

EOT = "<|endoftext|>"


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


def cold_time(tok: Tokenizer, text: str, repeat: int) -> float:
    """Best time to encode ``text`` with an empty piece cache (the tokenizer built untimed)."""
    tokenizers = [fresh(tok) for _ in range(repeat)]
    return min(best_time(lambda t=t: t.encode_ordinary(text), repeat=1) for t in tokenizers)


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
    positions = best_time(lambda: tok._splitter.piece_starts(text))
    ours = tok.encode_ordinary(text)
    rows = [
        ("minimal_embed, cold cache", cold),
        ("minimal_embed, warm cache", warm),
        ("  split into strings (Tokenizer.split)", split),
        ("  split into positions (array rules)", positions),
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
    print(f"{'one long piece':<34} {'100 kB (s)':>10} {'1 MB (s)':>9} {'ratio':>6} {'tokens':>8}")
    for label, make in cases.items():
        small, large = make(100_000), make(1_000_000)
        small_time = cold_time(tok, small, repeat=3)
        large_time = cold_time(tok, large, repeat=3)
        count = len(tok.encode_ordinary(large))
        print(f"{label:<34} {small_time:>10.3f} {large_time:>9.3f} "
              f"{large_time / small_time:>6.1f} {count:>8}")
    # what strictly linear Python work shows on this machine at these sizes (memory effects)
    ranks = tok.ranks
    small_time, large_time = (
        best_time(lambda p=b"a" * n: [ranks.get(p[i : i + 2]) for i in range(len(p) - 1)])
        for n in (100_000, 1_000_000)
    )
    print(f"{'reference: one dict lookup per byte':<34} {small_time:>10.3f} {large_time:>9.3f} "
          f"{large_time / small_time:>6.1f}")


def split_linearity_section() -> None:
    """10x the run, 10x the time? Each pattern and engine on long runs of one character."""
    engines = {}
    for name, pattern in [("GPT-2", GPT2_PATTERN), ("GPT-4", GPT4_PATTERN)]:
        engines[f"{name} regex"] = regex.compile(pattern).findall
        twin = Splitter(pattern).ascii_regex
        if twin is not None:  # Python 3.11+ (`++` in `re`)
            engines[f"{name} re twin"] = twin.findall
    engines["GPT-2 array"] = Splitter(GPT2_PATTERN).piece_starts  # array_split.py's rules
    print(f"{'split of one long run':<24} {'engine':<14} {'100 kB (s)':>10} {'1 MB (s)':>9} "
          f"{'ratio':>6}")
    for run in [" ", "\n", " \n", "!", "a"]:
        for end in ["", "x", " "]:
            small = run * (100_000 // len(run)) + end
            large = run * (1_000_000 // len(run)) + end
            for engine, split in engines.items():
                small_time = best_time(lambda s=small, f=split: f(s), repeat=5)
                large_time = best_time(lambda s=large, f=split: f(s), repeat=5)
                ratio = large_time / small_time
                flag = "  BACKTRACKING?" if ratio > 30 else ""
                print(f"{repr(run) + ' * n + ' + repr(end):<24} {engine:<14} {small_time:>10.4f} "
                      f"{large_time:>9.4f} {ratio:>6.1f}{flag}")


# When LONG_PIECE was chosen (GPT-2's ranks and ours): the two methods were equal near 100 bytes,
# the buckets 2x faster at 256 and 4x at 512, the list scan 2-5x faster on words.
def merge_method_section(tok: Tokenizer, text: str) -> None:
    ranks = tok.ranks
    source = "".join(tok.split(text)[:50_000]).encode("utf-8")
    print(f"{'piece bytes':>11} {'list scan (us)':>15} {'buckets (us)':>13}")
    for length in [8, 32, 64, 100, 128, 256, 512]:
        pieces = [source[i : i + length] for i in range(0, 200 * length, length)]
        scan = best_time(lambda p=pieces: [bpe_encode.merge_by_rank(x, ranks) for x in p])
        long = best_time(lambda p=pieces: [bpe_encode.merge_by_rank_long(x, ranks) for x in p])
        print(f"{length:>11} {scan / len(pieces) * 1e6:>15.1f} {long / len(pieces) * 1e6:>13.1f}")
    print(f"(encode_piece uses merge_by_rank_long from LONG_PIECE = {bpe_encode.LONG_PIECE} bytes)")


# When SHORT_PIECE and BATCH_MIN were chosen, with GPT-2's ranks: merging together paid from about
# 200 words (256 words: 1.3 ms together, 1.4 ms one by one); the 7,400 new words of the 1.1 MB
# corpus took 25 ms together, 39 ms one by one.
def batch_section(tok: Tokenizer, text: str) -> None:
    ranks = tok.ranks
    pairs = token_pairs(ranks)
    words = sorted({piece.encode("utf-8") for piece in tok.split(text)})
    short = [word for word in words
             if word not in ranks and 2 <= len(word) <= bpe_encode.SHORT_PIECE]
    print(f"{'short new pieces':>16} {'together (ms)':>14} {'one by one (ms)':>16}")
    for count in [64, bpe_encode.BATCH_MIN, 1024, len(short)]:
        pieces = short[:count]
        together = best_time(lambda p=pieces: bpe_encode.merge_by_rank_batch(p, ranks, pairs))
        each = best_time(lambda p=pieces: [bpe_encode.merge_by_rank(x, ranks) for x in p])
        print(f"{len(pieces):>16} {together * 1e3:>14.2f} {each * 1e3:>16.2f}")
    print(f"(encode_pieces merges together from BATCH_MIN = {bpe_encode.BATCH_MIN} pieces of at "
          f"most SHORT_PIECE = {bpe_encode.SHORT_PIECE} bytes)")


# --- GPT-2's vocabulary next to tiktoken ----------------------------------------------------


def gpt2_section(text: str) -> tuple[Tokenizer | None, object]:
    """GPT-2's 50k vocabulary next to tiktoken's own GPT-2 encoding, on ``text`` and variants;
    returns both encoders (None without $MINIMAL_EMBED_GPT2_RANKS)."""
    path = os.environ.get("MINIMAL_EMBED_GPT2_RANKS")
    if not path:
        print("GPT-2's vocabulary: set MINIMAL_EMBED_GPT2_RANKS to gpt2.tiktoken to compare")
        return None, None
    started = time.perf_counter()
    gpt2 = Tokenizer.from_tiktoken(path, special_tokens={EOT: 50256})
    print(f"GPT-2's vocabulary: {gpt2.vocab_size} ids, read in "
          f"{time.perf_counter() - started:.2f} s from {path}")
    peer = tiktoken_gpt2(path)
    megabytes = len(text.encode("utf-8")) / 1e6
    gpt2.encode_ordinary(text)  # warms gpt2's piece cache for the warm row
    # Most real text is not all ASCII. "mixed": every 20th apostrophe made curly (U+2019), so the
    # array split (array_split.py) works on the text's code points instead of its bytes;
    # "regex only": the same pattern wrapped in (?:), which is not GPT2_PATTERN, so it has
    # neither the array split nor the `re` twin: `regex` splits everything, under the time bound
    # that any pattern from a file gets (patterns.SPLIT_SECONDS).
    parts = text.split("'")
    mixed = "".join(part + ("\u2019" if i % 20 == 0 else "'") for i, part in enumerate(parts[:-1]))
    mixed += parts[-1]
    regex_only = Tokenizer(gpt2.ranks, pattern=f"(?:{gpt2.pattern})")
    cases = [  # (label, a function giving the encoder to time, fresh for cold rows; its text)
        ("minimal_embed, cold cache", lambda: fresh(gpt2).encode_ordinary, text),
        ("minimal_embed, warm cache", lambda: gpt2.encode_ordinary, text),
        ("minimal_embed, cold, mixed text*", lambda: fresh(gpt2).encode_ordinary, mixed),
        ("minimal_embed, cold, regex only*", lambda: fresh(regex_only).encode_ordinary, text),
    ]
    best: dict[str, float] = {}
    for _ in range(5):  # round by round, so a busy machine slows every encoder alike
        runs = [(label, make(), words) for label, make, words in cases]
        if peer is not None:
            runs += [("tiktoken gpt2, one thread", peer.encode_ordinary, text),
                     ("tiktoken gpt2, mixed text*", peer.encode_ordinary, mixed)]
        for label, encode, words in runs:
            seconds = best_time(lambda encode=encode, words=words: encode(words), repeat=1)
            best[label] = min(best.get(label, float("inf")), seconds)
    print(f"{'encoder':<36} {'seconds':>8} {'MB/s':>7} {'x tiktoken':>11}")
    for label, seconds in best.items():
        versus = f"{'-':>11}"
        if peer is not None:
            reference = best["tiktoken gpt2, mixed text*" if "mixed" in label
                             else "tiktoken gpt2, one thread"]
            versus = f"{reference / seconds:>11.2f}"
        print(f"{label:<36} {seconds:>8.3f} {megabytes / seconds:>7.2f} {versus}")
    if peer is None:
        print(f"{'tiktoken':<36} not installed")
    else:
        same = all(peer.encode_ordinary(words) == fresh(tok).encode_ordinary(words)
                   for tok, words in [(gpt2, text), (gpt2, mixed), (regex_only, text)])
        ratio = best["tiktoken gpt2, one thread"] / best["minimal_embed, cold cache"]
        print(f"(cold cache at {ratio:.2f}x tiktoken's speed, target >= 0.8x; "
              f"{len(gpt2.encode_ordinary(text))} tokens; ids of all three texts "
              f"{'equal to' if same else 'DIFFER from'} tiktoken's)")
    print(f"* mixed: every 20th apostrophe curly ({mixed.count(chr(0x2019))} of them), so the "
          "array split reads code points, not bytes; regex only: a pattern that is not "
          "GPT2_PATTERN, split by `regex` under its time bound")
    build_section(gpt2)
    print()
    gpt2_long_pieces(gpt2, peer)
    return gpt2, peer


def build_section(gpt2: Tokenizer) -> None:
    """What the cold rows leave out: building each encoder from ranks already in memory (ours
    makes its tables of token pairs and joinable bytes here, tiktoken its hash map)."""
    ranks = gpt2.ranks
    ours = min(timed(lambda: fresh(gpt2)) for _ in range(3))
    line = f"building the encoder from the ranks in memory: ours {ours * 1e3:.0f} ms"
    try:
        import tiktoken
        from tiktoken_ext.openai_public import r50k_pat_str
    except ImportError:
        print(line + ", tiktoken not installed")
        return
    theirs = min(timed(lambda: tiktoken.Encoding("gpt2", pat_str=r50k_pat_str,
                                                 mergeable_ranks=ranks,
                                                 special_tokens={EOT: 50256}))
                 for _ in range(3))
    print(line + f", tiktoken {theirs * 1e3:.0f} ms (ours takes {ours / theirs:.1f}x its time)")


def tiktoken_gpt2(path: str):
    """tiktoken's GPT-2 encoding, built by tiktoken's own loader and pattern from the same file."""
    try:
        import tiktoken
        from tiktoken.load import load_tiktoken_bpe
        from tiktoken_ext.openai_public import r50k_pat_str
    except ImportError:
        return None
    return tiktoken.Encoding("gpt2", pat_str=r50k_pat_str,
                             mergeable_ranks=load_tiktoken_bpe(path), special_tokens={EOT: 50256})


def gpt2_long_pieces(gpt2: Tokenizer, peer) -> None:
    rng = random.Random(0)
    cases = {"one letter repeated": lambda n: "a" * n,
             "random letters": lambda n: "".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=n))}
    print(f"{'GPT-2, one long piece':<22} {'100 kB (s)':>10} {'1 MB (s)':>9} {'ratio':>6} "
          f"{'tiktoken 1 MB (s)':>18} {'ours / tiktoken':>16}  ids")
    for label, make in cases.items():
        small, large = make(100_000), make(1_000_000)
        small_time = cold_time(gpt2, small, repeat=2)
        large_time = cold_time(gpt2, large, repeat=2)
        peer_time, versus, same = "not installed", "", ""
        if peer is not None:
            seconds = best_time(lambda s=large: peer.encode_ordinary(s), repeat=2)
            peer_time, versus = f"{seconds:.3f}", f"{large_time / seconds:.2f}x"
            equal = peer.encode_ordinary(large) == gpt2.encode_ordinary(large)
            same = "equal" if equal else "DIFFER"
        print(f"{label:<22} {small_time:>10.3f} {large_time:>9.3f} "
              f"{large_time / small_time:>6.1f} {peer_time:>18} {versus:>16}  {same}")
    print("(target: one letter repeated, 1 MB, at most 3x tiktoken's time; the tokenizers are "
          "built before the clock starts)")


def scale_section(gpt2: Tokenizer | None, peer) -> None:
    """GPT-2's vocabulary on ~30 MB of code: batches and a file, 1 and 2 processes or threads."""
    if gpt2 is None:
        print("at scale: set MINIMAL_EMBED_GPT2_RANKS to gpt2.tiktoken to compare")
        return
    texts = [path.read_bytes().decode("utf-8") for path in python_sources()]
    long_text = long_piece_text(3)
    megabytes = sum(len(text.encode("utf-8")) for text in texts) / 1e6
    long_megabytes = len(long_text.encode("utf-8")) / 1e6
    print(f"at scale, GPT-2's vocabulary: {len(texts)} .py files of the standard library, "
          f"{megabytes:.1f} MB; the long-piece corpus, {long_megabytes:.1f} MB")
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "code.py")
        with open(path, "wb") as handle:
            for text in texts:
                handle.write(text.encode("utf-8"))
        rows = []
        for workers in (1, 2):
            tok = fresh(gpt2)
            rows.append((f"ours, encode_ordinary_batch, {workers} process(es)", workers,
                         timed(lambda t=tok, w=workers: t.encode_ordinary_batch(texts, workers=w))))
        tok = fresh(gpt2)
        rows.append(("ours, encode_file, 2 processes", 2,
                     timed(lambda: tok.encode_file(path, workers=2))))
        if peer is not None:
            for threads in (1, 2):
                rows.append((f"tiktoken encode_ordinary_batch, {threads} thread(s)", threads,
                             timed(lambda n=threads: peer.encode_ordinary_batch(texts,
                                                                                num_threads=n))))
    peers = {n: seconds for label, n, seconds in rows if label.startswith("tiktoken")}
    print(f"{'encoder (cold)':<46} {'seconds':>8} {'MB/s':>7} {'speed / tiktoken':>17}")
    for label, n, seconds in rows:
        versus = f"{peers[n] / seconds:.2f}x" if n in peers and label.startswith("ours") else ""
        print(f"{label:<46} {seconds:>8.2f} {megabytes / seconds:>7.2f} {versus:>17}")
    ours = timed(lambda: fresh(gpt2).encode_ordinary(long_text))
    line = f"long-piece corpus, one text: ours {ours:.2f} s"
    if peer is not None:
        theirs = timed(lambda: peer.encode_ordinary(long_text))
        line += f", tiktoken {theirs:.2f} s ({theirs / ours:.2f}x its speed)"
    print(line)
    same = fresh(gpt2).encode_ordinary_batch(texts[:50], workers=1)
    if peer is not None:
        agree = same == peer.encode_ordinary_batch(texts[:50])
        print(f"(ids of the first 50 files {'equal to' if agree else 'DIFFER from'} tiktoken's)")


def timed(run) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


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
    split_linearity_section()
    print()
    merge_method_section(tok, text)
    print()
    batch_section(tok, text)
    print()
    gpt2 = gpt2_section(text)
    print()
    scale_section(*gpt2)


if __name__ == "__main__":
    main()
