"""The Tokenizer: text -> pieces -> token ids, and back, with special tokens, batches and files.

A tokenizer is a ranked vocabulary, a split pattern and special tokens, so trained vocabularies
and GPT-2's load into the same class. On top of the modules before it this one adds special
tokens (``<|endoftext|>``: control ids above the ordinary ones, produced only where the caller
allows their text), padded ``(seq_len, batch)`` batches for the embedding, training from text and
the files, and tiktoken's names for the same operations. Surrogates are repaired as tiktoken
does (:func:`~.checks.repair_surrogates`): a pair becomes its character, a lone one U+FFFD.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping
from pathlib import Path

import numpy as np

from minimal_embed import data
from minimal_embed._checks import check_bool, check_choice, check_integer
from minimal_embed.tokenizer import (
    bpe,
    bpe_train,
    checks,
    counting,
    file_format,
    hashing,
    parallel,
    rankfiles,
)
from minimal_embed.tokenizer.batches import checked_texts, pad_batch
from minimal_embed.tokenizer.patterns import GPT2_PATTERN, GPT4_PATTERN, Splitter
from minimal_embed.tokenizer.piece_cache import PieceCache
from minimal_embed.tokenizer.special_text import SpecialText, alternation

PathLike = str | os.PathLike
EOT = "<|endoftext|>"
_DECODE_ERRORS = ("replace", "strict", "ignore", "backslashreplace", "surrogateescape")

__all__ = ["Tokenizer", "GPT2_PATTERN", "GPT4_PATTERN", "count_pieces", "load_tokenizer"]


# A longer text is encoded in parts of about this many characters, cut where the split allows
# (Splitter.cut_after), so that the memory an encode takes does not grow with the text: the array
# split holds a few arrays as long as its text, the regex split one str per piece.
ENCODE_PART = 2**20


class Tokenizer:
    """A byte-level BPE tokenizer: ranked byte strings, a split pattern and special tokens.

    Parameters
    ----------
    ranks : mapping of bytes -> int
        The ordinary vocabulary: distinct non-empty byte strings with ranks ``0..n-1`` (rank ==
        token id). All 256 single bytes must be present; they need not have ranks 0..255.
    pattern : str
        The split pattern (``regex`` syntax, no capturing groups).
    special_tokens : dict of str -> int, or list of str, optional
        Special-token texts with their ids (at least ``n``, distinct); a list gets ids ``n, n+1,
        ...``.

    Raises
    ------
    TypeError, ValueError
        If the ranks, pattern or special tokens break the rules above; a pattern that
        backtracks catastrophically is refused (:class:`~.patterns.Splitter`).

    One tokenizer may serve many threads at once (:class:`~.piece_cache.PieceCache`).

    Examples
    --------
    >>> tok = Tokenizer.train("low lower lowest", 260, special_tokens=["<|endoftext|>"])
    >>> tok.encode("lowest<|endoftext|>", allowed_special="all")
    [257, 101, 115, 116, 259]
    >>> tok.decode([258, 101, 114])
    ' lower'
    """

    def __init__(
        self,
        ranks: Mapping[bytes, int],
        *,
        pattern: str = GPT2_PATTERN,
        special_tokens: Mapping[str, int] | Iterable[str] | None = None,
    ) -> None:
        self._ranks = checks.checked_ranks(ranks)
        self._special_tokens = checks.checked_special_tokens(special_tokens, len(self._ranks))
        self._pattern = pattern
        self._splitter = Splitter(pattern)
        self._decoder = {rank: token for token, rank in self._ranks.items()}
        for text, token_id in self._special_tokens.items():
            self._decoder[token_id] = text.encode("utf-8")
        self._specials = SpecialText(self._special_tokens)
        self._pieces = PieceCache(self._ranks)

    @classmethod
    def train(
        cls,
        text_or_texts: str | os.PathLike | Iterable[str | os.PathLike],
        vocab_size: int,
        *,
        pattern: str = GPT2_PATTERN,
        special_tokens: Iterable[str] | None = None,
        progress: bool | Callable[[int, int], None] = False,
        workers: int | None = None,
    ) -> Tokenizer:
        """Train a vocabulary of ``vocab_size`` ids (special tokens included) on some text.

        The distinct pieces of the text with their counts (:func:`count_pieces`, in worker
        processes: :func:`~.counting.count_corpus`) go to :meth:`train_from_counts`.

        Parameters
        ----------
        text_or_texts : str, path, or iterable of str and paths
            One text or many (a file object streams line by line); a path (``pathlib.Path``)
            is a UTF-8 file, read in shards. No piece crosses two items.
        vocab_size : int
            At least ``256 + len(special_tokens)``; fewer ids when no adjacent pair is left.
        progress : bool or callable
            True prints MB counted, then merges done / total, with rates, to stderr; a callable
            gets ``(merges done, total)``.
        workers : int, optional
            Processes that split and count (default: one per core, at most 8); 1 counts here.
            The merges are the same for any number.

        Raises
        ------
        TypeError, ValueError
            If ``vocab_size`` is not an integer large enough, an item is not a str or path, or
            a file is not UTF-8.
        """
        specials = checks.special_token_list(special_tokens)
        _num_merges(vocab_size, specials)  # refuse bad arguments before counting
        report = _merge_report(progress)
        line = report if isinstance(report, counting.ProgressLine) else None
        piece_counts = counting.count_corpus(
            text_or_texts, pattern=pattern, special_tokens=specials, workers=workers,
            progress=line.counted if line else None,
        )
        return cls.train_from_counts(piece_counts, vocab_size, pattern=pattern,
                                     special_tokens=specials, progress=report or False)

    @classmethod
    def train_from_counts(
        cls,
        piece_counts: Mapping[bytes, int],
        vocab_size: int,
        *,
        pattern: str = GPT2_PATTERN,
        special_tokens: Iterable[str] | None = None,
        progress: bool | Callable[[int, int], None] = False,
    ) -> Tokenizer:
        """Train on counted pieces (:func:`count_pieces`, summed over shards however counted).

        Single bytes get ids 0..255, the merges of :func:`~.bpe_train.train` the next ids,
        special tokens (in the order given) the highest ones. ``pattern`` should be the one the
        pieces were split with; the other arguments are those of :meth:`train`.

        Raises
        ------
        TypeError, ValueError
            If ``vocab_size`` is not an integer large enough, or the counts are not
            ``bytes -> integer >= 1``.

        Examples
        --------
        >>> counts = count_pieces("low lower") | {b" lowest": 2}
        >>> Tokenizer.train_from_counts(counts, 258).token_bytes(257)
        b'low'
        """
        specials = checks.special_token_list(special_tokens)
        num_merges = _num_merges(vocab_size, specials)
        report = _merge_report(progress)
        merges = bpe_train.train(piece_counts, num_merges, report)
        if isinstance(report, counting.ProgressLine):
            report.finish()  # ends the line, also when no pair was left before num_merges
        return cls(bpe.merges_to_ranks(merges), pattern=pattern, special_tokens=specials)

    @property
    def vocab_size(self) -> int:
        """Number of ids: one more than the largest ordinary or special id."""
        return max([len(self._ranks), *(i + 1 for i in self._special_tokens.values())])

    @property
    def special_tokens(self) -> dict[str, int]:
        """The special tokens as ``{text: id}`` (a copy)."""
        return dict(self._special_tokens)

    # tiktoken's names: n_vocab, eot_token, special_tokens_set

    @property
    def n_vocab(self) -> int:
        """tiktoken's name for :attr:`vocab_size`: one more than the largest id."""
        return self.vocab_size

    @property
    def eot_token(self) -> int:
        """The id of ``<|endoftext|>``; KeyError (as in tiktoken) if it is not a special token."""
        if EOT not in self._special_tokens:
            raise KeyError(f"this tokenizer has no {EOT!r} special token (it has "
                           f"{sorted(self._special_tokens)})")
        return self._special_tokens[EOT]

    @property
    def special_tokens_set(self) -> set[str]:
        """The special tokens' texts, as a set."""
        return set(self._special_tokens)

    @property
    def pattern(self) -> str:
        """The split pattern."""
        return self._pattern

    @property
    def ranks(self) -> dict[bytes, int]:
        """The ordinary vocabulary as ``{token bytes: rank}`` (a copy)."""
        return dict(self._ranks)

    # --- encoding ------------------------------------------------------------------------------

    def split(self, text: str, *, allowed_special: Collection[str] | str = ()) -> list[str]:
        """Cut ``text`` into the pieces that are encoded separately, in order.

        Allowed special tokens (as in :meth:`encode`) are pieces of their own; there is no check
        for disallowed ones. The pieces concatenate to ``text`` after the surrogate repair.

        Raises
        ------
        TypeError, ValueError
            If ``allowed_special`` is one str other than "all", or names an unknown token.

        Examples
        --------
        >>> Tokenizer.train("", 256).split("I love  LLMs!")
        ['I', ' love', ' ', ' LLMs', '!']
        """
        text = checks.repair_surrogates(checks.check_text(text))
        pieces = []
        allowed = self._specials.allowed(allowed_special)
        for ordinary, special in self._specials.segments(text, allowed):
            pieces += self._splitter.split(ordinary)
            if special is not None:
                pieces.append(special)
        return pieces

    def encode_ordinary(self, text: str) -> list[int]:
        """Encode ``text`` treating special-token text as plain text: no special id comes out.

        The ids of each piece of the split come from a :class:`~.piece_cache.PieceCache`, so a
        repeated word costs one dictionary lookup.

        Examples
        --------
        >>> tok = Tokenizer.train("ab ab ab", 259, special_tokens=["<|eot|>"])
        >>> tok.encode_ordinary("ab<|eot|>")   # the special token's text is just text here
        [256, 60, 124, 101, 111, 116, 124, 62]
        """
        return self._encode_repaired(checks.repair_surrogates(checks.check_text(text)))

    def _encode_repaired(self, text: str) -> list[int]:
        """The ids of ``text``, whose lone surrogates are already repaired."""
        if len(text) <= ENCODE_PART:
            return self._encode_part(text)
        ids: list[int] = []
        for part in parallel.text_parts(text, ENCODE_PART, self._splitter):
            ids += self._encode_part(part)
        return ids

    def _encode_part(self, text: str) -> list[int]:
        """:meth:`_encode_repaired` of at most about :data:`ENCODE_PART` characters."""
        found = self._splitter.piece_starts(text)
        if found is None:
            return self._pieces.encode(self._splitter.split(text))
        return self._pieces.encode_spans(text, *found)

    def encode_file(self, path: PathLike, *, workers: int | None = None) -> np.ndarray:
        """The ids of a UTF-8 file as :meth:`encode_ordinary` gives them, for training data.

        The file is read in byte ranges by up to ``workers`` processes (default: one per core,
        at most 8), cut where the split allows so that the ids are those of the whole text
        (:func:`~.parallel.encode_file`). Returns int32 ids, shape ``(n_tokens,)``.

        Raises
        ------
        ValueError
            If the file is not UTF-8 (the message names it and the byte).
        OSError
            If the file cannot be read.
        """
        return parallel.encode_file(self, path, workers)

    def encode(
        self,
        text: str,
        *,
        allowed_special: Collection[str] | str = (),
        disallowed_special: Collection[str] | str = "all",
    ) -> list[int]:
        """Encode ``text``; special-token text becomes its id only where allowed.

        Special-token text is a security boundary (tiktoken's semantics): untrusted text must not
        smuggle control tokens in, so the text of a disallowed special token raises. Subtle:
        stricter than tiktoken on purpose, a name that is not a special token raises too.

        Parameters
        ----------
        allowed_special : "all" or collection of str
            Special tokens whose text is encoded as their id.
        disallowed_special : "all" or collection of str
            Those whose text raises; "all": every one not allowed; ``()``: none (plain text).

        Raises
        ------
        ValueError
            If ``text`` contains a disallowed special token, or a name is not a special token.

        Examples
        --------
        >>> tok = Tokenizer.train("ab ab ab", 259, special_tokens=["<|eot|>"])
        >>> tok.encode("ab ab<|eot|>", allowed_special={"<|eot|>"})
        [256, 257, 258]
        """
        checks.check_text(text)
        ids: list[int] = []
        text = checks.repair_surrogates(text)
        cut = self._specials.cut(text, allowed_special, disallowed_special)
        for ordinary, special in cut:
            ids += self._encode_repaired(ordinary)  # `text` was repaired once, above
            if special is not None:
                ids.append(self._special_tokens[special])
        return ids

    def encode_ordinary_batch(
        self, texts: Iterable[str], *, workers: int | None = None
    ) -> list[list[int]]:
        """``[encode_ordinary(text) for text in texts]``: tiktoken's batch call, as lists.

        The texts are shared among up to ``workers`` processes (default: one per core, at most
        8); a batch of less than a few MB is encoded in this process
        (:func:`~.parallel.map_in_workers`). The ids are the same either way.

        Raises
        ------
        TypeError
            If ``texts`` is one str (wrap it in a list), or an item is not a str.

        Examples
        --------
        >>> Tokenizer.train("ab ab ab", 258).encode_ordinary_batch(["ab ab", "b"])
        [[256, 257], [98]]
        """
        return parallel.encode_texts(self, checked_texts(texts), workers)

    def encode_batch(
        self,
        texts: Iterable[str],
        *,
        max_len: int | None = None,
        pad_id: int | None = None,
        batch_first: bool = False,
        allowed_special: Collection[str] | str = (),
        disallowed_special: Collection[str] | str = "all",
    ) -> tuple[np.ndarray, np.ndarray]:
        """Encode many texts into one id array padded at the end, and a mask of the real tokens.

        Each text keeps its first ``max_len`` ids; padding is ``pad_id`` (default 0; the mask
        tells it apart); ``allowed_special`` and ``disallowed_special`` are as in :meth:`encode`.
        Subtle: tiktoken's ``encode_batch`` returns lists, ours the padded arrays all three of the
        package's tokenizers give (:func:`~.batches.pad_batch`).

        Returns
        -------
        ids : np.ndarray of int64, shape (seq_len, batch)
            ``seq_len`` is the longest encoding; ``(batch, seq_len)`` with ``batch_first``.
        mask : np.ndarray of bool, same shape
            True at real tokens.

        Raises
        ------
        TypeError, ValueError
            If ``texts`` is one str (wrap it in a list), ``max_len`` is not an integer >= 1,
            ``pad_id`` not an id of the vocabulary, or a text holds a disallowed special token.

        Examples
        --------
        >>> ids, mask = Tokenizer.train("ab ab ab", 258).encode_batch(["ab ab", "b"])
        >>> ids.tolist(), mask.tolist()   # (seq_len, batch): one column per text
        ([[256, 98], [257, 0]], [[True, True], [True, False]])
        """
        texts = checked_texts(texts)
        batch_first = check_bool("batch_first", batch_first)
        pad = 0 if pad_id is None else self._checked_id(pad_id, "pad_id")
        if max_len is not None:
            check_integer("max_len", max_len, least=1)  # before the work
        encoded = [self.encode(text, allowed_special=allowed_special,
                               disallowed_special=disallowed_special) for text in texts]
        return pad_batch(encoded, max_len=max_len, pad_id=pad, batch_first=batch_first)

    def encode_single_token(self, text_or_bytes: str | bytes) -> int:
        """The id of the one token whose text (or bytes) this is, special tokens included.

        Raises
        ------
        TypeError
            If the argument is neither str nor bytes.
        KeyError
            If it is not exactly one token (tiktoken's exception, with a message).

        Examples
        --------
        >>> tok = Tokenizer.train("ab ab ab", 259, special_tokens=["<|eot|>"])
        >>> tok.encode_single_token(" ab"), tok.encode_single_token("<|eot|>")
        (257, 258)
        """
        if isinstance(text_or_bytes, str):
            text = checks.repair_surrogates(text_or_bytes)
            if text in self._special_tokens:
                return self._special_tokens[text]
            text_or_bytes = text.encode("utf-8")
        if not isinstance(text_or_bytes, bytes):
            raise TypeError(f"encode_single_token takes a str or bytes, got "
                            f"{type(text_or_bytes).__name__}")
        if text_or_bytes not in self._ranks:
            raise KeyError(f"{text_or_bytes!r} is not one token of this vocabulary")
        return self._ranks[text_or_bytes]

    def encode_with_offsets(
        self,
        text: str,
        *,
        allowed_special: Collection[str] | str = (),
        disallowed_special: Collection[str] | str = "all",
    ) -> tuple[list[int], list[tuple[int, int]]]:
        """Encode ``text`` like :meth:`encode`, with each token's character span ``(start, end)``.

        Subtle: a span runs from the character holding the token's first byte to the one holding
        its last, so a token with part of a multi-byte character points at that whole character
        (the two GPT-2 tokens of "你" both get ``(0, 1)``). In order, the spans cover the text
        with no gap; two neighbours overlap only on a character they split between them. A
        surrogate pair is one character there, two indices of ``text``.

        The arguments, and the errors, are those of :meth:`encode`.

        Returns
        -------
        ids : list of int
            As :meth:`encode` returns them.
        spans : list of (int, int)
            One per id: ``text[start:end]`` holds that token's bytes.

        Examples
        --------
        >>> Tokenizer.train("", 256).encode_with_offsets("a€")
        ([97, 226, 130, 172], [(0, 1), (1, 2), (1, 2), (1, 2)])
        """
        ids = self.encode(text, allowed_special=allowed_special,
                          disallowed_special=disallowed_special)
        repaired = checks.repair_surrogates(text)
        utf8 = np.frombuffer(repaired.encode("utf-8"), dtype=np.uint8)  # (n_bytes,)
        # Every byte but a continuation byte (0b10xxxxxx) starts a character.
        character_of_byte = np.cumsum((utf8 & 0xC0) != 0x80) - 1  # (n_bytes,)
        lengths = np.fromiter(map(len, map(self._decoder.__getitem__, ids)), np.int64, len(ids))
        ends = np.cumsum(lengths)  # (n_tokens,) byte offset just past each token
        starts = character_of_byte[ends - lengths]  # (n_tokens,)
        stops = character_of_byte[ends - 1] + 1  # (n_tokens,)
        if len(repaired) != len(text):  # a surrogate pair became one character: index `text`
            code_point = _code_point_of_character(text)
            starts, stops = code_point[starts], code_point[stops]
        return ids, list(zip(starts.tolist(), stops.tolist(), strict=True))

    # --- decoding ------------------------------------------------------------------------------

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        """Concatenate the byte strings of ``ids`` exactly (special tokens as their UTF-8 text).

        ``ids`` may be an integer array of any shape, read in row-major order.

        Raises
        ------
        TypeError, ValueError
            If an id is not an integer (floats and bools are refused), or not in the vocabulary.

        Examples
        --------
        >>> Tokenizer.train("", 256).decode_bytes([0xE2, 0x82])   # half a character stays bytes
        b'\\xe2\\x82'
        """
        return b"".join(self.decode_tokens_bytes(ids))

    def decode(self, ids: Iterable[int], errors: str = "replace") -> str:
        """``decode_bytes(ids).decode("utf-8", errors)``: by default invalid UTF-8 becomes U+FFFD.

        ``errors``: "replace", "strict", "ignore", "backslashreplace" or "surrogateescape".
        Takes and refuses the same ids as :meth:`decode_bytes`.

        Examples
        --------
        >>> tok = Tokenizer.train("", 256)
        >>> tok.decode([0xE2, 0x82, 0xAC]), tok.decode([0xE2, 0x82]), tok.decode([0xE2], "ignore")
        ('€', '�', '')
        """
        check_choice("errors", errors, _DECODE_ERRORS)
        return self.decode_bytes(ids).decode("utf-8", errors=errors)

    def decode_batch(self, batch: Iterable[Iterable[int]], *, errors: str = "replace"
                     ) -> list[str]:
        """``[decode(ids, errors) for ids in batch]``: tiktoken's batch call (one id list per text).

        Examples
        --------
        >>> Tokenizer.train("", 256).decode_batch([[104, 105], [33]])
        ['hi', '!']
        """
        return [self.decode(ids, errors) for ids in batch]

    def decode_tokens_bytes(self, ids: Iterable[int]) -> list[bytes]:
        """The byte string of each id, in a list: how a text was cut into tokens.

        Raises
        ------
        TypeError, ValueError
            As :meth:`decode_bytes`.

        Examples
        --------
        >>> Tokenizer.train("ab ab ab", 258).decode_tokens_bytes([257, 97])
        [b' ab', b'a']
        """
        try:
            return list(map(self._decoder.__getitem__, checks.checked_id_list(ids)))
        except KeyError as error:
            raise ValueError(self._unknown_id_message(error.args[0])) from None

    def token_bytes(self, token_id: int) -> bytes:
        """The byte string of one id (a special token's UTF-8 text).

        Raises
        ------
        TypeError, ValueError
            If ``token_id`` is not an integer, or not in the vocabulary.

        Examples
        --------
        >>> tok = Tokenizer.train("ab ab ab", 259, special_tokens=["<|eot|>"])
        >>> tok.token_bytes(257), tok.token_bytes(258)
        (b' ab', b'<|eot|>')
        """
        return self._decoder[self._checked_id(token_id, "token id")]

    # --- files ---------------------------------------------------------------------------------

    def save(self, path: PathLike) -> None:
        """Write the tokenizer as readable text (:mod:`~.file_format`); :meth:`load` reads it."""
        file_format.write_tokenizer(path, self._ranks, self._pattern, self._special_tokens)

    @classmethod
    def load(cls, path: PathLike) -> Tokenizer:
        """Read a tokenizer written by :meth:`save`. Nothing is unpickled: the file is text.

        Raises
        ------
        ValueError
            If the file is not exactly in that format, or does not describe a valid tokenizer;
            the message names the file (and the line, for a format error).

        Examples
        --------
        >>> import pathlib, tempfile
        >>> tok = Tokenizer.train("ab ab ab", 259, special_tokens=["<|eot|>"])
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     tok.save(pathlib.Path(folder) / "tok.txt")
        ...     Tokenizer.load(pathlib.Path(folder) / "tok.txt") == tok
        True
        """
        ranks, pattern, special_tokens = file_format.parse_tokenizer(
            Path(path).read_bytes(), str(path)
        )
        try:
            return cls(ranks, pattern=pattern, special_tokens=special_tokens)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{path}: {error}") from None

    @classmethod
    def from_tiktoken(
        cls,
        path: PathLike,
        *,
        pattern: str = GPT2_PATTERN,
        special_tokens: Mapping[str, int] | Iterable[str] | None = None,
    ) -> Tokenizer:
        """Read a tiktoken rank file (``base64(token_bytes) rank`` per line), e.g. GPT-2's.

        The file holds only the ranks, so the pattern and special tokens are given here (GPT-2:
        the default pattern, ``special_tokens={"<|endoftext|>": 50256}``).

        Raises
        ------
        ValueError
            If the file is malformed (:func:`~.rankfiles.parse_tiktoken`); as the constructor
            for a bad ``pattern`` or ``special_tokens``.
        """
        ranks = rankfiles.read_tiktoken(path)
        return cls(ranks, pattern=pattern, special_tokens=special_tokens)

    def to_tiktoken(self, path: PathLike) -> None:
        """Write the ranks as a tiktoken rank file, which tiktoken's ``load_tiktoken_bpe`` reads.

        ``tiktoken.Encoding(name, pat_str=tok.pattern, mergeable_ranks=load_tiktoken_bpe(path),
        special_tokens=tok.special_tokens)`` then encodes exactly as this tokenizer does.
        """
        rankfiles.write_tiktoken(self._ranks, path)

    @classmethod
    def from_hf(cls, path: PathLike) -> Tokenizer:
        """Read a byte-level BPE ``tokenizer.json`` of Hugging Face's ``tokenizers`` (GPT-2's).

        Subtle: a file whose merge order disagrees with its ids is refused, not re-ranked
        (:mod:`~.hf_file` says why); so are special ids among the ordinary ones (RoBERTa's).

        Raises
        ------
        ValueError
            If the file is not such a file, or asks for something not supported (named).
        """
        from minimal_embed.tokenizer import hf_file  # it builds this class, so it comes after

        ranks, pattern, special_tokens = hf_file.read_bpe(path)
        try:
            return cls(ranks, pattern=pattern, special_tokens=special_tokens)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{path}: {error}") from None

    def to_hf(self, path: PathLike) -> None:
        """Write a ``tokenizer.json``: in ``tokenizers`` (and ``transformers``' fast tokenizer)
        its ``encode(text, add_special_tokens=False).ids`` is ``encode(text, allowed_special=
        "all")`` here (they always match special tokens' text).

        Raises
        ------
        ValueError
            If a token is not a merge of two lower-ranked tokens (a hand-made vocabulary).
        """
        from minimal_embed.tokenizer import hf_file

        hf_file.write_bpe(path, self._ranks, self._pattern, self._special_tokens)

    @classmethod
    def from_gpt2(cls, encoder_json: PathLike, vocab_bpe: PathLike) -> Tokenizer:
        """Read OpenAI's original GPT-2 files: ``encoder.json`` and the merges in ``vocab.bpe``.

        Tokens there are written in GPT-2's printable byte alphabet (``Ġ`` for a space; see
        :mod:`~.rankfiles` for why). Ids above the merges, ``<|endoftext|>`` = 50256 in GPT-2,
        become special tokens; the pattern is :data:`GPT2_PATTERN`.

        Raises
        ------
        ValueError
            If the files are malformed or disagree (the message names the file and line).
        """
        ranks, special_tokens = rankfiles.read_gpt2(encoder_json, vocab_bpe)
        try:
            return cls(ranks, pattern=GPT2_PATTERN, special_tokens=special_tokens)
        except (TypeError, ValueError) as error:  # a special token's text in encoder.json
            raise ValueError(f"{encoder_json}: {error}") from None

    # --- id checks, equality -------------------------------------------------------------------

    def _checked_id(self, token_id: int, what: str) -> int:
        """``token_id`` as an int, if it is an integer id of this vocabulary."""
        token_id = check_integer(what, token_id)
        if token_id not in self._decoder:
            raise ValueError(self._unknown_id_message(token_id))
        return token_id

    def _unknown_id_message(self, token_id: object) -> str:
        """The error message for an id that is not in the vocabulary."""
        return (
            f"token id {token_id!r} is not in the vocabulary (ids are 0..{self.vocab_size - 1}"
            f"{', with gaps' if len(self._decoder) < self.vocab_size else ''})"
        )

    # Defining __eq__ leaves the class unhashable (__hash__ is None): equal by value, mutable cache.
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Tokenizer):
            return NotImplemented
        return (self._ranks, self._pattern, self._special_tokens) == (
            other._ranks,
            other._pattern,
            other._special_tokens,
        )

    def __repr__(self) -> str:
        return f"Tokenizer(vocab_size={self.vocab_size}, special_tokens={self._special_tokens})"


def count_pieces(
    texts: str | Iterable[str],
    *,
    pattern: str = GPT2_PATTERN,
    special_tokens: Iterable[str] | None = None,
) -> dict[bytes, int]:
    """Count the distinct pieces of some texts: what :meth:`Tokenizer.train` hands to the trainer.

    Each text (one str, or each item of many) is cut at ``special_tokens`` (their text separates,
    never counts), each side is split by ``pattern``, and each piece's UTF-8 bytes are counted, so
    training costs grow with the distinct pieces, not with the length of the text.

    Raises
    ------
    TypeError
        If an item of ``texts`` is not a str (the message gives its position).

    Examples
    --------
    >>> count_pieces("the cat, the hat")
    {b'the': 1, b' cat': 1, b',': 1, b' the': 1, b' hat': 1}
    """
    if isinstance(texts, (bytes, bytearray)) or not isinstance(texts, Iterable):
        raise TypeError(f"texts must be a str or an iterable of str, got {type(texts).__name__}")
    texts = [texts] if isinstance(texts, str) else texts
    splitter = Splitter(pattern)
    specials = checks.special_token_list(special_tokens)
    special_regex = alternation(specials) if specials else None
    counts: Counter[str] = Counter()
    for number, text in enumerate(texts):
        if not isinstance(text, str):
            kind = type(text).__name__
            raise TypeError(f"item {number} of the training texts is a {kind}, not a str")
        text = checks.repair_surrogates(text)
        for part in special_regex.split(text) if special_regex else [text]:
            counts.update(_piece_counts(splitter, part))
    return {piece.encode("utf-8"): count for piece, count in counts.items() if piece}


def _piece_counts(splitter: Splitter, text: str) -> Mapping[str, int] | list[str]:
    """The pieces of ``text`` for a Counter: counted by hash in NumPy if the text is long enough
    for the array split (:func:`~.hashing.distinct_spans`), else as the list of pieces."""
    found = splitter.piece_starts(text)
    grouped = hashing.distinct_spans(text, *found) if found is not None else None
    if grouped is None:
        return splitter.split(text)
    distinct, which = grouped
    return dict(zip(distinct, np.bincount(which, minlength=len(distinct)).tolist(), strict=True))


def load_tokenizer() -> Tokenizer:
    """Return the tokenizer bundled in ``data/tokenizer.txt``.

    It was trained on the bundled corpus with ``minimal-embed train-tokenizer`` (vocab_size 2048,
    ``<|endoftext|>`` as the one special token), which reproduces the file byte for byte.

    Examples
    --------
    >>> tok = load_tokenizer()
    >>> tok.vocab_size, tok.special_tokens
    (2048, {'<|endoftext|>': 2047})
    """
    return Tokenizer.load(data.path("tokenizer.txt"))


def _code_point_of_character(text: str) -> np.ndarray:
    """Where each character of the repaired ``text`` starts in ``text``, then ``len(text)``."""
    units = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)  # (n,)
    high = (units >= 0xD800) & (units < 0xDC00)
    low = (units >= 0xDC00) & (units < 0xE000)
    joined = np.zeros(len(units), dtype=bool)
    joined[1:] = low[1:] & high[:-1]  # the second half of a pair starts no character
    return np.append(np.flatnonzero(~joined), len(units))


def _merge_report(progress: bool | Callable[[int, int], None]) -> Callable[[int, int], None] | None:
    """What the trainer calls with ``(merges done, total)``: a progress line for True."""
    if isinstance(progress, (bool, np.bool_)):
        return counting.ProgressLine() if progress else None
    if callable(progress):
        return progress
    raise TypeError(f"progress must be True, False or a function (done, total), got {progress!r}")


def _num_merges(vocab_size: int, specials: list[str]) -> int:
    """The merges that make ``vocab_size`` ids with ``specials``; refuses a size too small."""
    vocab_size = check_integer("vocab_size", vocab_size)
    if vocab_size < 256 + len(specials):
        raise ValueError(
            f"vocab_size={vocab_size} is too small: the 256 single bytes and "
            f"{len(specials)} special token(s) need {256 + len(specials)} ids"
        )
    return vocab_size - 256 - len(specials)
