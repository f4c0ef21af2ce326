"""What the tokenizer accepts: ranks, piece counts, special tokens, the pattern, ids to decode.

The modules that do the work call these first, so they read as the algorithm while every bad
argument still fails early, with a message that names the value, the limit and the fix: a wrong
type raises TypeError, a value out of range ValueError (the rule of ``_checks.py``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping

import numpy as np
import regex

from minimal_embed._checks import check_integer

MAX_ID = 2**63 - 1  # ids travel as int64 arrays
# Code points U+D800..U+DFFF: half of a UTF-16 pair, which UTF-8 cannot encode on its own.
LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def check_text(text: object, name: str = "text") -> str:
    """``text`` if it is a str; TypeError naming what it is otherwise."""
    if not isinstance(text, str):
        hint = " (decode bytes first: data.decode('utf-8'))" if isinstance(text, bytes) else ""
        raise TypeError(f"{name} must be a str, got {type(text).__name__}{hint}")
    return text


def repair_surrogates(text: str) -> str:
    """``text`` with each surrogate pair joined into its character, each lone surrogate U+FFFD.

    Surrogates are halves of UTF-16 pairs that UTF-8 cannot write on their own; tiktoken repairs
    text the same way.

    Examples
    --------
    >>> repair_surrogates("\\ud83d\\udc4d \\ud83d")
    '👍 �'
    """
    if text.isascii():  # O(1): CPython knows a str's widest character
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # through UTF-16, where a pair is what a surrogate pair means
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


def check_ranks(ranks: Mapping[bytes, int]) -> None:
    """Check that ``ranks`` (token bytes -> rank) has every single byte and the ranks 0..n-1.

    Raises
    ------
    ValueError
        Naming the first missing single byte, repeated rank or missing rank.

    Examples
    --------
    >>> check_ranks({bytes([b]): b for b in range(256)})
    >>> check_ranks({bytes([b]): b + 1 for b in range(256)})
    Traceback (most recent call last):
    ...
    ValueError: rank 0 is missing: the 256 ranks must be 0..255
    """
    for byte in range(256):
        if bytes([byte]) not in ranks:
            raise ValueError(
                f"byte 0x{byte:02x} ({bytes([byte])!r}) is not a token; all 256 single bytes "
                "must be tokens so that any text can be encoded"
            )
    token_of_rank: dict[int, bytes] = {}
    for token, rank in ranks.items():
        if rank in token_of_rank:
            raise ValueError(f"rank {rank} is given to both {token_of_rank[rank]!r} and {token!r}")
        token_of_rank[rank] = token
    missing = next((rank for rank in range(len(ranks)) if rank not in token_of_rank), None)
    if missing is not None:
        raise ValueError(
            f"rank {missing} is missing: the {len(ranks)} ranks must be 0..{len(ranks) - 1}"
        )


def checked_ranks(ranks: Mapping[bytes, int]) -> dict[bytes, int]:
    """A copy of ``ranks`` as a dict of ints, after checking types and :func:`check_ranks`.

    Raises
    ------
    TypeError
        If ``ranks`` is not a mapping, a token is not non-empty bytes, or a rank not an integer.
    ValueError
        If a rank is negative, or :func:`check_ranks` fails.
    """
    if not isinstance(ranks, Mapping):
        raise TypeError(f"ranks must be a mapping of bytes -> int, got {type(ranks).__name__}")
    checked = dict(ranks)
    plain = (b"" not in checked and all(type(token) is bytes for token in checked)
             and all(type(rank) is int for rank in checked.values()))
    if not (plain and min(checked.values(), default=0) >= 0):  # the message names the culprit
        checked = {}
        for token, rank in ranks.items():
            if not isinstance(token, bytes) or not token:
                raise TypeError(f"every token must be non-empty bytes, got {token!r}")
            checked[token] = check_integer(f"the rank of {token!r}", rank)
    check_ranks(checked)
    return checked


def check_piece_counts(piece_counts: Mapping[bytes, int]) -> None:
    """Refuse piece counts that are not ``bytes -> integer >= 1`` (TypeError / ValueError)."""
    for piece, count in piece_counts.items():
        if not isinstance(piece, bytes):
            raise TypeError(f"piece_counts must map bytes to counts, got the key {piece!r}")
        check_integer(f"the count of piece {piece!r}", count, least=1)


def check_special_text(text: str) -> None:
    """Refuse a special token that is not a non-empty str (TypeError) or holds a lone surrogate
    (ValueError: its text could never be written as UTF-8)."""
    if not isinstance(text, str) or not text:
        raise TypeError(f"every special token must be a non-empty str, got {text!r}")
    if LONE_SURROGATE.search(text):
        raise ValueError(f"special token {text!r} holds a lone surrogate (not encodable in UTF-8)")


def special_token_list(special_tokens: Iterable[str] | None) -> list[str]:
    """Special tokens given as texts (for training): a list of distinct texts, ``[]`` for None.

    Raises
    ------
    TypeError
        If ``special_tokens`` is one str or a dict, or an item is not a non-empty str.
    ValueError
        If a text repeats or holds a lone surrogate.
    """
    if special_tokens is None:
        return []
    if isinstance(special_tokens, (str, Mapping)) or not isinstance(special_tokens, Iterable):
        raise TypeError(
            f"special_tokens must be a list of str, e.g. ['<|endoftext|>'], got {special_tokens!r}"
        )
    specials = list(special_tokens)
    for text in specials:
        check_special_text(text)
    if len(set(specials)) != len(specials):
        raise ValueError(f"special tokens repeat: {specials}")
    return specials


def checked_special_tokens(
    special_tokens: Mapping[str, int] | Iterable[str] | None, num_ordinary: int
) -> dict[str, int]:
    """Special tokens as ``{text: id}``: a list gets ids ``num_ordinary, num_ordinary + 1, ...``.

    Raises
    ------
    TypeError
        If a text is not a non-empty str, or an id is not an int.
    ValueError
        If an id is below ``num_ordinary`` (it would be an ordinary token's) or above
        ``2**63 - 1``, two tokens share an id, or a text repeats or holds a lone surrogate.
    """
    if special_tokens is None:
        return {}
    if not isinstance(special_tokens, Mapping):
        names = special_token_list(special_tokens)
        return {text: num_ordinary + i for i, text in enumerate(names)}
    checked = {}
    for text, token_id in special_tokens.items():
        check_special_text(text)
        token_id = check_integer(f"the id of special token {text!r}", token_id)
        if token_id > MAX_ID:
            raise ValueError(f"special token {text!r} has id {token_id}, above 2**63 - 1: ids "
                             "must fit in int64")
        if token_id < num_ordinary:
            raise ValueError(
                f"special token {text!r} has id {token_id}, which collides with the ordinary "
                f"ranks 0..{num_ordinary - 1}; special ids start at {num_ordinary}"
            )
        checked[text] = token_id
    if len(set(checked.values())) != len(checked):
        raise ValueError(f"special tokens share ids: {checked}")
    return checked


# Counted repeats multiply: the compiler unrolls (?:(?:a{1000}){1000}){100} into 10**8 copies
# before it matches anything. The product of a pattern's counts is kept at most this.
MAX_REPEAT_PRODUCT = 100_000
_ESCAPE_OR_COUNT = re.compile(r"\\.|\{(\d*)(?:,(\d*))?\}", re.DOTALL)
# Texts on which a backtracking pattern shows itself: a run of one or two characters of each
# kind, alone or broken by another ((?:a|a)+$ spends hours on "a" * 34 + "!"): (run, end) pairs.
_PROBES = [(run, end) for run in ("a", "A", "0", " ", "\n", "!", "'", "é", "你", "_", "a ", "ab",
                                  "a0", " \n")
           for end in ("", "!", "a", " ", "\x00")]
_PROBE_LENGTH = 200
PROBE_SECONDS = 0.25  # all probes together; a pattern that does not backtrack needs far less


def compiled_pattern(pattern: str) -> regex.Pattern:
    """``pattern`` compiled by ``regex``; TypeError if not a str, ValueError if it does not
    compile, has capturing groups or counted repeats whose counts multiply past
    :data:`MAX_REPEAT_PRODUCT`."""
    if not isinstance(pattern, str):
        raise TypeError(f"pattern must be a str, got {type(pattern).__name__}")
    product = 1
    for found in _ESCAPE_OR_COUNT.finditer(pattern):
        if found.group().startswith("{"):
            product *= max(int(found.group(2) or found.group(1) or 0), 1)
            if product > MAX_REPEAT_PRODUCT:
                raise ValueError(
                    f"pattern {pattern[:80]!r} has counted repeats {{m,n}} whose counts multiply "
                    f"past {MAX_REPEAT_PRODUCT}: compiling it could take hours, so it is refused"
                )
    try:
        compiled = regex.compile(pattern)
    except (regex.error, OverflowError, RecursionError) as error:
        raise ValueError(f"pattern {pattern!r} is not a valid regex: {error}") from None
    if compiled.groups:
        raise ValueError(
            f"pattern {pattern!r} has capturing groups, which would change what findall "
            "returns; write them as non-capturing groups (?:...)"
        )
    return compiled


def check_pattern_speed(compiled: regex.Pattern) -> None:
    """Refuse (ValueError) a pattern that cannot split the probe texts in :data:`PROBE_SECONDS`.

    The probes are runs of 200 letters, digits, spaces, ... each alone or followed by a character
    that breaks the run: where a backtracking pattern takes exponential time, it shows here.

    Examples
    --------
    >>> check_pattern_speed(regex.compile(r"\\w+|\\s+|."))
    >>> check_pattern_speed(regex.compile(r"(?:a|a)+$|."))
    Traceback (most recent call last):
    ...
    ValueError: pattern '(?:a|a)+$|.' backtracks catastrophically: ...
    """
    deadline = time.monotonic() + PROBE_SECONDS
    for run, end in _PROBES:
        repeats = _PROBE_LENGTH // len(run)
        try:
            compiled.findall(run * repeats + end, timeout=max(deadline - time.monotonic(), 1e-3))
        except TimeoutError:
            raise ValueError(
                f"pattern {compiled.pattern[:80]!r} backtracks catastrophically: splitting "
                f"{run!r} * {repeats} + {end!r} took over {PROBE_SECONDS} s (a text of a few "
                "hundred characters could take hours), so it is refused; write it so that no "
                "part of a text can be matched in more than one way"
            ) from None


def checked_id_list(ids: Iterable[int]) -> list[int]:
    """Token ids as a list (an integer array of any shape is read in row-major order).

    Only the types are checked here; whether each id is in the vocabulary is the decoder's check.

    Raises
    ------
    TypeError
        If ``ids`` is not an iterable of integers or an integer array (a str or bytes is
        refused too), or an id is not an integer: floats, bools and float arrays are refused.
    """
    if isinstance(ids, np.ndarray):
        if ids.dtype.kind not in "iu":
            raise TypeError(f"token ids must be integers, got an array of dtype {ids.dtype}")
        return ids.ravel().tolist()
    if isinstance(ids, (str, bytes, bytearray)) or not isinstance(ids, Iterable):
        raise TypeError(f"token ids must be a list or array of integers, got "
                        f"{type(ids).__name__}")
    ids = list(ids)
    for kind in set(map(type, ids)) - {int}:
        if kind is bool or not issubclass(kind, (int, np.integer)):
            raise TypeError(f"token ids must be integers, got a {kind.__name__}")
    return ids


def checked_vocab(vocab: Mapping[str, int]) -> dict[str, int]:
    """A string vocabulary (WordPiece, Unigram) as a dict: non-empty str -> distinct int >= 0.

    Raises
    ------
    TypeError
        If ``vocab`` is not a mapping, a token is not a non-empty str, or an id not an integer.
    ValueError
        If an id is negative or given to two tokens, or a token holds a lone surrogate.
    """
    if not isinstance(vocab, Mapping):
        raise TypeError(f"vocab must be a mapping of str -> int, got {type(vocab).__name__}")
    checked: dict[str, int] = {}
    token_of_id: dict[int, str] = {}
    for token, token_id in vocab.items():
        check_special_text(token)  # the same rule: a non-empty str that UTF-8 can write
        token_id = check_integer(f"the id of {token!r}", token_id)
        if token_id in token_of_id:
            raise ValueError(f"id {token_id} is given to both {token_of_id[token_id]!r} and "
                             f"{token!r}")
        checked[token], token_of_id[token_id] = token_id, token
    return checked


def checked_word_specials(special_tokens: Mapping[str, int], vocab: Mapping[str, int]
                          ) -> dict[str, int]:
    """Special tokens of a string vocabulary: their ids may be the vocabulary's own (BERT's
    ``[CLS]``), but a text in the vocabulary must keep its id and no id may name two texts.

    Raises
    ------
    TypeError, ValueError
        As :func:`checked_special_tokens`, with ids from 0; ValueError on a disagreeing id.
    """
    checked = checked_special_tokens(special_tokens, 0)
    token_of_id = {token_id: token for token, token_id in vocab.items()}
    for text, token_id in checked.items():
        if text in vocab and vocab[text] != token_id:
            raise ValueError(f"special token {text!r} has id {token_id}, but the vocabulary "
                             f"gives it id {vocab[text]}")
        if token_of_id.get(token_id, text) != text:
            raise ValueError(f"special token {text!r} has id {token_id}, which is the "
                             f"vocabulary's {token_of_id[token_id]!r}")
    return checked
