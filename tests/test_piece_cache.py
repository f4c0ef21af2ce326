"""piece_cache.py: the ids it hands back equal encoding without it, from one thread or many at
once; it holds at most its byte budget (measured with tracemalloc, not taken from its own count);
pieces in use survive when the generations turn."""

import gc
import random
import sys
import tracemalloc
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from minimal_embed import Tokenizer, load_tokenizer
from minimal_embed.tokenizer import bpe_encode, piece_cache
from minimal_embed.tokenizer.piece_cache import PieceCache


def random_words(rng: random.Random, count: int) -> str:
    return " ".join("".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(1, 8)))
                    for _ in range(count))


@pytest.fixture
def fast_thread_switches():
    """Threads switch every 10 microseconds, so that calls interleave as much as they can."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(interval)


def encode_in_threads(encode, texts, threads=8):
    with ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(encode, text) for text in texts]
        return [future.result(timeout=120) for future in futures]


def test_one_tokenizer_shared_by_eight_threads_gives_the_single_thread_ids(fast_thread_switches):
    # The case that lost entries: 8 threads, 80 texts of 2,000 random words, one Tokenizer.
    rng = random.Random(0)
    texts = [random_words(rng, 2000) for _ in range(80)]
    bundled = load_tokenizer()
    expected = [Tokenizer(bundled.ranks).encode(text) for text in texts]  # one thread, cold
    shared = Tokenizer(bundled.ranks)
    assert encode_in_threads(shared.encode, texts) == expected


def test_a_small_cache_turning_generations_under_threads_gives_the_single_thread_ids(
        fast_thread_switches):
    rng = random.Random(1)
    tok = load_tokenizer()
    texts = [random_words(rng, 500) for _ in range(60)]
    pieces_of = {text: tok.split(text) for text in texts}
    expected = [PieceCache(tok.ranks).encode(pieces_of[text]) for text in texts]
    cache = PieceCache(tok.ranks, max_bytes=60_000)  # a few hundred words: it turns constantly
    results = encode_in_threads(lambda text: cache.encode(pieces_of[text]), texts * 3)
    assert results == expected * 3
    assert cache.nbytes <= 60_000


def test_long_texts_encoded_by_spans_under_threads_give_the_single_thread_ids(
        fast_thread_switches):
    # texts long enough for the array split (IdCache.encode_spans), a cache that turns
    rng = random.Random(2)
    tok = load_tokenizer()
    texts = [random_words(rng, 4000) for _ in range(16)]
    assert all(tok._splitter.piece_starts(text) is not None for text in texts)
    expected = [Tokenizer(tok.ranks).encode(text) for text in texts]
    shared = Tokenizer(tok.ranks)
    shared._pieces = PieceCache(tok.ranks, max_bytes=60_000)
    assert encode_in_threads(shared.encode, texts * 2) == expected * 2


def test_the_cache_holds_at_most_its_byte_budget_measured_by_tracemalloc(monkeypatch):
    # 3,000 distinct 10 KB pieces once kept 200 MB. Here 300 of them may keep 1 MB; the encoder is
    # a stand-in making one new int object per 3 bytes, as long pieces of real text have.
    def stand_in(pieces, *tables):
        return [list(range(300, 300 + len(piece) // 3)) for piece in pieces]

    monkeypatch.setattr(piece_cache.bpe_encode, "encode_pieces", stand_in)
    cache = PieceCache({bytes([b]): b for b in range(256)}, max_bytes=1_000_000)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for number in range(300):
            piece = f"{number:05d}" + "x" * 10_000
            assert len(cache.encode([piece, piece])) == 2 * (len(piece) // 3)
        del piece
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert 500_000 < cache.nbytes <= 1_000_000
    assert held <= cache.nbytes + 20_000  # entry_bytes is an upper bound (noise: a dict resize)


def test_entry_bytes_is_an_upper_bound_of_what_an_entry_allocates():
    tok = load_tokenizer()
    rng = random.Random(2)
    pieces = list(dict.fromkeys(tok.split(random_words(rng, 3000) + " 你好 🙂 héllo")))
    cache = PieceCache(tok.ranks)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        copies = [piece.encode("utf-8").decode("utf-8") for piece in pieces]  # strs made here
        cache.encode(copies)
        del copies
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert 0 < held <= cache.nbytes


def test_a_piece_in_every_call_is_encoded_once_while_the_generations_turn(monkeypatch):
    encoded = []
    encode_pieces = bpe_encode.encode_pieces

    def counting(pieces, *tables):
        encoded.extend(pieces)
        return encode_pieces(pieces, *tables)

    monkeypatch.setattr(piece_cache.bpe_encode, "encode_pieces", counting)
    tok = load_tokenizer()
    cache = PieceCache(tok.ranks, max_bytes=20_000)
    rng = random.Random(3)
    for _ in range(200):
        cache.encode(["hot", *tok.split(random_words(rng, 20))])
    assert encoded.count(b"hot") == 1
    assert len(encoded) > 200  # the others come and go


def test_a_piece_larger_than_half_the_budget_is_encoded_each_time_and_not_kept():
    ranks = {bytes([b]): b for b in range(256)} | {b"ab": 256}
    cache = PieceCache(ranks, max_bytes=10_000)
    assert cache.encode(["ab" * 5000, "ab"]) == [256] * 5001
    assert cache.encode(["ab" * 5000]) == [256] * 5000
    assert 0 < cache.nbytes < 1000  # only "ab" is kept


def test_max_bytes_is_checked():
    ranks = {bytes([b]): b for b in range(256)}
    with pytest.raises(TypeError, match="max_bytes must be an integer"):
        PieceCache(ranks, max_bytes=1e6)
    with pytest.raises(ValueError, match="max_bytes must be an integer >= 0"):
        PieceCache(ranks, max_bytes=-1)
    assert PieceCache(ranks, max_bytes=0).encode(["ab", "ab"]) == [97, 98, 97, 98]


def test_an_id_cache_of_any_encoder_turning_generations_under_threads_stays_correct():
    from concurrent.futures import ThreadPoolExecutor

    from minimal_embed.tokenizer.piece_cache import IdCache

    cache = IdCache(lambda words: [[len(word), ord(word[0])] for word in words], max_bytes=4096)
    rng = np.random.default_rng(0)
    texts = [[f"w{n}" for n in rng.integers(0, 5000, size=300)] for _ in range(40)]

    def expected(words):
        return [i for word in words for i in (len(word), ord(word[0]))]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(cache.encode, texts))
    assert results == [expected(words) for words in texts]
    assert cache.nbytes <= 4096
