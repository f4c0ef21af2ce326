"""InputEmbedding against the pipeline written out by hand, and its backward against finite
differences of the whole forward, in float64, for every parameter."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from references import central_differences

from minimal_embed import SGD, Adam, InputEmbedding, SparseRows, Tokenizer
from minimal_embed.pipeline import dropout, dropout_backward

TEXT = ("The keeper climbed the stairs at dusk. The lamp was lit, and the sea below was dark; "
        "ships passed far out, each one a small light that moved and was gone. ") * 4
TEXTS = ["The keeper climbed.", "Ships passed far out, each one a small light.", "dusk"]


@pytest.fixture(scope="module")
def tokenizer():
    return Tokenizer.train(TEXT, 300)


def small(**kwargs):
    """A float64 id-array model small enough for finite differences over every entry."""
    settings = dict(vocab_size=20, max_len=8, seed=0, dtype=np.float64)
    settings.update(kwargs)
    d_model = settings.pop("d_model", 6)
    return InputEmbedding(None, d_model, **settings)


def layer_norm_formula(x, gamma, beta, eps):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return gamma * (x - mu) / np.sqrt(var + eps) + beta


def sinusoid_formula(positions, dim):
    j = np.arange(dim) // 2
    angles = positions[:, None] / 10000.0 ** (2 * j / dim)
    return np.where(np.arange(dim) % 2 == 0, np.sin(angles), np.cos(angles))


CONFIGS = {
    "gpt2": dict(),
    "bert": dict(token_types=2, layer_norm_eps=1e-12),
    "transformer": dict(positions="sinusoidal", scale=True),
    "concat_learned_scaled": dict(combine="concat", d_pos=2, scale=True),
    "concat_sinusoid": dict(combine="concat", positions="sinusoidal", d_pos=3),
    "no_positions": dict(positions="none", layer_norm_eps=1e-5),
}


def random_ids(rng, shape, high=20):
    return rng.integers(0, high, size=shape)


# ----- forward --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("batch_first", [False, True])
def test_forward_equals_the_pipeline_written_out(name, batch_first):
    emb = small(batch_first=batch_first, **CONFIGS[name])
    rng = np.random.default_rng(1)
    seq_first_ids = random_ids(rng, (5, 3))                             # (seq_len, batch)
    ids = seq_first_ids.T if batch_first else seq_first_ids
    offset = 2
    types = random_ids(rng, ids.shape, high=2) if emb.token_type_embedding else None
    x, mask = emb.forward(ids, token_type_ids=types, offset=offset)

    p = emb.parameters()
    tok = p["token_embedding"][seq_first_ids]                          # (5, 3, d_tok)
    if emb.scale:
        tok = tok * math.sqrt(tok.shape[-1])
    positions = np.arange(offset, offset + 5)
    if emb.positions.name == "learned":
        pos = p["position_embedding"][positions]                       # (5, d_pos)
    else:
        pos = sinusoid_formula(positions, emb.d_pos)
    if emb.positions.name == "none":
        expected = tok
    elif emb.combine == "add":
        expected = tok + pos[:, None, :]
    else:
        expected = np.concatenate([tok, np.broadcast_to(pos[:, None, :], (5, 3, emb.d_pos))], -1)
    if types is not None:
        seq_first_types = types.T if batch_first else types
        expected = expected + p["token_type_embedding"][seq_first_types]
    if emb.layer_norm is not None:
        expected = layer_norm_formula(expected, p["layer_norm.gamma"], p["layer_norm.beta"],
                                      emb.layer_norm.eps)
    if batch_first:
        expected = expected.transpose(1, 0, 2)
    np.testing.assert_allclose(x, expected, rtol=1e-12, atol=1e-12)
    assert mask.all() and mask.shape == ids.shape


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("batch_first", [False, True])
def test_shapes_for_both_layouts(tokenizer, name, batch_first):
    settings = {k: v for k, v in CONFIGS[name].items() if k != "d_pos"}
    emb = InputEmbedding(tokenizer, 16, max_len=64, batch_first=batch_first, seed=0, **settings)
    x, mask = emb.forward(TEXTS)
    seq_len = max(len(tokenizer.encode(t)) for t in TEXTS)
    layout = (3, seq_len) if batch_first else (seq_len, 3)
    assert x.shape == layout + (16,) and x.dtype == np.float32
    assert mask.shape == layout and mask.dtype == np.bool_
    grads = emb.backward(np.ones_like(x))
    assert list(grads) == list(emb.parameters())
    for name_, grad in grads.items():
        assert grad.shape == emb.parameters()[name_].shape


def test_mask_marks_the_real_tokens_of_each_text(tokenizer):
    emb = InputEmbedding(tokenizer, 8, max_len=64, seed=0)
    _, mask = emb.forward(TEXTS)
    assert mask.sum(axis=0).tolist() == [len(tokenizer.encode(t)) for t in TEXTS]


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_batch_first_output_is_the_transpose_of_seq_first(tokenizer, name):
    settings = {k: v for k, v in CONFIGS[name].items() if k != "d_pos"}
    seq_first = InputEmbedding(tokenizer, 16, max_len=64, seed=3, dropout=0.2, **settings)
    batch_first = InputEmbedding(tokenizer, 16, max_len=64, seed=3, dropout=0.2,
                                 batch_first=True, **settings)
    x, mask = seq_first.eval().forward(TEXTS)
    y, mask_bf = batch_first.eval().forward(TEXTS)
    np.testing.assert_array_equal(y, x.transpose(1, 0, 2))
    np.testing.assert_array_equal(mask_bf, mask.T)


def test_sinusoidal_positions_past_max_len_are_computed_on_demand():
    emb = small(positions="sinusoidal", max_len=4)
    x, _ = emb.forward(np.zeros((9, 1), dtype=np.int64), offset=3)
    expected = emb.parameters()["token_embedding"][0] + sinusoid_formula(np.arange(3, 12), 6)
    np.testing.assert_allclose(x[:, 0], expected, rtol=0, atol=1e-12)


# ----- backward -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("batch_first, offset, rate", [(False, 0, 0.0), (True, 3, 0.3)])
def test_backward_matches_central_finite_differences_for_every_parameter(name, batch_first,
                                                                         offset, rate):
    emb = small(batch_first=batch_first, dropout=rate, **CONFIGS[name])
    rng = np.random.default_rng(7)
    ids = random_ids(rng, (3, 5) if batch_first else (5, 3))          # ids repeat: rows add up
    types = random_ids(rng, ids.shape, high=2) if emb.token_type_embedding else None
    weights = rng.standard_normal(ids.shape + (6,))                    # loss = sum(weights * x)
    if emb.layer_norm is not None:                                     # move γ, β off 1 and 0
        emb.layer_norm.gamma[:] = rng.standard_normal(6)
        emb.layer_norm.beta[:] = rng.standard_normal(6)

    def loss():
        emb._rng = np.random.default_rng(11)      # the same dropout mask at every evaluation
        return float(np.sum(weights * emb.forward(ids, token_type_ids=types, offset=offset)[0]))

    loss()
    grads = emb.backward(weights)
    assert list(grads) == list(emb.parameters())
    for param_name, param in emb.parameters().items():
        expected = central_differences(loss, param)
        np.testing.assert_allclose(grads[param_name], expected, rtol=1e-6, atol=1e-8,
                                   err_msg=param_name)


@given(seed=st.integers(0, 2**16), batch_first=st.booleans())
def test_sparse_gradients_equal_the_dense_ones(seed, batch_first):
    emb = small(batch_first=batch_first, seed=seed, **CONFIGS["bert"])
    rng = np.random.default_rng(seed)
    ids = random_ids(rng, (4, 3))
    x, _ = emb.forward(ids)
    g = rng.standard_normal(x.shape)
    dense = emb.backward(g)
    sparse = emb.backward(g, sparse=True)
    for name in ("token_embedding", "token_type_embedding"):
        assert isinstance(sparse[name], SparseRows)
        rows = emb.parameters()[name].shape[0]
        np.testing.assert_allclose(sparse[name].to_dense(rows), dense[name], rtol=1e-12)
    np.testing.assert_array_equal(sparse["position_embedding"], dense["position_embedding"])


def test_gradients_feed_sgd_and_adam_in_parameter_order():
    emb = small(**CONFIGS["bert"])
    params = emb.parameters()
    before = {name: p.copy() for name, p in params.items()}
    x, _ = emb.forward(np.array([[1, 2], [3, 1]]))
    grads = emb.backward(np.ones_like(x), sparse=True)
    SGD(list(params.values()), lr=0.5).step(list(grads.values()))
    for name, grad in grads.items():
        dense = grad.to_dense(before[name].shape[0]) if isinstance(grad, SparseRows) else grad
        np.testing.assert_allclose(params[name], before[name] - 0.5 * dense, rtol=1e-12)
    x, _ = emb.forward(np.array([[1, 2], [3, 1]]))
    Adam(list(params.values()), lr=1e-3).step(list(emb.backward(np.ones_like(x)).values()))


# ----- dropout --------------------------------------------------------------------------------

def test_dropout_mask_is_seeded_and_drops_about_the_rate():
    x = np.ones((200, 50))
    y1, keep1 = dropout(x, 0.25, np.random.default_rng(5))
    y2, keep2 = dropout(x, 0.25, np.random.default_rng(5))
    np.testing.assert_array_equal(keep1, keep2)
    assert abs((~keep1).mean() - 0.25) < 0.02
    np.testing.assert_array_equal(y1, np.where(keep1, 1 / 0.75, 0.0))
    np.testing.assert_array_equal(dropout_backward(np.ones_like(x), keep1, 0.25), y1)


def test_same_seed_gives_the_same_embeddings_and_masks_and_eval_turns_dropout_off():
    a, b = small(dropout=0.5, seed=9), small(dropout=0.5, seed=9)
    ids = np.arange(12).reshape(4, 3)
    np.testing.assert_array_equal(a.forward(ids)[0], b.forward(ids)[0])
    np.testing.assert_array_equal(a.forward(ids)[0], b.forward(ids)[0])     # next masks too
    plain = small(seed=9).forward(ids)[0]
    np.testing.assert_array_equal(a.eval().forward(ids)[0], plain)
    assert (a.train().forward(ids)[0] == 0).any()


def test_dropout_rate_must_be_below_one():
    with pytest.raises(ValueError, match="dropout"):
        small(dropout=1.0)


# ----- presets --------------------------------------------------------------------------------

def test_gpt2_preset_has_learned_positions_and_gpt2_init(tokenizer):
    emb = InputEmbedding.preset("gpt2", tokenizer, seed=0)
    p = emb.parameters()
    assert list(p) == ["token_embedding", "position_embedding"]
    assert p["token_embedding"].shape == (tokenizer.vocab_size, 768)
    assert p["position_embedding"].shape == (1024, 768)
    assert abs(p["token_embedding"].std() - 0.02) < 0.001
    assert abs(p["position_embedding"].std() - 0.01) < 0.0005
    assert emb.dropout == 0.1


def test_bert_preset_adds_token_types_and_layer_norm_eps_1e_12(tokenizer):
    emb = InputEmbedding.preset("bert", tokenizer, d_model=32, dropout=0.0, seed=0)
    assert emb.layer_norm.eps == 1e-12 and emb.positions.table.max_len == 512
    assert emb.parameters()["token_type_embedding"].shape == (2, 32)
    x, _ = emb.forward(TEXTS)
    np.testing.assert_allclose(x.mean(axis=-1), 0.0, atol=1e-5)      # γ = 1, β = 0 at start


def test_transformer_preset_scales_tokens_and_adds_the_sinusoid(tokenizer):
    emb = InputEmbedding.preset("transformer", tokenizer, dropout=0.0, seed=0)
    ids = np.array([[5], [6], [7]])
    x, _ = emb.forward(ids)
    table = emb.parameters()["token_embedding"]
    assert list(emb.parameters()) == ["token_embedding"]
    assert abs(table.std() - 512 ** -0.5) < 0.001
    expected = table[ids[:, 0]] * math.sqrt(512) + sinusoid_formula(np.arange(3), 512)
    np.testing.assert_allclose(x[:, 0], expected, rtol=1e-5, atol=1e-5)


# ----- checkpoint -----------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_save_then_load_computes_the_same_embeddings(tmp_path, name):
    emb = small(padding_idx=3, **CONFIGS[name])
    for param in emb.parameters().values():      # move every table off its initial values
        param += np.random.default_rng(7).standard_normal(param.shape)
    emb.save(tmp_path / "stage.npz")
    loaded = InputEmbedding.load(tmp_path / "stage.npz", None)
    assert loaded.config() == emb.config()
    ids = np.array([[3, 4], [5, 3], [1, 2]])
    types = np.array([[0, 1], [1, 0], [0, 0]]) if emb.token_type_embedding else None
    np.testing.assert_array_equal(loaded.forward(ids, token_type_ids=types, offset=1)[0],
                                  emb.forward(ids, token_type_ids=types, offset=1)[0])
    assert loaded.token_embedding.padding_idx == 3


def test_load_keeps_the_learned_tables_length_as_a_hard_limit(tmp_path):
    small(max_len=4).save(tmp_path / "stage.npz")
    emb = InputEmbedding.load(tmp_path / "stage.npz", None)
    with pytest.raises(ValueError, match="max_len=4"):
        emb.forward(np.zeros((5, 1), dtype=np.int64))


def test_load_refuses_a_tokenizer_of_another_size_and_missing_arrays(tmp_path, tokenizer):
    small().save(tmp_path / "stage.npz")
    with pytest.raises(ValueError, match=f"tokenizer has {tokenizer.vocab_size} ids.*20 rows"):
        InputEmbedding.load(tmp_path / "stage.npz", tokenizer)
    from minimal_embed.checkpoint import read_checkpoint, write_checkpoint
    arrays, meta = read_checkpoint(tmp_path / "stage.npz")
    del arrays["position_embedding"]
    del meta["format"], meta["version"]
    write_checkpoint(tmp_path / "partial.npz", arrays, meta)
    with pytest.raises(ValueError, match="position_embedding"):
        InputEmbedding.load(tmp_path / "partial.npz", None)


# ----- errors ---------------------------------------------------------------------------------

def test_too_long_sequence_is_refused_naming_seq_len_offset_and_max_len(tokenizer):
    emb = InputEmbedding(tokenizer, 8, max_len=4, seed=0)
    with pytest.raises(ValueError, match=r"seq_len=\d+, offset=0.*max_len=4"):
        emb.forward(TEXTS)
    with pytest.raises(ValueError, match="seq_len=3, offset=2.*max_len=4"):
        emb.forward(np.zeros((3, 2), dtype=np.int64), offset=2)


def test_wrong_inputs_get_errors_that_say_what_to_do(tokenizer):
    emb = InputEmbedding(tokenizer, 8, max_len=16, seed=0)
    with pytest.raises(TypeError, match=r"\[text\]"):
        emb.forward("one text")
    with pytest.raises(ValueError, match=r"ids\[:, None\]"):
        emb.forward(np.array([1, 2, 3]))
    with pytest.raises(ValueError, match="token id 300"):
        emb.forward(np.array([[300]]))
    with pytest.raises(TypeError, match="integers"):
        emb.forward(np.array([[1.0]]))
    with pytest.raises(ValueError, match="token_types=2"):
        emb.forward(np.array([[1]]), token_type_ids=np.array([[0]]))
    with pytest.raises(TypeError, match="no tokenizer"):
        small().forward(["text"])


def test_backward_checks_the_gradient_against_the_last_forward():
    emb = small()
    with pytest.raises(RuntimeError, match="forward"):
        emb.backward(np.zeros((1, 1, 6)))
    emb.forward(np.zeros((2, 3), dtype=np.int64))
    with pytest.raises(ValueError, match=r"\(2, 3, 6\)"):
        emb.backward(np.zeros((3, 2, 6)))


@pytest.mark.parametrize("bad, match", [
    (dict(positions="rope"), "positions"), (dict(combine="mul"), "combine"),
    (dict(combine="concat", positions="none"), "concat"),
    (dict(combine="concat", d_pos=6), "d_pos=6"), (dict(d_pos=3), "concat"),
    (dict(vocab_size=None), "vocab_size"), (dict(max_len=0), "max_len"),
])
def test_bad_settings_are_refused_by_name(bad, match):
    with pytest.raises(ValueError, match=match):
        small(**bad)


@pytest.mark.parametrize("bad, match", [
    (dict(d_model=6.0), "d_model"), (dict(max_len=True), "max_len"),
    (dict(token_types="2"), "token_types"), (dict(dtype=np.int32), "dtype"),
])
def test_settings_of_the_wrong_type_get_a_type_error(bad, match):
    with pytest.raises(TypeError, match=match):
        small(**bad)


def test_numpy_integers_are_accepted_as_sizes():
    emb = small(d_model=np.int64(6), max_len=np.int32(8), token_types=np.int8(2))
    assert emb.forward(np.zeros((2, 1), dtype=np.int64))[0].shape == (2, 1, 6)


def test_unknown_preset_lists_the_known_ones(tokenizer):
    with pytest.raises(ValueError, match="'gpt2', 'bert', 'transformer'"):
        InputEmbedding.preset("llama", tokenizer)
