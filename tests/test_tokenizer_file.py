"""Our tokenizer file (file_format.py, through Tokenizer.save / Tokenizer.load): exact round
trips, readable lines, and damaged or arbitrary files refused with ValueError naming the line."""

import json
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minimal_embed import GPT2_PATTERN, Tokenizer
from minimal_embed.tokenizer import file_format

EOT = "<|endoftext|>"  # `tok` (conftest.py) has it and "<|pad|>" as special tokens


def test_save_load_round_trips_exactly(tok, tmp_path):
    path = tmp_path / "tok.txt"
    tok.save(path)
    loaded = Tokenizer.load(path)
    assert loaded == tok
    loaded.save(tmp_path / "again.txt")
    assert (tmp_path / "again.txt").read_bytes() == path.read_bytes()


def test_load_refuses_a_readable_column_that_does_not_match(tok, saved_bytes, tmp_path):
    content = saved_bytes(tok).replace(b'101 e "e"', b'101 e "x"')
    (tmp_path / "bad.txt").write_bytes(content)
    with pytest.raises(ValueError, match='line 108: expected .*the readable column'):
        Tokenizer.load(tmp_path / "bad.txt")


def test_the_file_is_readable_text(tok, saved_bytes):
    lines = saved_bytes(tok).decode("utf-8").splitlines()
    assert lines[0] == "minimal_embed tokenizer v1"
    assert f'{tok.special_tokens[EOT]} "{EOT}"' in lines
    assert '32 \\x20 " "' in lines and '92 \\\\ "\\\\"' in lines


@pytest.mark.parametrize(
    "damage, line",
    [
        (lambda lines: lines[:-3], 602),  # truncated: the file ends early
        (lambda lines: lines[:10] + [lines[11], lines[10]] + lines[12:], 11),  # reordered
        (lambda lines: lines[:300] + [lines[299]] + lines[300:], 301),  # a line repeated
        (lambda lines: lines[:7] + ["7 garbage!"] + lines[8:], 8),  # wrong rank or token
        (lambda lines: lines[:1] + ['pattern "unclosed'] + lines[2:], 2),
        (lambda lines: lines[:1] + ["pattern " + "[" * 100_000] + lines[2:], 2),  # deep nesting
    ],
)
def test_load_reports_the_line_of_a_damaged_file(tok, saved_bytes, tmp_path, damage, line):
    lines = saved_bytes(tok).decode("utf-8").split("\n")[:-1]
    (tmp_path / "bad.txt").write_text("\n".join(damage(lines)) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=f"line {line}:"):
        Tokenizer.load(tmp_path / "bad.txt")


def _load_or_value_error(content, tmp_path):
    path = tmp_path / "mutated.txt"
    path.write_bytes(content)
    try:
        loaded = Tokenizer.load(path)
    except ValueError as error:
        assert str(error).startswith(f"{path}: ")  # the message names the file
        return
    loaded.save(tmp_path / "saved.txt")  # the loader accepts exactly what save writes
    assert (tmp_path / "saved.txt").read_bytes() == content
    if loaded.pattern == GPT2_PATTERN:
        text = "Hello, wörld 🙂 " + EOT
        assert loaded.decode(loaded.encode(text, disallowed_special=())) == text


@given(st.binary(max_size=300))
def test_load_on_arbitrary_bytes_raises_value_error_or_works(tmp_path_factory, content):
    _load_or_value_error(content, tmp_path_factory.mktemp("arbitrary"))


@given(st.data())
def test_load_on_mutated_files_raises_value_error_or_works(small_file, tmp_path_factory, draw):
    content = bytearray(small_file)
    lines = content.split(b"\n")
    kind = draw.draw(st.sampled_from(["flip", "drop", "swap", "truncate"]))
    if kind == "truncate":
        content = content[: draw.draw(st.integers(0, len(content) - 1))]
    elif kind == "flip":
        for _ in range(draw.draw(st.integers(1, 3))):
            position = draw.draw(st.integers(0, len(content) - 1))
            content[position] ^= 1 << draw.draw(st.integers(0, 7))
    else:
        i = draw.draw(st.integers(0, len(lines) - 1))
        j = draw.draw(st.integers(0, len(lines) - 1))
        if kind == "drop":
            del lines[i]
        else:
            lines[i], lines[j] = lines[j], lines[i]
        content = b"\n".join(lines)
    _load_or_value_error(bytes(content), tmp_path_factory.mktemp("mutated"))


@pytest.fixture(scope="module")
def small_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("small") / "small.txt"
    Tokenizer.train("low lower lowest ünïcode", 262, special_tokens=[EOT]).save(path)
    return path.read_bytes()


def test_a_file_with_a_catastrophic_pattern_is_refused_fast_naming_it(tok, saved_bytes, tmp_path):
    content = saved_bytes(tok).decode("utf-8").split("\n")
    content[1] = f"pattern {json.dumps(r'(?:a|a)+$|.')}"  # hours on "a" * 34 + "!"
    path = tmp_path / "hostile.txt"
    path.write_text("\n".join(content), encoding="utf-8")
    started = time.monotonic()
    with pytest.raises(ValueError, match=f"^{path}: pattern .* backtracks catastrophically"):
        Tokenizer.load(path)
    assert time.monotonic() - started < 3  # not hours


def test_format_and_parse_are_inverse_without_a_tokenizer():
    ranks = {bytes([b]): (b + 1) % 256 for b in range(256)} | {b"\\ \xff": 256, b"\xe4\xbd": 257}
    special_tokens = {"<|a|>": 300, "<|b|>": 258}
    text = file_format.format_tokenizer(ranks, "x+|\\s", special_tokens)
    assert file_format.parse_tokenizer(text.encode(), "f") == (ranks, "x+|\\s", special_tokens)
    assert '256 \\\\\\x20\\xff "\\\\ \ufffd"' in text.splitlines()
