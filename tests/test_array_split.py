"""GPT-2's split as array rules (array_split.py) against the original pattern run by `regex`, and
the encoding of a text by its piece spans (IdCache.encode_spans) against encoding its pieces."""

import itertools
from collections import Counter
from unittest import mock

import numpy as np
import pytest
import regex
from hypothesis import given
from hypothesis import strategies as st

from minimal_embed import GPT2_PATTERN, Tokenizer, count_pieces, data
from minimal_embed.tokenizer import hashing, patterns
from minimal_embed.tokenizer import tokenizer as tokenizer_module
from minimal_embed.tokenizer.array_split import (
    DIGIT,
    LETTER,
    OTHER,
    SPACE_CLASS,
    character_classes,
    gpt2_piece_starts,
)
from minimal_embed.tokenizer.piece_cache import PieceCache

# GPT-2's pattern as published (openai/gpt-2 encoder.py), not our rewritten one
GPT2_ORIGINAL = regex.compile(
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")
# every kind of character the rules tell apart: the contraction letters, other letters, a digit,
# the apostrophe, other punctuation, a control character, the space and other whitespace
KINDS = "'sdmtlvreS7!\x00 \n\t"
ascii_text = st.text(alphabet=st.one_of(st.characters(max_codepoint=127),
                                        st.sampled_from(list(KINDS + "\x0b\x0c\r\x1c"))))
# and beyond ASCII: letters, digits (Arabic, Devanagari) and spaces of other scripts, marks,
# symbols, the no-break and ideographic spaces, line separators, an emoji
UNICODE_KINDS = "é中ж٣५\u0301\u00a0\u3000\u2028\u0085\u1680€🙂’"
any_text = st.text(alphabet=st.one_of(
    st.characters(blacklist_categories=("Cs",)), st.sampled_from(list(KINDS + UNICODE_KINDS))))


def codes_of(text: str) -> np.ndarray:
    if text.isascii():
        return np.frombuffer(text.encode("ascii"), np.uint8)
    return np.frombuffer(text.encode("utf-32-le"), np.uint32)


def array_pieces(text: str) -> list[str]:
    starts = gpt2_piece_starts(codes_of(text)).tolist()
    ends = [*starts[1:], len(text)] if starts else []
    return [text[a:b] for a, b in zip(starts, ends, strict=True)]


def test_the_array_rules_split_every_short_string_as_the_pattern_does():
    texts = ["".join(chars) for size in range(5) for chars in itertools.product(KINDS, repeat=size)]
    wrong = [text for text in texts if array_pieces(text) != GPT2_ORIGINAL.findall(text)]
    assert wrong == []


@given(ascii_text)
def test_the_array_rules_split_any_ascii_text_as_the_pattern_does(text):
    assert array_pieces(text) == GPT2_ORIGINAL.findall(text)


@given(any_text)
def test_the_array_rules_split_any_text_as_the_pattern_does(text):
    assert array_pieces(text) == GPT2_ORIGINAL.findall(text)


def test_every_ascii_character_has_the_class_regex_gives_it():
    classes = {r"\p{L}": LETTER, r"\p{N}": DIGIT, r"\s": SPACE_CLASS}
    expected = [next((kind for pattern, kind in classes.items() if regex.match(pattern, chr(code))),
                     OTHER) for code in range(128)]
    assert character_classes(np.arange(128)).tolist() == expected


def test_the_array_rules_split_the_corpus_as_the_pattern_does():
    text = data.corpus_text()
    assert array_pieces(text) == GPT2_ORIGINAL.findall(text)
    ascii_only = text.encode("ascii", "ignore").decode()
    assert array_pieces(ascii_only) == GPT2_ORIGINAL.findall(ascii_only)


def test_only_long_text_under_gpt2s_pattern_takes_the_array_split():
    splitter = patterns.Splitter(GPT2_PATTERN)
    long = "word " * patterns.ARRAY_SPLIT_MIN
    assert splitter.piece_starts(long)[0].dtype == np.uint8
    assert splitter.piece_starts(long + "é")[0].dtype == np.uint32
    assert splitter.piece_starts(long[: patterns.ARRAY_SPLIT_MIN - 1]) is None
    assert patterns.Splitter(patterns.GPT4_PATTERN).piece_starts(long) is None


# --- encoding by spans ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained() -> Tokenizer:
    return Tokenizer.train(data.corpus_text(), 600)


def by_spans(cache: PieceCache, text: str) -> list[int]:
    codes = codes_of(text)
    return cache.encode_spans(text, codes, gpt2_piece_starts(codes))


@given(st.lists(ascii_text | any_text, max_size=4))
def test_encoding_by_spans_equals_encoding_the_pieces(trained, texts):
    # one cache across the texts and small enough that its generations turn: the spans meet
    # pieces in `recent`, in `older` and new ones
    cache = PieceCache(trained.ranks, max_bytes=4_000)
    for text in texts:
        text = text * 3 + " the the words words"
        assert by_spans(cache, text) == cache.encode(GPT2_ORIGINAL.findall(text))


def test_long_pieces_with_one_hash_are_told_apart_by_their_bytes(trained, monkeypatch):
    # With base 1 a hash is the sum of the bytes, so anagrams collide; with no span taken as
    # exact, the byte comparison must find it and encode the pieces one by one instead.
    monkeypatch.setattr(hashing, "HASH_BASE", 1)
    monkeypatch.setattr(hashing, "EXACT_SPAN", 0)
    for text in [" listening silent enlist tinsel listen inlets" * 50, " éa aé" * 50]:
        expected = PieceCache(trained.ranks).encode(GPT2_ORIGINAL.findall(text))
        assert by_spans(PieceCache(trained.ranks), text) == expected


@pytest.mark.parametrize("text", [" \u0162b ac" * 20_000, " ac \u0162b" * 20_000,
                                  " ac" * 20_000 + " \u0162b", " \u0162b" + " ac" * 20_000])
def test_pieces_of_code_points_with_one_hash_are_told_apart(trained, text):
    # Above 255 a code point carries into the next power of 257: "\u0162b" (Ţb) and "ac" are
    # 354 + 98 * 257 and 97 + 99 * 257 written in base 257, one number. So the real hash groups
    # " Ţb" with " ac", whichever of them the group is named after, and the comparison of code
    # points must find it.
    codes = codes_of(text)
    starts = gpt2_piece_starts(codes)
    ends = np.append(starts[1:], len(codes))
    keys = hashing.span_hash(hashing.span_hashes(codes), starts, ends)
    assert len(set(keys.tolist())) == 1  # the collision is real
    expected = PieceCache(trained.ranks).encode(GPT2_ORIGINAL.findall(text))
    same = by_spans(PieceCache(trained.ranks), text) == expected  # (a diff of 60,000 ids is slow)
    assert same


@pytest.mark.parametrize("ascii_only", [True, False])
def test_a_long_text_encodes_as_its_pieces_do(trained, ascii_only):
    text = data.corpus_text()
    text = text.encode("ascii", "ignore").decode() if ascii_only else text
    assert trained._splitter.piece_starts(text) is not None  # the array path is taken
    assert trained.encode_ordinary(text) == PieceCache(trained.ranks).encode(
        GPT2_ORIGINAL.findall(text))


@given(st.lists(ascii_text | any_text, max_size=3))
def test_counting_by_spans_equals_counting_the_pieces(texts):
    expected = Counter(piece.encode() for text in texts for piece in GPT2_ORIGINAL.findall(text))
    with mock.patch.object(patterns, "ARRAY_SPLIT_MIN", 0):  # every text takes the array split
        assert count_pieces(texts) == dict(expected)


def test_a_text_encoded_in_parts_gives_the_ids_of_the_whole(trained, monkeypatch):
    monkeypatch.setattr(tokenizer_module, "ENCODE_PART", 5_000)  # the corpus in about 40 parts
    text = data.corpus_text()
    assert trained.encode_ordinary(text) == PieceCache(trained.ranks).encode(
        GPT2_ORIGINAL.findall(text))
