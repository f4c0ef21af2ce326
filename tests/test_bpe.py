"""The byte-pair core. The plain definitions (bpe.py) against independent references: a trainer
written here that recounts everything after every merge, and merges applied in training order
(references.py). Every fast path (bpe_train.py, bpe_encode.py) against its plain version."""

import random
from unittest import mock

import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st
from references import byte_merges, merges_in_order

from minimal_embed import data
from minimal_embed.tokenizer import GPT2_PATTERN, bpe, bpe_encode, bpe_train
from minimal_embed.tokenizer.token_pairs import token_pairs

# --- the reference trainer --------------------------------------------------------------------


def reference_train(piece_counts, num_merges):
    """Recount every overlapping pair each step; merge the most frequent, smallest pair on ties."""
    words = [(list(piece), count) for piece, count in piece_counts.items()]
    merges = []
    for new_id in range(256, 256 + num_merges):
        counts = {}
        for word, count in words:
            for i in range(len(word) - 1):
                pair = (word[i], word[i + 1])
                counts[pair] = counts.get(pair, 0) + count
        if not counts:
            break
        top = max(counts.values())
        best = min(pair for pair, count in counts.items() if count == top)
        merges.append(best)
        for word, _ in words:
            i = 0
            while i < len(word) - 1:
                if (word[i], word[i + 1]) == best:
                    word[i : i + 2] = [new_id]
                i += 1
    return merges


# --- strategies -------------------------------------------------------------------------------

# small alphabets make many repeats and ties; "é" and "中" are two and three bytes in UTF-8
piece_text = st.text(alphabet=st.sampled_from(list("aab éz中")), min_size=0, max_size=12)
piece_counts = st.dictionaries(
    piece_text.map(lambda text: text.encode("utf-8")).filter(bool),
    st.integers(min_value=1, max_value=5),
    max_size=12,
)
abc = st.binary(max_size=40).map(lambda b: bytes(x % 3 + 97 for x in b))
# long pieces: runs of one byte ("aaaa", where merges overlap) and stretches of two or three
runs = st.lists(st.tuples(st.sampled_from(b"ab\xe4"), st.integers(1, 30)), min_size=1, max_size=8)
long_piece = st.one_of(
    runs.map(lambda runs: b"".join(bytes([byte]) * length for byte, length in runs)),
    st.binary(min_size=20, max_size=120).map(lambda b: bytes(x % 3 + 97 for x in b)),
)
long_piece_counts = st.dictionaries(long_piece, st.integers(1, 4), min_size=1, max_size=6)


@st.composite
def arbitrary_ranks(draw):
    """A valid ranked vocabulary that is not a trained one: shuffled single bytes, random tokens."""
    abc_bytes = st.binary(min_size=2, max_size=4).map(lambda b: bytes(x % 3 + 97 for x in b))
    tokens = draw(st.sets(abc_bytes, max_size=30))
    vocab = [bytes([b]) for b in range(256)] + sorted(tokens)
    draw(st.randoms(use_true_random=False)).shuffle(vocab)
    return {token: rank for rank, token in enumerate(vocab)}


@st.composite
def trained_vocabulary(draw):
    """(ranks, byte merges, pieces to encode) from a training run on random pieces."""
    counts = draw(piece_counts)
    merges = bpe_train.train(counts, draw(st.integers(0, 40)))
    long_text = st.text(alphabet=st.sampled_from(list("aab éz中")), min_size=100, max_size=250)
    extra = draw(st.lists(st.one_of(piece_text, long_text).map(str.encode), max_size=4))
    return bpe.merges_to_ranks(merges), byte_merges(merges), [*counts, *extra]


# --- pair counting and merging ----------------------------------------------------------------


def test_count_pairs_counts_overlapping_occurrences():
    assert bpe.count_pairs([1, 1, 1, 1]) == {(1, 1): 3}
    assert bpe.count_pairs([1, 2, 1, 2], weight=3) == {(1, 2): 6, (2, 1): 3}
    assert bpe.count_pairs([7]) == {}


def test_merge_pair_merges_left_to_right():
    assert bpe.merge_pair([1, 1, 1], (1, 1), 9) == [9, 1]
    assert bpe.merge_pair([1, 1, 1, 1], (1, 1), 9) == [9, 9]
    assert bpe.merge_pair([2, 1, 1, 1, 2], (1, 1), 9) == [2, 9, 1, 2]


# --- training: plain against the reference, fast against plain ---------------------------------


@given(piece_counts, st.integers(min_value=0, max_value=25))
def test_plain_trainer_equals_the_reference_trainer(counts, num_merges):
    assert bpe.train_plain(counts, num_merges) == reference_train(counts, num_merges)


@given(piece_counts, st.integers(min_value=0, max_value=25))
def test_fast_trainer_equals_the_plain_trainer(counts, num_merges):
    assert bpe_train.train(counts, num_merges) == bpe.train_plain(counts, num_merges)


@settings(max_examples=40)
@given(st.one_of(long_piece_counts, piece_counts), st.integers(0, 80),
       st.sampled_from([0, 10**9]))
def test_one_by_one_and_all_at_once_merges_equal_the_plain_trainer_on_long_pieces(
    counts, num_merges, few
):
    # FEW = 0: every merge in whole-array NumPy steps; 10**9: every merge one by one in Python
    with mock.patch.object(bpe_train, "FEW", few):
        assert bpe_train.train(counts, num_merges) == bpe.train_plain(counts, num_merges)


def test_fast_trainer_equals_the_plain_trainer_on_text_without_spaces():
    rng = random.Random(3)
    characters = "".join(chr(0x4E00 + rng.randrange(40)) for _ in range(3000))  # 3 bytes each
    clauses = [characters[i : i + rng.randint(5, 60)] for i in range(0, 3000, 40)]
    counts = {clause.encode(): rng.randint(1, 3) for clause in clauses}
    expected = bpe.train_plain(counts, 150)
    for few in (0, bpe_train.FEW, 10**9):
        with mock.patch.object(bpe_train, "FEW", few):
            assert bpe_train.train(counts, 150) == expected


def test_pairs_counted_once_are_merged_in_order_when_nothing_else_is_left():
    # every pair occurs once: all merges are ties at count 1, so the smallest pair goes first
    counts = {b"dcba": 1, b"zy": 1}
    assert bpe_train.train(counts, 10) == bpe.train_plain(counts, 10)
    assert bpe_train.train(counts, 10)[0] == (98, 97)


def test_large_counts_are_exact_and_too_large_ones_refused():
    counts = {b"abab": 2**60, b"ba": 3}
    assert bpe_train.train(counts, 3) == bpe.train_plain(counts, 3)
    with pytest.raises(ValueError, match="2\\*\\*63"):
        bpe_train.train({b"abab": 2**62}, 3)


def test_fast_trainer_equals_the_reference_trainer_on_the_bundled_corpus():
    text = data.corpus_text()[:20_000]
    counts = {}
    for piece in regex.findall(GPT2_PATTERN, text):
        key = piece.encode("utf-8")
        counts[key] = counts.get(key, 0) + 1
    assert bpe_train.train(counts, 300) == reference_train(counts, 300)


def test_ties_go_to_the_smallest_pair_whatever_the_input_order():
    # (97, 98) and (99, 100) both occur twice; the smaller pair must win in either order
    assert bpe_train.train({b"ab": 2, b"cd": 2}, 1) == [(97, 98)]
    assert bpe_train.train({b"cd": 2, b"ab": 2}, 1) == [(97, 98)]


def test_training_stops_early_when_no_pair_is_left():
    assert bpe_train.train({b"abc": 4, b"x": 9}, 10) == [(97, 98), (256, 99)]
    assert bpe_train.train({}, 10) == []


@given(piece_counts, st.integers(min_value=0, max_value=25))
def test_trained_tokens_are_distinct_byte_strings(counts, num_merges):
    merges = bpe_train.train(counts, num_merges)
    # a repeated byte string would collapse two ranks into one dictionary key
    assert len(bpe.merges_to_ranks(merges)) == 256 + len(merges)


def test_trainers_refuse_bad_counts_and_non_bytes():
    for trainer in (bpe_train.train, bpe.train_plain):
        with pytest.raises(ValueError, match=r"count of piece b'ab' must be an integer >= 1"):
            trainer({b"ab": 0}, 3)
        with pytest.raises(TypeError, match="count of piece b'ab' must be an integer"):
            trainer({b"ab": 1.0}, 3)
        with pytest.raises(TypeError, match="must map bytes to counts"):
            trainer({"ab": 1}, 3)
        with pytest.raises(TypeError, match="num_merges must be an integer"):
            trainer({b"ab": 1}, 3.0)


def test_progress_reports_merges_done_and_total():
    reports = []
    bpe_train.train({bytes(range(256)) * 2: 1}, 250, progress=lambda done, _: reports.append(done))
    assert reports == [100, 200, 250]


# --- the plain rank rule ----------------------------------------------------------------------


@given(trained_vocabulary())
def test_plain_rank_merge_replays_the_training_merges(vocabulary):
    ranks, merges, pieces = vocabulary
    for piece in pieces:
        assert bpe.merge_by_rank_plain(piece, ranks) == merges_in_order(piece, merges, ranks)


def test_plain_rank_merge_joins_the_leftmost_of_the_lowest_pairs():
    ranks = {bytes([b]): b for b in range(256)} | {b"aa": 256, b"ab": 257}
    assert bpe.merge_by_rank_plain(b"aaab", ranks) == [256, 257]
    assert bpe.merge_by_rank_plain(b"aaab", ranks, max_rank=257) == [256, 97, 98]
    assert bpe.merge_by_rank_plain(b"", ranks) == []


def test_the_rank_rule_is_not_merge_order_where_a_token_is_not_made_by_its_merge():
    # "abc" listed as ab + c, but "bc" ranks below "ab": the rule reaches "abc" as a + bc
    ranks = {bytes([b]): b for b in range(256)} | {b"bc": 256, b"ab": 257, b"abc": 258}
    merges = [(b"b", b"c"), (b"a", b"b"), (b"ab", b"c")]
    assert bpe.merge_by_rank_plain(b"abc", ranks) == [258]
    assert merges_in_order(b"abc", merges, ranks) == [ord("a"), 256]


# --- the fast rank mergers against the plain rule ---------------------------------------------


@given(arbitrary_ranks(), st.one_of(abc, long_piece))
def test_list_scan_bucket_and_round_mergers_equal_the_plain_merger_for_any_ranks(ranks, piece):
    expected = bpe.merge_by_rank_plain(piece, ranks)
    assert bpe_encode.merge_by_rank(piece, ranks) == expected
    assert bpe_encode.merge_by_rank_long(piece, ranks) == expected
    assert bpe_encode.merge_by_rank_rounds(piece, ranks) == expected


@settings(max_examples=50)
@given(trained_vocabulary())
def test_round_merger_equals_the_plain_merger_for_trained_ranks(vocabulary):
    ranks, _, pieces = vocabulary
    for piece in pieces:
        expected = bpe.merge_by_rank_plain(piece, ranks)
        assert bpe_encode.merge_by_rank_rounds(piece, ranks) == expected


def test_huge_pieces_go_to_the_round_merger_with_the_same_ids():
    ranks = bpe.merges_to_ranks(bpe_train.train({b"a" * 64: 1, b"ab" * 20: 2}, 12))
    rng = random.Random(1)
    for piece in [b"a" * 30_001, bytes(rng.choice(b"ab") for _ in range(bpe_encode.HUGE_PIECE))]:
        expected = bpe_encode.merge_by_rank_long(piece, ranks)
        assert bpe_encode.merge_by_rank_rounds(piece, ranks) == expected
        assert bpe_encode.encode_piece(piece, ranks) == expected


@given(arbitrary_ranks(), abc)
def test_encode_piece_is_the_token_or_else_the_plain_merge_for_any_ranks(ranks, piece):
    expected = [ranks[piece]] if piece in ranks else bpe.merge_by_rank_plain(piece, ranks)
    assert bpe_encode.encode_piece(piece, ranks) == expected


@settings(max_examples=50)
@given(trained_vocabulary())
def test_encode_piece_equals_the_plain_merger_for_trained_ranks(vocabulary):
    ranks, _, pieces = vocabulary
    joinable = bpe_encode.joinable_pairs(ranks)
    for piece in pieces:
        expected = bpe.merge_by_rank_plain(piece, ranks)
        assert bpe_encode.encode_piece(piece, ranks) == expected
        assert bpe_encode.encode_piece(piece, ranks, joinable) == expected


@pytest.mark.parametrize("length", [bpe_encode.LONG_PIECE - 1, bpe_encode.LONG_PIECE, 600])
def test_long_pieces_merge_as_the_training_merges_do(length):
    rng = random.Random(length)
    merges = bpe_train.train({b"aaaaaaaabababcab" * 3: 5, b"abcabcaab": 2}, 20)
    ranks = bpe.merges_to_ranks(merges)
    joinable = bpe_encode.joinable_pairs(ranks)
    for piece in [b"a" * length, bytes(rng.choice(b"abc") for _ in range(length))]:
        expected = merges_in_order(piece, byte_merges(merges), ranks)
        assert bpe_encode.encode_piece(piece, ranks) == expected
        assert bpe_encode.encode_piece(piece, ranks, joinable) == expected


def test_a_piece_that_is_a_token_is_that_token():
    ranks = bpe.merges_to_ranks([(97, 98), (256, 99)])
    assert bpe_encode.encode_piece(b"abc", ranks) == [257]
    assert bpe_encode.encode_piece(b"", ranks) == []


abc_pieces = st.lists(
    st.binary(min_size=1, max_size=bpe_encode.SHORT_PIECE + 4).map(
        lambda b: bytes(x % 3 + 97 for x in b)),
    max_size=bpe_encode.BATCH_MIN + 20,
)


@given(arbitrary_ranks(), abc_pieces)
def test_batch_merger_equals_the_plain_merger_for_any_ranks(ranks, pieces):
    merged = bpe_encode.merge_by_rank_batch(pieces, ranks, token_pairs(ranks))
    assert merged == [bpe.merge_by_rank_plain(piece, ranks) for piece in pieces]


@given(arbitrary_ranks(), abc_pieces)
def test_encoding_many_pieces_equals_encoding_each(ranks, pieces):
    tables = bpe_encode.joinable_pairs(ranks), token_pairs(ranks)
    expected = [bpe_encode.encode_piece(piece, ranks) for piece in pieces]
    assert bpe_encode.encode_pieces(pieces, ranks, *tables) == expected
    copies = bpe_encode.BATCH_MIN // max(len(pieces), 1) + 1  # enough pieces to batch them
    assert bpe_encode.encode_pieces(pieces * copies, ranks, *tables) == expected * copies


def test_batch_merger_equals_the_plain_merger_on_a_corpus():
    pieces = sorted({piece.encode() for piece in regex.findall(GPT2_PATTERN, data.corpus_text())})
    ranks = bpe.merges_to_ranks(bpe_train.train(dict.fromkeys(pieces, 1), 500))
    short = [piece for piece in pieces if len(piece) <= bpe_encode.SHORT_PIECE]
    merged = bpe_encode.merge_by_rank_batch(short, ranks, token_pairs(ranks))
    assert merged == [bpe.merge_by_rank_plain(piece, ranks) for piece in short]
