"""Shared test settings: Hypothesis profiles, the paths of the optional shared data, and a small
trained tokenizer with a save-and-read fixture for the tokenizer and tokenizer-file tests."""

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# `ci`: reproducible runs (same examples every time), no per-example deadline on a shared machine,
# and no example database written into the checkout.
settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
# `thorough`: for hunting bugs locally: HYPOTHESIS_PROFILE=thorough pytest
settings.register_profile(
    "thorough",
    max_examples=2000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None)

if os.environ.get("HYPOTHESIS_PROFILE"):
    settings.load_profile(os.environ["HYPOTHESIS_PROFILE"])
elif os.environ.get("CI"):
    settings.load_profile("ci")
else:
    settings.load_profile("dev")


def _shared_file(variable: str) -> Path | None:
    value = os.environ.get(variable)
    if not value or not Path(value).is_file():
        return None
    return Path(value)


@pytest.fixture(scope="session")
def gpt2_ranks_path() -> Path:
    """GPT-2's tiktoken rank file, from $MINIMAL_EMBED_GPT2_RANKS; the test skips without it."""
    found = _shared_file("MINIMAL_EMBED_GPT2_RANKS")
    if found is None:
        pytest.skip("set MINIMAL_EMBED_GPT2_RANKS to GPT-2's gpt2.tiktoken rank file")
    return found


@pytest.fixture(scope="session")
def shared_corpus_path() -> Path:
    """The 1.1 MB public-domain corpus, from $MINIMAL_EMBED_CORPUS; the test skips without it."""
    found = _shared_file("MINIMAL_EMBED_CORPUS")
    if found is None:
        pytest.skip("set MINIMAL_EMBED_CORPUS to a large UTF-8 text file")
    return found


@pytest.fixture(scope="module")
def tok():
    """A small tokenizer trained on a slice of the bundled corpus, with two special tokens."""
    from minimal_embed import Tokenizer, data

    specials = ["<|endoftext|>", "<|pad|>"]
    return Tokenizer.train(data.corpus_text()[:30_000], 600, special_tokens=specials)


@pytest.fixture
def saved_bytes(tmp_path):
    """A function that saves a tokenizer under this test's tmp_path and returns the file's bytes."""

    def save_and_read(tokenizer) -> bytes:
        path = tmp_path / "tok.txt"
        tokenizer.save(path)
        return path.read_bytes()

    return save_and_read
