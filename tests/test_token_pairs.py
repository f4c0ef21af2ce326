"""Which two tokens join into a token (token_pairs.py): the NumPy table against the plain loop over
every split; the NumPy hash table and grouping (hashing.py) against a dict."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minimal_embed.tokenizer import bpe_encode, hashing, token_pairs
from minimal_embed.tokenizer.hashing import IntTable, group_equal
from minimal_embed.tokenizer.rankfiles import read_tiktoken
from minimal_embed.tokenizer.token_pairs import TokenPairs
from minimal_embed.tokenizer.tokenizer import load_tokenizer

int64s = st.integers(-(2**63), 2**63 - 1)
# tokens over three letters, so that many tokens split into two other tokens
abc_tokens = st.sets(st.binary(min_size=2, max_size=9).map(lambda b: bytes(x % 3 + 97 for x in b)),
                     max_size=60)


@st.composite
def vocabularies(draw):
    """All 256 single bytes and some longer tokens, the ranks shuffled."""
    vocab = [bytes([b]) for b in range(256)] + sorted(draw(abc_tokens))
    draw(st.randoms(use_true_random=False)).shuffle(vocab)
    return {token: rank for rank, token in enumerate(vocab)}


def every_pair_answer(pairs: TokenPairs, ranks: dict[bytes, int]) -> dict[tuple[int, int], int]:
    """What ``pairs`` says of every pair of ids of ``ranks``: the pairs it joins."""
    ids = np.arange(len(ranks))
    left, right = np.repeat(ids, len(ids)), np.tile(ids, len(ids))
    joined = pairs.joined(left, right, default=-1)
    triples = zip(left.tolist(), right.tolist(), joined.tolist(), strict=True)
    return {(a, b): j for a, b, j in triples if j >= 0}


@given(vocabularies())
def test_the_numpy_table_holds_exactly_the_splits_of_the_plain_loop(ranks):
    assert every_pair_answer(token_pairs.token_pairs(ranks), ranks) == (
        token_pairs.token_pairs_plain(ranks))


def test_the_numpy_table_equals_the_plain_loop_on_the_bundled_vocabulary():
    ranks = load_tokenizer().ranks
    plain = token_pairs.token_pairs_plain(ranks)
    left, right = (np.array([pair[side] for pair in plain], dtype=np.int64) for side in (0, 1))
    fast = token_pairs.token_pairs(ranks)
    assert fast.joined(left, right, default=-1).tolist() == list(plain.values())
    assert len(plain) > 1000


def test_gpt2s_table_has_its_108299_splits_and_nothing_else(gpt2_ranks_path):
    ranks = read_tiktoken(gpt2_ranks_path)
    plain = token_pairs.token_pairs_plain(ranks)
    assert len(plain) == 108_299
    fast = token_pairs.token_pairs(ranks)
    left, right = (np.array([pair[side] for pair in plain], dtype=np.int64) for side in (0, 1))
    assert fast.joined(left, right, default=-1).tolist() == list(plain.values())
    rng = np.random.default_rng(0)
    left, right = rng.integers(0, len(ranks), 100_000), rng.integers(0, len(ranks), 100_000)
    expected = [plain.get(pair, -1) for pair in zip(left.tolist(), right.tolist(), strict=True)]
    assert fast.joined(left, right, default=-1).tolist() == expected


def test_a_hash_collision_costs_time_never_a_wrong_pair(monkeypatch):
    # With base 1 a span's hash is the sum of its bytes (plus one each): "cba" hashes as the
    # token "abc" and "cb" as the single byte 198, so two splits of "cbaabc" are hits of the
    # hashes that the length and byte comparisons must throw out (no two tokens share a hash).
    monkeypatch.setattr(hashing, "HASH_BASE", 1)
    monkeypatch.setattr(hashing, "EXACT_SPAN", 0)  # base 1 is exact for no span
    ranks = {bytes([b]): b for b in range(256)} | {b"abc": 256, b"cbaabc": 257}
    fast = token_pairs.token_pairs(ranks)
    assert every_pair_answer(fast, ranks) == token_pairs.token_pairs_plain(ranks) == {}


def test_tokens_sharing_a_hash_fall_back_to_the_plain_table(monkeypatch):
    monkeypatch.setattr(hashing, "HASH_BASE", 1)  # "ab" and "ba" now share a hash
    ranks = {bytes([b]): b for b in range(256)} | {b"ab": 256, b"ba": 257, b"aba": 258}
    fast = token_pairs.token_pairs(ranks)
    assert every_pair_answer(fast, ranks) == token_pairs.token_pairs_plain(ranks)


@given(st.dictionaries(int64s, int64s, max_size=300), st.lists(int64s, max_size=100))
def test_int_table_answers_as_a_dict_does(mapping, others):
    table = IntTable(np.array(list(mapping), dtype=np.int64),
                     np.array(list(mapping.values()), dtype=np.int64))
    queries = [*mapping, *others]
    answers = table.get(np.array(queries, dtype=np.int64), default=7)
    assert answers.tolist() == [mapping.get(key, 7) for key in queries]


def test_int_table_finds_every_key_of_a_large_structured_set():
    left, right = np.divmod(np.arange(200_000, dtype=np.int64) * 7, 1000)  # codes as TokenPairs's
    keys = left * 50_257 + right
    table = IntTable(keys, -keys)
    assert table.get(keys, default=1).tolist() == (-keys).tolist()
    assert table.get(keys + 50_257 * 10**6, default=1).tolist() == [1] * len(keys)


def test_int_table_refuses_a_key_given_twice():
    with pytest.raises(ValueError, match="5 is given twice"):
        IntTable(np.array([3, 5, 5]), np.array([1, 2, 3]))


def test_round_merger_sees_the_pair_that_exists_only_between_two_merges_of_a_round():
    # "bbb" ranks before "bb": merging "bb" left to right, the first "bb" meets a lone "b" and
    # "bbb" goes first; merging every "bb" at once would never see that pair.
    ranks = {bytes([b]): b for b in range(256)} | {b"bbb": 256, b"bb": 257}
    assert bpe_encode.merge_by_rank_rounds(b"b" * 24, ranks) == [256] * 8
    assert bpe_encode.merge_by_rank_rounds(b"b" * 25, ranks) == [256] * 8 + [ord("b")]


@given(st.lists(st.integers(-3, 3) | int64s, max_size=300))
def test_group_equal_groups_exactly_the_equal_keys(keys):
    group = group_equal(np.array(keys, dtype=np.int64)).tolist()
    assert all(keys[g] == key for g, key in zip(group, keys, strict=True))
    first_group = {}
    for key, g in zip(keys, group, strict=True):
        assert first_group.setdefault(key, g) == g


@given(st.lists(st.binary(max_size=hashing.EXACT_SPAN), min_size=2, max_size=2, unique=True))
def test_spans_of_up_to_seven_bytes_have_distinct_hashes(two):
    data = np.frombuffer(b"".join(two), np.uint8)
    lo, hi = np.array([0, len(two[0])]), np.array([len(two[0]), len(data)])
    first, second = hashing.span_hash(hashing.span_hashes(data), lo, hi).tolist()
    assert first != second


@pytest.mark.parametrize("kept", [0, 10, 2**20 + 1])
def test_span_hashes_are_the_formula_whatever_powers_are_kept(monkeypatch, kept):
    monkeypatch.setattr(hashing, "_POWERS_KEPT", kept)
    rng = np.random.default_rng(kept)
    for size in (1, 5, 40, 300):  # growing, so the kept powers are reused and extended
        data = rng.integers(0, 2**20, size).astype(np.uint32)
        lo = rng.integers(0, size, 20)
        hi = np.minimum(lo + rng.integers(0, 12, 20), size)
        got = hashing.span_hash(hashing.span_hashes(data), lo, hi).tolist()
        formula = [sum((int(data[i]) + 1) * 257 ** (i - a) for i in range(a, b)) % 2**64
                   for a, b in zip(lo.tolist(), hi.tolist(), strict=True)]
        assert [value % 2**64 for value in got] == formula


@given(st.binary(min_size=1, max_size=60), st.lists(st.tuples(st.integers(0, 59),
                                                              st.integers(0, 59),
                                                              st.integers(0, 20)), max_size=30))
def test_equal_spans_says_what_comparing_the_slices_says(data, spans):
    spans = [(a % len(data), b % len(data), n) for a, b, n in spans]
    spans = [(a, b, min(n, len(data) - a, len(data) - b)) for a, b, n in spans]
    first, second, sizes = (np.array([span[i] for span in spans], dtype=np.intp) for i in range(3))
    got = hashing.equal_spans(np.frombuffer(data, np.uint8), first, second, sizes).tolist()
    assert got == [data[a : a + n] == data[b : b + n] for a, b, n in spans]
