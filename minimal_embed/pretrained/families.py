"""Where each model family keeps its input stage, and which position scheme it uses.

A Hugging Face folder's ``config.json`` names the family (``model_type``) and its sizes; its
weights name every array by the module path of the PyTorch model that saved it. For each family
this module reads the few settings and arrays the input stage and the position scheme need, and
says what they become here:

========  ==========================================  ======================================
family    input stage (arrays)                         position scheme (settings)
========  ==========================================  ======================================
gpt2      ``wte`` + learned ``wpe`` rows               Learned (``n_positions`` rows)
bert      word + position + token-type rows, LayerNorm  Learned; ``pad_token_id`` = padding_idx
t5        ``shared`` rows, nothing added               T5Buckets, the first layer's table per
                                                       stack: encoder two-sided, decoder causal;
                                                       scores unscaled
gpt_neox  ``embed_in`` rows                            RoPE on ``rotary_pct`` of each head,
                                                       base ``rotary_emb_base``, rotate-half
gptj      ``wte`` rows                                 RoPE on ``rotary_dim`` dims, interleaved
bloom     ``word_embeddings`` + its LayerNorm          ALiBi with ``n_head`` slopes
llama     ``embed_tokens`` rows                        RoPE, base ``rope_theta``, ``rope_scaling``
========  ==========================================  ======================================

Names are looked up with and without the prefix a task model adds (``transformer.``, ``bert.``,
``model.``, ``gpt_neox.``), and a token table stored only as the tied output layer
(``lm_head.weight``, when ``tie_word_embeddings``) is found there. Both spellings of the RoPE
settings are read: ``rope_theta`` / ``rope_scaling`` (transformers 4) and ``rope_parameters``
(transformers 5).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from minimal_embed.relative import ROPE_SCALINGS
from minimal_embed.schemes import ALiBi, Learned, PositionScheme, RoPE, T5Buckets

__all__ = ["FAMILIES", "Parts", "family_parts"]


@dataclass
class Parts:
    """What one family's checkpoint gives: the input stage's shape and arrays, the schemes."""

    vocab_size: int
    d_model: int
    n_heads: int
    head_dim: int
    positions: PositionScheme
    arrays: dict[str, np.ndarray]            # the stage's state_dict names -> checkpoint arrays
    token_types: int = 0
    layer_norm_eps: float | None = None
    padding_idx: int | None = None
    score_scale: float | None = None         # factor of q @ k^T; None: 1 / sqrt(head_dim)
    decoder_positions: PositionScheme | None = None
    decoder_arrays: dict[str, np.ndarray] = field(default_factory=dict)


class _Weights:
    """A checkpoint's arrays, looked up with and without the family's prefixes."""

    def __init__(self, arrays: Mapping[str, np.ndarray], prefixes: tuple[str, ...],
                 config: dict[str, Any], where: str, tied_default: bool) -> None:
        self.arrays, self.prefixes, self.where = arrays, ("",) + prefixes, where
        self.tied = bool(config.get("tie_word_embeddings", tied_default))

    def get(self, *names: str) -> np.ndarray | None:
        """The first of ``names`` present under any prefix, or None."""
        for name in names:
            for prefix in self.prefixes:
                if prefix + name in self.arrays:
                    return self.arrays[prefix + name]
        return None

    def find(self, what: str, *names: str) -> np.ndarray:
        """The first of ``names`` present; ValueError naming what is missing otherwise."""
        found = self.get(*names)
        if found is None:
            tried = [prefix + name for name in names for prefix in self.prefixes]
            raise ValueError(f"{self.where} has no {what} (looked for {', '.join(tried)}); it is "
                             "not a complete checkpoint of this model family")
        return found

    def token_table(self, *names: str) -> np.ndarray:
        """The token table, or the output layer it is tied to when only that was stored."""
        found = self.get(*names)
        if found is None and self.tied and "lm_head.weight" in self.arrays:
            return self.arrays["lm_head.weight"]
        return self.find("token embedding table", *names)


def _setting(config: dict[str, Any], *names: str, default: Any = None, where: str) -> Any:
    """The first of ``names`` in config (aliases), else ``default``; None: required."""
    for name in names:
        if config.get(name) is not None:
            return config[name]
    if default is None:
        raise ValueError(f"{where} lacks the setting {names[0]!r}"
                         + (f" (or {', '.join(map(repr, names[1:]))})" if names[1:] else ""))
    return default


def _heads(config: dict[str, Any], d_model: int, where: str, *names: str) -> tuple[int, int]:
    """(n_heads, head_dim): head_dim from the config when given, else d_model / n_heads."""
    n_heads = int(_setting(config, *names, where=where))
    head_dim = config.get("head_dim") or config.get("d_kv") or d_model // n_heads
    return n_heads, int(head_dim)


def _padding_idx(config: dict[str, Any], vocab_size: int, where: str) -> int | None:
    """``pad_token_id`` as a row, negative counting from the end as in PyTorch's Embedding."""
    pad = config.get("pad_token_id")
    if pad is None:
        return None
    if not -vocab_size <= int(pad) < vocab_size:
        raise ValueError(f"{where}: pad_token_id={pad} is not a row of the {vocab_size}-row "
                         "token table")
    return int(pad) % vocab_size


# --- the families --------------------------------------------------------------------------------

def _gpt2(config: dict[str, Any], weights: _Weights, dtype: np.dtype) -> Parts:
    where = weights.where
    d_model = int(_setting(config, "n_embd", "hidden_size", where=where))
    n_heads, head_dim = _heads(config, d_model, where, "n_head", "num_attention_heads")
    max_len = int(_setting(config, "n_positions", "max_position_embeddings", where=where))
    return Parts(int(_setting(config, "vocab_size", where=where)), d_model, n_heads, head_dim,
                 Learned(max_len, d_model, std=0.0, dtype=dtype),
                 {"token_embedding": weights.token_table("wte.weight"),
                  "position_embedding": weights.find("position table", "wpe.weight")})


def _bert(config: dict[str, Any], weights: _Weights, dtype: np.dtype) -> Parts:
    where = weights.where
    kind = config.get("position_embedding_type", "absolute")
    if kind != "absolute":
        raise ValueError(f"{where}: position_embedding_type {kind!r} is not supported; this "
                         "reader knows BERT's learned absolute table ('absolute')")
    d_model = int(_setting(config, "hidden_size", where=where))
    vocab_size = int(_setting(config, "vocab_size", where=where))
    n_heads, head_dim = _heads(config, d_model, where, "num_attention_heads")
    max_len = int(_setting(config, "max_position_embeddings", where=where))
    prefix = "embeddings."
    norm = {"layer_norm.gamma": weights.find("embedding LayerNorm weight", prefix +
                                             "LayerNorm.weight", prefix + "LayerNorm.gamma"),
            "layer_norm.beta": weights.find("embedding LayerNorm bias", prefix + "LayerNorm.bias",
                                            prefix + "LayerNorm.beta")}
    positions = Learned(max_len, d_model, std=0.0, dtype=dtype)  # a table to load into
    return Parts(vocab_size, d_model, n_heads, head_dim, positions,
                 {"token_embedding": weights.token_table(prefix + "word_embeddings.weight"),
                  "position_embedding": weights.find("position table",
                                                     prefix + "position_embeddings.weight"),
                  "token_type_embedding": weights.find("token-type table",
                                                       prefix + "token_type_embeddings.weight"),
                  **norm},
                 token_types=int(_setting(config, "type_vocab_size", default=2, where=where)),
                 layer_norm_eps=float(_setting(config, "layer_norm_eps", default=1e-12,
                                              where=where)),
                 padding_idx=_padding_idx(config, vocab_size, where))


def _t5(config: dict[str, Any], weights: _Weights, dtype: np.dtype) -> Parts:
    where = weights.where
    d_model = int(_setting(config, "d_model", "hidden_size", where=where))
    n_heads, head_dim = _heads(config, d_model, where, "num_heads", "num_attention_heads")
    buckets = int(_setting(config, "relative_attention_num_buckets", default=32, where=where))
    distance = int(_setting(config, "relative_attention_max_distance", default=128, where=where))

    def stack(causal: bool) -> T5Buckets:
        return T5Buckets(n_heads, num_buckets=buckets, max_distance=distance,
                         bidirectional=not causal, std=0.0, dtype=dtype)

    table = "block.0.layer.0.SelfAttention.relative_attention_bias.weight"  # layer 0 holds it
    decoder = weights.get("decoder." + table)
    return Parts(int(_setting(config, "vocab_size", where=where)), d_model, n_heads, head_dim,
                 stack(causal=False),
                 {"token_embedding": weights.token_table("shared.weight",
                                                         "encoder.embed_tokens.weight"),
                  "t5.table": weights.find("encoder position-bias table", "encoder." + table)},
                 score_scale=1.0,  # T5 folds the 1/sqrt(d_head) into its initialisation
                 decoder_positions=None if decoder is None else stack(causal=True),
                 decoder_arrays={} if decoder is None else {"t5.table": decoder})


def _rope_settings(config: dict[str, Any], where: str, *, base_names: tuple[str, ...],
                   default_partial: float = 1.0) -> tuple[float, dict | None, float]:
    """(base, our scaling or None, rotated share of a head) from either config spelling."""
    parameters = config.get("rope_parameters") or {}
    scaling = config.get("rope_scaling") or parameters
    base = float(parameters.get("rope_theta")
                 or _setting(config, *base_names, default=10000.0, where=where))
    partial = float(parameters.get("partial_rotary_factor")
                    or _setting(config, "rotary_pct", "partial_rotary_factor",
                                default=default_partial, where=where))
    kind = scaling.get("rope_type", scaling.get("type", "default")) if scaling else "default"
    if kind == "default":
        return base, None, partial
    if kind not in ROPE_SCALINGS:
        raise ValueError(f"{where}: RoPE scaling {kind!r} is not supported; the supported kinds "
                         f"are {', '.join(ROPE_SCALINGS)} (and none)")
    try:
        ours: dict[str, Any] = {"kind": kind, "factor": float(scaling["factor"])}
        if kind == "llama3":
            ours.update(low_freq_factor=float(scaling["low_freq_factor"]),
                        high_freq_factor=float(scaling["high_freq_factor"]),
                        original_max_len=int(scaling["original_max_position_embeddings"]))
    except KeyError as error:
        raise ValueError(f"{where}: RoPE scaling {kind!r} lacks the setting {error}") from None
    return base, ours, partial


def _rotary(config: dict[str, Any], weights: _Weights, table: str, heads: tuple[str, ...], *,
            interleaved: bool, rotary_share: Callable[[int], tuple[int, float, dict | None]],
            padding: bool = False) -> Parts:
    """A RoPE family: a bare token table; ``rotary_share(head_dim)`` -> (dims, base, scaling)."""
    where = weights.where
    d_model = int(_setting(config, "hidden_size", "n_embd", where=where))
    vocab_size = int(_setting(config, "vocab_size", where=where))
    n_heads, head_dim = _heads(config, d_model, where, *heads)
    dims, base, scaling = rotary_share(head_dim)
    if not 2 <= dims <= head_dim or dims % 2:
        raise ValueError(f"{where}: {dims} rotary dims do not fit a head of {head_dim} (RoPE "
                         "turns an even number of dims, at least 2)")
    scheme = RoPE(base=base, rotary_dim=None if dims == head_dim else dims,
                  interleaved=interleaved, scaling=scaling)
    return Parts(vocab_size, d_model, n_heads, head_dim, scheme,
                 {"token_embedding": weights.token_table(table)},
                 padding_idx=_padding_idx(config, vocab_size, where) if padding else None)


def _gpt_neox(config: dict[str, Any], weights: _Weights, dtype: np.dtype) -> Parts:
    # Black et al. (2022): rotate-half on the first rotary_pct of each head (Pythia: 25 %)
    base, scaling, share = _rope_settings(config, weights.where, default_partial=0.25,
                                          base_names=("rotary_emb_base", "rope_theta"))
    return _rotary(config, weights, "embed_in.weight", ("num_attention_heads",),
                   interleaved=False, rotary_share=lambda head: (int(head * share), base, scaling))


def _gptj(config: dict[str, Any], weights: _Weights, dtype: np.dtype) -> Parts:
    # Wang & Komatsuzaki (2021): interleaved pairs on the first rotary_dim dims; the base is
    # fixed at 10000 in the model code, whatever the config says
    dims = config.get("rotary_dim")
    return _rotary(config, weights, "wte.weight", ("n_head", "num_attention_heads"),
                   interleaved=True, rotary_share=lambda head: (head if dims is None
                                                                else int(dims), 10000.0, None))


def _llama(config: dict[str, Any], weights: _Weights, dtype: np.dtype) -> Parts:
    # the Hugging Face port permutes W_q, W_k so that rotate-half reproduces Meta's pairs
    base, scaling, share = _rope_settings(config, weights.where, base_names=("rope_theta",))
    return _rotary(config, weights, "embed_tokens.weight", ("num_attention_heads",),
                   interleaved=False, padding=True,
                   rotary_share=lambda head: (int(head * share), base, scaling))


def _bloom(config: dict[str, Any], weights: _Weights, dtype: np.dtype) -> Parts:
    where = weights.where
    d_model = int(_setting(config, "hidden_size", "n_embed", where=where))
    n_heads, head_dim = _heads(config, d_model, where, "n_head", "num_attention_heads")
    return Parts(int(_setting(config, "vocab_size", where=where)), d_model, n_heads, head_dim,
                 ALiBi(n_heads, dtype=dtype),
                 {"token_embedding": weights.token_table("word_embeddings.weight"),
                  "layer_norm.gamma": weights.find("embedding LayerNorm weight",
                                                   "word_embeddings_layernorm.weight"),
                  "layer_norm.beta": weights.find("embedding LayerNorm bias",
                                                  "word_embeddings_layernorm.bias")},
                 layer_norm_eps=float(_setting(config, "layer_norm_epsilon", default=1e-5,
                                              where=where)))


# model_type -> (reader, key prefixes of the task models, tie_word_embeddings by default)
FAMILIES: dict[str, tuple[Callable[..., Parts], tuple[str, ...], bool]] = {
    "gpt2": (_gpt2, ("transformer.",), True),
    "bert": (_bert, ("bert.",), True),
    "t5": (_t5, (), True),
    "gpt_neox": (_gpt_neox, ("gpt_neox.",), False),
    "gptj": (_gptj, ("transformer.",), False),
    "bloom": (_bloom, ("transformer.",), True),
    "llama": (_llama, ("model.",), False),
}


def family_parts(config: dict[str, Any], arrays: Mapping[str, np.ndarray], *, dtype: np.dtype,
                 where: str) -> tuple[str, Parts]:
    """The family named by ``config["model_type"]`` and what its checkpoint gives.

    Raises
    ------
    ValueError
        For an unsupported ``model_type`` (listing the supported ones), a missing setting or
        array, or settings this package cannot reproduce exactly (naming them).
    """
    family = config.get("model_type")
    if family not in FAMILIES:
        raise ValueError(f"{where}: model_type {family!r} is not supported; the supported "
                         f"families are {', '.join(FAMILIES)}")
    read, prefixes, tied = FAMILIES[family]
    return family, read(config, _Weights(arrays, prefixes, config, where, tied), dtype)

