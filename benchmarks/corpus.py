"""The text the tokenizer benchmarks run on, shared by bpe_train.py and bpe_encode.py."""

from __future__ import annotations

import os


def read_corpus(path: str | None) -> tuple[str, str]:
    """Return ``(text, name)``: the file at ``path``, else ``$MINIMAL_EMBED_CORPUS``, else the
    bundled corpus (the scripts put the checkout on ``sys.path`` before calling this)."""
    path = path or os.environ.get("MINIMAL_EMBED_CORPUS")
    if path:
        with open(path, encoding="utf-8") as handle:
            return handle.read(), path
    from minimal_embed import data

    return data.corpus_text(), "bundled corpus (data/corpus)"
