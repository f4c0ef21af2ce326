"""The texts the tokenizer benchmarks run on, shared by bpe_train.py and bpe_encode.py.

- :func:`read_corpus`: prose (``$MINIMAL_EMBED_CORPUS`` or the bundled corpus);
- :func:`python_sources`: the standard library's ``.py`` files, found through ``sysconfig`` on
  every Python install (about 30 MB of code);
- :func:`long_piece_text`: CJK-like text of our own making, without spaces, so that every piece
  of GPT-2's split is a whole clause of 5 to 60 characters (15 to 180 bytes).
"""

from __future__ import annotations

import itertools
import os
import random
import sysconfig
from pathlib import Path


def read_corpus(path: str | None) -> tuple[str, str]:
    """Return ``(text, name)``: the file at ``path``, else ``$MINIMAL_EMBED_CORPUS``, else the
    bundled corpus (the scripts put the checkout on ``sys.path`` before calling this)."""
    path = path or os.environ.get("MINIMAL_EMBED_CORPUS")
    if path:
        with open(path, encoding="utf-8") as handle:
            return handle.read(), path
    from minimal_embed import data

    return data.corpus_text(), "bundled corpus (data/corpus)"


def python_sources(megabytes: float | None = None) -> list[Path]:
    """The standard library's UTF-8 ``.py`` files in sorted order (not site-packages), the first
    ones up to ``megabytes`` if given."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files, total = [], 0
    for path in sorted(stdlib.rglob("*.py")):
        if "site-packages" in path.relative_to(stdlib).parts or not path.is_file():
            continue
        try:
            path.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError):
            continue  # a few test files are in other encodings on purpose
        if megabytes is not None and total >= megabytes * 1e6:
            break
        files.append(path)
        total += path.stat().st_size
    return files


def long_piece_text(megabytes: float, seed: int = 0) -> str:
    """About ``megabytes`` MB of CJK-like text: clauses of 5-60 ideographs, no spaces.

    A lexicon of 20,000 words of 1-4 characters (from 2,500 ideographs, common ones more often)
    is drawn with Zipf frequencies; clauses end in '，', sentences in '。', every fifth sentence
    in a newline. The same ``seed`` gives the same text.
    """
    rng = random.Random(seed)
    characters = [chr(0x4E00 + i) for i in rng.sample(range(20_000), 2_500)]
    char_weights = list(itertools.accumulate(1 / (rank + 10) for rank in range(2_500)))
    lengths = rng.choices([1, 2, 3, 4], weights=[30, 50, 15, 5], k=20_000)
    lexicon = ["".join(rng.choices(characters, cum_weights=char_weights, k=n)) for n in lengths]
    word_weights = list(itertools.accumulate(1 / (rank + 1) for rank in range(20_000)))
    parts: list[str] = []
    size, sentence = 0, 0
    target = int(megabytes * 1e6)
    while size < target:
        words = rng.choices(lexicon, cum_weights=word_weights, k=40)
        clause = "".join(words)[: rng.randint(5, 60)]
        end = "，" if rng.random() < 0.7 else "。"
        if end == "。":
            sentence += 1
            if sentence % 5 == 0:
                end += "\n"
        parts += [clause, end]
        size += 3 * len(clause) + len(end.encode("utf-8"))
    return "".join(parts)
