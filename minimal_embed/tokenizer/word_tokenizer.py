"""What the word-model tokenizers (WordPiece, Unigram) share: the steps around the model.

A string-vocabulary tokenizer goes text -> cut at allowed special tokens -> normalise each part
(:mod:`~.normalizers`) -> words (the model's pre-tokenizer) -> ids of each word (the model) ->
the model's own tokens around it (``[CLS] ... [SEP]``, ``... </s>``: a :class:`Template`). Each
distinct word is encoded once and remembered, as the BPE tokenizer does with its pieces. The
subclasses say how text becomes words, how words become ids and how ids read back as text; this
class gives all of them the same ``encode`` / ``encode_pair`` / ``encode_batch`` / ``decode``
as the BPE :class:`~.tokenizer.Tokenizer`, with its ``(seq_len, batch)`` batches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from minimal_embed._checks import check_integer
from minimal_embed.tokenizer import checks
from minimal_embed.tokenizer.batches import checked_texts, pad_batch
from minimal_embed.tokenizer.piece_cache import IdCache
from minimal_embed.tokenizer.special_text import Names, SpecialText


@dataclass(frozen=True)
class Template:
    """Where a model puts its own tokens around one text or a pair, with each token's type id.

    Each item is ``(what, type_id)``: ``what`` is "A" (the first text's ids), "B" (the second's)
    or the text of a special token. BERT's: ``single = (("[CLS]", 0), ("A", 0), ("[SEP]", 0))``,
    ``pair = single + (("B", 1), ("[SEP]", 1))``; T5's: ``(("A", 0), ("</s>", 0))``.

    Examples
    --------
    >>> bert = Template((("[CLS]", 0), ("A", 0), ("[SEP]", 0)),
    ...                 (("[CLS]", 0), ("A", 0), ("[SEP]", 0), ("B", 1), ("[SEP]", 1)))
    >>> bert.apply([7, 8], [9], {"[CLS]": 101, "[SEP]": 102}, add_special_tokens=True)
    ([101, 7, 8, 102, 9, 102], [0, 0, 0, 0, 1, 1])
    """

    single: tuple[tuple[str, int], ...]
    pair: tuple[tuple[str, int], ...]

    def apply(self, first: list[int], second: list[int] | None, special_tokens: Mapping[str, int],
              *, add_special_tokens: bool) -> tuple[list[int], list[int]]:
        """The ids and type ids of ``first`` (and ``second``) in the template's order; without
        ``add_special_tokens`` the texts keep their place and type ids, the tokens are left out."""
        ids: list[int] = []
        type_ids: list[int] = []
        for what, type_id in self.single if second is None else self.pair:
            if what in ("A", "B"):
                part = first if what == "A" else second or []
            elif add_special_tokens:
                part = [special_tokens[what]]
            else:
                continue
            ids += part
            type_ids += [type_id] * len(part)
        return ids, type_ids


class WordTokenizer:
    """The shared frame of :class:`~.wordpiece.WordPieceTokenizer` and
    :class:`~.unigram.UnigramTokenizer`; subclasses give ``_words``, ``_encode_words`` and
    ``_decode_tokens``.

    ``vocab`` maps token text to id; ``special_tokens`` (text -> id) may share ids with it (BERT's
    ``[CLS]`` is both); ``normalizer`` is a callable str -> str or None; ``template`` a
    :class:`Template` or None.

    Raises
    ------
    TypeError, ValueError
        If a token is not a non-empty str, an id not an integer >= 0, two tokens share an id, a
        special token names another id than the vocabulary does, or the template names a
        special token that is not one.
    """

    def __init__(self, vocab: Mapping[str, int], *, special_tokens: Mapping[str, int] | None,
                 normalizer: Callable[[str], str] | None, template: Template | None) -> None:
        self._vocab = checks.checked_vocab(vocab)
        self._special_tokens = checks.checked_word_specials(special_tokens or {}, self._vocab)
        self._decoder = {token_id: token for token, token_id in self._vocab.items()}
        self._decoder.update((token_id, text) for text, token_id in self._special_tokens.items())
        self._normalizer = normalizer
        for what, _ in (template.single + template.pair) if template else ():
            if what not in ("A", "B") and what not in self._special_tokens:
                raise ValueError(f"the template names {what!r}, which is not a special token")
        self._template = template
        self._specials = SpecialText(self._special_tokens)
        # bounded in bytes and safe to share across threads, as the BPE tokenizer's
        self._cache = IdCache(self._encode_words)

    @property
    def vocab_size(self) -> int:
        """Number of ids: one more than the largest id."""
        return max(self._decoder, default=-1) + 1

    @property
    def special_tokens(self) -> dict[str, int]:
        """The special tokens as ``{text: id}`` (a copy)."""
        return dict(self._special_tokens)

    @property
    def vocab(self) -> dict[str, int]:
        """The model's vocabulary as ``{token: id}`` (a copy)."""
        return dict(self._vocab)

    def id_to_token(self, token_id: int) -> str:
        """The text of one id (a special token's text for a special id).

        Raises
        ------
        TypeError, ValueError
            If ``token_id`` is not an integer, or not an id of the vocabulary.
        """
        token_id = check_integer("token id", token_id)
        if token_id not in self._decoder:
            raise ValueError(f"token id {token_id} is not in the vocabulary (ids are "
                             f"0..{self.vocab_size - 1})")
        return self._decoder[token_id]

    def token_bytes(self, token_id: int) -> bytes:
        """The UTF-8 of :meth:`id_to_token`: the BPE Tokenizer's name, so the walkthrough can
        show any tokenizer's tokens. Raises as :meth:`id_to_token`."""
        return self.id_to_token(token_id).encode("utf-8")

    # --- encoding ------------------------------------------------------------------------------

    def split(self, text: str, *, allowed_special: Names = ()) -> list[str]:
        """The words the model encodes one by one (after normalising), and allowed special tokens.

        Raises
        ------
        TypeError, ValueError
            If ``text`` is not a str, or ``allowed_special`` is not "all" or special tokens.
        """
        words: list[str] = []
        for number, (ordinary, special) in enumerate(self._cut(text, allowed_special, ())):
            words += self._words_of(ordinary, number == 0)
            if special is not None:
                words.append(special)
        return words

    def encode(self, text: str, *, allowed_special: Names = (), disallowed_special: Names = "all",
               add_special_tokens: bool = False) -> list[int]:
        """Encode ``text``; special-token text becomes its id only where allowed.

        The special-token rules are those of the BPE ``Tokenizer.encode`` (untrusted text cannot
        smuggle in ``[SEP]``); ``add_special_tokens`` adds the model's own (``[CLS]`` ...
        ``[SEP]``) from the template, as ``tokenizers``' default ``encode`` does.

        Raises
        ------
        TypeError, ValueError
            If ``text`` is not a str, contains a disallowed special token, or a name is unknown;
            ValueError if a word needs the unknown token and the model has none.
        """
        ids = self._encode_text(text, allowed_special, disallowed_special)
        if self._template is None:
            return ids
        return self._template.apply(ids, None, self._special_tokens,
                                    add_special_tokens=add_special_tokens)[0]

    def encode_pair(self, text: str, text_pair: str, *, allowed_special: Names = (),
                    disallowed_special: Names = "all", add_special_tokens: bool = False
                    ) -> tuple[list[int], list[int]]:
        """Encode two texts as one input (BERT's sentence pairs): ids and their type ids.

        Without a template the second text's ids get type id 1, the first's 0, as in
        ``tokenizers``; the arguments are those of :meth:`encode`.

        Returns
        -------
        ids, token_type_ids : list of int
            Of the same length: ``token_type_ids[i]`` says which text token ``i`` belongs to.
        """
        first = self._encode_text(text, allowed_special, disallowed_special)
        second = self._encode_text(text_pair, allowed_special, disallowed_special)
        if self._template is None:
            return first + second, [0] * len(first) + [1] * len(second)
        return self._template.apply(first, second, self._special_tokens,
                                    add_special_tokens=add_special_tokens)

    def encode_batch(self, texts: Iterable[str], *, max_len: int | None = None,
                     pad_id: int | None = None, batch_first: bool = False,
                     allowed_special: Names = (), disallowed_special: Names = "all",
                     add_special_tokens: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Encode many texts into one padded ``(seq_len, batch)`` id array and its mask.

        The contract of the BPE ``Tokenizer.encode_batch`` (:func:`~.batches.pad_batch`), with
        :meth:`encode`'s ``add_special_tokens``; ``pad_id`` defaults to 0.

        Returns
        -------
        ids : np.ndarray of int64, shape (seq_len, batch)
            ``(batch, seq_len)`` with ``batch_first``.
        mask : np.ndarray of bool, same shape
            True at real tokens.

        Raises
        ------
        TypeError, ValueError
            If ``texts`` is one str, ``max_len`` is not an integer >= 1, ``pad_id`` is not an id,
            or a text is refused by :meth:`encode`.
        """
        texts = checked_texts(texts)
        pad = 0 if pad_id is None else check_integer("pad_id", pad_id)
        if pad not in self._decoder:
            raise ValueError(f"pad_id {pad} is not an id of the vocabulary")
        if max_len is not None:
            check_integer("max_len", max_len, least=1)  # before the work
        encoded = [self.encode(text, allowed_special=allowed_special, add_special_tokens=
                               add_special_tokens, disallowed_special=disallowed_special)
                   for text in texts]
        return pad_batch(encoded, max_len=max_len, pad_id=pad, batch_first=batch_first)

    # --- decoding ------------------------------------------------------------------------------

    def decode(self, ids: Iterable[int]) -> str:
        """The text of ``ids`` as the model's decoder writes it (special tokens as their text).

        Raises
        ------
        TypeError, ValueError
            If an id is not an integer (floats and bools are refused), or not in the vocabulary.
        """
        try:
            tokens = list(map(self._decoder.__getitem__, checks.checked_id_list(ids)))
        except KeyError as error:
            raise ValueError(f"token id {error.args[0]!r} is not in the vocabulary (ids are "
                             f"0..{self.vocab_size - 1})") from None
        return self._decode_tokens(tokens)

    # --- the shared steps, and the subclasses' ------------------------------------------------

    def _cut(self, text: str, allowed_special: Names, disallowed_special: Names
             ) -> list[tuple[str, str | None]]:
        """``text``, repaired, cut at the allowed special tokens (after checking the others)."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        return self._specials.cut(checks.repair_surrogates(text), allowed_special,
                                  disallowed_special)

    def _words_of(self, ordinary: str, at_start: bool) -> list[str]:
        """The words of one part of the text between special tokens (none for an empty part)."""
        if not ordinary:
            return []
        return self._words(self._normalizer(ordinary) if self._normalizer else ordinary, at_start)

    def _encode_text(self, text: str, allowed_special: Names, disallowed_special: Names
                     ) -> list[int]:
        """The model's ids of ``text`` with allowed special tokens, no template."""
        ids: list[int] = []
        for number, (ordinary, special) in enumerate(
                self._cut(text, allowed_special, disallowed_special)):
            ids += self._cache.encode(self._words_of(ordinary, number == 0))
            if special is not None:
                ids.append(self._special_tokens[special])
        return ids

    def _words(self, text: str, at_start: bool) -> list[str]:
        """The words of normalised text; ``at_start``: it begins the whole text."""
        raise NotImplementedError

    def _encode_words(self, words: list[str]) -> list[list[int]]:
        """The ids of each word."""
        raise NotImplementedError

    def _decode_tokens(self, tokens: list[str]) -> str:
        """The text of a list of token texts."""
        raise NotImplementedError

    # Defining __eq__ leaves the class unhashable (__hash__ is None): equal by value, mutable cache.
    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._state() == other._state()

    def _state(self) -> tuple:
        """What makes two tokenizers of this class equal."""
        return (self._vocab, self._special_tokens, self._normalizer, self._template)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(vocab_size={self.vocab_size}, "
                f"special_tokens={self._special_tokens})")
