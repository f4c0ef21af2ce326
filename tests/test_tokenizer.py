"""The Tokenizer: training rules, encoding and decoding, special tokens, batches, files, the CLI."""

import io
import random
import time
from collections import Counter

import numpy as np
import pytest
import regex
from hypothesis import given
from hypothesis import strategies as st

from minimal_embed import GPT2_PATTERN, GPT4_PATTERN, Tokenizer, data, load_tokenizer
from minimal_embed.app import cli
from minimal_embed.tokenizer import bpe, count_pieces, patterns
from minimal_embed.tokenizer.patterns import Splitter

EOT = "<|endoftext|>"  # `tok` (conftest.py) has it and "<|pad|>" as special tokens

# The patterns as first published (GPT-2's encoder.py; tiktoken's cl100k_base), written out here
# so that our backtracking-safe versions are checked against them, not against themselves.
GPT2_ORIGINAL = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
GPT4_ORIGINAL = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"""
    r"""| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
)

# text with every kind of character the patterns treat differently
tricky_text = st.text(alphabet=st.sampled_from(list(" \t\n\r\u00a0'sStmdlvreA7é中🙂.,!-_")))
any_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)))


# --- the split patterns -----------------------------------------------------------------------


@given(tricky_text)
def test_gpt2_pattern_splits_exactly_as_the_original(text):
    assert regex.findall(GPT2_PATTERN, text) == regex.findall(GPT2_ORIGINAL, text)


@given(tricky_text)
def test_gpt4_pattern_splits_exactly_as_the_original(text):
    assert regex.findall(GPT4_PATTERN, text) == regex.findall(GPT4_ORIGINAL, text)


ascii_text = st.text(alphabet=st.one_of(
    st.characters(max_codepoint=127), st.sampled_from(list(" \t\n\r\x0b\x0c\x1c'sStmdlvreA7.,!"))))


def ascii_twin_or_skip(pattern):
    """The splitter's `re` twin of a pattern; before Python 3.11 there is none (no `++` in re)."""
    twin = Splitter(pattern).ascii_regex
    if twin is None:
        pytest.skip("Python < 3.11: `re` lacks possessive quantifiers, so only `regex` splits")
    return twin


@pytest.mark.parametrize("pattern", [GPT2_PATTERN, GPT4_PATTERN], ids=["gpt2", "gpt4"])
def test_ascii_twins_split_every_pair_of_ascii_characters_as_regex_does(pattern):
    twin = ascii_twin_or_skip(pattern)
    texts = [a + b for a in map(chr, range(128)) for b in map(chr, range(128))]
    split = regex.compile(pattern).findall
    assert [twin.findall(text) for text in texts] == [split(text) for text in texts]


@given(ascii_text)
def test_ascii_twins_split_any_ascii_text_as_regex_does(text):
    for pattern in (GPT2_PATTERN, GPT4_PATTERN):
        twin = ascii_twin_or_skip(pattern)
        assert twin.findall(text) == regex.findall(pattern, text)


# ASCII letters before spaces (where mixed text is cut) among characters `re` must not see
mixed_text = st.text(alphabet=st.sampled_from(list(" \t\n\r\x0b'sStmdlvreA7.,!aZ\xa0\u2019é中1²")))


@pytest.mark.parametrize("pattern", [GPT2_PATTERN, GPT4_PATTERN], ids=["gpt2", "gpt4"])
@given(text=mixed_text, chunk=st.integers(0, 12))
def test_cutting_mixed_text_into_ascii_stretches_keeps_the_pieces(pattern, text, chunk):
    ascii_twin_or_skip(pattern)
    assert Splitter(pattern).split(text, chunk) == regex.findall(pattern, text)


def test_encoding_is_the_same_on_both_sides_of_the_ascii_fast_path(tok):
    text = data.corpus_text()[:20_000].encode("ascii", "ignore").decode()
    text += " 'tis 42\t\x0b\x1c\r\n  ."
    assert text.isascii()
    # one non-ASCII character at the end sends the whole text through `regex` (and, after the
    # final ".", does not change the pieces before it)
    assert tok.encode(text) + tok.encode("é") == tok.encode(text + "é")
    assert tok.split(text) + ["é"] == tok.split(text + "é")


def test_a_run_of_spaces_gives_its_last_space_to_the_word():
    assert regex.findall(GPT2_PATTERN, "a   b  \n") == ["a", "  ", " b", "  \n"]


@pytest.mark.parametrize("run", [" ", "\n", " \n", "!", "a"], ids=repr)
@pytest.mark.parametrize("end", ["", "x", " "], ids=repr)
@pytest.mark.parametrize(("pattern", "original"), [(GPT2_PATTERN, GPT2_ORIGINAL),
                                                   (GPT4_PATTERN, GPT4_ORIGINAL)],
                         ids=["gpt2", "gpt4"])
def test_long_runs_split_as_the_original_pattern_splits_them(pattern, original, run, end):
    # that the time grows linearly with the run is measured in benchmarks/bpe_encode.py
    text = run * (1_000_000 // len(run)) + end
    expected = regex.findall(original, text)
    assert regex.findall(pattern, text) == expected
    assert Splitter(pattern).split(text) == expected  # through the `re` twin on Python 3.11+


# --- untrusted patterns: refused when given, or stopped in time; never a hang --------------------

# hours on "a" * 34 + "!": (a|a)+ can match a run of n a's in 2**n ways, and $ makes it try all
CATASTROPHIC = r"(?:a|a)+$|."
# tiktoken's o200k_base split, written out: a third pattern from the wild that must pass
O200K = "|".join([
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*"
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"\p{N}{1,3}", r" ?[^\s\p{L}\p{N}]+[\r\n/]*", r"\s*[\r\n]+", r"\s+(?!\S)", r"\s+",
])


def test_a_catastrophic_pattern_is_refused_within_a_second():
    started = time.monotonic()
    with pytest.raises(ValueError, match=r"backtracks catastrophically: splitting 'a' \* 200"):
        Tokenizer(byte_ranks(), pattern=CATASTROPHIC)
    with pytest.raises(ValueError, match="backtracks catastrophically"):
        count_pieces("a" * 34 + "!", pattern=CATASTROPHIC)
    assert time.monotonic() - started < 3  # not hours


def test_a_pattern_slow_only_on_text_the_probes_miss_is_stopped_by_the_time_bound(monkeypatch):
    monkeypatch.setattr(patterns, "SPLIT_SECONDS", 0.2)
    slow_on_x = Tokenizer(byte_ranks(), pattern=r"(?:x|x)+$|.")  # no probe is a run of x
    assert slow_on_x.encode("xx ab") == list(b"xx ab")
    started = time.monotonic()
    with pytest.raises(ValueError, match="did not finish a text of 35 characters in 0.2 s"):
        slow_on_x.encode("x" * 34 + "!")
    assert time.monotonic() - started < 3  # not hours


def test_counted_repeats_that_multiply_past_the_limit_are_refused_before_compiling():
    started = time.monotonic()
    with pytest.raises(ValueError, match="counts multiply past 100000"):
        Tokenizer(byte_ranks(), pattern=r"(?:(?:a{1000}){1000}){100}")  # hours to compile
    assert time.monotonic() - started < 2  # not hours
    assert Splitter(r"\{1000}{99}|\p{N}{1,3}|.").split("{{") == ["{", "{"]  # escapes skipped


@pytest.mark.parametrize("pattern", [GPT2_ORIGINAL, GPT4_ORIGINAL, O200K, r"\w+|\s+|[^\w\s]+"],
                         ids=["gpt2-original", "gpt4-original", "o200k", "words"])
def test_patterns_that_do_not_backtrack_pass_and_split_as_regex_does(pattern):
    splitter = Splitter(pattern)
    assert splitter.bounded
    text = "Hello, wörld!  Ünïcode 123456 \n\n   x" * 20 + " " * 5000 + "a" * 5000
    assert splitter.split(text) == regex.findall(pattern, text)


def test_the_built_in_patterns_are_not_bounded():
    assert not Splitter(GPT2_PATTERN).bounded and not Splitter(GPT4_PATTERN).bounded


# --- training rules ---------------------------------------------------------------------------


def test_training_is_deterministic_same_bytes_on_disk(saved_bytes):
    text = data.corpus_text()[:20_000]
    first = saved_bytes(Tokenizer.train(text, 400, special_tokens=[EOT]))
    second = saved_bytes(Tokenizer.train(text, 400, special_tokens=[EOT]))
    assert first == second


@given(st.lists(tricky_text, max_size=4), st.integers(min_value=257, max_value=300))
def test_trained_vocab_has_vocab_size_ids_unless_pairs_ran_out(texts, vocab_size):
    trained = Tokenizer.train(texts, vocab_size, special_tokens=[EOT])
    if trained.vocab_size < vocab_size:
        # stopped early: no adjacent pair is left, so every training piece is a single token
        pieces = [piece for text in texts for piece in regex.findall(GPT2_PATTERN, text)]
        assert all(len(trained.encode_ordinary(piece)) == 1 for piece in pieces)
    else:
        assert trained.vocab_size == vocab_size


def test_special_tokens_take_the_top_ids():
    trained = Tokenizer.train("aaaa bbbb", 262, special_tokens=[EOT, "<|pad|>"])
    assert trained.special_tokens == {EOT: 260, "<|pad|>": 261}
    assert trained.vocab_size == 262


def test_training_text_is_split_at_special_tokens():
    joined = Tokenizer.train(f"hello{EOT}world", 300, special_tokens=[EOT])
    separate = Tokenizer.train(["hello", "world"], 300, special_tokens=[EOT])
    assert joined == separate
    assert not any(b"<|" in token for token in joined.ranks)


def test_each_item_is_split_on_its_own():
    assert Tokenizer.train(["a", "b"] * 5, 300).vocab_size == 256  # no pair inside any item
    assert b"ab" in Tokenizer.train("ab" * 5, 300).ranks


def test_a_file_object_streams_line_by_line():
    text = "the cat\nthe hat\n\nthe bat sat\n" * 20
    assert Tokenizer.train(io.StringIO(text), 300) == Tokenizer.train(text.splitlines(True), 300)


def test_count_pieces_counts_each_piece_of_the_split_between_special_tokens():
    texts = [data.corpus_text()[:3000], f"all ASCII, 'tis{EOT}so  \n", "naïve"]
    pieces = [piece.encode() for text in texts for part in text.split(EOT)
              for piece in regex.findall(GPT2_PATTERN, part)]
    assert count_pieces(texts, special_tokens=[EOT]) == dict(Counter(pieces))


def test_training_refuses_bad_arguments():
    with pytest.raises(ValueError, match="vocab_size=256 is too small"):
        Tokenizer.train("text", 256, special_tokens=[EOT])
    with pytest.raises(TypeError, match="vocab_size must be an int"):
        Tokenizer.train("text", 300.0)
    with pytest.raises(TypeError, match="item 1"):
        Tokenizer.train(["ok", b"bytes"], 300)
    with pytest.raises(TypeError, match="list of str"):
        Tokenizer.train("text", 300, special_tokens=EOT)


# --- encoding and decoding --------------------------------------------------------------------


@given(any_text)
def test_decode_inverts_encode_for_any_text(tok, text):
    assert tok.decode(tok.encode_ordinary(text)) == text
    with_special = text + EOT + text
    assert tok.decode(tok.encode(with_special, allowed_special="all")) == with_special


@given(any_text)
def test_every_id_is_below_vocab_size(tok, text):
    assert all(0 <= i < tok.vocab_size for i in tok.encode(text, disallowed_special=()))


@given(any_text)
def test_special_tokens_are_never_produced_by_encode_ordinary(tok, text):
    ids = tok.encode_ordinary(text + EOT + text)
    assert not set(ids) & set(tok.special_tokens.values())


@given(tricky_text, tricky_text)
def test_encoding_a_concatenation_concatenates_when_split_boundaries_agree(tok, left, right):
    if tok.split(left + right) == tok.split(left) + tok.split(right):
        assert tok.encode(left + right) == tok.encode(left) + tok.encode(right)


@given(any_text)
def test_encoding_equals_the_plain_rank_merge_of_each_piece(tok, text):
    ranks = tok.ranks
    pieces = [piece.encode() for piece in tok.split(text)]
    expected = [i for piece in pieces for i in bpe.merge_by_rank_plain(piece, ranks)]
    assert tok.encode_ordinary(text) == expected


def test_cold_and_warm_cache_agree(tok):
    text = data.corpus_text()[30_000:40_000]
    cold = Tokenizer(tok.ranks, special_tokens=tok.special_tokens).encode(text)
    assert tok.encode(text) == cold and tok.encode(text) == cold


def test_single_bytes_need_not_have_ids_0_to_255():
    # GPT-2 style: the single bytes are spread among the merged tokens
    vocab = [bytes([b]) for b in range(256)] + [b"ab", b"abc", b" a"]
    random.Random(0).shuffle(vocab)
    shuffled = Tokenizer({token: rank for rank, token in enumerate(vocab)})
    for text in ["abc", " abc", "xab", " a" * 50 + "bc" * 30]:
        ranks = shuffled.ranks
        pieces = [piece.encode() for piece in shuffled.split(text)]
        expected = [i for piece in pieces for i in bpe.merge_by_rank_plain(piece, ranks)]
        assert shuffled.encode(text) == expected
        assert shuffled.decode(shuffled.encode(text)) == text


def test_lone_surrogates_are_repaired_to_replacement_characters(tok):
    assert tok.encode("a\ud800b\udfff") == tok.encode("a\ufffdb\ufffd")
    assert tok.decode(tok.encode("\ud83d")) == "\ufffd"


def test_decode_replaces_invalid_utf8_and_decode_bytes_is_exact(tok):
    euro = list("€".encode())  # ids of single bytes are the byte values in a trained tokenizer
    assert tok.decode(euro[:2]) == "\ufffd"
    assert tok.decode_bytes(euro[:2]) == "€".encode()[:2]
    assert tok.decode_bytes(np.array(euro)) == "€".encode()


def test_special_token_ids_decode_to_their_text(tok):
    assert tok.token_bytes(tok.special_tokens[EOT]) == EOT.encode()
    assert tok.decode([104, tok.special_tokens[EOT]]) == "h" + EOT


@pytest.mark.parametrize("bad", [-1, 600, 10**20])
def test_unknown_or_negative_ids_raise_naming_the_id(tok, bad):
    with pytest.raises(ValueError, match=f"token id {bad} is not in the vocabulary"):
        tok.decode([1, bad])
    message = "must be an integer >= 0, got -1" if bad < 0 else f"token id {bad} is not in"
    with pytest.raises(ValueError, match=message):
        tok.token_bytes(bad)


@pytest.mark.parametrize("bad", [[1.0], [True], np.array([1.0])])
def test_non_integer_ids_raise_type_error(tok, bad):
    with pytest.raises(TypeError, match="integer"):
        tok.decode(bad)


# --- special tokens ---------------------------------------------------------------------------


def test_special_token_text_raises_unless_allowed(tok):
    text = f"hi{EOT}there"
    with pytest.raises(ValueError, match="special token '<\\|endoftext\\|>' at character 2"):
        tok.encode(text)
    allowed = tok.encode(text, allowed_special={EOT})
    assert allowed == tok.encode("hi") + [tok.special_tokens[EOT]] + tok.encode("there")
    assert tok.encode(text, allowed_special="all") == allowed
    assert tok.encode(text, disallowed_special=()) == tok.encode_ordinary(text)
    with pytest.raises(ValueError, match="<|pad|>"):
        tok.encode("<|pad|>", allowed_special={EOT})


def test_unknown_special_names_are_refused(tok):
    with pytest.raises(ValueError, match="not special tokens"):
        tok.encode("x", allowed_special={"<|nope|>"})


# --- batches ----------------------------------------------------------------------------------


@given(st.lists(tricky_text, max_size=5), st.one_of(st.none(), st.integers(1, 6)))
def test_encode_batch_pads_each_column_and_masks_the_padding(tok, texts, max_len):
    ids, mask = tok.encode_batch(texts, max_len=max_len, pad_id=7)
    expected = [tok.encode(text)[:max_len] for text in texts]
    seq_len = max((len(e) for e in expected), default=0)
    assert ids.shape == mask.shape == (seq_len, len(texts))
    assert ids.dtype == np.int64 and mask.dtype == bool
    for column, row in enumerate(expected):
        assert ids[: len(row), column].tolist() == row
        assert (ids[len(row) :, column] == 7).all()
        assert mask[:, column].tolist() == [True] * len(row) + [False] * (seq_len - len(row))


def test_encode_batch_batch_first_is_the_transpose(tok):
    ids, mask = tok.encode_batch(["one two", "three"])
    ids_bf, mask_bf = tok.encode_batch(["one two", "three"], batch_first=True)
    assert (ids_bf == ids.T).all() and (mask_bf == mask.T).all()
    assert ids[~mask].tolist() == [0] * int((~mask).sum())


def test_encode_batch_refuses_bad_arguments(tok):
    with pytest.raises(TypeError, match="wrap it"):
        tok.encode_batch("one text")
    with pytest.raises(ValueError, match="max_len must be an integer >= 1"):
        tok.encode_batch(["a"], max_len=0)
    with pytest.raises(TypeError, match="max_len must be an integer"):
        tok.encode_batch(["a"], max_len=2.0)
    with pytest.raises(ValueError, match="pad_id must be an integer >= 0, got -1"):
        tok.encode_batch(["a"], pad_id=-1)
    with pytest.raises(ValueError, match="token id 600 is not in the vocabulary"):
        tok.encode_batch(["a"], pad_id=600)


# --- arguments: TypeError for a wrong type, ValueError for a wrong value -----------------------


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda tok: tok.split(None), TypeError, "text must be a str, got NoneType"),
        (lambda tok: tok.encode(None), TypeError, "text must be a str, got NoneType"),
        (lambda tok: tok.encode(b"x"), TypeError, r"got bytes \(decode bytes first"),
        (lambda tok: tok.encode_ordinary(5), TypeError, "text must be a str, got int"),
        (lambda tok: tok.encode_with_offsets(None), TypeError, "text must be a str"),
        (lambda tok: tok.encode_batch(["a"], max_len=True), TypeError,
         r"max_len must be an integer, got True \(bool\)"),
        (lambda tok: tok.encode_batch(None), TypeError, "texts must be a list of str, got None"),
        (lambda tok: tok.encode_batch([None]), TypeError,
         "item 0 of texts is a NoneType, not a str"),
        (lambda tok: tok.encode_batch(["a"], batch_first="no"), TypeError,
         "batch_first must be True or False, got 'no'"),
        (lambda tok: tok.encode_batch(["a"], pad_id=1.0), TypeError, "pad_id must be an integer"),
        (lambda tok: tok.decode(None), TypeError, "a list or array of integers, got NoneType"),
        (lambda tok: tok.decode(65), TypeError, "a list or array of integers, got int"),
        (lambda tok: tok.decode(b"AB"), TypeError, "a list or array of integers, got bytes"),
        (lambda tok: tok.decode("AB"), TypeError, "a list or array of integers, got str"),
        (lambda tok: tok.decode([np.float64(65)]), TypeError, "integers, got a float64"),
        (lambda tok: tok.decode(np.array([65], "m8[s]")), TypeError, "dtype timedelta64"),
        (lambda tok: tok.token_bytes(65.0), TypeError, "token id must be an integer"),
        (lambda tok: tok.encode("a", allowed_special=None), TypeError,
         "allowed_special must be 'all' or a collection of str, got None"),
        (lambda tok: tok.encode("a", allowed_special=[5]), TypeError,
         "every name in allowed_special must be a str, got int"),
        (lambda tok: tok.encode("a", disallowed_special=None), TypeError,
         "disallowed_special must be 'all' or a collection of str"),
        (lambda tok: tok.split("a", allowed_special=["<|nope|>"]), ValueError,
         "not special tokens"),
        (lambda tok: Tokenizer.train(None, 300), TypeError,
         "texts must be a str or an iterable of str, got NoneType"),
        (lambda tok: Tokenizer.train(b"ab", 300), TypeError, "iterable of str, got bytes"),
        (lambda tok: Tokenizer.train("ab", 300, progress="yes"), TypeError,
         r"progress must be True, False or a function \(done, total\), got 'yes'"),
        (lambda tok: Tokenizer(tok.ranks, special_tokens=5), TypeError,
         "special_tokens must be a list of str"),
        (lambda tok: Tokenizer(tok.ranks, special_tokens={EOT: 600.0}), TypeError,
         "must be an integer, got 600.0"),
        (lambda tok: Tokenizer(tok.ranks, special_tokens={EOT: 2**63}), ValueError,
         r"above 2\*\*63 - 1: ids must fit in int64"),
    ],
)
def test_bad_arguments_get_type_error_or_value_error_naming_them(tok, call, error, message):
    with pytest.raises(error, match=message):
        call(tok)


def test_numpy_scalars_are_accepted_wherever_python_integers_are(tok):
    texts = ["one two three", "one"]
    expected = tok.encode_batch(texts, max_len=2, pad_id=3, batch_first=True)
    got = tok.encode_batch(texts, max_len=np.int64(2), pad_id=np.int32(3),
                           batch_first=np.bool_(True))
    assert all((a == b).all() for a, b in zip(got, expected, strict=True))
    assert tok.token_bytes(np.uint16(65)) == b"A"
    assert tok.decode([np.int64(65), np.uint8(66), 67]) == "ABC"
    assert Tokenizer.train("ab ab", np.int64(258)) == Tokenizer.train("ab ab", 258)
    numpy_ranks = {token: np.int32(rank) for token, rank in byte_ranks().items()}
    numpy_specials = Tokenizer(numpy_ranks, special_tokens={EOT: np.int64(300)})
    assert numpy_specials == Tokenizer(byte_ranks(), special_tokens={EOT: 300})
    assert type(numpy_specials.special_tokens[EOT]) is int


# --- constructing from ranks: the checks in checks.py ------------------------------------------


def byte_ranks():
    return {bytes([b]): b for b in range(256)}


def test_constructor_refuses_invalid_vocabularies():
    with pytest.raises(ValueError, match=r"byte 0x41 \(b'A'\) is not a token"):
        Tokenizer({k: v for k, v in byte_ranks().items() if v != 65} | {b"ab": 65})
    with pytest.raises(ValueError, match="rank 256 is missing: the 257 ranks must be 0..256"):
        Tokenizer(byte_ranks() | {b"ab": 300})
    with pytest.raises(ValueError, match=r"rank 5 is given to both b'\\x05' and b'ab'"):
        Tokenizer(byte_ranks() | {b"ab": 5})
    with pytest.raises(TypeError, match="non-empty bytes"):
        Tokenizer(byte_ranks() | {"ab": 256})
    with pytest.raises(TypeError, match="the rank of b'ab' must be an integer"):
        Tokenizer(byte_ranks() | {b"ab": 256.0})
    with pytest.raises(ValueError, match="collides"):
        Tokenizer(byte_ranks(), special_tokens={EOT: 255})
    with pytest.raises(ValueError, match="lone surrogate"):
        Tokenizer(byte_ranks(), special_tokens=["<|\ud800|>"])
    with pytest.raises(ValueError, match="share ids"):
        Tokenizer(byte_ranks(), special_tokens={EOT: 256, "<|x|>": 256})
    with pytest.raises(ValueError, match="not a valid regex"):
        Tokenizer(byte_ranks(), pattern="(")
    with pytest.raises(ValueError, match="capturing groups"):
        Tokenizer(byte_ranks(), pattern=r"(\w+)|\s")


def test_special_ids_may_leave_gaps():
    gappy = Tokenizer(byte_ranks(), special_tokens={EOT: 260})
    assert gappy.vocab_size == 261
    with pytest.raises(ValueError, match="token id 258 is not in the vocabulary"):
        gappy.decode([258])


# --- the bundled tokenizer and the CLI ---------------------------------------------------------


def test_bundled_tokenizer_loads_with_vocab_2048_and_endoftext():
    bundled = load_tokenizer()
    assert bundled.vocab_size == 2048
    assert bundled.special_tokens == {EOT: 2047}


def test_train_tokenizer_command_reproduces_the_bundled_file_byte_for_byte(tmp_path, capsys):
    output = tmp_path / "tokenizer.txt"
    assert cli.main(["train-tokenizer", "-o", str(output)]) == 0
    assert output.read_bytes() == data.path("tokenizer.txt").read_bytes()
    assert "trained 2048 ids" in capsys.readouterr().out


def test_tokenize_command_shows_pieces_tokens_ids_and_count(capsys):
    assert cli.main(["tokenize", "I love LLMs"]) == 0
    out = capsys.readouterr().out
    ids = load_tokenizer().encode("I love LLMs")
    assert "pieces: 'I' ' love' ' LLMs'" in out
    assert f"ids:    {' '.join(map(str, ids))}" in out
    assert f"count:  {len(ids)}" in out


def test_tokenize_command_refuses_special_text_without_the_flag(capsys):
    assert cli.main(["tokenize", EOT]) == 2
    assert "--allow-special" in capsys.readouterr().err


def test_train_tokenizer_command_names_an_input_that_is_not_utf8(tmp_path, capsys):
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("un café\n".encode("latin-1"))
    output = tmp_path / "tok.txt"
    assert cli.main(["train-tokenizer", str(latin1), "-o", str(output), "--vocab-size", "300"]) == 2
    error = capsys.readouterr().err.strip()
    assert f"{latin1}: not UTF-8 text" in error and "\n" not in error  # one line
    assert not output.exists()
