"""Counting and encoding at scale: the cut rule against the split itself, shards and files
against count_pieces of the same texts, worker processes against this process, Dask against the
single-process trainer. The process tests are small: starting workers is most of their time."""

from concurrent import futures
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minimal_embed import GPT2_PATTERN, GPT4_PATTERN, Tokenizer, count_pieces, data
from minimal_embed.tokenizer import counting, parallel
from minimal_embed.tokenizer.patterns import Splitter

# letters, digits, punctuation, apostrophes, every kind of space and line end, non-ASCII letters
# and spaces (U+3000, U+0085), CJK: the characters where the two patterns' alternatives meet
characters = st.sampled_from(list("ab Z9'!.,\n\t\r  s") + ["é", "中", "\u3000", "\x85", "\n\n"])
texts = st.lists(characters, max_size=60).map("".join)


def split(pattern, text):
    return Splitter(pattern).regex.findall(text)


# --- where a text may be cut ---------------------------------------------------------------------


@given(st.sampled_from([GPT2_PATTERN, GPT4_PATTERN]), texts)
def test_every_cut_leaves_the_pieces_of_the_whole_text(pattern, text):
    splitter = Splitter(pattern)
    start = 0
    while (cut := splitter.cut_after(text, start)) is not None:
        assert 0 < cut < len(text)
        assert split(pattern, text[:cut]) + split(pattern, text[cut:]) == split(pattern, text)
        start = cut


def test_cuts_are_at_line_ends_and_after_a_word_before_a_space():
    splitter = Splitter(GPT2_PATTERN)
    assert splitter.cut_after("(1)\n  y\nz", 0) == 8  # not before the indented line
    assert splitter.cut_after("ab cd", 0) == 2
    assert splitter.cut_after("中文中文", 0) is None
    assert Splitter(r"\w+|\s").cut_after("ab cd\nef", 0) is None  # no rule for other patterns


# --- counting in shards, in this process ---------------------------------------------------------


@settings(max_examples=60)
@given(st.lists(texts, max_size=6), st.sampled_from([GPT2_PATTERN, GPT4_PATTERN]),
       st.sampled_from([[], ["<|eot|>"], ["<|a b|>"]]))
def test_counts_in_small_shards_equal_count_pieces_of_the_texts(items, pattern, specials):
    items = [text.replace("Z", specials[0]) if specials else text for text in items]
    expected = count_pieces(items, pattern=pattern, special_tokens=specials)
    with mock.patch.object(parallel, "TASK_CHARS", 7):  # long texts cut, short ones grouped
        counted = counting.count_corpus(items, pattern=pattern, special_tokens=specials,
                                        workers=1)
    assert counted == expected


@settings(max_examples=30)
@given(st.lists(texts, min_size=1, max_size=3), st.integers(1, 12))
def test_files_cut_into_byte_ranges_count_as_their_whole_texts(tmp_path_factory, items, size):
    folder = tmp_path_factory.mktemp("files")
    paths = []
    for number, text in enumerate(items):
        paths.append(folder / f"{number}.txt")
        paths[-1].write_bytes(text.encode("utf-8"))  # bytes: no newline translation
    ranges = mock.patch.object(parallel, "TASK_CHARS", size)
    window = mock.patch.object(parallel, "_WINDOW", 5)  # a window ends inside characters
    with ranges, window:
        counted = counting.count_corpus(paths, workers=1)
        pieces = [parallel.read_range(*part) for path in paths
                  for part in parallel.file_ranges(str(path), size, Splitter(GPT2_PATTERN))]
    assert counted == count_pieces(items)
    assert "".join(pieces) == "".join(items)


def test_a_file_that_is_not_utf8_is_named_with_its_byte(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("café\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1\.txt is not UTF-8: byte 3"):
        counting.count_corpus([path], workers=1)


def test_an_item_that_is_neither_text_nor_path_is_refused_with_its_position():
    with pytest.raises(TypeError, match="item 1 of the training texts is a bytes"):
        counting.count_corpus(["ok", b"not text"], workers=1)
    with pytest.raises(TypeError, match="workers must be an integer"):
        counting.count_corpus(["ok"], workers=2.0)
    with pytest.raises(ValueError, match="workers"):
        counting.count_corpus(["ok"], workers=0)


def test_sum_counts_adds_the_counts_of_each_piece():
    assert counting.sum_counts([]) == {}
    assert counting.sum_counts([{b"a": 2}, {b"a": 3, b"b": 1}]) == {b"a": 5, b"b": 1}


def test_training_from_counts_equals_training_on_the_text():
    text = "the cat sat on the mat; the hat " * 20
    trained = Tokenizer.train(text, 300, special_tokens=["<|eot|>"])
    halves = counting.sum_counts([count_pieces(text[:320]), count_pieces(text[320:])])
    assert Tokenizer.train_from_counts(halves, 300, special_tokens=["<|eot|>"]) == trained
    with pytest.raises(ValueError, match="vocab_size=256 is too small"):
        Tokenizer.train_from_counts(halves, 256, special_tokens=["<|eot|>"])


def test_progress_prints_the_bytes_counted_then_the_merges(capsys):
    Tokenizer.train([data.corpus_text()[:20_000]], 400, progress=True)
    err = capsys.readouterr().err
    assert "counted 0.0 MB" in err and "MB/s" in err
    assert "merges 100/144" in err and "/s" in err


# --- worker processes ---------------------------------------------------------------------------


@pytest.fixture
def small_files(tmp_path):
    """Three small files (one not ASCII), and tasks small enough that each file is several."""
    texts = ["def f(x):\n    return x + 1\n" * 40, "naïve café, déjà vu\n" * 50, "a b\nc\n" * 60]
    paths = []
    for number, text in enumerate(texts):
        paths.append(tmp_path / f"{number}.txt")
        paths[-1].write_bytes(text.encode())
    small_tasks = mock.patch.object(parallel, "TASK_CHARS", 200)
    with small_tasks, mock.patch.object(parallel, "MIN_TASKS", 2):
        yield paths, texts


def test_two_workers_learn_the_merges_of_one(small_files):
    paths, texts = small_files
    alone = Tokenizer.train(paths, 400, workers=1)
    pool = mock.Mock(side_effect=futures.ProcessPoolExecutor)  # to see that workers do run
    with mock.patch.object(parallel.futures, "ProcessPoolExecutor", pool):
        assert Tokenizer.train(paths, 400, workers=2) == alone
    assert pool.call_args.args == (2,)
    assert alone == Tokenizer.train(texts, 400, workers=1)  # a file is its text


def test_two_workers_encode_files_and_batches_as_one_does(small_files):
    paths, texts = small_files
    tok = Tokenizer.train(texts, 300)
    with mock.patch.object(parallel, "default_workers", lambda: 2):
        ids = [tok.encode_file(path) for path in paths]  # the pool is started for each file
        batch = tok.encode_ordinary_batch(texts * 3)
    assert [array.tolist() for array in ids] == [tok.encode_ordinary(text) for text in texts]
    assert all(array.dtype == np.int32 for array in ids)
    assert batch == [tok.encode_ordinary(text) for text in texts * 3]


# --- encoding in this process -------------------------------------------------------------------


@settings(max_examples=30)
@given(texts, st.integers(1, 9), st.sampled_from([GPT2_PATTERN, GPT4_PATTERN, r"\w+|\s|."]))
def test_a_file_encodes_as_its_whole_text(tmp_path_factory, text, size, pattern):
    path = tmp_path_factory.mktemp("encode") / "text.txt"
    path.write_bytes(text.encode("utf-8"))
    tok = Tokenizer(Tokenizer.train(text, 270).ranks, pattern=pattern)
    with mock.patch.object(parallel, "TASK_CHARS", size):
        assert tok.encode_file(path, workers=1).tolist() == tok.encode_ordinary(text)


def test_empty_input_and_bad_items(tmp_path):
    tok = Tokenizer.train("", 256)
    with pytest.raises(TypeError, match="not one str"):
        tok.encode_ordinary_batch("text")
    with pytest.raises(TypeError, match="item 1 of texts is a int"):
        tok.encode_ordinary_batch(["a", 1])
    assert tok.encode_ordinary_batch([]) == []
    (tmp_path / "empty.txt").write_bytes(b"")
    assert tok.encode_file(tmp_path / "empty.txt", workers=1).shape == (0,)
    assert counting.count_corpus([], workers=1) == {}


# --- beyond one machine: the same map-reduce on Dask ---------------------------------------------


def test_counts_summed_on_a_local_dask_scheduler_give_the_single_process_merges(tmp_path):
    bag = pytest.importorskip("dask.bag")
    texts = ["the cat sat\n  on the mat\n" * 30, "naïve café\n" * 40, "x = 1\ny = 2\n" * 25]
    for number, text in enumerate(texts):
        (tmp_path / f"{number}.txt").write_text(text, encoding="utf-8")
    lines = bag.read_text(str(tmp_path / "*.txt"))  # every line of every file is a text
    counts = lines.reduction(count_pieces, counting.sum_counts).compute(scheduler="processes",
                                                                       num_workers=2)
    single = Tokenizer.train((line for text in texts for line in text.splitlines(True)), 320,
                             workers=1)
    assert Tokenizer.train_from_counts(counts, 320) == single
