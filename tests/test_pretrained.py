"""load_pretrained against the real model code: tiny random models built by transformers.

Every model here is built from a config with random weights (no network, never a hub name),
saved with ``save_pretrained`` into a temporary folder, read back with ``load_pretrained``, and
compared with the model's own modules on the same ids: its embedding output, and its first
layer's attention probabilities, recomputed here from that layer's own queries and keys (caught
by forward hooks) with our position scheme, scale and masks. Float64 throughout; where the model
computes in float32 whatever its dtype (RoPE angles in NeoX, GPT-J and LLaMA, BLOOM's softmax),
the tolerance is float32's, and the float64 part (frequencies, the ALiBi bias) is checked apart.
transformers and torch are optional peers: without them those tests skip. The folders of the
last section (config spellings, refusals, the command line) are written by hand and always run.
"""

import json

import numpy as np
import pytest

from minimal_embed import load_pretrained, rankfiles, write_safetensors
from minimal_embed.app.cli import main
from minimal_embed.attention import attention_scores, softmax

try:
    import torch
    import transformers
except ImportError:  # optional peers: the tests against the real model code skip without them
    torch = transformers = None
peers = pytest.mark.skipif(transformers is None, reason="needs transformers and torch")
# transformers 5 renames past_key_values (the only spelling transformers 4 knows) to cache
pytestmark = pytest.mark.filterwarnings("ignore:.*past_key_values.*:FutureWarning")

EXACT = dict(rtol=0, atol=1e-12)
FLOAT32_ANGLES = dict(rtol=0, atol=2e-6)  # HF computes p * theta in float32
FLOAT32_SOFTMAX = dict(rtol=0, atol=2e-7)  # BLOOM's softmax runs in float32


def build(model_class, config, folder, *, std=0.5, dtype=None, **save):
    """A float64 model (or ``dtype``) with N(0, std^2) weights, large enough that positions
    change the attention."""
    torch.manual_seed(0)
    model = model_class(config).to(dtype or torch.float64).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0.0, std)
    model.save_pretrained(folder, **save)
    return model


def heads(array, n_heads):
    """(batch, seq, n_heads * d) -> (batch, n_heads, seq, d), as the models split heads."""
    batch, seq, width = array.shape
    return array.reshape(batch, seq, n_heads, width // n_heads).transpose(0, 2, 1, 3)


def hook_outputs(*modules):
    """Lists that collect every forward output of each module (as float64 NumPy arrays)."""
    seen = [[] for _ in modules]
    for module, store in zip(modules, seen, strict=True):
        module.register_forward_hook(
            lambda _m, _i, out, store=store: store.append(out.detach().numpy().copy()))
    return seen


def our_probabilities(model, scheme, q, k, *, causal=True, key_mask=None):
    """softmax(scale q_rot . k_rot + bias) with the loaded scheme; queries are the last keys."""
    q_len, k_len = q.shape[-2], k.shape[-2]
    q = scheme.rotate(q, np.arange(k_len - q_len, k_len))
    k = scheme.rotate(k, np.arange(k_len))
    scores = attention_scores(q, k, bias=scheme.score_bias(q_len, k_len), causal=causal,
                              scale=model.score_scale, key_mask=key_mask)
    return softmax(scores)


def ids(batch, seq, vocab, seed=0):
    return np.random.default_rng(seed).integers(0, vocab, (batch, seq))


def run(model, input_ids, **kwargs):
    with torch.no_grad():
        return model(torch.from_numpy(input_ids), **kwargs)


def assert_not_uniform(probabilities):
    """The test means something only if the weights are far from uniform."""
    assert probabilities.max() > 0.5


# --- GPT-2: learned rows, also after a cached prefix ---------------------------------------------

# GPT2Model's keys have no prefix, GPT2LMHeadModel's "transformer."
@peers
@pytest.mark.parametrize("model_name", ["GPT2Model", "GPT2LMHeadModel"])
def test_gpt2_stage_equals_hidden_states_zero_also_after_a_past(tmp_path, model_name):
    config = transformers.GPT2Config(vocab_size=96, n_positions=16, n_embd=8, n_layer=1, n_head=2)
    model = build(getattr(transformers, model_name), config, tmp_path)
    loaded = load_pretrained(tmp_path, batch_first=True)
    assert loaded.family == "gpt2" and loaded.positions.name == "learned"
    assert loaded.input_embedding.token_embedding.weight.dtype == np.float64
    x = ids(2, 11, 96)
    first = run(model, x[:, :7], use_cache=True)
    after_past = run(model, x[:, 7:], past_key_values=first.past_key_values,
                     output_hidden_states=True).hidden_states[0].numpy()
    whole = run(model, x, output_hidden_states=True).hidden_states[0].numpy()
    np.testing.assert_allclose(loaded.input_embedding.forward(x)[0], whole, **EXACT)
    np.testing.assert_allclose(loaded.input_embedding.forward(x[:, 7:], offset=7)[0],
                               after_past, **EXACT)


@peers
def test_gpt2_tokenizer_files_are_read_and_texts_embed_through_them(tmp_path, tok):
    config = transformers.GPT2Config(vocab_size=tok.vocab_size, n_positions=32, n_embd=8,
                                     n_layer=1, n_head=2)
    model = build(transformers.GPT2LMHeadModel, config, tmp_path)
    rankfiles.write_gpt2(tok.ranks, tok.special_tokens, tmp_path / "vocab.json",
                         tmp_path / "merges.txt")
    loaded = load_pretrained(tmp_path)
    assert loaded.tokenizer == tok
    text = "The keeper lit the lamp."
    embeddings, _ = loaded.input_embedding.forward([text])             # (seq_len, 1, d_model)
    reference = run(model, np.array([tok.encode(text)]), output_hidden_states=True)
    np.testing.assert_allclose(embeddings[:, 0], reference.hidden_states[0][0].numpy(), **EXACT)


@peers
def test_float32_sharded_and_bfloat16_checkpoints(tmp_path):
    config = transformers.GPT2Config(vocab_size=64, n_positions=8, n_embd=8, n_layer=1, n_head=2)
    model = build(transformers.GPT2LMHeadModel, config, tmp_path / "f32", dtype=torch.float32,
                  max_shard_size="2KB")
    assert (tmp_path / "f32" / "model.safetensors.index.json").is_file()
    loaded = load_pretrained(tmp_path / "f32")
    assert loaded.input_embedding.token_embedding.weight.dtype == np.float32
    x = ids(1, 8, 64)
    np.testing.assert_array_equal(
        loaded.input_embedding.forward(x.T)[0][:, 0],
        run(model, x, output_hidden_states=True).hidden_states[0][0].numpy())
    model.to(torch.bfloat16).save_pretrained(tmp_path / "bf16")
    widened = load_pretrained(tmp_path / "bf16").input_embedding.token_embedding.weight
    np.testing.assert_array_equal(widened, model.transformer.wte.weight.float().detach().numpy())


# --- BERT: token types, LayerNorm eps, padding_idx -----------------------------------------------

@peers
@pytest.mark.parametrize("model_name", ["BertModel", "BertForMaskedLM"])  # prefix "" / "bert."
def test_bert_stage_equals_bert_embeddings_with_token_types(tmp_path, model_name):
    config = transformers.BertConfig(vocab_size=80, hidden_size=8, num_hidden_layers=1,
                                     num_attention_heads=2, intermediate_size=16,
                                     max_position_embeddings=16, pad_token_id=3,
                                     layer_norm_eps=1e-7)
    model = build(getattr(transformers, model_name), config, tmp_path)
    loaded = load_pretrained(tmp_path, batch_first=True)
    stage = loaded.input_embedding
    assert stage.layer_norm.eps == 1e-7 and stage.token_embedding.padding_idx == 3
    x, types = ids(2, 9, 80), ids(2, 9, 2, seed=1)
    bert = model if model_name == "BertModel" else model.bert
    with torch.no_grad():
        reference = bert.embeddings(input_ids=torch.from_numpy(x),
                                    token_type_ids=torch.from_numpy(types)).numpy()
    np.testing.assert_allclose(stage.forward(x, token_type_ids=types)[0], reference, **EXACT)


# --- BLOOM: the embedding LayerNorm and ALiBi, on a left-padded batch ----------------------------

@peers
def test_bloom_layernorm_and_alibi_probabilities_with_left_padding(tmp_path):
    config = transformers.BloomConfig(vocab_size=64, hidden_size=24, n_layer=1, n_head=6,
                                      attn_implementation="eager")
    model = build(transformers.BloomForCausalLM, config, tmp_path)
    loaded = load_pretrained(tmp_path, batch_first=True)
    assert loaded.positions.name == "alibi" and loaded.positions.n_heads == 6  # 6: not a power of 2
    x = ids(2, 8, 64)
    mask = np.ones((2, 8), dtype=bool)
    mask[1, :3] = False  # the second text is left-padded by three
    (fused,) = hook_outputs(model.transformer.h[0].self_attention.query_key_value)
    out = run(model, x, attention_mask=torch.from_numpy(mask.astype(np.int64)),
              output_hidden_states=True, output_attentions=True)
    np.testing.assert_allclose(loaded.input_embedding.forward(x)[0],
                               out.hidden_states[0].numpy(), **EXACT)
    qkv = fused[0].reshape(2, 8, 6, 3, 4)  # BLOOM's layout: (batch, seq, heads, q/k/v, d_head)
    q, k = qkv[..., 0, :].transpose(0, 2, 1, 3), qkv[..., 1, :].transpose(0, 2, 1, 3)
    ours = our_probabilities(loaded, loaded.positions, q, k, key_mask=mask[:, None, :])
    theirs = out.attentions[0].numpy()
    real = mask[:, None, :, None].repeat(6, axis=1).repeat(8, axis=3)  # rows of real queries
    np.testing.assert_allclose(ours[real], theirs[real], **FLOAT32_SOFTMAX)
    assert_not_uniform(ours)
    # the bias itself, exactly: BLOOM adds m_h * (key's place among the real tokens), which
    # differs from ALiBi's -m_h (i - j) by a constant per query row (invisible to the softmax)
    from transformers.models.bloom.modeling_bloom import build_alibi_tensor

    bloom = build_alibi_tensor(torch.from_numpy(mask.astype(np.int64)), 6, torch.float64)
    bloom = bloom.numpy().reshape(2, 6, 8)
    bias = loaded.positions.score_bias(8)                          # (heads, q_len, k_len)
    for row in range(2):
        real_keys = np.flatnonzero(mask[row])
        last = real_keys[-1]
        np.testing.assert_array_equal(bias[:, last, real_keys] - bias[:, last, [last]],
                                      bloom[row][:, real_keys] - bloom[row][:, [last]])


# --- T5: encoder and decoder bias tables, unscaled scores, incremental decoding ------------------

def t5_model(folder):
    config = transformers.T5Config(vocab_size=64, d_model=16, d_kv=4, d_ff=16, num_layers=1,
                                   num_heads=3, relative_attention_num_buckets=8,
                                   relative_attention_max_distance=12,
                                   attn_implementation="eager")
    return build(transformers.T5ForConditionalGeneration, config, folder)


@peers
def test_t5_buckets_equal_compute_bias_of_encoder_and_decoder(tmp_path):
    model = t5_model(tmp_path)
    loaded = load_pretrained(tmp_path)
    assert loaded.score_scale == 1.0 and loaded.positions.bias.bidirectional
    assert not loaded.decoder_positions.bias.bidirectional
    for stack, scheme in ((model.encoder, loaded.positions),
                          (model.decoder, loaded.decoder_positions)):
        with torch.no_grad():
            reference = stack.block[0].layer[0].SelfAttention.compute_bias(19, 19)[0].numpy()
        np.testing.assert_array_equal(scheme.score_bias(19, 19), reference)
    x = ids(1, 5, 64)
    np.testing.assert_array_equal(loaded.input_embedding.forward(x.T)[0][:, 0],
                                  model.shared.weight.detach().numpy()[x[0]])


@peers
def test_t5_attention_probabilities_encoder_padded_and_decoder_step_by_step(tmp_path):
    model = t5_model(tmp_path)
    loaded = load_pretrained(tmp_path)
    encoder, decoder = (stack.block[0].layer[0].SelfAttention
                        for stack in (model.encoder, model.decoder))
    enc_q, enc_k = hook_outputs(encoder.q, encoder.k)
    dec_q, dec_k = hook_outputs(decoder.q, decoder.k)
    source, target = ids(2, 7, 64), ids(2, 6, 64, seed=1)
    mask = np.ones((2, 7), dtype=bool)
    mask[1, 5:] = False  # right padding
    first = run(model, source, attention_mask=torch.from_numpy(mask.astype(np.int64)),
                decoder_input_ids=torch.from_numpy(target[:, :5]), use_cache=True,
                output_attentions=True)
    step = model(encoder_outputs=(first.encoder_last_hidden_state,),
                 attention_mask=torch.from_numpy(mask.astype(np.int64)),
                 decoder_input_ids=torch.from_numpy(target[:, 5:]),
                 past_key_values=first.past_key_values, output_attentions=True)
    ours = our_probabilities(loaded, loaded.positions, heads(enc_q[0], 3), heads(enc_k[0], 3),
                             causal=False, key_mask=mask[:, None, :])
    np.testing.assert_allclose(ours, first.encoder_attentions[0].numpy(), **EXACT)
    keys = heads(np.concatenate(dec_k, axis=1), 3)                       # 5 cached + 1 new
    ours = our_probabilities(loaded, loaded.decoder_positions, heads(dec_q[1], 3), keys)
    np.testing.assert_allclose(ours, step.decoder_attentions[0].detach().numpy(), **EXACT)
    assert_not_uniform(ours)


# --- rotary families: GPT-NeoX (25 % of each head), GPT-J (interleaved), LLaMA -------------------

def rotary_probabilities_match(model, loaded, q, k, n_heads):
    """Our rotation + causal softmax against the model's own first-layer attention weights."""
    x = ids(2, 9, 64)
    out = run(model, x, output_attentions=True, output_hidden_states=True)
    np.testing.assert_allclose(loaded.input_embedding.forward(x)[0],
                               out.hidden_states[0].numpy(), **EXACT)
    ours = our_probabilities(loaded, loaded.positions, q(), k())
    np.testing.assert_allclose(ours, out.attentions[0].numpy(), **FLOAT32_ANGLES)
    assert_not_uniform(ours)


def inverse_frequencies(model):
    """The model's own RoPE frequencies (a buffer named inv_freq, wherever the version keeps it)."""
    return next(module.inv_freq for module in model.modules()
                if hasattr(module, "inv_freq")).double().numpy()


@peers
def test_gpt_neox_rotates_a_quarter_of_each_head_with_its_base(tmp_path):
    config = transformers.GPTNeoXConfig(vocab_size=64, hidden_size=64, num_hidden_layers=1,
                                        num_attention_heads=2, intermediate_size=32,
                                        rotary_pct=0.25, rotary_emb_base=1000,
                                        attn_implementation="eager")
    model = build(transformers.GPTNeoXForCausalLM, config, tmp_path, std=0.3)
    loaded = load_pretrained(tmp_path, batch_first=True)
    assert (loaded.positions.rotary_dim, loaded.positions.base) == (8, 1000.0)
    np.testing.assert_allclose(loaded.positions.frequencies(32), inverse_frequencies(model),
                               rtol=1e-6)
    (fused,) = hook_outputs(model.gpt_neox.layers[0].attention.query_key_value)
    qkv = lambda: fused[0].reshape(2, 9, 2, 96).transpose(0, 2, 1, 3)  # noqa: E731
    rotary_probabilities_match(model, loaded, lambda: qkv()[..., :32], lambda: qkv()[..., 32:64],
                               2)


@peers
def test_gptj_rotates_interleaved_pairs_of_rotary_dim(tmp_path):
    config = transformers.GPTJConfig(vocab_size=64, n_embd=32, n_layer=1, n_head=2, rotary_dim=8,
                                     n_positions=32, attn_implementation="eager")
    model = build(transformers.GPTJForCausalLM, config, tmp_path, std=0.3)
    loaded = load_pretrained(tmp_path, batch_first=True)
    assert loaded.positions.interleaved and loaded.positions.rotary_dim == 8
    attention = model.transformer.h[0].attn
    q, k = hook_outputs(attention.q_proj, attention.k_proj)
    rotary_probabilities_match(model, loaded, lambda: heads(q[0], 2), lambda: heads(k[0], 2), 2)


@peers
@pytest.mark.parametrize("scaling", [
    None,
    {"rope_type": "linear", "factor": 2.0},
    # original length 32 puts the first pair above, the second inside, the rest below the band
    {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
     "original_max_position_embeddings": 32},
])
def test_llama_rope_theta_and_scaling_with_grouped_keys(tmp_path, scaling):
    config = transformers.LlamaConfig(vocab_size=64, hidden_size=32, num_hidden_layers=1,
                                      num_attention_heads=2, num_key_value_heads=1,
                                      intermediate_size=32, rope_theta=5000.0,
                                      rope_scaling=scaling, max_position_embeddings=64,
                                      pad_token_id=0, attn_implementation="eager")
    model = build(transformers.LlamaForCausalLM, config, tmp_path, std=0.3)
    loaded = load_pretrained(tmp_path, batch_first=True)
    assert loaded.positions.base == 5000.0
    assert loaded.input_embedding.token_embedding.padding_idx == 0
    assert (loaded.positions.scaling or {}).get("kind") == (scaling or {}).get("rope_type")
    np.testing.assert_allclose(loaded.positions.frequencies(16), inverse_frequencies(model),
                               rtol=1e-6)
    attention = model.model.layers[0].self_attn
    q, k = hook_outputs(attention.q_proj, attention.k_proj)
    rotary_probabilities_match(model, loaded, lambda: heads(q[0], 2),
                               lambda: heads(k[0], 1).repeat(2, axis=1), 2)  # both heads, one key


# --- config spellings, tied tables and refusals (no model run needed) ----------------------------

def model_folder(folder, config, arrays, tokenizer=None):
    """A model folder written by hand: config.json, model.safetensors, GPT-2 tokenizer files."""
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    write_safetensors(folder / "model.safetensors", arrays)
    if tokenizer is not None:
        rankfiles.write_gpt2(tokenizer.ranks, tokenizer.special_tokens, folder / "vocab.json",
                             folder / "merges.txt")
    return folder


def rewrite_config(folder, config):
    (folder / "config.json").write_text(json.dumps(config))


LLAMA = {"model_type": "llama", "vocab_size": 16, "hidden_size": 8, "num_attention_heads": 2}
TABLE = np.arange(128.0).reshape(16, 8)


def test_transformers_4_spellings_of_the_rope_settings_are_read(tmp_path):
    model_folder(tmp_path, {**LLAMA, "rope_theta": 500000.0,
                            "rope_scaling": {"type": "linear", "factor": 4.0}},
                 {"model.embed_tokens.weight": TABLE})
    positions = load_pretrained(tmp_path).positions
    assert positions.base == 500000.0 and positions.scaling == {"kind": "linear", "factor": 4.0}
    model_folder(tmp_path, {**LLAMA, "model_type": "gpt_neox", "rotary_pct": 0.5,
                            "rotary_emb_base": 100}, {"gpt_neox.embed_in.weight": TABLE})
    positions = load_pretrained(tmp_path).positions
    assert (positions.rotary_dim, positions.base, positions.interleaved) == (2, 100.0, False)
    model_folder(tmp_path, {**LLAMA, "model_type": "gptj", "rotary_dim": 2},
                 {"transformer.wte.weight": TABLE})
    positions = load_pretrained(tmp_path).positions
    assert (positions.rotary_dim, positions.base, positions.interleaved) == (2, 10000.0, True)


@pytest.mark.parametrize("kind", ["dynamic", "yarn", "longrope"])
def test_unsupported_rope_scaling_is_named(tmp_path, kind):
    model_folder(tmp_path, {**LLAMA, "rope_parameters": {"rope_type": kind, "factor": 2.0,
                                                         "rope_theta": 10000.0}},
                 {"model.embed_tokens.weight": TABLE})
    with pytest.raises(ValueError, match=f"RoPE scaling '{kind}' is not supported; the supported "
                                         "kinds are linear, llama3"):
        load_pretrained(tmp_path)


def test_a_table_stored_only_as_the_tied_output_layer_is_found(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(
        {"model_type": "bloom", "vocab_size": 5, "hidden_size": 4, "n_head": 2}))
    table = np.arange(20.0).reshape(5, 4)
    write_safetensors(tmp_path / "model.safetensors",
                      {"lm_head.weight": table, "transformer.word_embeddings_layernorm.weight":
                       np.ones(4), "transformer.word_embeddings_layernorm.bias": np.zeros(4)})
    assert np.array_equal(load_pretrained(tmp_path).input_embedding.token_embedding.weight, table)
    rewrite_config(tmp_path, {**json.loads((tmp_path / "config.json").read_text()),
                              "tie_word_embeddings": False})
    with pytest.raises(ValueError, match="has no token embedding table .*word_embeddings.weight"):
        load_pretrained(tmp_path)


def test_unsupported_model_type_lists_the_supported_families(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "mamba"}))
    write_safetensors(tmp_path / "model.safetensors", {"w": np.zeros(1)})
    supported = "gpt2, bert, t5, gpt_neox, gptj, bloom, llama"
    with pytest.raises(ValueError, match=f"model_type 'mamba' is not supported; the supported "
                                         f"families are {supported}"):
        load_pretrained(tmp_path)


def test_misshapen_table_and_missing_config_are_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(
        {"model_type": "gpt2", "vocab_size": 5, "n_embd": 4, "n_head": 2, "n_positions": 3}))
    write_safetensors(tmp_path / "model.safetensors",
                      {"wte.weight": np.zeros((5, 4)), "wpe.weight": np.zeros((2, 4))})
    with pytest.raises(ValueError, match=r"position_embedding has shape \(2, 4\), but the model "
                                         r"needs \(3, 4\)"):
        load_pretrained(tmp_path)
    (tmp_path / "config.json").unlink()
    with pytest.raises(FileNotFoundError, match="has no config.json"):
        load_pretrained(tmp_path)


# --- the command line on hand-built folders -------------------------------------------------------

def cli_folders(root, tok):
    """A GPT-2, a LLaMA, a BLOOM and a T5 folder sharing ``tok``, with random tables."""
    rng = np.random.default_rng(0)
    vocab, width = tok.vocab_size, 8

    def table(*shape):
        return rng.standard_normal(shape)

    sizes = {"vocab_size": vocab, "hidden_size": width}
    return {
        "gpt2": model_folder(root / "gpt2", {"model_type": "gpt2", **sizes, "n_head": 2,
                                             "n_positions": 32},
                             {"wte.weight": table(vocab, width), "wpe.weight": table(32, width)},
                             tok),
        "llama": model_folder(root / "llama", {**sizes, "model_type": "llama",
                                               "num_attention_heads": 2, "rope_theta": 500.0},
                              {"model.embed_tokens.weight": table(vocab, width)}, tok),
        "bloom": model_folder(root / "bloom", {**sizes, "model_type": "bloom", "n_head": 4},
                              {"word_embeddings.weight": table(vocab, width),
                               "word_embeddings_layernorm.weight": table(width),
                               "word_embeddings_layernorm.bias": table(width)}, tok),
        "t5": model_folder(root / "t5", {"model_type": "t5", "vocab_size": vocab, "d_model": width,
                                         "num_heads": 2, "d_kv": 4},
                           {"shared.weight": table(vocab, width), "encoder.block.0.layer.0."
                            "SelfAttention.relative_attention_bias.weight": table(32, 2)}, tok),
    }


def test_embed_model_walks_the_models_own_tokenizer_table_and_positions(tmp_path, tok, capsys):
    folders = cli_folders(tmp_path, tok)
    assert main(["embed", "--model", str(folders["gpt2"]), "The lamp.", "Hi", "--save",
                 str(tmp_path / "out.npz")]) == 0
    printed = capsys.readouterr().out
    assert f"trained, from the gpt2 checkpoint in {folders['gpt2']}" in printed
    assert "step 5: positions      learned table, rows 0..4" in printed
    saved = np.load(tmp_path / "out.npz")
    stage = load_pretrained(folders["gpt2"]).input_embedding
    np.testing.assert_array_equal(saved["input_embeddings"], stage.forward(saved["ids"])[0])
    np.testing.assert_array_equal(saved["ids"][:, 0], tok.encode("The lamp."))


@pytest.mark.parametrize(("family", "words"), [
    ("llama", ["RoPE rotates q and k inside attention: 4 of 4 head dims, rotate-half pairs "
               "(t, t+2), base 500", "at the last position p = 4, the angles (radians): +4.0000"]),
    ("bloom", ["alibi adds a bias to the scores of each of its 4 heads",
               "bias (4, 5, 5) float64 = (n_heads, q_len, k_len)", "-1.0000 -0.7500 -0.5000",
               "then LayerNorm (eps 1e-05"]),
    ("t5", ["t5 adds a bias to the scores of each of its 2 heads (unscaled"]),
])
def test_embed_model_shows_what_an_attention_scheme_does_instead_of_rows(tmp_path, tok, capsys,
                                                                         family, words):
    folder = cli_folders(tmp_path, tok)[family]
    assert main(["embed", "--model", str(folder), "The lamp."]) == 0
    printed = capsys.readouterr().out
    assert "no rows are added" in printed
    assert all(word in printed for word in words), printed


def test_plot_positions_model_draws_each_kind_of_scheme(tmp_path, tok, capsys):
    folders = cli_folders(tmp_path, tok)
    for family, title in (("gpt2", "cosine similarity of learned positions"),
                          ("llama", "RoPE cos(p theta_t), base 500, 4 of 4 dims"),
                          ("bloom", "alibi score bias by head, key - query from -63 to 0"),
                          ("t5", "t5 score bias by head, key - query from -63 to 63")):
        assert main(["plot", "positions", "--model", str(folders[family]), "--no-color"]) == 0
        assert title in capsys.readouterr().out
        assert main(["plot", "positions", "--model", str(folders[family]), "--out",
                     str(tmp_path / f"{family}.png")]) == 0
        assert (tmp_path / f"{family}.png").read_bytes().startswith(b"\x89PNG")
    capsys.readouterr()


def test_learned_similarity_is_the_cosine_of_the_tables_rows(tmp_path, tok):
    from minimal_embed.app.plots import model_positions_picture

    model = load_pretrained(cli_folders(tmp_path, tok)["gpt2"])
    table = model.positions.table.weight.astype(np.float64)
    looped = np.array([[p @ q / np.linalg.norm(p) / np.linalg.norm(q) for q in table]
                       for p in table])
    np.testing.assert_allclose(model_positions_picture(model).values, looped, atol=1e-12)


@pytest.mark.parametrize(("arguments", "words"), [
    (["embed", "--model", "{root}/nothing", "x"], "no model folder at"),
    (["embed", "--model", "{root}/llama", "--positions", "learned", "x"], "leave out --positions"),
    (["embed", "--model", "{root}/bare", "x"], "has no tokenizer this package reads"),
    (["plot", "positions", "--model", "{root}/gpt2", "--length", "40"],
     "--length 40 is more than the 32 rows"),
])
def test_model_command_mistakes_get_one_line_and_exit_2(tmp_path, tok, capsys, arguments, words):
    cli_folders(tmp_path, tok)
    model_folder(tmp_path / "bare", LLAMA, {"model.embed_tokens.weight": TABLE})
    assert main([argument.format(root=tmp_path) for argument in arguments]) == 2
    error = capsys.readouterr().err
    assert words in error and error.count("\n") == 1


@pytest.mark.parametrize("content", [b"[" * 100_000 + b"]" * 100_000,
                                     b'{"n": ' + b"9" * 5000 + b"}", b'{"model_type\xff": 1}'],
                         ids=["nested", "5000-digits", "not-utf8"])
def test_a_damaged_config_json_is_a_value_error_naming_it(tmp_path, content):
    (tmp_path / "config.json").write_bytes(content)
    with pytest.raises(ValueError, match="config.json is not valid JSON") as caught:
        load_pretrained(tmp_path)
    assert str(tmp_path / "config.json") in str(caught.value)


def test_a_folder_with_a_tokenizer_json_gets_that_tokenizer(tmp_path):
    pytest.importorskip("tokenizers")
    from minimal_embed import load_hf_tokenizer
    from minimal_embed.pretrained.load import read_tokenizer
    from minimal_embed.tokenizer import Tokenizer

    tok = Tokenizer.train("the keeper lit the lamp at dusk " * 5, 300)
    tok.to_hf(tmp_path / "tokenizer.json")
    read = read_tokenizer(tmp_path)
    assert read == load_hf_tokenizer(tmp_path / "tokenizer.json") == tok
