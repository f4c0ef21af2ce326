"""rankfiles.py: tiktoken rank files and GPT-2's encoder.json/vocab.bpe, read, checked and written.

The references are independent of the code under test: tiktoken's own rule for GPT-2's byte
alphabet (``chr(b).isprintable() and chr(b) != " "``), the SHA-256 hashes tiktoken records for
OpenAI's original GPT-2 files, and vocabularies built here from an explicit list of merges.
"""

import base64
import hashlib
import json
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from references import merges_in_order

from minimal_embed.tokenizer import Tokenizer
from minimal_embed.tokenizer.rankfiles import (
    alphabet_order,
    byte_alphabet,
    check_ranks,
    format_tiktoken,
    merges_from_ranks,
    parse_tiktoken,
    read_gpt2,
    read_tiktoken,
    write_gpt2,
    write_tiktoken,
)

# SHA-256 of OpenAI's original GPT-2 files, as recorded in tiktoken (tiktoken_ext/openai_public.py,
# function gpt2: vocab_bpe_hash and encoder_json_hash) for
# https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/{vocab.bpe,encoder.json}.
GPT2_VOCAB_BPE_SHA256 = "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5"
GPT2_ENCODER_JSON_SHA256 = "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783"


def vocabulary_from_merges(merges, byte_order=range(256)):
    """The reference construction: bytes get ranks in ``byte_order``, merge i gets rank 256 + i."""
    ranks = {bytes([byte]): rank for rank, byte in enumerate(byte_order)}
    for left, right in merges:
        ranks[left + right] = len(ranks)
    return ranks


SMALL_MERGES = [(b"a", b"b"), (b"ab", b"c"), (b" ", b"t"), (b"h", b"e"), (b" t", b"he"),
                (b"\xe4", b"\xb8"), (b"ab", b"ab"), (b"\n", b"\n")]


def small_file() -> bytes:
    """A valid rank file whose single bytes are shuffled (they need not be ranks 0..255)."""
    order = list(range(256))
    random.Random(4).shuffle(order)
    return format_tiktoken(vocabulary_from_merges(SMALL_MERGES, order))


# --- GPT-2's byte alphabet ----------------------------------------------------------------------


def test_byte_alphabet_keeps_exactly_the_printable_non_space_latin1_bytes():
    alphabet = byte_alphabet()
    for byte in range(256):
        keeps_itself = chr(byte).isprintable() and chr(byte) != " "  # tiktoken's rule
        assert (alphabet[byte] == chr(byte)) == keeps_itself


def test_byte_alphabet_is_256_distinct_printable_characters():
    alphabet = byte_alphabet()
    assert len(set(alphabet)) == 256
    assert all(char.isprintable() and not char.isspace() for char in alphabet)


def test_byte_alphabet_stand_ins_are_the_familiar_gpt2_characters():
    alphabet = byte_alphabet()
    assert alphabet[0x20] == "Ġ"  # the space in "Ġthe"
    assert alphabet[0x0A] == "Ċ"  # newline
    assert alphabet[0x00] == "Ā"  # the first stand-in, U+0100
    assert alphabet[0xAD] == "\u0143"  # the soft hyphen, the 68th and last stand-in


def test_alphabet_order_puts_the_188_printable_bytes_first_in_byte_order():
    order = alphabet_order()
    assert sorted(order) == list(range(256))
    assert order[:94] == list(range(0x21, 0x7F))
    assert order[188:] == [b for b in range(256) if not (chr(b).isprintable() and b != 0x20)]


# --- tiktoken rank files ------------------------------------------------------------------------


def test_small_file_round_trips_byte_for_byte():
    data = small_file()
    assert format_tiktoken(parse_tiktoken(data)) == data


def test_lines_in_any_order_and_blank_lines_read_the_same():
    lines = small_file().splitlines()
    random.Random(1).shuffle(lines)
    shuffled = b"\n\n".join(lines)  # no final newline, a blank line between every two
    assert parse_tiktoken(shuffled) == parse_tiktoken(small_file())


def test_windows_line_endings_are_accepted():
    assert parse_tiktoken(small_file().replace(b"\n", b"\r\n")) == parse_tiktoken(small_file())


def test_written_file_is_read_back(tmp_path):
    ranks = vocabulary_from_merges(SMALL_MERGES)
    write_tiktoken(ranks, tmp_path / "small.tiktoken")
    assert read_tiktoken(tmp_path / "small.tiktoken") == ranks


def _replace_line(data: bytes, index: int, new: bytes) -> bytes:
    lines = data.split(b"\n")
    lines[index] = new
    return b"\n".join(lines)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: _replace_line(d, 2, b"YWJj"), r"line 3: expected 'BASE64 RANK'"),
        (lambda d: _replace_line(d, 2, b"YWJj  7"), r"line 3: expected 'BASE64 RANK'"),
        (lambda d: _replace_line(d, 2, b"YWJj 07"), r"line 3: expected 'BASE64 RANK'"),
        (lambda d: _replace_line(d, 2, b"YWJj -7"), r"line 3: expected 'BASE64 RANK'"),
        (lambda d: _replace_line(d, 2, b"YW\xffJj 7"), r"line 3: expected 'BASE64 RANK'"),
        (lambda d: _replace_line(d, 2, b"YWJ 7"), r"line 3: 'YWJ' is not valid base64"),
        (lambda d: _replace_line(d, 2, b"YR== 7"), r"line 3: 'YR==' is not canonical base64"),
        (lambda d: _replace_line(d, 2, b"= 7"), r"line 3: expected 'BASE64 RANK'"),
        (lambda d: d + b"YWI= 999\n", r"line 265: token b'ab' already has rank 256"),
        (lambda d: d + b"eHl6 5\n", r"line 265: rank 5 was already given on line \d+"),
        (lambda d: d + b"eHl6 270\n", r"rank 264 is missing: .* line 265 has rank 270"),
        (lambda d: d.replace(b"\nQQ== ", b"\neHl6 ", 1), r"byte 0x41 \(b'A'\) is not a token"),
        (lambda d: b"", r"holds no tokens"),
    ],
)
def test_malformed_rank_file_raises_value_error_naming_the_line(edit, message):
    with pytest.raises(ValueError, match=message):
        parse_tiktoken(edit(small_file()))


# --- merges recovered from ranks ----------------------------------------------------------------


def test_merges_of_a_vocabulary_built_from_merges_are_those_merges():
    order = list(range(256))[::-1]
    assert merges_from_ranks(vocabulary_from_merges(SMALL_MERGES, order)) == SMALL_MERGES


@st.composite
def learned_merges(draw):
    """Merges as training finds them: two neighbouring tokens in the encoding of some text."""
    ranks = {bytes([byte]): byte for byte in range(256)}
    merges = []
    for _ in range(draw(st.integers(0, 25))):
        text = draw(st.text(alphabet="ab c", min_size=2, max_size=10)).encode()
        token_of_rank = {rank: token for token, rank in ranks.items()}
        parts = [token_of_rank[rank] for rank in merges_in_order(text, merges, ranks)]
        if len(parts) < 2:
            continue
        at = draw(st.integers(0, len(parts) - 2))
        if parts[at] + parts[at + 1] not in ranks:
            merges.append((parts[at], parts[at + 1]))
            ranks[parts[at] + parts[at + 1]] = len(ranks)
    return merges


@given(learned_merges())
def test_merges_recovered_from_ranks_are_the_merges_that_made_them(merges):
    assert merges_from_ranks(vocabulary_from_merges(merges)) == merges


def test_a_token_no_merge_can_make_cannot_be_written_as_a_merge():
    # "aa" joins first inside "baaa" (b|aa|a), so "ba" + "aa" never meet: "baaa" is unreachable.
    ranks = vocabulary_from_merges([(b"a", b"a"), (b"b", b"a"), (b"ba", b"aa")])
    with pytest.raises(ValueError, match=r"b'baaa' \(rank 258\) is not made by merging"):
        merges_from_ranks(ranks)


# --- GPT-2's encoder.json + vocab.bpe -----------------------------------------------------------


def test_gpt2_files_round_trip(tmp_path):
    ranks = vocabulary_from_merges(SMALL_MERGES)
    specials = {"<|endoftext|>": len(ranks)}
    write_gpt2(ranks, specials, tmp_path / "encoder.json", tmp_path / "vocab.bpe")
    assert read_gpt2(tmp_path / "encoder.json", tmp_path / "vocab.bpe") == (ranks, specials)


def test_vocab_bpe_is_written_in_the_byte_alphabet(tmp_path):
    ranks = vocabulary_from_merges(SMALL_MERGES)
    write_gpt2(ranks, {}, tmp_path / "encoder.json", tmp_path / "vocab.bpe")
    lines = (tmp_path / "vocab.bpe").read_text(encoding="utf-8").split("\n")
    assert lines[:6] == ["#version: 0.2", "a b", "ab c", "Ġ t", "h e", "Ġt he"]
    assert lines[8:] == ["Ċ Ċ", ""]
    assert json.loads((tmp_path / "encoder.json").read_text())["Ġthe"] == 256 + 4


def write_small_gpt2(folder, merges=SMALL_MERGES):
    write_gpt2(vocabulary_from_merges(merges), {"<|endoftext|>": 256 + len(merges)},
               folder / "encoder.json", folder / "vocab.bpe")
    return folder / "encoder.json", folder / "vocab.bpe"


def _edit_text(path, old, new):
    path.write_text(path.read_text(encoding="utf-8").replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        ("vocab.bpe", "ab c\n", "ab  c\n", r"vocab.bpe: line 3: expected 'LEFT RIGHT'"),
        ("vocab.bpe", "ab c\n", "c ab\n", r"vocab.bpe: line 3: merge 'c' \+ 'ab' should create"),
        ("vocab.bpe", "ab c\n", "ab \u4e00\n", r"vocab.bpe: line 3: '\u4e00' is not in GPT-2's"),
        ("vocab.bpe", "a b\n", "a b\na b\n", r"vocab.bpe: line 3: merge 'a' \+ 'b' should create"),
        ("encoder.json", '"ab": 256', '"ab": 3', r"encoder.json: id 3 is given to both"),
        ("encoder.json", '"ab": 256', '"ab": "256"', r"the id of 'ab' must be an integer"),
        ("encoder.json", '"ab": 256', '"ab": 256,', r"encoder.json: not valid JSON"),
        ("encoder.json", '"ab": 256', '"a": 256', r"the key 'a' appears twice"),
        ("encoder.json", '"ab": 256', '"a\\u4e00": 256', r"'\u4e00' is not in GPT-2's byte"),
    ],
)
def test_malformed_gpt2_files_raise_value_error_naming_the_place(tmp_path, file, old, new,
                                                                  message):
    paths = write_small_gpt2(tmp_path)
    _edit_text(tmp_path / file, old, new)
    with pytest.raises(ValueError, match=message):
        read_gpt2(*paths)


def test_gpt2_format_needs_single_bytes_at_ranks_below_256(tmp_path):
    ranks = {b"ab": 0} | {bytes([byte]): byte + 1 for byte in range(256)}
    with pytest.raises(ValueError, match=r"byte 0xff has rank 256; GPT-2's format needs"):
        write_gpt2(ranks, {}, tmp_path / "encoder.json", tmp_path / "vocab.bpe")


# --- GPT-2's real files -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gpt2_ranks(gpt2_ranks_path):
    return read_tiktoken(gpt2_ranks_path)


def test_gpt2_rank_file_round_trips_byte_for_byte(gpt2_ranks_path, gpt2_ranks):
    assert format_tiktoken(gpt2_ranks) == gpt2_ranks_path.read_bytes()


def test_gpt2_single_bytes_are_ranked_in_the_byte_alphabets_order(gpt2_ranks):
    assert len(gpt2_ranks) == 50256
    assert [gpt2_ranks[bytes([byte])] for byte in alphabet_order()] == list(range(256))


def test_gpt2_files_written_from_the_ranks_are_openais_originals(tmp_path, gpt2_ranks):
    write_gpt2(gpt2_ranks, {"<|endoftext|>": 50256}, tmp_path / "encoder.json",
               tmp_path / "vocab.bpe")
    vocab_bpe = (tmp_path / "vocab.bpe").read_bytes()
    assert hashlib.sha256(vocab_bpe).hexdigest() == GPT2_VOCAB_BPE_SHA256
    encoder_json = (tmp_path / "encoder.json").read_bytes()
    assert hashlib.sha256(encoder_json).hexdigest() == GPT2_ENCODER_JSON_SHA256
    ranks, specials = read_gpt2(tmp_path / "encoder.json", tmp_path / "vocab.bpe")
    assert ranks == gpt2_ranks and specials == {"<|endoftext|>": 50256}


# --- arbitrary and mutated files: ValueError or a working tokenizer ------------------------------

SAMPLE = "the abc\n\nabab 一 \x00 ÿ 🙂 <|x|>"


def assert_loads_a_working_tokenizer_or_raises_value_error(data: bytes, folder) -> None:
    path = folder / "mutated.tiktoken"
    path.write_bytes(data)
    try:
        tok = Tokenizer.from_tiktoken(path)
    except ValueError as error:
        assert str(error).startswith(f"{path}: ")  # the message names the file
        with pytest.raises(ValueError):
            parse_tiktoken(data)  # the reader is the one that refused
        return
    ranks = parse_tiktoken(data)
    check_ranks(ranks)
    ids = tok.encode(SAMPLE)
    assert all(0 <= token_id < tok.vocab_size for token_id in ids)
    assert tok.decode(ids) == SAMPLE
    tok.to_tiktoken(folder / "rewritten.tiktoken")
    assert read_tiktoken(folder / "rewritten.tiktoken") == ranks


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("rankfiles")


@settings(max_examples=60)
@given(data=st.binary(max_size=400))
def test_arbitrary_bytes_give_value_error_or_a_working_tokenizer(scratch, data):
    assert_loads_a_working_tokenizer_or_raises_value_error(data, scratch)


@st.composite
def mutated_files(draw):
    """A valid rank file with one to three edits: flipped bytes, dropped/swapped/doubled lines."""
    lines = small_file().split(b"\n")
    for _ in range(draw(st.integers(1, 3))):
        if not lines:
            break
        kind = draw(st.sampled_from(["flip", "drop", "swap", "double", "truncate", "insert"]))
        at = draw(st.integers(0, len(lines) - 1))
        if kind == "flip" and lines[at]:
            column = draw(st.integers(0, len(lines[at]) - 1))
            flipped = lines[at][column] ^ (1 << draw(st.integers(0, 7)))
            lines[at] = lines[at][:column] + bytes([flipped]) + lines[at][column + 1:]
        elif kind == "drop":
            del lines[at]
        elif kind == "swap":
            other = draw(st.integers(0, len(lines) - 1))
            lines[at], lines[other] = lines[other], lines[at]
        elif kind == "double":
            lines.insert(at, lines[at])
        elif kind == "truncate":
            lines = lines[:at]
        else:
            token = draw(st.binary(min_size=1, max_size=4))
            rank = draw(st.integers(0, 300))
            lines.insert(at, base64.b64encode(token) + b" %d" % rank)
    return b"\n".join(lines)


@settings(max_examples=150)
@given(data=mutated_files())
def test_mutated_rank_files_give_value_error_or_a_working_tokenizer(scratch, data):
    assert_loads_a_working_tokenizer_or_raises_value_error(data, scratch)


# --- damaged GPT-2 files: ValueError naming the file, never a silently different vocabulary -----


def test_an_empty_or_truncated_vocab_bpe_is_refused_not_read_as_special_tokens(tmp_path):
    encoder, vocab = write_small_gpt2(tmp_path)
    lines = vocab.read_text(encoding="utf-8").split("\n")  # version, 8 merges, ""
    for kept in (lines[:1], lines[:5], lines[:-2]):  # only the version line; 4 merges; 7 merges
        vocab.write_text("\n".join(kept) + "\n", encoding="utf-8")
        with pytest.raises(ValueError, match=f"{vocab}: it ends after {len(kept) - 1} merges, but "
                                             ".* the merges look truncated"):
            Tokenizer.from_gpt2(encoder, vocab)
    vocab.write_bytes(b"")
    with pytest.raises(ValueError, match=f"{vocab}: it ends after 0 merges"):
        read_gpt2(encoder, vocab)
    vocab.write_text("\n".join(lines)[:-3], encoding="utf-8")  # cut inside the last line
    with pytest.raises(ValueError, match=f"{vocab}: line 9: the file must end with a newline"):
        read_gpt2(encoder, vocab)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"a\xff": 0}', r"not valid UTF-8 \(byte 3 is 0xff\)"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"!": ' + b"9" * 5000 + b"}", "Exceeds the limit"),
        (b'{"!": 9223372036854775808}', r"must be an integer in 0..2\*\*63 - 1, got 92233"),
        (b'{"!": -1}', r"must be an integer in 0..2\*\*63 - 1, got -1"),
        (b'{"!": 1.0}', r"must be an integer in 0..2\*\*63 - 1, got 1.0"),
        (b"[1, 2]", "must hold one JSON object"),
    ],
)
def test_a_damaged_encoder_json_is_refused_naming_it(tmp_path, content, message):
    encoder, vocab = write_small_gpt2(tmp_path)
    encoder.write_bytes(content)
    with pytest.raises(ValueError, match=f"{encoder}: .*{message}"):
        Tokenizer.from_gpt2(encoder, vocab)


@pytest.mark.parametrize(("special", "message"), [
    ('"<|\\ud800|>": 264', "lone surrogate"),
    ('"": 264', "non-empty str"),
    ('"<|x|>": 18446744073709551616', r"0..2\*\*63 - 1"),
])
def test_special_tokens_of_encoder_json_that_cannot_be_are_refused_naming_it(tmp_path, special,
                                                                                message):
    encoder, vocab = write_small_gpt2(tmp_path)
    _edit_text(encoder, '"<|endoftext|>": 264', special)
    with pytest.raises(ValueError, match=f"{encoder}: .*{message}"):
        Tokenizer.from_gpt2(encoder, vocab)


def test_a_damaged_tiktoken_file_is_refused_naming_it(tmp_path):
    path = tmp_path / "small.tiktoken"
    path.write_bytes(small_file()[:-30])
    with pytest.raises(ValueError, match=f"^{path}: line 262: expected 'BASE64 RANK'"):
        Tokenizer.from_tiktoken(path)


@st.composite
def damaged_gpt2_files(draw):
    """Which file, and the bytes it becomes: cut at any byte, or one to three bits flipped."""
    which = draw(st.sampled_from(["encoder.json", "vocab.bpe"]))
    content = bytearray(GPT2_PAIR[which])
    kind = draw(st.sampled_from(["truncate", "flip"]))
    if kind == "truncate":
        return which, kind, bytes(content[: draw(st.integers(0, len(content) - 1))])
    for _ in range(draw(st.integers(1, 3))):
        content[draw(st.integers(0, len(content) - 1))] ^= 1 << draw(st.integers(0, 7))
    return which, kind, bytes(content)


def _small_gpt2_pair() -> dict[str, bytes]:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        paths = write_small_gpt2(Path(folder))
        return {path.name: path.read_bytes() for path in paths}


GPT2_PAIR = _small_gpt2_pair()


@settings(max_examples=150)
@given(damage=damaged_gpt2_files())
def test_damaged_gpt2_files_give_an_equal_tokenizer_or_value_error_naming_a_file(scratch, damage):
    which, kind, content = damage
    folder = scratch / "gpt2"
    folder.mkdir(exist_ok=True)
    for name, original in GPT2_PAIR.items():
        (folder / name).write_bytes(content if name == which else original)
    encoder, vocab = folder / "encoder.json", folder / "vocab.bpe"
    try:
        tok = Tokenizer.from_gpt2(encoder, vocab)
    except ValueError as error:
        assert str(error).startswith((f"{encoder}: ", f"{vocab}: "))
        return
    expected = Tokenizer.from_gpt2(*write_small_gpt2(scratch))
    if kind == "truncate":  # a file cut short never reads as another vocabulary
        assert tok == expected
        return
    assert tok.ranks == expected.ranks or tok.special_tokens == expected.special_tokens
    tok.to_tiktoken(folder / "rewritten.tiktoken")
    assert read_tiktoken(folder / "rewritten.tiktoken") == tok.ranks
    assert tok.decode(tok.encode(SAMPLE, disallowed_special=())) == SAMPLE
