"""End-to-end tests of `minimal-embed embed` and `minimal-embed plot ...`, run in a subprocess,
and of the plot and walkthrough functions behind them, called on a stand-in checkpoint.

The printed walkthrough is checked against the tokenizer (ids, tokens), against the arrays that
`--save` writes (shapes, values) and against the sinusoid written out in float64.
"""

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_viz import decode_png

from minimal_embed.app import plots, viz, walkthrough
from minimal_embed.app.walkthrough import show_token
from minimal_embed.pipeline import InputEmbedding
from minimal_embed.tokenizer import load_tokenizer

ROOT = Path(__file__).resolve().parent.parent
HAS_CHECKPOINT = walkthrough.bundled_checkpoint() is not None


def run(*args, cwd, env_extra=None):
    """Run `python -m minimal_embed ARGS` from `cwd` (never the working tree)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="100")
    env.pop("NO_COLOR", None)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "minimal_embed", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer()


def sinusoid(num_positions, dim):
    """PE[p, 2j] = sin(p / 10000^(2j/d)), PE[p, 2j+1] = cos(...), in float64, element by element."""
    table = np.zeros((num_positions, dim))
    for p in range(num_positions):
        for i in range(dim):
            angle = p / 10000 ** ((i - i % 2) / dim)
            table[p, i] = np.sin(angle) if i % 2 == 0 else np.cos(angle)
    return table


def printed_shapes(stdout):
    """The shapes printed after each '->' on the step lines, in order."""
    return [tuple(int(n) for n in m.split(","))
            for m in re.findall(r"-> \(([\d, ]+)\) float32", stdout)]


# --- embed -----------------------------------------------------------------------------------

def test_embed_shows_every_step_for_one_text(tmp_path, tok):
    result = run("embed", "I love LLMs", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    ids = tok.encode("I love LLMs")
    tokens = "  ".join(show_token(tok.token_bytes(i)) for i in ids)
    pieces = "  ".join(repr(p) for p in tok.split("I love LLMs"))
    assert "text                   'I love LLMs'" in out
    assert f"step 1: pieces         {pieces}" in out
    assert f"step 2: tokens         {tokens}" in out
    assert f"step 3: ids            ({len(ids)}, 1) int64 = (seq_len, batch)" in out
    printed_ids = [int(i) for i in re.findall(r"pos \d+\s+\[\s*(\d+)\]", out)]
    assert printed_ids == ids
    d_model = printed_shapes(out)[0][-1]
    assert printed_shapes(out) == [(len(ids), 1, d_model), (len(ids), d_model),
                                   (len(ids), 1, d_model)]
    for step in ["step 4: token vectors", "step 5: positions", "step 6: sum"]:
        assert step in out
    assert len(out.splitlines()) <= 45  # one screen


def test_embed_several_texts_shows_padding_and_mask(tmp_path, tok):
    texts = ["I love LLMs", "Hi"]
    result = run("embed", *texts, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    ids, mask = tok.encode_batch(texts)
    assert f"({ids.shape[0]}, 2) int64 = (seq_len, batch)" in result.stdout
    assert f"mask {mask.shape} bool" in result.stdout
    assert "False" in result.stdout and "(padding)" in result.stdout
    assert result.stdout.count("(padding)") == 2 * int((~mask).sum())  # token rows and sum rows


def test_embed_batch_first_prints_batch_then_seq_len(tmp_path, tok):
    result = run("embed", "I love LLMs", "Hi", "--batch-first", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    seq_len = len(tok.encode("I love LLMs"))
    assert f"(2, {seq_len}) int64 = (batch, seq_len)" in result.stdout
    assert printed_shapes(result.stdout)[0][:2] == (2, seq_len)
    assert "positions[None, :, :]" in result.stdout


@pytest.mark.parametrize("batch_first", [False, True])
def test_printed_shapes_and_values_match_the_saved_arrays(tmp_path, tok, batch_first):
    texts = ["I love LLMs", "Tokens become vectors."]
    flags = ["--batch-first"] if batch_first else []
    result = run("embed", *texts, "--positions", "sinusoidal", "--dim", "3",
                 "--save", "out.npz", *flags, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    with np.load(tmp_path / "out.npz", allow_pickle=False) as saved:
        arrays = {name: saved[name] for name in saved.files}
    assert printed_shapes(result.stdout) == [arrays["token_embeddings"].shape,
                                             arrays["position_embeddings"].shape,
                                             arrays["input_embeddings"].shape]
    ids, mask = tok.encode_batch(texts, batch_first=batch_first)
    np.testing.assert_array_equal(arrays["ids"], ids)
    np.testing.assert_array_equal(arrays["mask"], mask)
    seq_len, d_model = arrays["position_embeddings"].shape
    np.testing.assert_allclose(arrays["position_embeddings"], sinusoid(seq_len, d_model),
                               atol=1e-6)
    positions = arrays["position_embeddings"][None] if batch_first else \
        arrays["position_embeddings"][:, None]
    # sinusoidal rows come with the original Transformer's sqrt(d_model) scale, and say so
    assert f"{np.sqrt(d_model):.4g} = sqrt(d_model)" in result.stdout
    np.testing.assert_allclose(arrays["input_embeddings"],
                               np.sqrt(d_model) * arrays["token_embeddings"] + positions,
                               atol=1e-5)
    # equal ids give equal token vectors: the rows come from one table
    flat_ids = ids.reshape(-1)
    vectors = arrays["token_embeddings"].reshape(len(flat_ids), -1)
    first = {i: vectors[k] for k, i in reversed(list(enumerate(flat_ids)))}
    np.testing.assert_array_equal(vectors, np.array([first[i] for i in flat_ids]))
    # the first printed row of the sum is the saved one, to the printed 4 decimals
    row = re.search(r"step 6: sum(?:.*\n)+?\s+\[0,0\] \S+\s+(\S+) (\S+) (\S+)  \.\.\.",
                    result.stdout)
    printed = [float(v) for v in row.groups()]
    np.testing.assert_allclose(printed, arrays["input_embeddings"][0, 0, :3], atol=6e-5)


def test_allow_special_encodes_special_token_text_as_its_id(tmp_path, tok):
    result = run("embed", "<|endoftext|> hi", "--allow-special", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    special_id = tok.special_tokens["<|endoftext|>"]
    assert re.search(rf"pos 0\s+\[\s*{special_id}\]", result.stdout)
    assert "step 1: pieces         '<|endoftext|>'  ' hi'" in result.stdout


def test_dim_controls_how_many_values_each_row_prints(tmp_path):
    result = run("embed", "I love LLMs", "--dim", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("   [0,0]")]
    assert len(rows) == 2  # token vectors and sum
    for line in rows:
        assert len(re.findall(r"[+-]\d\.\d{4}", line)) == 2
        assert line.endswith("more")


def test_embed_with_gpt2_ranks_prints_gpt2_ids(tmp_path, gpt2_ranks_path):
    result = run("embed", "I love LLMs", "--gpt2", str(gpt2_ranks_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "50257 ids" in result.stdout
    # GPT-2's ids for "I love LLMs" (tiktoken's "gpt2" encoding gives the same)
    assert [int(i) for i in re.findall(r"pos \d+\s+\[\s*(\d+)\]", result.stdout)] == \
        [40, 1842, 27140, 10128]


@pytest.mark.parametrize("args, message", [
    (["embed", ""], "empty"),
    (["embed", "fine", ""], "text 1 (counting from 0) is empty"),
    (["embed", "x", "--gpt2", "no/such/file.tiktoken"], "no such file"),
    (["embed", "x", "--save", "no/such/dir/out.npz"], "does not exist"),
    (["embed", "x", "--dim", "0"], "--dim must be an integer >= 1"),
    (["embed", "end <|endoftext|>"], "pass --allow-special"),
    (["embed", "word " * 1100, "--positions", "learned"], "--positions sinusoidal"),
    (["embed", "x", "--positions", "rotary"], "invalid choice"),
    (["embed", "x", "--colour"], "unrecognized arguments"),
    (["embedd", "x"], "invalid choice"),
    (["plot", "pictures"], "invalid choice"),
    (["embed", "x", "--save", ""], "--save '': no file name given"),
    (["embed", "x", "--checkpoint", "absent.npz"], "no such file"),
    (["embed", "x", "--checkpoint", "notes.txt"], "not an .npz checkpoint"),
    (["plot", "positions", "--out", "sub"], "is a folder"),
    (["plot", "positions", "--length", "100000000"], "more than a picture can show"),
    (["plot", "similarity", "--checkpoint", "sub"], "is a folder, not a file"),
    (["tokenize", "x", "--tokenizer", "sub"], "is a folder, not a file"),
    (["train-tokenizer", "sub"], "is a folder, not a file"),
    (["train-tokenizer", "--special", ""], "--special needs the text of a token"),
    (["train-tokenizer", "-o", "notes.txt/t.txt"], "is a file, not a folder"),
    (["neighbors", " the", "--checkpoint", "notes.txt"], "not an .npz checkpoint"),
])
def test_mistakes_exit_2_with_a_message_that_says_what_to_fix(tmp_path, args, message):
    (tmp_path / "sub").mkdir()
    (tmp_path / "notes.txt").write_text("not a checkpoint")
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_learned_positions_too_long_names_the_table_length(tmp_path):
    result = run("embed", "word " * 1100, "--positions", "learned", cwd=tmp_path)
    assert re.search(r"has \d+ tokens but the learned position table has only \d+ rows",
                     result.stderr)


@pytest.mark.parametrize("output", ["", "missing/ck.npz", "sub", "notes.txt/ck.npz"])
def test_train_refuses_an_unwritable_output_before_training(tmp_path, output):
    (tmp_path / "sub").mkdir()
    (tmp_path / "notes.txt").write_text("a file")
    # 100000 steps would take hours: the refusal has to come before the first one
    result = run("train", "--steps", "100000", "-o", output, cwd=tmp_path)
    assert result.returncode == 2 and "-o" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "sub"]


# --- plot ------------------------------------------------------------------------------------

def test_plot_positions_writes_the_sinusoid_heatmap_png(tmp_path):
    result = run("plot", "positions", "--out", "p.png", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    image = decode_png((tmp_path / "p.png").read_bytes())
    assert f"({image.shape[1]} x {image.shape[0]} pixels)" in result.stdout
    # The heatmap is inside: its pixels are exactly the colours of the formula's values.
    expected = viz.heatmap(sinusoid(64, 128), "coolwarm", scale=4, vmin=-1.0, vmax=1.0)
    rows, cols = np.nonzero(np.all(image == expected[0, 0], axis=-1))  # find its top-left corner
    found = any(np.array_equal(image[r:r + 256, c:c + 512], expected)
                for r, c in zip(rows, cols, strict=True))
    assert found


def test_plot_positions_in_a_terminal_without_colour_uses_characters(tmp_path):
    result = run("plot", "positions", "--length", "10", "--dim", "20", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1 + 10 and "\x1b" not in result.stdout  # not a TTY: no colour
    level = np.round((sinusoid(10, 20) + 1) / 2 * 9).astype(int)
    expected = ["".join(viz.ASCII_RAMP[k] for k in row) for row in level]
    assert lines[1:] == expected
    again = run("plot", "positions", "--length", "10", "--dim", "20", "--no-color", cwd=tmp_path,
                env_extra={"NO_COLOR": "1"})
    assert again.stdout == result.stdout


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
@pytest.mark.parametrize("term, escapes", [("xterm-256color", True), ("dumb", False)])
def test_a_dumb_terminal_gets_no_colour_escapes(tmp_path, term, escapes):
    leader, follower = os.openpty()  # stdout is a terminal, so only TERM decides
    env = dict(os.environ, PYTHONPATH=str(ROOT), TERM=term)
    env.pop("NO_COLOR", None)
    try:
        done = subprocess.run([sys.executable, "-m", "minimal_embed", "plot", "positions",
                               "--length", "2", "--dim", "4"], cwd=tmp_path, env=env,
                              stdout=follower, stderr=subprocess.PIPE, timeout=120)
        printed = os.read(leader, 65536)
    finally:
        os.close(follower)
        os.close(leader)
    assert done.returncode == 0, done.stderr
    assert (b"\x1b[" in printed) == escapes


@pytest.mark.parametrize("picture", ["similarity", "tokens"])
def test_plots_of_trained_tables_need_the_checkpoint(tmp_path, picture):
    result = run("plot", picture, "--out", "x.png", cwd=tmp_path)
    if HAS_CHECKPOINT:
        assert result.returncode == 0, result.stderr
        assert decode_png((tmp_path / "x.png").read_bytes()).shape[2] == 3
    else:
        assert result.returncode == 2
        assert "no trained checkpoint is bundled yet" in result.stderr


# --- the plot functions on a stand-in checkpoint (random tables of known values) ---------------

@pytest.fixture(scope="module")
def fake_stage(tok):
    """A learned stage of known random tables (16 wide, 12 positions)."""
    stage = InputEmbedding(tok, 16, max_len=12, seed=1)
    rng = np.random.default_rng(1)
    for table in stage.parameters().values():
        table[...] = rng.standard_normal(table.shape)
    return stage


@pytest.fixture(scope="module")
def fake_checkpoint(fake_stage, tmp_path_factory):
    """fake_stage saved as a checkpoint file: its path."""
    return fake_stage.save(tmp_path_factory.mktemp("stage") / "stand_in.npz")


def test_similarity_is_the_dot_product_of_the_tables(fake_stage):
    sines, learned = plots.similarity_matrices(fake_stage.parameters()["position_embedding"])
    table = sinusoid(12, 16)
    np.testing.assert_allclose(sines, table @ table.T, atol=1e-9)
    p = fake_stage.parameters()["position_embedding"].astype(np.float64)
    np.testing.assert_allclose(learned, p @ p.T, rtol=1e-12)


def test_cosine_similarity_is_the_dot_product_of_the_unit_rows(fake_stage):
    table = fake_stage.parameters()["position_embedding"]
    sines, learned = plots.similarity_matrices(table, cosine=True)
    table = sinusoid(12, 16)
    p = fake_stage.parameters()["position_embedding"].astype(np.float64)
    for got, rows in ((sines, table), (learned, p)):
        expected = [[a @ b / np.sqrt((a @ a) * (b @ b)) for b in rows] for a in rows]
        np.testing.assert_allclose(got, expected, atol=1e-12)


def test_cosine_option_reaches_the_picture(tmp_path, fake_stage):
    text = plots.plot_similarity(fake_stage, color=False, cosine=True)
    assert "sinusoidal PE[p] cos PE[q]" in text and "learned P[p] cos P[q]" in text


def test_similarity_png_and_terminal_on_a_stand_in(tmp_path, fake_stage):
    message = plots.plot_similarity(fake_stage, out=tmp_path / "s.png", color=False)
    assert "wrote" in message and decode_png((tmp_path / "s.png").read_bytes()).ndim == 3
    text = plots.plot_similarity(fake_stage, color=False)
    assert len(text.splitlines()) == 2 + 2 * 12


def test_tokens_scatter_labels_the_chosen_tokens(tmp_path, tok, fake_stage):
    chosen = [tok.decode([i]) for i in tok.encode(" the cat sat on the mat")][:4]
    chosen = list(dict.fromkeys(chosen))
    text = plots.plot_tokens(fake_stage, tok, chosen, top=0, corpus="", terminal_width=80)
    for token in chosen:
        assert "*" + token.replace(" ", plots.SPACE_MARK) in text
    plots.plot_tokens(fake_stage, tok, chosen, top=0, corpus="", out=tmp_path / "t.png",
                      terminal_width=80)
    height, width, _ = decode_png((tmp_path / "t.png").read_bytes()).shape
    assert width > 640 and height > 640  # the 640-pixel square plus its title and margins


def test_tokens_default_to_the_most_frequent_words(tok):
    corpus = "the cat and the dog and the bird. " * 5 + "zebra"
    ids = plots.choose_tokens(tok, [], 3, corpus)
    counts = np.bincount(tok.encode(corpus), minlength=tok.vocab_size)
    assert all(tok.token_bytes(i).strip().isalpha() for i in ids)
    assert list(counts[ids]) == sorted(counts[ids], reverse=True)


def test_a_token_argument_that_is_several_tokens_is_refused(tok):
    with pytest.raises(ValueError, match="not one; give single tokens"):
        plots.choose_tokens(tok, ["supercalifragilistic"], 40, "")


def test_pca_coordinates_match_the_covariance_eigenvectors():
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((30, 6)) * np.array([5.0, 3.0, 1.0, 0.5, 0.2, 0.1])
    points, share = plots.pca_2d(vectors)
    centred = vectors - vectors.mean(axis=0)
    eigenvalues, eigenvectors = np.linalg.eigh(centred.T @ centred)  # ascending
    reference = centred @ eigenvectors[:, [-1, -2]]
    np.testing.assert_allclose(np.abs(points), np.abs(reference), atol=1e-9)
    np.testing.assert_allclose(share, eigenvalues[[-1, -2]] / eigenvalues.sum(), rtol=1e-9)


# --- the walkthrough with a trained checkpoint (a stand-in, in process) ------------------------

def test_walkthrough_uses_the_checkpoint_tables_and_its_learned_positions(tok, fake_checkpoint,
                                                                          fake_stage):
    lines, result = walkthrough.walk(["I love LLMs", "Hi"], tok, tokenizer_name="bundled",
                                     checkpoint=fake_checkpoint)
    text = "\n".join(lines)
    assert "step 5: positions      learned table" in text and "trained, from stand_in.npz" in text
    ids = result.ids
    np.testing.assert_array_equal(result.token_embeddings,
                                  fake_stage.token_embedding.weight[ids])
    np.testing.assert_array_equal(result.position_embeddings,
                                  fake_stage.parameters()["position_embedding"][:len(ids)])
    np.testing.assert_allclose(result.input_embeddings,
                               result.token_embeddings + result.position_embeddings[:, None])


def test_walkthrough_refuses_a_text_longer_than_the_learned_table(tok, fake_checkpoint):
    with pytest.raises(ValueError, match=r"only 12 rows \(max_len=12\)"):
        walkthrough.walk(["word " * 20], tok, tokenizer_name="bundled",
                         checkpoint=fake_checkpoint)
    lines, _ = walkthrough.walk(["word " * 20], tok, tokenizer_name="bundled",
                                positions="sinusoidal", checkpoint=fake_checkpoint)
    assert any(line.startswith("step 5: positions      sinusoidal") for line in lines)


def test_a_checkpoint_for_another_vocabulary_is_not_used_for_token_vectors(tok, tmp_path):
    other = InputEmbedding(None, 16, vocab_size=300, max_len=12).save(tmp_path / "other.npz")
    lines, result = walkthrough.walk(["I love LLMs"], tok, tokenizer_name="bundled",
                                     checkpoint=other)
    assert any("has 300 rows, not" in line for line in lines)
    assert result.token_embeddings.shape[-1] == 16  # still the checkpoint's width
    assert abs(float(result.token_embeddings.std()) - 0.02) < 0.005


# --- how a token is shown ----------------------------------------------------------------------

@given(st.binary(max_size=8))
def test_a_shown_token_reads_back_as_the_same_bytes(token):
    shown = ast.literal_eval(show_token(token))
    assert (shown.encode("utf-8") if isinstance(shown, str) else shown) == token


def test_a_token_that_splits_a_character_is_shown_as_its_bytes(tok):
    pieces = [tok.token_bytes(i) for i in tok.encode("\U0001f642")]  # one 4-byte emoji
    assert len(pieces) > 1  # the bundled vocabulary has no token for it
    assert [show_token(p) for p in pieces] == [repr(p) for p in pieces]
    assert show_token(b"\xf0\x9f") == "b'\\xf0\\x9f'"


@pytest.mark.parametrize("token, label", [(b" love", "\u00b7love"), (b"\n", "\\n"),
                                          (b"'s", "'s"), (b"\xf0\x9f", "\\xf0\\x9f")])
def test_picture_labels_drop_the_quotes_and_mark_the_space(token, label):
    assert show_token(token, quoted=False, space=plots.SPACE_MARK) == label


# --- the pictures: defaults and options that say what they show -------------------------------

@pytest.mark.parametrize("length", [1, 2, 3, 7, 10, 16, 33, 64, 100, 199, 1000])
def test_tick_labels_never_touch_their_neighbours(length):
    for scale in (1, 2, 8):
        rows = plots._spread(plots._ticks(length), scale, lambda t: 11)
        columns = plots._spread(plots._ticks(length), scale,
                                lambda t: viz.text_width(str(t)) + 6)
        assert rows[-1] == columns[-1] == length - 1  # the last tick shows the size
        for ticks, room in ((rows, lambda t: 11),
                            (columns, lambda t: viz.text_width(str(t)) + 6)):
            assert all((b - a) * scale >= room(a) for a, b in zip(ticks, ticks[1:], strict=False))


def test_similarity_shows_cosines_by_default_and_dot_products_with_dot(tmp_path):
    if not HAS_CHECKPOINT:
        pytest.skip("no bundled checkpoint")
    cosine = run("plot", "similarity", "--no-color", cwd=tmp_path)
    dot = run("plot", "similarity", "--no-color", "--dot", cwd=tmp_path)
    assert cosine.returncode == dot.returncode == 0, cosine.stderr + dot.stderr
    assert "PE[p] cos PE[q]" in cosine.stdout and "PE[p] . PE[q]" in dot.stdout


def test_plot_positions_halves_draws_the_sin_then_cos_layout(tmp_path):
    for flags, name in (([], "a.png"), (["--halves"], "b.png")):
        result = run("plot", "positions", "--length", "8", "--dim", "8", "--out", name, *flags,
                     cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    interleaved = decode_png((tmp_path / "a.png").read_bytes())
    halves = decode_png((tmp_path / "b.png").read_bytes())
    assert interleaved.shape == halves.shape and not np.array_equal(interleaved, halves)
    expected = plots.positions_image(8, 8, halves=True)
    np.testing.assert_array_equal(halves, expected)


def test_plot_tokens_top_is_capped_with_a_message(tmp_path):
    if not HAS_CHECKPOINT:
        pytest.skip("no bundled checkpoint")
    result = run("plot", "tokens", "--top", "100000", "--out", "t.png", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"showing the {plots.MAX_TOKENS_SHOWN} most frequent" in result.stdout


# --- reading text, long texts, the version, the help -----------------------------------------

def test_embed_and_tokenize_read_standard_input_and_a_file(tmp_path):
    (tmp_path / "note.txt").write_text("I love LLMs\n", encoding="utf-8")
    piped = subprocess.run([sys.executable, "-m", "minimal_embed", "tokenize", "-"],
                           input=b"I love LLMs\n", capture_output=True, cwd=tmp_path,
                           env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=60)
    from_file = run("tokenize", "--file", "note.txt", cwd=tmp_path)
    argument = run("tokenize", "I love LLMs", cwd=tmp_path)
    assert piped.returncode == from_file.returncode == argument.returncode == 0
    assert piped.stdout.decode() == from_file.stdout == argument.stdout  # one newline dropped
    embedded = run("embed", "--file", "note.txt", cwd=tmp_path)
    assert embedded.returncode == 0 and "'I love LLMs'" in embedded.stdout


def test_a_long_text_prints_a_head_and_a_tail_with_what_was_left_out(tmp_path):
    (tmp_path / "long.txt").write_text("word " * 20000, encoding="utf-8")
    result = run("embed", "--positions", "sinusoidal", "--file", "long.txt", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout) < 20_000  # 100 KB of text, a few KB of output
    assert re.search(r"\[[\d,]+ of 100,000 characters left out\]", result.stdout)
    assert re.search(r"\[[\d,]+ of [\d,]+ tokens left out\]", result.stdout)
    assert max(len(line) for line in result.stdout.splitlines()) < 400


def test_an_argument_that_is_not_utf8_gets_a_note(tmp_path):
    result = subprocess.run([sys.executable, "-m", "minimal_embed", "tokenize", b"caf\xe9"],
                            capture_output=True, cwd=tmp_path, timeout=60,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert result.returncode == 0
    assert b"argument 1 has 1 byte(s) that are not UTF-8; each became U+FFFD" in result.stderr
    assert "'\ufffd'".encode() in result.stdout


def test_version_and_help_with_examples(tmp_path):
    from minimal_embed import __version__
    from minimal_embed.app import cli
    from minimal_embed.train import TrainConfig

    assert run("--version", cwd=tmp_path).stdout.strip() == f"minimal-embed {__version__}"
    for command in ("embed", "tokenize", "train", "plot", "neighbors", "train-tokenizer"):
        help_text = run(command, "--help", cwd=tmp_path).stdout
        assert "example:\n  minimal-embed " + command in help_text
    assert "default 600" in run("train", "--help", cwd=tmp_path).stdout
    assert cli.TRAIN_STEPS == TrainConfig().steps


def test_tokenize_with_gpt2_ranks_prints_gpt2_ids(tmp_path, gpt2_ranks_path):
    result = run("tokenize", "I love LLMs", "--gpt2", str(gpt2_ranks_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "ids:    40 1842 27140 10128" in result.stdout


def test_a_padded_batch_says_the_mask_hides_the_padding(tmp_path):
    result = run("embed", "I love LLMs", "Hi", cwd=tmp_path)
    assert "attention's mask hides them" in result.stdout
    single = run("embed", "I love LLMs", cwd=tmp_path)
    assert "attention's mask hides them" not in single.stdout


def test_neighbors_on_the_output_of_embed_save_says_what_that_file_is(tmp_path):
    assert run("embed", "hi", "--save", "out.npz", cwd=tmp_path).returncode == 0
    result = run("neighbors", " the", "--checkpoint", "out.npz", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "looks like the arrays `minimal-embed embed --save` writes" in result.stderr
