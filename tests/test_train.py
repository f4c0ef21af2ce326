"""Tests for model.py and train.py: the model against a plain loop-by-loop reference and central
finite differences, training against the unigram baseline, checkpoints, and the two commands."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minimal_embed import data
from minimal_embed.model import POSITION_SCHEMES, AttentionLM, ModelConfig, cross_entropy
from minimal_embed.pipeline import InputEmbedding
from minimal_embed.relative import alibi_slopes, t5_relative_buckets
from minimal_embed.tokenizer import load_tokenizer
from minimal_embed.train import (
    TrainConfig,
    bigram_loss,
    corpus_ids,
    evaluate,
    evaluation_windows,
    load_checkpoint,
    nearest_tokens,
    sample_batch,
    split_ids,
    train,
    unigram_loss,
)

ROOT = Path(__file__).resolve().parents[1]

# small enough for finite differences over every weight, big enough that every T5 bucket is used
TINY = dict(vocab_size=11, d_model=8, n_heads=2, max_len=5, init_std=0.5, t5_buckets=4,
            t5_max_distance=3)


def tiny_model(scheme: str, seed: int = 0) -> AttentionLM:
    """A float64 model whose weights are all moved off their initial values (gamma = 1, beta =
    0 would hide a swapped gradient)."""
    model = AttentionLM(ModelConfig(positions=scheme, **TINY), seed=seed, dtype=np.float64)
    rng = np.random.default_rng(seed + 100)
    for weight in model.params.values():
        weight += rng.standard_normal(weight.shape) * 0.3
    return model


def tiny_batch(seed: int = 0, seq_len: int = 5, batch: int = 3):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, TINY["vocab_size"], (seq_len, batch)),
            rng.integers(0, TINY["vocab_size"], (seq_len, batch)))


# --------------------------------------------------------------------------- the reference


def rotate_pairs(x: np.ndarray, position: int, base: float = 10000.0) -> np.ndarray:
    """RoPE written out: pair (t, t + d/2) turned by position * base**(-2t/d) (GPT-NeoX)."""
    half = len(x) // 2
    out = x.copy()
    for t in range(half):
        angle = position * base ** (-2 * t / len(x))
        a, b = x[t], x[t + half]
        out[t], out[t + half] = a * math.cos(angle) - b * math.sin(angle), \
            b * math.cos(angle) + a * math.sin(angle)
    return out


def reference_logits(model: AttentionLM, ids: np.ndarray) -> np.ndarray:
    """The model's forward as a plain loop over batch items, heads, queries and keys."""
    cfg, p = model.config, model.params
    seq_len, batch = ids.shape
    d, n_heads, d_head = cfg.d_model, cfg.n_heads, cfg.d_model // cfg.n_heads
    E = p["token_embedding"]
    logits = np.zeros((seq_len, batch, cfg.vocab_size))
    slopes = alibi_slopes(n_heads, dtype=np.float64)
    buckets = t5_relative_buckets(seq_len, bidirectional=False, num_buckets=cfg.t5_buckets,
                                  max_distance=cfg.t5_max_distance)
    for b in range(batch):
        x = np.array([E[ids[i, b]] for i in range(seq_len)])  # (seq_len, d)
        if cfg.positions == "sinusoidal":
            x = x * math.sqrt(d)  # the original Transformer scales token vectors up
        for i in range(seq_len):
            if cfg.positions == "learned":
                x[i] = x[i] + p["position_embedding"][i]
            elif cfg.positions == "sinusoidal":
                for j in range(d // 2):
                    x[i, 2 * j] += math.sin(i / 10000 ** (2 * j / d))
                    x[i, 2 * j + 1] += math.cos(i / 10000 ** (2 * j / d))
        q, k, v = x @ p["attn.w_q"], x @ p["attn.w_k"], x @ p["attn.w_v"]
        heads = np.zeros((seq_len, d))
        for h in range(n_heads):
            cols = slice(h * d_head, (h + 1) * d_head)
            for i in range(seq_len):
                scores = []
                for j in range(i + 1):  # causal: keys 0..i only
                    qi, kj = q[i, cols], k[j, cols]
                    if cfg.positions == "rope":
                        qi, kj = rotate_pairs(qi, i), rotate_pairs(kj, j)
                    s = qi @ kj / math.sqrt(d_head)
                    if cfg.positions == "alibi":
                        s -= slopes[h] * (i - j)
                    if cfg.positions == "t5":
                        s += p["t5.table"][buckets[i, j], h]
                    scores.append(s)
                w = np.exp(np.array(scores) - max(scores))
                w /= w.sum()
                heads[i, cols] = w @ v[: i + 1, cols]
        hidden = x + heads @ p["attn.w_o"]
        for i in range(seq_len):
            mu, var = hidden[i].mean(), hidden[i].var()
            y = (hidden[i] - mu) / math.sqrt(var + 1e-5) * p["ln_f.gamma"] + p["ln_f.beta"]
            logits[i, b] = E @ y  # tied output
    return logits


@pytest.mark.parametrize("scheme", POSITION_SCHEMES)
def test_forward_matches_the_loop_by_loop_reference(scheme):
    model = tiny_model(scheme)
    ids, _ = tiny_batch()
    logits, _ = model.forward(ids)
    np.testing.assert_allclose(logits, reference_logits(model, ids), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("scheme", POSITION_SCHEMES)
def test_gradients_of_every_parameter_match_central_differences(scheme):
    model = tiny_model(scheme)
    inputs, targets = tiny_batch(seed=1)
    _, grads = model.loss_and_grads(inputs, targets)
    assert list(grads) == list(model.params)
    step = 1e-5
    for name, weight in model.params.items():
        numeric = np.zeros_like(weight)
        for index in np.ndindex(weight.shape):
            saved = weight[index]
            weight[index] = saved + step
            above = model.loss(inputs, targets)
            weight[index] = saved - step
            below = model.loss(inputs, targets)
            weight[index] = saved
            numeric[index] = (above - below) / (2 * step)
        assert grads[name].dtype == np.float64, name
        np.testing.assert_allclose(grads[name], numeric, rtol=1e-6, atol=1e-9, err_msg=name)


@given(scheme=st.sampled_from(POSITION_SCHEMES), cut=st.integers(0, 3),
       seed=st.integers(0, 2**16))
def test_logits_never_depend_on_later_tokens(scheme, cut, seed):
    model = tiny_model(scheme)
    ids, _ = tiny_batch(seed)
    changed = ids.copy()
    changed[cut + 1:] = (changed[cut + 1:] + 1) % TINY["vocab_size"]
    before, after = model.forward(ids)[0], model.forward(changed)[0]
    np.testing.assert_allclose(before[: cut + 1], after[: cut + 1], rtol=1e-12, atol=1e-12)


def test_float32_model_keeps_float32_everywhere():
    model = AttentionLM(ModelConfig(positions="t5", **TINY))
    inputs, targets = tiny_batch()
    logits, _ = model.forward(inputs)
    _, grads = model.loss_and_grads(inputs, targets)
    assert logits.dtype == np.float32
    assert {g.dtype for g in grads.values()} == {np.dtype(np.float32)}


def test_cross_entropy_is_the_mean_negative_log_softmax():
    rng = np.random.default_rng(0)
    logits, targets = rng.standard_normal((4, 3, 7)) * 5, rng.integers(0, 7, (4, 3))
    expected = np.mean([-math.log(math.exp(z[t]) / sum(math.exp(v) for v in z))
                        for z, t in zip(logits.reshape(-1, 7), targets.ravel(), strict=True)])
    assert cross_entropy(logits, targets)[0] == pytest.approx(expected, rel=1e-12)


def test_learned_positions_refuse_sequences_past_the_table():
    model = tiny_model("learned")
    with pytest.raises(ValueError, match="max_len=5"):
        model.forward(np.zeros((6, 1), dtype=np.int64))


@pytest.mark.parametrize("bad, match", [
    (dict(positions="absolute"), "must be one of"),
    (dict(d_model=10, n_heads=4), "multiple of n_heads"),
    (dict(d_model=12, n_heads=4, positions="rope"), "must be even"),
    (dict(vocab_size=0), "vocab_size"),
])
def test_bad_model_configs_are_refused_with_the_reason(bad, match):
    with pytest.raises(ValueError, match=match):
        ModelConfig(**(dict(vocab_size=11) | bad))


# --------------------------------------------------------------------------- data and baselines


def test_split_keeps_the_last_tenth_for_validation():
    ids = np.arange(1000)
    train_ids, val_ids = split_ids(ids)
    assert train_ids.tolist() == list(range(900)) and val_ids.tolist() == list(range(900, 1000))


def test_batches_are_windows_of_the_ids_shifted_by_one():
    ids = np.arange(50) * 7
    inputs, targets = sample_batch(ids, 8, 16, np.random.default_rng(3))
    assert inputs.shape == targets.shape == (8, 16)
    starts = inputs[0] // 7
    np.testing.assert_array_equal(inputs, ids[starts[None, :] + np.arange(8)[:, None]])
    np.testing.assert_array_equal(targets, ids[starts[None, :] + np.arange(1, 9)[:, None]])


def test_evaluation_windows_cover_the_ids_in_order_without_overlap():
    inputs, targets = evaluation_windows(np.arange(23), 5)
    assert targets.T.ravel().tolist() == list(range(1, 21))
    assert inputs.T.ravel().tolist() == list(range(0, 20))


def test_unigram_loss_is_add_one_cross_entropy():
    train_ids, val_ids = np.array([0, 0, 1, 2]), np.array([3, 0, 2])
    probs = {0: 3 / 8, 1: 2 / 8, 2: 2 / 8, 3: 1 / 8}  # (count + 1) / (4 + 4)
    expected = -(math.log(probs[0]) + math.log(probs[2])) / 2
    assert unigram_loss(train_ids, val_ids, 4) == pytest.approx(expected)


def test_bigram_loss_matches_absolute_discounting_written_out():
    rng = np.random.default_rng(0)
    vocab = 6
    train_ids, val_ids = rng.integers(0, vocab - 1, 200), rng.integers(0, vocab, 50)
    pairs = Counter(zip(train_ids[:-1].tolist(), train_ids[1:].tolist(), strict=True))
    unigram = (np.bincount(train_ids, minlength=vocab) + 1) / (len(train_ids) + vocab)
    total = 0.0
    for u, w in zip(val_ids[:-1].tolist(), val_ids[1:].tolist(), strict=True):
        c_u = sum(c for (a, _), c in pairs.items() if a == u)
        n_u = sum(1 for (a, _) in pairs if a == u)
        if c_u == 0:
            prob = unigram[w]
        else:
            prob = max(pairs[(u, w)] - 0.75, 0) / c_u + 0.75 * n_u / c_u * unigram[w]
        total -= math.log(prob)
    assert bigram_loss(train_ids, val_ids, vocab) == pytest.approx(total / (len(val_ids) - 1))


def test_nearest_tokens_rank_by_cosine_similarity():
    rng = np.random.default_rng(0)
    table = rng.standard_normal((30, 4))
    ids, sims = nearest_tokens(table, 7, k=5)
    cosine = [table[7] @ row / np.linalg.norm(table[7]) / np.linalg.norm(row) for row in table]
    expected = sorted((i for i in range(30) if i != 7), key=lambda i: -cosine[i])[:5]
    assert ids.tolist() == expected
    np.testing.assert_allclose(sims, [cosine[i] for i in expected])


# --------------------------------------------------------------------------- training


def test_a_few_hundred_steps_bring_validation_well_below_the_unigram_baseline():
    tokenizer = load_tokenizer()
    config = TrainConfig(steps=300, seq_len=32, d_model=32, n_heads=2, batch_size=16,
                         lr=1e-2, min_lr=1e-3, warmup=30, eval_every=300)
    result = train(config, tokenizer, log=None)
    train_ids, val_ids = split_ids(corpus_ids(tokenizer))
    baseline = unigram_loss(train_ids, val_ids, tokenizer.vocab_size)
    assert result.val_loss < baseline - 0.5, (result.val_loss, baseline)
    assert result.val_loss == pytest.approx(evaluate(result.model, val_ids, 32))


SMALL = TrainConfig(steps=3, seq_len=16, d_model=16, n_heads=2, batch_size=4, eval_every=2)


def test_checkpoint_round_trip_restores_every_weight(tmp_path):
    path = tmp_path / "ck.npz"
    result = train(SMALL, output=path, log=None)
    model, meta = load_checkpoint(path)
    assert list(model.params) == list(result.model.params)
    for name, weight in result.model.params.items():
        np.testing.assert_array_equal(model.params[name], weight, err_msg=name)
        assert model.params[name].dtype == np.float32
    assert meta["train"]["steps"] == 3 and meta["train"]["seq_len"] == 16
    assert meta["model"]["max_len"] == 16
    with np.load(path, allow_pickle=False) as archive:
        metadata = json.loads(str(archive["metadata"]))
    assert metadata["input_embedding"]["positions"] == {"name": "learned", "max_len": 16,
                                                        "d_model": 16}
    assert metadata["model"]["vocab_size"] == 2048


def test_training_twice_with_one_seed_writes_the_same_bytes(tmp_path):
    first, second = tmp_path / "a.npz", tmp_path / "b.npz"
    train(SMALL, output=first, log=None)
    train(SMALL, output=second, log=None)
    assert first.read_bytes() == second.read_bytes()
    # no clock in the file: every zip entry carries zipfile's fixed 1980-01-01 stamp
    with zipfile.ZipFile(first) as archive:
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_input_embedding_loads_the_trained_tables(tmp_path):
    path = tmp_path / "ck.npz"
    result = train(SMALL, output=path, log=None)
    loaded = InputEmbedding.load(path, load_tokenizer()).parameters()
    np.testing.assert_array_equal(loaded["token_embedding"],
                                  result.model.params["token_embedding"])
    np.testing.assert_array_equal(loaded["position_embedding"],
                                  result.model.params["position_embedding"])


def test_the_bundled_checkpoint_is_what_the_contract_says():
    try:
        path = data.path("checkpoint.npz")
    except FileNotFoundError:
        pytest.skip("data/checkpoint.npz is not bundled yet")
    model, meta = load_checkpoint(path)
    assert model.config.positions == "learned" and model.config.d_model == 128
    assert meta["train"]["seq_len"] == model.config.max_len == 64
    assert model.params["position_embedding"].shape == (64, 128)


# --------------------------------------------------------------------------- the commands


def run_cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "minimal_embed", *args], capture_output=True,
                          text=True, env=env, timeout=120, **kwargs)


@pytest.fixture(scope="module")
def cli_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "ck.npz"
    done = run_cli("train", "--steps", "5", "--seq-len", "16", "--d-model", "16", "-o", str(path))
    assert done.returncode == 0, done.stderr
    return path, done


def test_train_command_writes_a_checkpoint_and_reports_progress(cli_checkpoint):
    path, done = cli_checkpoint
    lines = done.stderr.strip().splitlines()
    progress = [line for line in lines if line.startswith("step ")][-1]
    for field in ("step     5/5", "train", "val", "tok/s", "ETA"):
        assert field in progress
    assert "early on val can be lower than train" in lines[-1]
    assert "saved to" in done.stdout
    model, meta = load_checkpoint(path)
    assert meta["train"]["steps"] == 5 and model.config.d_model == 16


def test_neighbors_command_lists_the_nearest_tokens(cli_checkpoint):
    path, _ = cli_checkpoint
    done = run_cli("neighbors", " love", "--top", "3", "--checkpoint", str(path))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert "' love'" in lines[0] and len(lines) == 4


def test_neighbors_command_explains_a_text_that_is_several_tokens(cli_checkpoint):
    path, _ = cli_checkpoint
    done = run_cli("neighbors", " unbelievably", "--checkpoint", str(path))
    assert done.returncode == 2
    assert "is not a single token: it splits into" in done.stderr
    assert "Traceback" not in done.stderr


def test_ctrl_c_stops_training_and_saves_the_checkpoint(tmp_path):
    path = tmp_path / "ck.npz"
    env = dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1")
    with subprocess.Popen(
        [sys.executable, "-m", "minimal_embed", "train", "--steps", "100000", "--seq-len", "8",
         "--d-model", "8", "--batch-size", "2", "-o", str(path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    ) as process:
        first_line = process.stderr.readline()  # training has started
        assert first_line.startswith("step"), first_line
        process.send_signal(signal.SIGINT)
        stdout, _ = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "interrupted at step" in stdout
    _, meta = load_checkpoint(path)
    assert 50 <= meta["steps_done"] < 100000


def test_numpy_scalars_are_accepted_and_stored_as_python_numbers(tmp_path):
    config = TrainConfig(steps=np.int64(2), seq_len=np.int32(8), d_model=np.int64(16),
                         n_heads=2, batch_size=2, eval_every=1, lr=np.float32(1e-3))
    assert type(config.steps) is int and type(config.lr) is float
    model_config = ModelConfig(vocab_size=np.int64(11), d_model=8, n_heads=np.int8(2),
                               init_std=np.float64(0.02))
    assert type(model_config.vocab_size) is int and type(model_config.n_heads) is int
    train(config, output=tmp_path / "ck.npz", log=None)  # the metadata is plain JSON
    assert load_checkpoint(tmp_path / "ck.npz")[1]["train"]["steps"] == 2


@pytest.mark.parametrize("bad, error", [
    (dict(steps=5.0), TypeError), (dict(steps=True), TypeError), (dict(lr="0.1"), TypeError),
    (dict(steps=0), ValueError), (dict(lr=float("nan")), ValueError),
    (dict(val_fraction=1.0), ValueError),
])
def test_bad_train_configs_get_a_type_or_value_error(bad, error):
    with pytest.raises(error):
        TrainConfig(**bad)


def test_a_progress_line_comes_every_few_seconds_even_between_logged_steps():
    class Clock:
        """time.perf_counter stand-in: each call moves on by four seconds."""
        now = 0.0

        def __call__(self):
            Clock.now += 4.0
            return Clock.now

    import io
    from unittest import mock

    log = io.StringIO()
    with mock.patch("minimal_embed.train.time.perf_counter", Clock()):
        train(TrainConfig(steps=4, seq_len=8, d_model=8, n_heads=2, batch_size=2, eval_every=2),
              log=log, log_every=50, log_seconds=3.0)
    steps = [line.split()[1] for line in log.getvalue().splitlines() if line.startswith("step")]
    assert steps == ["1/4", "2/4", "3/4", "4/4"]  # 4 s pass between steps: a line each time
