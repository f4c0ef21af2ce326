"""GPT-2's real vocabulary: exact ids, its file formats, tiktoken agreement, offsets, long pieces.

GPT-2's ranks come from ``$MINIMAL_EMBED_GPT2_RANKS`` (tests skip without it). The references are
published ids (cited beside each), tiktoken (an independent Rust implementation, compared when it
imports), and, for offsets, a character-by-character walk written out in this file.
"""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minimal_embed import data
from minimal_embed.tokenizer import Tokenizer, bpe_encode, rankfiles

EOT = {"<|endoftext|>": 50256}

# (text, ids) under GPT-2's vocabulary, with "<|endoftext|>" allowed.
KNOWN_IDS = [
    # Hugging Face transformers, GPT2Tokenizer docstring (models/gpt2/tokenization_gpt2.py):
    ("Hello world", [15496, 995]),
    (" Hello world", [18435, 995]),
    # tiktoken's own tests (tests/test_encoding.py, test_simple and test_simple_repeated):
    ("hello world", [31373, 995]),
    ("hello <|endoftext|>", [31373, 220, 50256]),
    ("000000000", [10535, 830]),
    ("0000000000000000", [25645]),
    # Computed with tiktoken 0.14.0 (Rust, an independent implementation) from GPT-2's ranks and
    # its r50k_base pattern, special_tokens={"<|endoftext|>": 50256}:
    ("Hello, world!", [15496, 11, 995, 0]),
    ("I'm sure it's what they'd've done",
     [40, 1101, 1654, 340, 338, 644, 484, 1549, 1053, 1760]),
    ("We'll see, you're right, I've won",
     [1135, 1183, 766, 11, 345, 821, 826, 11, 314, 1053, 1839]),
    ("DON'T", [41173, 6, 51]),  # contractions are lower-case only in GPT-2's pattern
    ("In 2024, 3.14159 and 1,000,000 people",
     [818, 48609, 11, 513, 13, 1415, 19707, 290, 352, 11, 830, 11, 830, 661]),
    ("  leading and trailing  ", [220, 3756, 290, 25462, 220, 220]),
    ("line one\nline two\n\n\nend", [1370, 530, 198, 1370, 734, 628, 198, 437]),
    ("\t\ttabs\t", [197, 197, 8658, 82, 197]),
    ("Привет, мир", [140, 253, 21169, 18849, 38857, 16843, 20375, 11, 12466, 120, 18849, 21169]),
    ("こんにちは世界", [46036, 22174, 28618, 2515, 94, 31676, 10310, 244, 45911, 234]),
    ("你好，世界", [19526, 254, 25001, 121, 171, 120, 234, 10310, 244, 45911, 234]),
    ("naïve café", [2616, 38776, 40304]),
    ("👍🏽 emoji 🤖", [41840, 235, 8582, 237, 121, 44805, 12520, 97, 244]),
    ("I love LLMs", [40, 1842, 27140, 10128]),
]


@pytest.fixture(scope="module")
def gpt2(gpt2_ranks_path) -> Tokenizer:
    return Tokenizer.from_tiktoken(gpt2_ranks_path, special_tokens=EOT)


@pytest.fixture(scope="module")
def tiktoken_gpt2(gpt2_ranks_path):
    """tiktoken's GPT-2 encoding built from the same rank file, with tiktoken's own pattern."""
    tiktoken = pytest.importorskip("tiktoken")
    from tiktoken.load import load_tiktoken_bpe
    from tiktoken_ext.openai_public import r50k_pat_str

    return tiktoken.Encoding(
        name="gpt2",
        pat_str=r50k_pat_str,
        mergeable_ranks=load_tiktoken_bpe(str(gpt2_ranks_path)),
        special_tokens=EOT,
    )


# --- GPT-2's ids as published facts -------------------------------------------------------------


@pytest.mark.parametrize(("text", "ids"), KNOWN_IDS, ids=[text for text, _ in KNOWN_IDS])
def test_gpt2_ids_are_the_published_ones(gpt2, text, ids):
    assert gpt2.encode(text, allowed_special={"<|endoftext|>"}) == ids
    assert gpt2.decode(ids) == text


def test_gpt2_vocabulary_has_50257_ids_with_endoftext_last(gpt2):
    assert gpt2.vocab_size == 50257
    assert gpt2.special_tokens == EOT
    assert gpt2.token_bytes(50256) == b"<|endoftext|>"


def test_endoftext_text_is_refused_unless_allowed(gpt2):
    with pytest.raises(ValueError, match=re.escape("<|endoftext|>")):
        gpt2.encode("hello <|endoftext|>")
    assert 50256 not in gpt2.encode("hello <|endoftext|>", disallowed_special=())


# --- files: tiktoken and GPT-2's originals ------------------------------------------------------


def test_from_tiktoken_then_to_tiktoken_is_byte_identical(gpt2, gpt2_ranks_path, tmp_path):
    gpt2.to_tiktoken(tmp_path / "again.tiktoken")
    assert (tmp_path / "again.tiktoken").read_bytes() == gpt2_ranks_path.read_bytes()


def test_from_gpt2_equals_from_tiktoken(gpt2, tmp_path):
    # OpenAI's encoder.json and vocab.bpe, rebuilt from the ranks (test_rankfiles checks their
    # SHA-256 against the originals').
    rankfiles.write_gpt2(gpt2.ranks, EOT, tmp_path / "encoder.json", tmp_path / "vocab.bpe")
    from_gpt2 = Tokenizer.from_gpt2(tmp_path / "encoder.json", tmp_path / "vocab.bpe")
    assert from_gpt2 == gpt2
    assert from_gpt2.encode("Hello world") == [15496, 995]


# --- agreement with tiktoken --------------------------------------------------------------------


def test_ids_equal_tiktokens_on_the_whole_shared_corpus(gpt2, tiktoken_gpt2, shared_corpus_path):
    text = shared_corpus_path.read_text(encoding="utf-8")
    assert gpt2.encode_ordinary(text) == tiktoken_gpt2.encode_ordinary(text)


def test_ids_equal_tiktokens_on_the_bundled_corpus(gpt2, tiktoken_gpt2):
    text = data.corpus_text()
    assert gpt2.encode_ordinary(text) == tiktoken_gpt2.encode_ordinary(text)


# Assigned code points only: the `regex` package's Unicode tables may be newer than tiktoken's.
assigned_text = st.text(st.characters(exclude_categories=("Cs", "Cn", "Co")), max_size=60)
# Runs of the characters the split pattern treats specially, to reach its corner cases.
tricky_text = st.lists(
    st.sampled_from([" ", "  ", "\n", "\r\n", "\t", "'s", "'ll", "'S", "a", "Z", "é", "1", "42",
                     "!", "...", "一", "🙂", "\u00a0", "\u2003", "\x00", "<|endoftext|>"]),
    max_size=30,
).map("".join)


@settings(max_examples=300)
@given(text=st.one_of(assigned_text, tricky_text))
def test_ids_equal_tiktokens_for_any_text(gpt2, tiktoken_gpt2, text):
    assert gpt2.encode_ordinary(text) == tiktoken_gpt2.encode_ordinary(text)


@settings(max_examples=300)
@given(text=st.one_of(st.text(max_size=60), tricky_text))
def test_decode_inverts_encode_for_any_text(gpt2, text):
    ids = gpt2.encode(text, allowed_special="all")
    assert gpt2.decode(ids) == text
    assert all(0 <= token_id < gpt2.vocab_size for token_id in ids)


@pytest.fixture(scope="module")
def small_trained() -> Tokenizer:
    return Tokenizer.train(data.corpus_text()[:60_000], 600, special_tokens=["<|endoftext|>"])


@pytest.fixture(scope="module", params=["trained", "gpt2"])
def vocabulary(request):
    """(tokenizer, ranks, joinable-pair table): a small trained one (always), and GPT-2's."""
    tok = request.getfixturevalue("small_trained" if request.param == "trained" else "gpt2")
    return tok, tok.ranks, bpe_encode.joinable_pairs(tok.ranks)


def test_trained_vocabulary_written_for_tiktoken_encodes_as_we_do(small_trained, tmp_path):
    tiktoken = pytest.importorskip("tiktoken")
    from tiktoken.load import load_tiktoken_bpe

    small_trained.to_tiktoken(tmp_path / "small.tiktoken")
    theirs = tiktoken.Encoding(
        name="small",
        pat_str=small_trained.pattern,
        mergeable_ranks=load_tiktoken_bpe(str(tmp_path / "small.tiktoken")),
        special_tokens=small_trained.special_tokens,
    )
    text = data.corpus_text()
    assert theirs.encode_ordinary(text) == small_trained.encode_ordinary(text)
    mixed = "first<|endoftext|>second 🙂 text"
    assert theirs.encode(mixed, allowed_special="all") == small_trained.encode(
        mixed, allowed_special="all")


# --- offsets ------------------------------------------------------------------------------------


def offsets_by_walking(tok: Tokenizer, text: str, ids: list[int]) -> list[tuple[int, int]]:
    """The reference: give each byte the span of its character, then read each token's range.

    A surrogate pair is one character (four bytes) over two indices; a lone surrogate is encoded
    as U+FFFD, three bytes, as surrogatepass also gives."""
    span_of_byte, index = [], 0
    while index < len(text):
        pair = text[index : index + 2]
        if len(pair) == 2 and "\ud800" <= pair[0] < "\udc00" <= pair[1] < "\ue000":
            span_of_byte += [(index, index + 2)] * 4
            index += 2
        else:
            span_of_byte += [(index, index + 1)] * len(text[index].encode("utf-8", "surrogatepass"))
            index += 1
    spans, position = [], 0
    for token_id in ids:
        length = len(tok.token_bytes(token_id))
        spans.append((span_of_byte[position][0], span_of_byte[position + length - 1][1]))
        position += length
    return spans


def test_offsets_of_the_seed_example(gpt2):
    ids, spans = gpt2.encode_with_offsets("I love LLMs")
    assert ids == [40, 1842, 27140, 10128]
    assert spans == [(0, 1), (1, 6), (6, 9), (9, 11)]


def test_tokens_holding_part_of_a_character_point_at_that_character(gpt2):
    # 你 is e4 bd a0 and 好 is e5 a5 bd; GPT-2 cuts each after its second byte.
    ids, spans = gpt2.encode_with_offsets("你好")
    assert ids == [19526, 254, 25001, 121]
    assert spans == [(0, 1), (0, 1), (1, 2), (1, 2)]


def test_special_token_offsets_cover_its_text(gpt2):
    text = "a<|endoftext|>b"
    ids, spans = gpt2.encode_with_offsets(text, allowed_special="all")
    assert ids[1] == 50256 and spans[1] == (1, 14)
    with pytest.raises(ValueError, match=re.escape("<|endoftext|>")):
        gpt2.encode_with_offsets(text)


def assert_spans_tile(text, ids, spans):
    """In order, without gaps, from 0 to len(text); neighbours share only a split character."""
    assert len(spans) == len(ids)
    if not text:
        assert spans == []
        return
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    for (start, end), (next_start, _) in zip(spans, spans[1:], strict=False):
        assert start < end
        # end - 1: the two tokens split one character; end - 2: a surrogate pair, one character
        pair = "\ud800" <= text[end - 2 : end - 1] < "\udc00" <= text[end - 1 : end] < "\ue000"
        assert next_start in ((end, end - 2) if pair else (end, end - 1))


@settings(max_examples=200)
@given(text=st.one_of(st.text(max_size=60), tricky_text, st.text("\ud800\udfff a", max_size=8)))
def test_offsets_tile_the_text_and_match_a_byte_walk(vocabulary, text):
    tok, _, _ = vocabulary
    ids, spans = tok.encode_with_offsets(text, allowed_special="all")
    assert ids == tok.encode(text, allowed_special="all")
    assert spans == offsets_by_walking(tok, text, ids)
    assert_spans_tile(text, ids, spans)


@settings(max_examples=100)
@given(text=st.one_of(assigned_text, tricky_text))
def test_offset_starts_equal_tiktokens(gpt2, tiktoken_gpt2, text):
    ids, spans = gpt2.encode_with_offsets(text, disallowed_special=())
    _, tiktoken_starts = tiktoken_gpt2.decode_with_offsets(ids)
    assert [start for start, _ in spans] == tiktoken_starts


# --- long pieces cut where no token spans ------------------------------------------------------


def test_joinable_pairs_are_the_byte_pairs_found_inside_tokens(vocabulary):
    _, ranks, joinable = vocabulary
    inside = {token[i] * 256 + token[i + 1] for token in ranks for i in range(len(token) - 1)}
    assert set(joinable.nonzero()[0].tolist()) == inside


long_pieces = st.one_of(
    st.binary(min_size=bpe_encode.LONG_PIECE, max_size=400),
    st.text("abcqxz '\n", min_size=bpe_encode.LONG_PIECE, max_size=400).map(str.encode),
    st.text(st.characters(codec="utf-8"), min_size=40, max_size=150).map(str.encode),
)


@settings(max_examples=100)
@given(piece=long_pieces)
def test_cutting_where_no_token_spans_keeps_the_ids(vocabulary, piece):
    _, ranks, joinable = vocabulary
    cut = bpe_encode.encode_piece(piece, ranks, joinable)
    assert cut == bpe_encode.merge_by_rank_long(piece, ranks)
