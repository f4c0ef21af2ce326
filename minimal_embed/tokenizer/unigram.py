"""Unigram (SentencePiece; T5, ALBERT, XLNet): the most probable cut of each word into tokens.

A Unigram model (Kudo 2018) gives every token a log-probability ``score``; the best cut of a
word is the one whose tokens' scores sum highest, found by the Viterbi algorithm over the
lattice of every token that occurs in the word. Words come from the ``Metaspace`` split: spaces
become ``▁`` (U+2581), one is put before the text, and each ``▁`` starts a new word. A character
no token spells gets the unknown token, scored ``min(score) - 10``, and neighbouring unknowns
merge into one; with byte fallback the unknown text becomes its UTF-8 bytes as ``<0xNN>``
tokens instead. :func:`viterbi_plain` is the algorithm as a loop; :func:`viterbi` computes the
same for many words at once with NumPy; the tests prove them equal, and equal to
``tokenizers``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import regex

from minimal_embed._checks import check_choice, check_integer, check_real
from minimal_embed.tokenizer.word_tokenizer import Template, WordTokenizer

UNKNOWN_PENALTY = 10.0  # the unknown token scores this much below the lowest token
# Where the NumPy search overtakes the loop (benchmarks/hf_tokenizers.py): words longer than
# LONG_WORD characters take viterbi_plain (the lockstep would be one long loop), and so do all
# words when the short ones hold fewer than BATCH_MIN_CHARS characters (NumPy's fixed costs).
LONG_WORD = 64
BATCH_MIN_CHARS = 1500
_CODE_BITS = 21  # every code point is below 2**21
_NOT_WHITESPACE = regex.compile(r"\P{White_Space}+")


class UnigramModel:
    """What the Viterbi search needs: each token's id and score, and a trie of the tokens.

    ``pieces`` is the vocabulary in id order, ``(token, score)``; ``exclude`` names tokens the
    search must not produce (special tokens: their text is matched before the model, and only
    where allowed). The trie is stored as arrays for :func:`viterbi`: node 0 is the empty
    prefix, the child of ``node`` by code point ``c`` is found by binary search of
    ``node * 2**21 + c`` in ``edge_keys``.

    Raises
    ------
    TypeError, ValueError
        If a token is not a str or a score not a finite number.
    """

    def __init__(self, pieces: Sequence[tuple[str, float]], unk_id: int | None,
                 exclude: frozenset[str] = frozenset()) -> None:
        self.scores: dict[str, float] = {}
        self.ids: dict[str, int] = {}
        lowest = math.inf
        for token_id, (token, score) in enumerate(pieces):
            score = check_real(f"the score of {token!r}", score)
            lowest = min(lowest, score)
            if token not in exclude:
                self.scores[token], self.ids[token] = score, token_id
        self.unk_id = unk_id
        self.unk_score = lowest - UNKNOWN_PENALTY
        self.longest = max(map(len, self.scores), default=0)
        self._build_trie()

    def _build_trie(self) -> None:
        """The arrays of the trie of all tokens (see the class docstring)."""
        node_of_prefix = {"": 0}
        keys, children, node_token, node_score = [], [], [-1], [0.0]
        for token in self.scores:
            for end in range(1, len(token) + 1):
                prefix = token[:end]
                if prefix not in node_of_prefix:
                    node_of_prefix[prefix] = len(node_token)
                    parent = node_of_prefix[token[: end - 1]]
                    keys.append((parent << _CODE_BITS) | ord(token[end - 1]))
                    children.append(len(node_token))
                    node_token.append(-1)
                    node_score.append(0.0)
            node = node_of_prefix[token]
            node_token[node], node_score[node] = self.ids[token], self.scores[token]
        order = np.argsort(np.array(keys, dtype=np.int64), kind="stable")
        self.edge_keys = np.array(keys, dtype=np.int64)[order]  # (n_edges,) sorted
        self.edge_child = np.array(children, dtype=np.int64)[order]  # (n_edges,)
        self.node_token = np.array(node_token, dtype=np.int64)  # (n_nodes,) id, or -1
        self.node_score = np.array(node_score, dtype=np.float64)  # (n_nodes,)


def viterbi_plain(words: list[str], model: UnigramModel) -> list[list[str]]:
    """The best cut of each word: tokens whose scores sum highest, unknown runs merged.

    For each end position ``e`` of a word, ``best[e]`` is the highest total score of a cut of
    ``word[:e]``; a token ``word[s:e]`` offers ``best[s] + score``. Where no one-character token
    starts at ``s``, the unknown token offers ``best[s] + unk_score`` for ``word[s]``. Subtle
    (``tokenizers``' rule): a later offer replaces an earlier one only if strictly higher, and
    offers come by increasing ``s``, so on a tie the cut with the earlier start wins. Reading
    the choices back from the end gives the cut; consecutive unknown characters are one token.
    O(length * longest token) per word.

    Returns
    -------
    list of list of str
        For each word, its tokens' texts (an unknown run as its text), concatenating to it.

    Raises
    ------
    ValueError
        If a word needs the unknown token and the model has none.

    Examples
    --------
    >>> model = UnigramModel([("<unk>", 0.0), ("▁a", -1.0), ("b", -2.0), ("▁ab", -4.0)], 0)
    >>> viterbi_plain(["▁ab", "▁abxy"], model)   # -1 - 2 beats -4; "xy" is one unknown run
    [['▁a', 'b'], ['▁a', 'b', 'xy']]
    """
    cuts = []
    for word in words:
        n = len(word)
        best = [-math.inf] * (n + 1)
        best[0] = 0.0
        start_of = [-1] * (n + 1)  # where the chosen token ending at e starts; -1: none yet
        unknown = [False] * (n + 1)  # whether that token is the unknown token
        for start in range(n):
            for end in range(start + 1, min(n, start + model.longest) + 1):
                score = model.scores.get(word[start:end])
                if score is not None and (start_of[end] < 0 or best[start] + score > best[end]):
                    best[end], start_of[end], unknown[end] = best[start] + score, start, False
            if word[start] not in model.scores:
                offer = best[start] + model.unk_score
                if start_of[start + 1] < 0 or offer > best[start + 1]:
                    best[start + 1], start_of[start + 1], unknown[start + 1] = offer, start, True
        cuts.append(_read_back(word, start_of, unknown, model))
    return cuts


def _read_back(word: str, start_of: list[int], unknown: list[bool], model: UnigramModel
               ) -> list[str]:
    """The tokens of the best cut, from its chosen starts, with unknown runs merged."""
    tokens: list[str] = []
    end = len(word)
    run_end = None  # the end of the unknown run being read, if any
    while end > 0:
        start = start_of[end]
        if unknown[end]:
            if model.unk_id is None:
                raise ValueError(f"{word[start:end]!r} is spelt by no token, and the model has "
                                 "no unknown token")
            run_end = end if run_end is None else run_end
        else:
            if run_end is not None:
                tokens.append(word[end:run_end])
                run_end = None
            tokens.append(word[start:end])
        end = start
    if run_end is not None:
        tokens.append(word[:run_end])
    return tokens[::-1]


def viterbi(words: list[str], model: UnigramModel) -> list[list[str]]:
    """:func:`viterbi_plain`'s cuts, for many words at once: the lattice and the search in NumPy.

    The words are laid end to end as code points. All tokens of all words are found by walking
    the trie one character per round, from every start at once. Then the search runs in
    lockstep: round ``k`` settles ``best`` at offset ``k`` of every word together, taking for
    each end the highest offer (the earliest start on a tie, as the plain rule). Words longer
    than :data:`LONG_WORD` characters go to :func:`viterbi_plain`, and so do all words when the
    others hold fewer than :data:`BATCH_MIN_CHARS` characters.

    Examples
    --------
    >>> model = UnigramModel([("<unk>", 0.0), ("▁a", -1.0), ("b", -2.0), ("▁ab", -4.0)], 0)
    >>> viterbi(["▁ab", "▁abxy"], model) == viterbi_plain(["▁ab", "▁abxy"], model)
    True
    """
    short = [i for i, word in enumerate(words) if 0 < len(word) <= LONG_WORD]
    if sum(len(words[i]) for i in short) < BATCH_MIN_CHARS:
        return viterbi_plain(words, model)
    cuts: list[list[str]] = [[] for _ in words]
    for i, cut in zip(short, _viterbi_short([words[i] for i in short], model), strict=True):
        cuts[i] = cut
    long = [i for i, word in enumerate(words) if len(word) > LONG_WORD]
    for i, cut in zip(long, viterbi_plain([words[i] for i in long], model), strict=True):
        cuts[i] = cut
    return cuts


def _viterbi_short(words: list[str], model: UnigramModel) -> list[list[str]]:
    """:func:`viterbi` for non-empty words (see there)."""
    if not words:
        return []
    text = "".join(words)
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)  # (n,)
    lengths = np.array([len(word) for word in words], dtype=np.int64)  # (m,)
    first = np.cumsum(lengths) - lengths  # (m,) where each word starts in `text`
    word_of = np.repeat(np.arange(len(words)), lengths)  # (n,) the word of each character
    stop = (first + lengths)[word_of]  # (n,) where the word of each character ends
    start, length, score, unknown = _lattice(codes, stop, model)
    # Boundaries: word w has len + 1 of them, numbered from first[w] + w on.
    start_b = start + word_of[start]  # (n_edges,)
    end_b = start_b + length
    local_end = start + length - first[word_of[start]]  # (n_edges,) 1..len(word)
    order = np.lexsort((start_b, end_b, local_end))  # by round, then end, then start
    start_b, end_b, score, local_end = start_b[order], end_b[order], score[order], local_end[order]
    best = np.full(len(codes) + len(words), -np.inf)
    best[first + np.arange(len(words))] = 0.0
    chosen = np.full(len(best), -1, dtype=np.int64)  # the edge (in `order`) ending at each b
    rounds = np.searchsorted(local_end, np.arange(1, int(lengths.max()) + 2))
    for lo, hi in zip(rounds[:-1].tolist(), rounds[1:].tolist(), strict=True):
        offers = best[start_b[lo:hi]] + score[lo:hi]  # (k,) same addition as the plain rule
        groups = np.flatnonzero(np.diff(end_b[lo:hi], prepend=-1))  # first edge of each end
        highest = np.maximum.reduceat(offers, groups)  # (n_ends,)
        at_highest = offers == np.repeat(highest, np.diff(groups, append=hi - lo))
        positions = np.where(at_highest, np.arange(hi - lo), hi - lo)
        winner = np.minimum.reduceat(positions, groups) + lo  # earliest start among the best
        best[end_b[winner]] = highest
        chosen[end_b[winner]] = winner
    return _read_back_all(text, first, lengths, chosen, start[order], length[order],
                          unknown[order], model)


def _read_back_all(text: str, first: np.ndarray, lengths: np.ndarray, chosen: np.ndarray,
                   edge_start: np.ndarray, edge_length: np.ndarray, edge_unknown: np.ndarray,
                   model: UnigramModel) -> list[list[str]]:
    """The tokens of every word's best cut, read back from the ends in lockstep (unknown runs
    merged); ``chosen[b]`` is the edge ending at boundary ``b``."""
    word_start = first + np.arange(len(first))  # (m,) each word's first boundary
    boundary = word_start + lengths  # (m,) read back from each word's last boundary
    found_word, found_edge, found_round = [], [], []
    active = np.arange(len(first))
    for number in range(int(lengths.max())):
        edge = chosen[boundary[active]]
        found_word.append(active)
        found_edge.append(edge)
        found_round.append(np.full(len(active), number))
        boundary[active] -= edge_length[edge]
        active = active[boundary[active] > word_start[active]]
        if not len(active):
            break
    word, edge, rounds = map(np.concatenate, (found_word, found_edge, found_round))
    in_order = np.lexsort((-rounds, word))  # by word, and from its start
    word, edge = word[in_order], edge[in_order]
    unknown = edge_unknown[edge]
    if unknown.any() and model.unk_id is None:
        at = int(edge_start[edge[np.argmax(unknown)]])
        raise ValueError(f"{text[at]!r} is spelt by no token, and the model has no unknown token")
    same_word = np.append(False, word[1:] == word[:-1])
    merged = unknown & np.append(False, unknown[:-1]) & same_word  # joins the unknown before
    starts = edge_start[edge[~merged]]
    # The words lie end to end, so each token ends where the next one starts.
    bounds = np.append(starts, len(text)).tolist()
    tokens = [text[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    counts = np.bincount(word[~merged], minlength=len(first))
    cuts = np.append(0, np.cumsum(counts)).tolist()
    return [tokens[a:b] for a, b in zip(cuts[:-1], cuts[1:], strict=True)]


def _lattice(codes: np.ndarray, stop: np.ndarray, model: UnigramModel
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every token occurrence ``(start, length, score, is_unknown)`` in the laid-out words.

    ``stop[i]`` is the end of the word of character ``i``. Where no one-character token starts,
    an unknown edge of length 1 is added, as the plain rule does.
    """
    starts_all = np.arange(len(codes))
    alive, node = starts_all, np.zeros(len(codes), dtype=np.int64)
    found_start, found_length, found_node = [], [], []
    for size in range(1, model.longest + 1):
        inside = alive + size <= stop[alive]
        alive, node = alive[inside], node[inside]
        keys = (node << _CODE_BITS) | codes[alive + size - 1]
        slot = np.minimum(np.searchsorted(model.edge_keys, keys), len(model.edge_keys) - 1)
        hit = model.edge_keys[slot] == keys if len(model.edge_keys) else np.zeros(0, bool)
        alive, node = alive[hit], model.edge_child[slot[hit]]
        is_token = model.node_token[node] >= 0
        found_start.append(alive[is_token])
        found_length.append(np.full(int(is_token.sum()), size, dtype=np.int64))
        found_node.append(node[is_token])
        if not len(alive):
            break
    start = np.concatenate([np.zeros(0, np.int64), *found_start])
    length = np.concatenate([np.zeros(0, np.int64), *found_length])
    score = model.node_score[np.concatenate([np.zeros(0, np.int64), *found_node])]
    has_single = np.zeros(len(codes), dtype=bool)
    has_single[start[length == 1]] = True
    lonely = starts_all[~has_single]  # no one-character token: the unknown edge
    return (np.concatenate([start, lonely]),
            np.concatenate([length, np.ones(len(lonely), np.int64)]),
            np.concatenate([score, np.full(len(lonely), model.unk_score)]),
            np.concatenate([np.zeros(len(start), bool), np.ones(len(lonely), bool)]))


def metaspace_words(text: str, *, replacement: str = "\u2581", prepend: bool = True,
                    split: bool = True) -> list[str]:
    """SentencePiece's split: spaces become ``replacement``, which also starts each word.

    With ``prepend`` the text gets one ``replacement`` in front unless it starts with one;
    without ``split`` the whole text is one word.

    Examples
    --------
    >>> metaspace_words("Hello  world")
    ['▁Hello', '▁', '▁world']
    """
    text = text.replace(" ", replacement)
    if prepend and not text.startswith(replacement):
        text = replacement + text
    if not split:
        return [text]
    return _metaspace_regex(replacement).findall(text)


@functools.lru_cache(maxsize=8)
def _metaspace_regex(replacement: str) -> regex.Pattern:
    """A word: ``replacement`` and the text up to the next one (or the text before the first)."""
    mark = regex.escape(replacement)
    return regex.compile(f"{mark}[^{mark}]*|[^{mark}]+")


class UnigramTokenizer(WordTokenizer):
    """A SentencePiece Unigram tokenizer: Metaspace words, each cut by :func:`viterbi`.

    Parameters
    ----------
    pieces : sequence of (str, float)
        The vocabulary in id order with each token's log-probability.
    unk_id : int or None
        The unknown token's id (text that no token spells; an error if None and needed).
    byte_fallback : bool
        Unknown text becomes its UTF-8 bytes, tokens ``<0x00>`` .. ``<0xFF>`` (all must exist).
    normalizer : callable str -> str, or None
        Applied to the text between special tokens first (T5: ``UnicodeForm("NFKC")``-like).
    replacement, prepend_scheme, split :
        Metaspace's options: the space character; "always" (every part between special
        tokens), "first" (only the start of the text) or "never" gets one in front; whether each
        ``replacement`` starts a word.
    whitespace_split : bool
        Cut at whitespace first (T5's files), so runs of spaces vanish.
    special_tokens : mapping of str -> int, optional
        ``<pad>``, ``</s>``, ``<unk>`` ... with their ids; the model never produces them.
    template : Template, optional
        Where ``</s>`` and the like go (T5's: ``A </s>``).

    Raises
    ------
    TypeError, ValueError
        If a token or score is malformed, ``unk_id`` is not an id, the byte tokens are missing
        with ``byte_fallback``, or an option is not one of those above.

    Examples
    --------
    >>> pieces = [("<unk>", 0.0), ("▁", -2.0), ("▁the", -3.0), ("▁cat", -4.0), ("s", -2.5)]
    >>> tok = UnigramTokenizer(pieces, unk_id=0, special_tokens={"<unk>": 0})
    >>> tok.encode("the cats!")
    [2, 3, 4, 0]
    >>> tok.decode([2, 3, 4])
    'the cats'
    """

    def __init__(self, pieces: Sequence[tuple[str, float]], *, unk_id: int | None,
                 byte_fallback: bool = False, normalizer: Callable[[str], str] | None = None,
                 replacement: str = "\u2581", prepend_scheme: str = "always", split: bool = True,
                 whitespace_split: bool = False, special_tokens: Mapping[str, int] | None = None,
                 template: Template | None = None) -> None:
        pieces = [(token, score) for token, score in pieces]
        super().__init__({token: i for i, (token, _) in enumerate(pieces)},
                         special_tokens=special_tokens, normalizer=normalizer, template=template)
        if len(self._vocab) != len(pieces):
            raise ValueError("a token appears twice in the pieces")
        if unk_id is not None:
            unk_id = check_integer("unk_id", unk_id)
            if unk_id >= len(pieces):
                raise ValueError(f"unk_id {unk_id} is not an id of the {len(pieces)} pieces")
        self._byte_ids = None
        if byte_fallback:
            names = [f"<0x{byte:02X}>" for byte in range(256)]
            missing = [name for name in names if name not in self._vocab]
            if missing:
                raise ValueError(f"byte_fallback needs the 256 byte tokens; {missing[0]!r} and "
                                 f"{len(missing) - 1} more are missing")
            self._byte_ids = [self._vocab[name] for name in names]
        if not isinstance(replacement, str) or len(replacement) != 1:
            raise ValueError(f"replacement must be one character, got {replacement!r}")
        self._prepend = check_choice("prepend_scheme", prepend_scheme,
                                     ("always", "first", "never"))
        self._replacement, self._split, self._whitespace_split = (replacement, bool(split),
                                                                  bool(whitespace_split))
        self._pieces = pieces
        self._model = UnigramModel(pieces, unk_id, frozenset(self._special_tokens))

    def _words(self, text: str, at_start: bool) -> list[str]:
        if self._whitespace_split:
            parts = [(found.group(), found.start()) for found in _NOT_WHITESPACE.finditer(text)]
        else:
            parts = [(text, 0)]
        words: list[str] = []
        for part, offset in parts:  # "first": only a part at the very start of the text
            prepend = self._prepend == "always" or (
                self._prepend == "first" and at_start and offset == 0)
            words += metaspace_words(part, replacement=self._replacement, prepend=prepend,
                                     split=self._split)
        return words

    def _encode_words(self, words: list[str]) -> list[list[int]]:
        encoded = []
        for tokens in viterbi(words, self._model):
            ids: list[int] = []
            for token in tokens:
                token_id = self._model.ids.get(token)
                if token_id is not None:
                    ids.append(token_id)
                elif self._byte_ids is not None:
                    ids += [self._byte_ids[byte] for byte in token.encode("utf-8")]
                else:
                    ids.append(self._model.unk_id)  # type: ignore[arg-type]  # viterbi checked
            encoded.append(ids)
        return encoded

    def _decode_tokens(self, tokens: list[str]) -> str:
        """Byte tokens as bytes, then ``replacement`` as a space; Metaspace's decoder drops it
        in the first token (unless ``prepend_scheme`` is "never")."""
        byte_of = {f"<0x{byte:02X}>": byte for byte in range(256)} if self._byte_ids else {}
        parts = []
        for number, token in enumerate(tokens):
            if token in byte_of:
                parts.append(bytes([byte_of[token]]))
                continue
            if number == 0 and self._prepend != "never":
                token = token.replace(self._replacement, "")
            parts.append(token.replace(self._replacement, " ").encode("utf-8"))
        return b"".join(parts).decode("utf-8", errors="replace")

    def _state(self) -> tuple:
        return (*super()._state(), self._pieces, self._model.unk_id, self._byte_ids,
                self._replacement, self._prepend, self._split, self._whitespace_split)
