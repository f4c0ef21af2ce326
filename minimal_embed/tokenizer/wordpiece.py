"""WordPiece (BERT): words cut greedily into the longest tokens of a string vocabulary.

BERT (Devlin et al. 2019) normalises the text (:class:`~.normalizers.BertNormalizer`), splits
it into words at whitespace and at every punctuation character (:func:`bert_words`), then cuts
each word from the left into the longest token of the vocabulary that fits; a token that does
not start its word is written with the prefix ``##`` (``"playing"`` -> ``play`` ``##ing``). A
word with no such cut, or longer than ``max_word_chars`` characters, becomes one ``[UNK]``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import regex

from minimal_embed._checks import check_integer
from minimal_embed.tokenizer.normalizers import BertNormalizer
from minimal_embed.tokenizer.word_tokenizer import Template, WordTokenizer

# BERT's punctuation: Unicode's P* categories and every ASCII symbol (so "$", "+", "^" too).
_PUNCTUATION = r"\p{P}\x21-\x2f\x3a-\x40\x5b-\x60\x7b-\x7e"
_BERT_WORD = regex.compile(rf"[^\p{{White_Space}}{_PUNCTUATION}]+|[{_PUNCTUATION}]")
UNCASED_BERT = BertNormalizer()  # lower-cases and strips accents
# The WordPiece decoder's cleanup: no space before punctuation and inside contractions.
_CLEANUP = ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
            (" 'm", "'m"), (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"))


def bert_words(text: str) -> list[str]:
    """BERT's basic split: drop whitespace, make each punctuation character a word of its own.

    Examples
    --------
    >>> bert_words("Hello, world! (it's 3$)")
    ['Hello', ',', 'world', '!', '(', 'it', "'", 's', '3', '$', ')']
    """
    return _BERT_WORD.findall(text)


def longest_match_first(word: str, vocab: Mapping[str, int], unk_id: int, *, prefix: str = "##",
                        max_word_chars: int = 100, longest: int | None = None) -> list[int]:
    """The ids of ``word`` cut from the left into the longest tokens of ``vocab``.

    Every token after the first is looked up with ``prefix``. ``longest`` (the longest token's
    length in characters, prefix included) only bounds the search.

    Returns
    -------
    list of int
        The tokens' ids, or ``[unk_id]`` if some remainder of the word starts no token, or the
        word has more than ``max_word_chars`` characters.

    Examples
    --------
    >>> vocab = {"play": 0, "##ing": 1, "##s": 2, "[UNK]": 3}
    >>> longest_match_first("playing", vocab, 3), longest_match_first("plays!", vocab, 3)
    ([0, 1], [3])
    """
    if len(word) > max_word_chars:
        return [unk_id]
    longest = len(word) + len(prefix) if longest is None else longest
    ids = []
    start = 0
    while start < len(word):
        head = prefix if start else ""
        for end in range(min(len(word), start + longest - len(head)), start, -1):
            token_id = vocab.get(head + word[start:end])
            if token_id is not None:
                ids.append(token_id)
                start = end
                break
        else:  # no token starts here: the whole word is unknown
            return [unk_id]
    return ids


class WordPieceTokenizer(WordTokenizer):
    """BERT's tokenizer: normalise, split into words, longest match first with ``##``.

    ``vocab`` maps tokens (continuations written with ``prefix``) to ids; words that cannot be
    cut, or of more than ``max_word_chars`` characters, become ``unk_token``. ``normalizer``
    defaults to uncased BERT's; ``special_tokens`` (``[CLS]``, ``[SEP]``, ``[PAD]`` ...) and
    ``template`` are as in :class:`~.word_tokenizer.WordTokenizer`; ``cleanup``: :meth:`decode`
    drops the spaces before punctuation, as BERT's decoder does.

    Raises
    ------
    TypeError, ValueError
        As :class:`~.word_tokenizer.WordTokenizer`; if ``unk_token`` is not in ``vocab`` or
        ``max_word_chars`` is not an integer >= 1.

    Examples
    --------
    >>> vocab = {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "the": 3, "play": 4, "##ing": 5, "!": 6}
    >>> bert = WordPieceTokenizer(vocab, special_tokens={"[CLS]": 1, "[SEP]": 2}, template=
    ...     Template((("[CLS]", 0), ("A", 0), ("[SEP]", 0)), (("A", 0), ("B", 1))))
    >>> bert.encode("The PLAYING!"), bert.encode("the thing", add_special_tokens=True)
    ([3, 4, 5, 6], [1, 3, 0, 2])
    >>> bert.decode([3, 4, 5, 6])
    'the playing!'
    """

    def __init__(self, vocab: Mapping[str, int], *, unk_token: str = "[UNK]", prefix: str = "##",
                 max_word_chars: int = 100,
                 normalizer: Callable[[str], str] | None = UNCASED_BERT,
                 special_tokens: Mapping[str, int] | None = None,
                 template: Template | None = None, cleanup: bool = True) -> None:
        super().__init__(vocab, special_tokens=special_tokens, normalizer=normalizer,
                         template=template)
        if unk_token not in self._vocab:
            raise ValueError(f"unk_token {unk_token!r} is not in the vocabulary")
        self._unk_token, self._prefix, self._cleanup = unk_token, prefix, cleanup
        self._max_word_chars = check_integer("max_word_chars", max_word_chars, least=1)
        self._longest = max(map(len, self._vocab))

    def _words(self, text: str, at_start: bool) -> list[str]:
        return bert_words(text)

    def _encode_words(self, words: list[str]) -> list[list[int]]:
        unk_id = self._vocab[self._unk_token]
        return [longest_match_first(word, self._vocab, unk_id, prefix=self._prefix,
                                    max_word_chars=self._max_word_chars, longest=self._longest)
                for word in words]

    def _decode_tokens(self, tokens: list[str]) -> str:
        """Tokens joined by spaces, a continuation joined to its word; then the cleanup."""
        parts = []
        for number, token in enumerate(tokens):
            if number and token.startswith(self._prefix):
                token = token[len(self._prefix):]
            elif number:
                token = " " + token
            if self._cleanup:
                for dirty, clean in _CLEANUP:
                    token = token.replace(dirty, clean)
            parts.append(token)
        return "".join(parts)

    def _state(self) -> tuple:
        return (*super()._state(), self._unk_token, self._prefix, self._max_word_chars,
                self._cleanup)
