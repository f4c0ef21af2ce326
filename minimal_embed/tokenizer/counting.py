"""Counting a corpus's pieces on every core: a map-reduce, and the sum of the counts.

Training needs only how often each distinct piece occurs (:func:`~.tokenizer.count_pieces`), and
the counts of the parts of a corpus add up to the counts of the whole: counting is a map-reduce.
:func:`count_corpus` is its one-machine form: the corpus is cut into *shards* of about
:data:`~.parallel.TASK_CHARS` characters (texts grouped; files and long texts cut where the split
allows, see ``parallel.py``), worker processes count the shards, and the counts are summed as
they come back. Memory grows with the distinct pieces and the shards in flight, never with the
corpus; counted in this process, the same shards give the same sum, so any number of workers
learns the same merges. Across machines the same map-reduce runs on an existing engine (the
README shows Dask): :func:`~.tokenizer.count_pieces` on every part, :func:`sum_counts` to add up.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping

from minimal_embed.tokenizer import checks, parallel
from minimal_embed.tokenizer.patterns import GPT2_PATTERN, Splitter

Part = str | parallel.Range  # a text, or a byte range of a file


def sum_counts(counts: Iterable[Mapping[bytes, int]]) -> dict[bytes, int]:
    """Add up piece counts: ``{piece: sum of its counts}``, the reduce of the map-reduce.

    Examples
    --------
    >>> sum_counts([{b"a": 1, b"b": 2}, {b"b": 3}])
    {b'a': 1, b'b': 5}
    """
    total: Counter[bytes] = Counter()
    for part in counts:
        total.update(part)
    return dict(total)


def count_corpus(
    source: str | os.PathLike | Iterable[str | os.PathLike],
    *,
    pattern: str = GPT2_PATTERN,
    special_tokens: Iterable[str] | None = None,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[bytes, int]:
    """:func:`~.tokenizer.count_pieces` of a corpus, counted in shards by worker processes.

    Parameters
    ----------
    source : str, path, or iterable of str and paths
        A str is one text; a path (``os.PathLike``, e.g. ``pathlib.Path``) names a UTF-8 file,
        which is one text (read as bytes: no newline translation). An iterable gives many
        texts, read lazily; no piece crosses two of them.
    pattern, special_tokens
        As in :func:`~.tokenizer.count_pieces`.
    workers : int, optional
        At most this many worker processes (default: one per core, at most 8); 1, or a small
        corpus (:func:`~.parallel.map_in_workers`), counts in this process.
    progress : callable, optional
        Called with the bytes counted so far after each shard.

    Returns
    -------
    dict of bytes -> int
        Exactly :func:`~.tokenizer.count_pieces` of the same texts, whatever ``workers`` is.

    Raises
    ------
    TypeError
        If an item of ``source`` is neither a str nor a path (the message gives its position).
    ValueError
        If ``workers`` is below 1, or a file is not UTF-8 (the message names it).
    OSError
        If a file cannot be read.

    Examples
    --------
    >>> count_corpus(["the cat", "the hat"], workers=1)
    {b'the': 2, b' cat': 1, b' hat': 1}
    """
    workers = parallel.checked_workers(workers)
    specials = checks.special_token_list(special_tokens)
    # A cut inside a special token's text would break it apart: with a newline or space in one,
    # texts are not cut at all.
    cut = None if any("\n" in text or " " in text for text in specials) else Splitter(pattern)
    count = _Counting(pattern, specials)
    total: Counter[bytes] = Counter()
    done = 0
    for counts, size in parallel.map_in_workers(count, _shards(source, cut), workers):
        total.update(counts)
        done += size
        if progress is not None:
            progress(done)
    return dict(total)


class _Counting:
    """The map step, picklable for the workers: a shard -> (its piece counts, its bytes)."""

    def __init__(self, pattern: str, specials: list[str]) -> None:
        self.pattern, self.specials = pattern, specials

    def __call__(self, shard: list[Part]) -> tuple[dict[bytes, int], int]:
        from minimal_embed.tokenizer.tokenizer import count_pieces  # tokenizer.py imports us

        texts = [part if isinstance(part, str) else parallel.read_range(*part) for part in shard]
        size = sum(len(text.encode("utf-8", "surrogatepass")) for text in texts)
        return count_pieces(texts, pattern=self.pattern, special_tokens=self.specials), size


def _shards(
    source: str | os.PathLike | Iterable[str | os.PathLike], cut: Splitter | None
) -> Iterator[list[Part]]:
    """The parts of ``source`` grouped into shards of about :data:`~.parallel.TASK_CHARS`."""
    if isinstance(source, (bytes, bytearray)) or not isinstance(source, (Iterable, os.PathLike)):
        raise TypeError(f"texts must be a str or an iterable of str, got "
                        f"{type(source).__name__} (a pathlib.Path names a file)")
    items = [source] if isinstance(source, (str, os.PathLike)) else source
    shard: list[Part] = []
    size = 0
    for number, item in enumerate(items):
        parts: Iterable[Part]
        if isinstance(item, str):
            parts = parallel.text_parts(item, parallel.TASK_CHARS, cut)
        elif isinstance(item, os.PathLike):
            parts = parallel.file_ranges(os.fspath(item), parallel.TASK_CHARS, cut)
        else:
            kind = type(item).__name__
            raise TypeError(f"item {number} of the training texts is a {kind}, not a str or path")
        for part in parts:
            shard.append(part)
            size += len(part) if isinstance(part, str) else part[2] - part[1]
            if size >= parallel.TASK_CHARS:
                yield shard
                shard, size = [], 0
    if shard:
        yield shard


class ProgressLine:
    """Progress on stderr: MB counted and MB/s, then (called) merges done / total and merges/s."""

    def __init__(self) -> None:
        self.started = self.last = time.perf_counter()
        self.open = ""  # the kind of line printed last and not yet ended

    def counted(self, done: int) -> None:
        """After each shard: the bytes counted so far."""
        self.last = time.perf_counter()
        rate = done / 1e6 / max(self.last - self.started, 1e-9)
        self._print("counted", f"counted {done / 1e6:.1f} MB, {rate:.1f} MB/s")

    def __call__(self, done: int, total: int) -> None:
        """Every 100 merges and at the end: merges done of ``total``."""
        rate = done / max(time.perf_counter() - self.last, 1e-9)
        self._print("merges", f"merges {done}/{total}, {rate:.0f}/s")

    def finish(self) -> None:
        """End the line."""
        if self.open:
            print(file=sys.stderr, flush=True)
            self.open = ""

    def _print(self, kind: str, line: str) -> None:
        if self.open and self.open != kind:
            self.finish()
        print(f"\r{line}", end="", file=sys.stderr, flush=True)
        self.open = kind
