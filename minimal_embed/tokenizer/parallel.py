"""Work on every core: texts and files cut into tasks, worker processes, and encoding at scale.

A long text or a file is cut only where the split allows (:meth:`~.patterns.Splitter.cut_after`,
mostly at a line end), so its parts have exactly the pieces of the whole; a file is cut into byte
ranges that each worker reads for itself, so it is never read whole. :func:`map_in_workers` runs
a function over the tasks in a pool of processes ("spawn": the same on every platform), with a
bounded number in flight, so memory follows the tasks in flight, not the corpus. Counting for
training (``counting.py``) and :func:`encode_texts` / :func:`encode_file` build on these.

Worker processes re-import the caller's main module: a script that uses them must guard its top
level with ``if __name__ == "__main__":``.
"""

from __future__ import annotations

import codecs
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent import futures
from itertools import chain, islice
from multiprocessing import get_context
from typing import Any, Protocol

import numpy as np

from minimal_embed._checks import check_integer
from minimal_embed.tokenizer.patterns import Splitter

Range = tuple[str, int, int]  # the bytes [start, stop) of the file at a path
TASK_CHARS = 1_000_000  # text per task: enough that sending the result back is cheap
MIN_TASKS = 8  # fewer tasks are done in this process: starting workers would cost more
MAX_WORKERS = 8  # the default never starts more processes than this
_WINDOW = 1 << 16  # bytes read at a time when looking for a place to cut a file


class _Encoder(Protocol):
    """What the encoders need of a tokenizer (the Tokenizer class has it)."""

    @property
    def ranks(self) -> dict[bytes, int]: ...
    @property
    def pattern(self) -> str: ...
    @property
    def special_tokens(self) -> dict[str, int]: ...
    def encode_ordinary(self, text: str) -> list[int]: ...


def default_workers() -> int:
    """One worker per core this process may use, at most :data:`MAX_WORKERS`."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, MAX_WORKERS))


def checked_workers(workers: int | None) -> int:
    """``workers`` checked (an integer >= 1), or :func:`default_workers` for None."""
    return default_workers() if workers is None else check_integer("workers", workers, least=1)


def map_in_workers(
    function: Callable[[Any], Any],
    tasks: Iterable[Any],
    workers: int,
    *,
    here: Callable[[Any], Any] | None = None,
    initializer: Callable[..., None] | None = None,
    initargs: tuple = (),
) -> Iterator[Any]:
    """``map(function, tasks)`` in up to ``workers`` processes, results in the tasks' order.

    ``function`` (and ``initializer``, run once in each worker) must be picklable: a top-level
    function or an instance of a top-level class. With ``workers == 1`` or fewer than
    :data:`MIN_TASKS` tasks, ``here`` (default ``function``) does the work in this process.
    At most ``2 * workers`` tasks are in flight, so ``tasks`` is read as the work goes.
    """
    tasks = iter(tasks)
    first = list(islice(tasks, MIN_TASKS))
    if workers == 1 or len(first) < MIN_TASKS:
        yield from map(here or function, chain(first, tasks))
        return
    pool = futures.ProcessPoolExecutor(
        workers, mp_context=get_context("spawn"), initializer=initializer, initargs=initargs
    )
    try:
        pending: list[futures.Future] = []
        for task in chain(first, tasks):
            if len(pending) >= 2 * workers:
                yield pending.pop(0).result()
            pending.append(pool.submit(function, task))
        for future in pending:
            yield future.result()
    finally:
        pool.shutdown(cancel_futures=True)


# --- cutting texts and files where the split allows --------------------------------------------


def text_parts(text: str, size: int, cut: Splitter | None) -> Iterator[str]:
    """``text`` in consecutive parts of about ``size`` characters, cut where ``cut`` allows."""
    start = 0
    while cut is not None and len(text) - start > size:
        stop = cut.cut_after(text, start + size)
        if stop is None:
            break
        yield text[start:stop]
        start = stop
    yield text[start:] if start else text


def file_ranges(path: str, size: int, cut: Splitter | None) -> Iterator[Range]:
    """A file's consecutive byte ranges of about ``size`` bytes, cut where ``cut`` allows."""
    total = os.path.getsize(path)
    start = 0
    with open(path, "rb") as handle:
        while cut is not None and total - start > size:
            stop = _next_cut(handle, path, start + size, cut)
            if stop is None:
                break
            yield path, start, stop
            start = stop
    yield path, start, total


def _next_cut(handle, path: str, offset: int, cut: Splitter) -> int | None:
    """The first byte offset at or after ``offset`` where the file's text may be cut."""
    while True:
        handle.seek(offset)
        window = handle.read(_WINDOW)
        # start at a character: skip the continuation bytes (0b10xxxxxx) of one cut in half
        lead = window[:4]
        skip = next((i for i, byte in enumerate(lead) if not 0x80 <= byte < 0xC0), len(lead))
        text = _decode(window[skip:], path, offset + skip, final=len(window) < _WINDOW)
        found = cut.cut_after(text, 0)
        if found is not None:
            return offset + skip + len(text[:found].encode("utf-8"))
        if len(window) < _WINDOW:
            return None
        # on to the next window, which reads the last two characters again (a cut needs the
        # character on either side), but on by one byte at least
        offset += max(skip + len(text[:-2].encode("utf-8")), 1)


def read_range(path: str, start: int, stop: int) -> str:
    """The text of the bytes ``[start, stop)`` of a UTF-8 file.

    Raises
    ------
    ValueError
        If those bytes are not UTF-8 (the message names the file and the byte).
    """
    with open(path, "rb") as handle:
        handle.seek(start)
        return _decode(handle.read(stop - start), path, start, final=True)


def _decode(data: bytes, path: str, offset: int, final: bool) -> str:
    """``data``, read at ``offset`` of ``path``, as UTF-8 (an unfinished character is left out
    unless ``final``)."""
    try:
        return codecs.utf_8_decode(data, "strict", final)[0]
    except UnicodeDecodeError as error:
        raise ValueError(
            f"{path} is not UTF-8: byte {offset + error.start} is {data[error.start:error.end]!r}"
        ) from None


# --- encoding in worker processes ---------------------------------------------------------------

_WORKER: dict[str, Any] = {}  # in a worker process: its own tokenizer


def _start_encoder(kind: type, ranks: dict, pattern: str, special_tokens: dict) -> None:
    """Build this worker's tokenizer (its piece cache is its own)."""
    _WORKER["tokenizer"] = kind(ranks, pattern=pattern, special_tokens=special_tokens)


def _encode_texts_task(texts: list[str], tokenizer: _Encoder | None = None) -> list[np.ndarray]:
    """The ids of each text, as int32 arrays (cheap to send back)."""
    tokenizer = tokenizer or _WORKER["tokenizer"]
    return [np.array(tokenizer.encode_ordinary(text), dtype=np.int32) for text in texts]


def _encode_range_task(part: Range, tokenizer: _Encoder | None = None) -> np.ndarray:
    """The ids of a byte range of a file, as an int32 array."""
    tokenizer = tokenizer or _WORKER["tokenizer"]
    return np.array(tokenizer.encode_ordinary(read_range(*part)), dtype=np.int32)


def _pool_arguments(tokenizer: _Encoder) -> dict[str, Any]:
    """What each worker needs to build the same tokenizer."""
    state = (type(tokenizer), tokenizer.ranks, tokenizer.pattern, tokenizer.special_tokens)
    return {"initializer": _start_encoder, "initargs": state}


def encode_texts(
    tokenizer: _Encoder, texts: list[str], workers: int | None = None
) -> list[list[int]]:
    """``[tokenizer.encode_ordinary(text) for text in texts]``, the texts shared among workers.

    Texts (checked by the caller) are grouped into tasks of about :data:`TASK_CHARS`
    characters; see :func:`map_in_workers` for when the work stays in this process.

    Raises
    ------
    ValueError
        If ``workers`` is below 1.
    """
    workers = checked_workers(workers)

    def here(task: list[str]) -> list[list[int]]:
        return [tokenizer.encode_ordinary(text) for text in task]

    encoded: list[list[int]] = []
    for result in map_in_workers(_encode_texts_task, _group(texts, TASK_CHARS), workers,
                                 here=here, **_pool_arguments(tokenizer)):
        encoded += [ids if isinstance(ids, list) else ids.tolist() for ids in result]
    return encoded


def _group(texts: list[str], size: int) -> Iterator[list[str]]:
    """Consecutive texts in lists of about ``size`` characters."""
    group: list[str] = []
    chars = 0
    for text in texts:
        group.append(text)
        chars += len(text)
        if chars >= size:
            yield group
            group, chars = [], 0
    if group:
        yield group


def encode_file(
    tokenizer: _Encoder, path: str | os.PathLike, workers: int | None = None
) -> np.ndarray:
    """``tokenizer.encode_ordinary`` of a UTF-8 file's text, read in byte ranges by workers.

    The ranges are cut where the split allows (:meth:`~.patterns.Splitter.cut_after`), so the
    ids are those of the whole text; under a pattern without such a rule, or in text without
    such a place, a range is longer (at worst the whole file). Returns int32 ids, shape
    ``(n_tokens,)``.

    Raises
    ------
    ValueError
        If the file is not UTF-8 (the message names it), or ``workers`` is below 1.
    OSError
        If the file cannot be read.
    """
    workers = checked_workers(workers)
    ranges = file_ranges(os.fspath(path), TASK_CHARS, Splitter(tokenizer.pattern))

    def here(part: Range) -> np.ndarray:
        return _encode_range_task(part, tokenizer)

    parts = list(map_in_workers(_encode_range_task, ranges, workers, here=here,
                                **_pool_arguments(tokenizer)))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)
