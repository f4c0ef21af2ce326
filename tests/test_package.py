"""The package's shape: public names importable, bundled data found, CLI entry points present."""

import subprocess
import sys

import minimal_embed
from minimal_embed import data

# The public contract of DESIGN.md; every name must exist once its module is built.
PUBLIC_NAMES = [
    "Tokenizer", "GPT2_PATTERN", "Embedding", "SparseRows", "sinusoidal_table",
    "LearnedPositions", "add_positions", "InputEmbedding", "SGD", "Adam",
    "attention_scores", "alibi_slopes", "alibi_bias", "t5_relative_buckets", "rope",
    "load_pretrained", "read_safetensors", "write_safetensors",
    "load_hf_tokenizer", "WordPieceTokenizer", "UnigramTokenizer",
]


def test_every_public_name_in_design_is_exported():
    missing = [name for name in PUBLIC_NAMES if not hasattr(minimal_embed, name)]
    assert missing == []


def test_bundled_corpus_is_found_and_large_enough():
    files = data.corpus_files()
    assert len(files) >= 5
    assert sum(f.stat().st_size for f in files) >= 150_000


def test_bundled_corpus_is_valid_utf8_with_multibyte_text():
    text = data.corpus_text()
    assert any(ord(ch) > 0x3000 for ch in text)  # CJK
    assert any(ord(ch) > 0xFFFF for ch in text)  # emoji, outside the BMP


def test_missing_bundled_file_names_what_is_available():
    try:
        data.path("no-such-file.bin")
    except FileNotFoundError as error:
        assert "corpus" in str(error)
    else:
        raise AssertionError("expected FileNotFoundError")


def test_python_dash_m_runs_the_cli():
    result = subprocess.run(
        [sys.executable, "-m", "minimal_embed", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0
    assert "minimal-embed" in result.stdout
