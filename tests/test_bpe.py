"""The byte-pair core against plain references written here: a trainer that recounts everything
after every merge, and a piece encoder that re-joins every adjacent pair of parts every round."""

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from references import reference_merge

from minimal_embed import data
from minimal_embed.tokenizer import GPT2_PATTERN, bpe

# --- the references ---------------------------------------------------------------------------


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


def apply_merges_in_order(piece, merges):
    """Encode a piece the way training saw it: apply each learned merge, in order, everywhere."""
    ids = list(piece)
    for k, pair in enumerate(merges):
        ids = bpe.merge_pair(ids, pair, 256 + k)
    return ids


# --- strategies -------------------------------------------------------------------------------

# small alphabets make many repeats and ties; "é" and "中" are two and three bytes in UTF-8
piece_text = st.text(alphabet=st.sampled_from(list("aab éz中")), min_size=0, max_size=12)
piece_counts = st.dictionaries(
    piece_text.map(lambda text: text.encode("utf-8")).filter(bool),
    st.integers(min_value=1, max_value=5),
    max_size=12,
)


@st.composite
def arbitrary_ranks(draw):
    """A valid ranked vocabulary that is not a trained one: shuffled single bytes, random tokens."""
    abc_bytes = st.binary(min_size=2, max_size=4).map(lambda b: bytes(x % 3 + 97 for x in b))
    tokens = draw(st.sets(abc_bytes, max_size=30))
    vocab = [bytes([b]) for b in range(256)] + sorted(tokens)
    draw(st.randoms(use_true_random=False)).shuffle(vocab)
    return {token: rank for rank, token in enumerate(vocab)}


# --- pair counting and merging ----------------------------------------------------------------


def test_count_pairs_counts_overlapping_occurrences():
    assert bpe.count_pairs([1, 1, 1, 1]) == {(1, 1): 3}
    assert bpe.count_pairs([1, 2, 1, 2], weight=3) == {(1, 2): 6, (2, 1): 3}
    assert bpe.count_pairs([7]) == {}


def test_merge_pair_merges_left_to_right():
    assert bpe.merge_pair([1, 1, 1], (1, 1), 9) == [9, 1]
    assert bpe.merge_pair([1, 1, 1, 1], (1, 1), 9) == [9, 9]
    assert bpe.merge_pair([2, 1, 1, 1, 2], (1, 1), 9) == [2, 9, 1, 2]


# --- training ---------------------------------------------------------------------------------


@given(piece_counts, st.integers(min_value=0, max_value=25))
def test_fast_trainer_equals_the_reference_trainer(counts, num_merges):
    assert bpe.train(counts, num_merges) == reference_train(counts, num_merges)


@given(piece_counts, st.integers(min_value=0, max_value=25))
def test_train_naive_equals_reference_trainer(counts, num_merges):
    assert bpe.train_naive(counts, num_merges) == reference_train(counts, num_merges)


def test_fast_trainer_equals_the_reference_trainer_on_the_bundled_corpus():
    import regex

    text = data.corpus_text()[:20_000]
    counts = {}
    for piece in regex.findall(GPT2_PATTERN, text):
        key = piece.encode("utf-8")
        counts[key] = counts.get(key, 0) + 1
    assert bpe.train(counts, 300) == reference_train(counts, 300)


def test_ties_go_to_the_smallest_pair_whatever_the_input_order():
    # (97, 98) and (99, 100) both occur twice; the smaller pair must win in either order
    assert bpe.train({b"ab": 2, b"cd": 2}, 1) == [(97, 98)]
    assert bpe.train({b"cd": 2, b"ab": 2}, 1) == [(97, 98)]


def test_training_stops_early_when_no_pair_is_left():
    assert bpe.train({b"abc": 4, b"x": 9}, 10) == [(97, 98), (256, 99)]
    assert bpe.train({}, 10) == []


@given(piece_counts, st.integers(min_value=0, max_value=25))
def test_trained_tokens_are_distinct_byte_strings(counts, num_merges):
    merges = bpe.train(counts, num_merges)
    # a repeated byte string would collapse two ranks into one dictionary key
    assert len(bpe.merges_to_ranks(merges)) == 256 + len(merges)


@given(piece_counts, st.integers(min_value=0, max_value=25))
def test_rank_merging_reproduces_the_training_merges(counts, num_merges):
    merges = bpe.train(counts, num_merges)
    ranks = bpe.merges_to_ranks(merges)
    for piece in counts:
        assert bpe.encode_piece(piece, ranks) == apply_merges_in_order(piece, merges)


def test_trainers_refuse_counts_below_one_and_non_bytes():
    for trainer in (bpe.train, bpe.train_naive):
        with pytest.raises(ValueError, match="count 0"):
            trainer({b"ab": 0}, 3)
        with pytest.raises(TypeError, match="map bytes to int"):
            trainer({"ab": 1}, 3)


def test_progress_reports_merges_done_and_total():
    reports = []
    bpe.train({bytes(range(256)) * 2: 1}, 250, progress=lambda done, total: reports.append(done))
    assert reports == [100, 200, 250]


# --- encoding one piece by rank ---------------------------------------------------------------


@given(arbitrary_ranks(), st.binary(max_size=40).map(lambda b: bytes(x % 3 + 97 for x in b)))
def test_both_rank_mergers_equal_the_plain_reference_for_any_ranks(ranks, piece):
    expected = reference_merge(piece, ranks)
    assert bpe.merge_by_rank(piece, ranks) == expected
    assert bpe.merge_by_rank_long(piece, ranks) == expected


@pytest.mark.parametrize("length", [bpe.LONG_PIECE - 1, bpe.LONG_PIECE, 600])
def test_long_pieces_merge_exactly_as_short_ones(length):
    rng = random.Random(length)
    merges = bpe.train({b"aaaaaaaabababcab" * 3: 5, b"abcabcaab": 2}, 20)
    ranks = bpe.merges_to_ranks(merges)
    for piece in [b"a" * length, bytes(rng.choice(b"abc") for _ in range(length))]:
        assert bpe.encode_piece(piece, ranks) == reference_merge(piece, ranks)


def test_a_piece_that_is_a_token_is_that_token():
    ranks = bpe.merges_to_ranks([(97, 98), (256, 99)])
    assert bpe.encode_piece(b"abc", ranks) == [257]
    assert bpe.encode_piece(b"", ranks) == []


abc_pieces = st.lists(
    st.binary(min_size=1, max_size=bpe.SHORT_PIECE + 4).map(lambda b: bytes(x % 3 + 97 for x in b)),
    max_size=bpe.BATCH_MIN + 20,
)


@given(arbitrary_ranks(), abc_pieces)
def test_batch_merging_equals_the_plain_reference_for_any_ranks(ranks, pieces):
    merged = bpe.merge_by_rank_batch(pieces, ranks, bpe.byte_pair_ranks(ranks))
    assert merged == [reference_merge(piece, ranks) for piece in pieces]


@given(arbitrary_ranks(), abc_pieces)
def test_encoding_many_pieces_equals_encoding_each(ranks, pieces):
    tables = bpe.joinable_pairs(ranks), bpe.byte_pair_ranks(ranks)
    expected = [bpe.encode_piece(piece, ranks) for piece in pieces]
    assert bpe.encode_pieces(pieces, ranks, *tables) == expected
    copies = bpe.BATCH_MIN // max(len(pieces), 1) + 1  # enough pieces to merge them in a batch
    assert bpe.encode_pieces(pieces * copies, ranks, *tables) == expected * copies


def test_batch_merging_of_a_corpus_equals_merging_piece_by_piece():
    import regex

    pieces = sorted({piece.encode() for piece in regex.findall(GPT2_PATTERN, data.corpus_text())})
    ranks = bpe.merges_to_ranks(bpe.train(dict.fromkeys(pieces, 1), 500))
    short = [piece for piece in pieces if len(piece) <= bpe.SHORT_PIECE]
    merged = bpe.merge_by_rank_batch(short, ranks, bpe.byte_pair_ranks(ranks))
    assert merged == [bpe.merge_by_rank(piece, ranks) for piece in short]
