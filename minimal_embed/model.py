"""The model that trains the embeddings: one causal attention layer over the input embeddings.

Everything before this module turns text into input vectors. Those vectors only mean something
once a model has been trained through them, so this module is the smallest language model that
does it, with every gradient written out by hand::

    ids (seq_len, batch)
      x      = input_embedding(ids)                E[ids] + P: the InputEmbedding stage
                                                    (sinusoidal: sqrt(d_model) E[ids] + P)
      q,k,v  = x Wq, x Wk, x Wv, split into heads   RoPE rotates q and k
      a      = softmax(q k^T / sqrt(d_head) + bias + causal mask) v    ALiBi / T5 add the bias
      h      = x + merge_heads(a) Wo                one attention layer with a residual
      y      = LayerNorm(h)                         the final LayerNorm (GPT-2's ln_f)
      logits = y E^T                                the output reuses the token table (tied)
      loss   = mean over tokens of -log softmax(logits)[next token]

There is no MLP and only one layer: this is about the embeddings, not about a good model.
Tying the output to ``E`` (Press & Wolf, 2017; GPT-2, Radford et al., 2019) means the token
table gets gradient twice: from where its rows were read and from every logit.

Each stage's backward sits directly under its forward. Arrays follow the package layout,
``(seq_len, batch, d_model)``; inside attention, heads are ``(batch, n_heads, seq_len, d_head)``.
The position scheme (:mod:`minimal_embed.schemes`) is asked its three questions and no branch
names a scheme: the input stage adds its rows (learned, sinusoidal), attention rotates q and k
(rope) and adds its bias (alibi, t5); ``none`` leaves order to the causal mask alone.

Hands on: a model whose parameters ``train.py`` updates with Adam and saves as a checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple, cast

import numpy as np
import numpy.typing as npt

from minimal_embed._checks import check_integer, check_real
from minimal_embed.attention import attend, attend_backward, softmax
from minimal_embed.checkpoint import copy_arrays
from minimal_embed.embedding import check_ids
from minimal_embed.layernorm import LayerNormCache, layer_norm, layer_norm_backward
from minimal_embed.pipeline import InputCache, InputEmbedding
from minimal_embed.schemes import POSITION_SCHEMES, position_scheme, scheme_class

__all__ = ["POSITION_SCHEMES", "ModelConfig", "AttentionLM", "cross_entropy",
           "cross_entropy_backward", "split_heads", "merge_heads"]


@dataclass(frozen=True)
class ModelConfig:
    """The shape of an :class:`AttentionLM`.

    Parameters
    ----------
    vocab_size : int
        Rows of the token table (the tokenizer's ``vocab_size``).
    d_model : int, default 128
        Width of every vector; a multiple of ``n_heads``.
    n_heads : int, default 4
        Attention heads, each ``d_model // n_heads`` wide.
    max_len : int, default 64
        Rows of the learned position table (the longest sequence it can read). The other
        schemes have no such limit.
    positions : str, default "learned"
        One of ``POSITION_SCHEMES``.
    init_std : float, default 0.02
        Standard deviation of the initial weights (GPT-2's value); the learned position table
        starts at 0.01, as in GPT-2.
    t5_buckets, t5_max_distance : int, default 32 and 128
        T5's bucket count and the distance past which all keys share the last bucket.
    """

    vocab_size: int
    d_model: int = 128
    n_heads: int = 4
    max_len: int = 64
    positions: str = "learned"
    init_std: float = 0.02
    t5_buckets: int = 32
    t5_max_distance: int = 128

    def __post_init__(self) -> None:
        # stored as Python numbers (a NumPy scalar is accepted), so the metadata is plain JSON
        for name in ("vocab_size", "d_model", "n_heads", "max_len", "t5_buckets",
                     "t5_max_distance"):
            object.__setattr__(self, name, check_integer(name, getattr(self, name), 1))
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model={self.d_model} must be a multiple of "
                             f"n_heads={self.n_heads} (each head gets d_model // n_heads dims)")
        scheme_class(self.positions).check_head(self.d_head)
        object.__setattr__(self, "init_std",
                           check_real("init_std", self.init_std, least=0.0, above=True))

    def as_dict(self) -> dict[str, Any]:
        """The fields, for a checkpoint's metadata."""
        return {field: getattr(self, field) for field in self.__dataclass_fields__}

    @property
    def d_head(self) -> int:
        """Width of one attention head, ``d_model // n_heads``."""
        return self.d_model // self.n_heads


# --------------------------------------------------------------------------- heads


def split_heads(x: np.ndarray, n_heads: int) -> np.ndarray:
    """``(seq_len, batch, d_model)`` -> ``(batch, n_heads, seq_len, d_head)``, contiguous.

    Head h owns columns ``h * d_head .. (h + 1) * d_head - 1``. Its backward is `merge_heads`
    (the two only move numbers around, so each is the other's adjoint).
    """
    seq_len, batch, d_model = x.shape
    heads = x.reshape(seq_len, batch, n_heads, d_model // n_heads)  # (seq_len, batch, H, d_head)
    return np.ascontiguousarray(heads.transpose(1, 2, 0, 3))  # (batch, H, seq_len, d_head)


def merge_heads(x: np.ndarray) -> np.ndarray:
    """``(batch, n_heads, seq_len, d_head)`` -> ``(seq_len, batch, d_model)``; undoes `split_heads`.
    """
    batch, n_heads, seq_len, d_head = x.shape
    return x.transpose(2, 0, 1, 3).reshape(seq_len, batch, n_heads * d_head)


# --------------------------------------------------------------------------- loss


def cross_entropy(logits: np.ndarray, targets: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean next-token loss ``L = mean_n (logsumexp(z_n) - z_n[t_n])``, in nats per token.

    Parameters
    ----------
    logits : float array ``(..., vocab_size)``, e.g. ``(seq_len, batch, vocab_size)``.
    targets : int array of logits' leading shape, each in ``0 .. vocab_size - 1``.

    Returns
    -------
    loss : float, accumulated in float64.
    probs : ``softmax(logits)``, logits' shape and dtype; keep it for `cross_entropy_backward`.

    Raises
    ------
    TypeError
        For targets that are not integers.
    ValueError
        For a target outside ``0 .. vocab_size - 1`` or targets not of logits' leading shape.

    Examples
    --------
    >>> loss, probs = cross_entropy(np.zeros((2, 4)), np.array([0, 3]))
    >>> round(loss, 4), round(float(np.log(4)), 4), probs[0].tolist()
    (1.3863, 1.3863, [0.25, 0.25, 0.25, 0.25])
    """
    targets = check_ids(targets, logits.shape[-1])
    if targets.shape != logits.shape[:-1]:
        raise ValueError(f"targets {targets.shape} must match the logits' leading shape "
                         f"{logits.shape[:-1]}")
    probs = softmax(logits)  # (..., V), the same softmax attention uses
    target_prob = np.take_along_axis(probs, targets[..., None], axis=-1)[..., 0]  # (...,)
    # subtle: a float32 probability below 1e-45 would be 0 and its loss infinite; logits of a
    # tied model are bounded by |y| |E| and never spread that far
    loss = -np.mean(np.log(target_prob, dtype=np.float64))
    return float(loss), probs


def cross_entropy_backward(probs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """``dL/dz_n = (softmax(z_n) - one_hot(t_n)) / N`` for the mean over N tokens.

    Parameters
    ----------
    probs : float array ``(..., vocab_size)``, the ``probs`` returned by `cross_entropy`.
    targets : int array of probs' leading shape, the same targets.

    Returns
    -------
    ``dL/dlogits``, probs' shape and dtype: ``probs`` itself, overwritten (the forward's
    buffer, not needed again).
    """
    flat = probs.reshape(-1, probs.shape[-1])  # (N, V), a view
    flat[np.arange(flat.shape[0]), targets.reshape(-1)] -= 1.0
    probs *= probs.dtype.type(1.0 / flat.shape[0])
    return probs


# --------------------------------------------------------------------------- the model


class _AttentionCache(NamedTuple):
    x: np.ndarray  # (seq_len, batch, d_model) the attention's input
    q: np.ndarray  # (batch, H, seq_len, d_head), after the scheme's rotation
    k: np.ndarray  # (batch, H, seq_len, d_head), after the scheme's rotation
    v: np.ndarray  # (batch, H, seq_len, d_head)
    weights: np.ndarray  # (batch, H, seq_len, seq_len) attention probabilities
    merged: np.ndarray  # (seq_len * batch, d_model) heads side by side, before Wo


class _Cache(NamedTuple):
    embed: InputCache
    attention: _AttentionCache
    ln_f: LayerNormCache
    y: np.ndarray  # (seq_len, batch, d_model) the final LayerNorm's output


class AttentionLM:
    """Input embeddings -> one causal self-attention layer -> LayerNorm -> tied logits.

    The input stage is ``self.input_embedding``, an :class:`~minimal_embed.pipeline.
    InputEmbedding`; its position scheme, ``self.positions`` (the same object), also rotates q
    and k or biases the scores when it acts there. The parameters live in ``self.params``, a
    dict of arrays (updated in place by an optimizer) whose names are the checkpoint's keys:
    ``token_embedding`` ``(V, d_model)``, ``position_embedding`` ``(max_len, d_model)`` (learned
    only), ``attn.w_q``, ``attn.w_k``, ``attn.w_v``, ``attn.w_o`` ``(d_model, d_model)`` (used as
    ``x @ W``), ``ln_f.gamma``, ``ln_f.beta`` ``(d_model,)`` and ``t5.table``
    ``(t5_buckets, n_heads)`` (t5 only).

    Parameters
    ----------
    config : ModelConfig
    seed : int, default 0
        Seeds every initial weight; the same seed gives the same model.
    dtype : floating dtype, default np.float32 (float64 for gradient checks)

    Examples
    --------
    >>> model = AttentionLM(ModelConfig(vocab_size=50, d_model=8, n_heads=2, max_len=6))
    >>> ids = np.zeros((5, 3), dtype=np.int64)  # (seq_len, batch)
    >>> logits, cache = model.forward(ids)
    >>> logits.shape
    (5, 3, 50)
    >>> sorted(model.backward(np.ones_like(logits), cache)) == sorted(model.params)
    True
    """

    def __init__(self, config: ModelConfig, *, seed: int = 0,
                 dtype: npt.DTypeLike = np.float32) -> None:
        self.config = config
        self.dtype = np.dtype(dtype)
        d, std = config.d_model, config.init_std
        # one child seed per parameter, so adding a scheme never shifts another's weights; the
        # input stage draws its token table from child 0, as InputEmbedding(seed=seed) does
        seeds = np.random.SeedSequence(seed).generate_state(8)
        # a decoder: keys after the query never count, so T5's buckets are one-sided
        self.positions = position_scheme(
            config.positions, d_model=d, n_heads=config.n_heads, max_len=config.max_len,
            causal=True, num_buckets=config.t5_buckets, max_distance=config.t5_max_distance,
            std=std, seed=int(seeds[1]), dtype=dtype)
        self.input_embedding = InputEmbedding(
            None, d, vocab_size=config.vocab_size, positions=self.positions,
            scale=self.positions.scales_tokens, token_std=std, seed=seed, dtype=dtype)
        self.params: dict[str, np.ndarray] = dict(self.input_embedding.parameters())
        for i, name in enumerate(("attn.w_q", "attn.w_k", "attn.w_v", "attn.w_o")):
            rng = np.random.default_rng(int(seeds[2 + i]))
            self.params[name] = (rng.standard_normal((d, d)) * std).astype(dtype)
        self.params["ln_f.gamma"] = np.ones(d, dtype=dtype)
        self.params["ln_f.beta"] = np.zeros(d, dtype=dtype)
        if self.positions.acts_on != "input":
            self.params.update(self.positions.parameters())  # T5's table

    def load_params(self, arrays: dict[str, np.ndarray], what: str = "the arrays") -> None:
        """Copy saved arrays into the parameters in place (names and shapes must match).

        Raises
        ------
        ValueError
            Naming the missing or unexpected arrays, or the first array of the wrong shape.
        """
        unexpected = sorted(set(arrays) - set(self.params))
        if unexpected:
            raise ValueError(f"{what} do not fit a {self.config.positions!r} model: unexpected "
                             f"{unexpected}; build the model with the configuration they were "
                             "saved from")
        copy_arrays(self.params, arrays, what)

    # ----------------------------------------------------------------------- attention

    def _attention(self, x: np.ndarray) -> tuple[np.ndarray, _AttentionCache]:
        """``o = merge_heads(softmax(rot(q) rot(k)^T / sqrt(d_head) + bias, causal) v) Wo``."""
        p, n_heads = self.params, self.config.n_heads
        seq_len, _, d = x.shape
        x2d = x.reshape(-1, d)  # (seq_len * batch, d_model): one matrix product, not seq_len
        q, k, v = (split_heads((x2d @ p[name]).reshape(x.shape), n_heads)
                   for name in ("attn.w_q", "attn.w_k", "attn.w_v"))  # (batch, H, seq_len, d_head)
        positions = np.arange(seq_len)  # (seq_len,): query and key i sit at position i
        q, k = self.positions.rotate(q, positions), self.positions.rotate(k, positions)
        heads, weights = attend(q, k, v, bias=self.positions.score_bias(seq_len), causal=True)
        merged = merge_heads(heads).reshape(-1, d)  # (seq_len * batch, d_model)
        out = (merged @ p["attn.w_o"]).reshape(x.shape)  # (seq_len, batch, d_model)
        return out, _AttentionCache(x, q, k, v, weights, merged)

    def _attention_backward(self, grad_out: np.ndarray,
                            cache: _AttentionCache) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """``(dL/dx, grads)`` for `_attention`: back through Wo, the heads, the scheme and the
        projections; grads holds ``attn.w_*`` (and the scheme's own, T5's ``t5.table``)."""
        p, d = self.params, self.config.d_model
        x2d = cache.x.reshape(-1, d)  # (seq_len * batch, d_model)
        grad_out = grad_out.reshape(-1, d)  # (seq_len * batch, d_model)
        grads = {"attn.w_o": cache.merged.T @ grad_out}
        grad_merged = (grad_out @ p["attn.w_o"].T).reshape(cache.x.shape)
        grad_heads = split_heads(grad_merged, self.config.n_heads)
        scored = self.positions.acts_on == "scores"
        dq, dk, dv, dbias = attend_backward(
            grad_heads, cache.q, cache.k, cache.v, cache.weights,
            bias_shape=(self.config.n_heads, *cache.weights.shape[-2:]) if scored else None)
        if scored:
            grads.update(self.positions.score_bias_backward(dbias))
        positions = np.arange(cache.x.shape[0])
        dq = self.positions.rotate_backward(dq, positions)
        dk = self.positions.rotate_backward(dk, positions)
        grad_x = np.zeros_like(cache.x)  # (seq_len, batch, d_model)
        for name, grad_heads_part in (("attn.w_q", dq), ("attn.w_k", dk), ("attn.w_v", dv)):
            grad_proj = merge_heads(grad_heads_part).reshape(-1, d)  # (seq_len * batch, d_model)
            grads[name] = x2d.T @ grad_proj  # y = x W  =>  dW = x^T dy
            grad_x += (grad_proj @ p[name].T).reshape(grad_x.shape)  # and dx = dy W^T
        return grad_x, grads

    # ----------------------------------------------------------------------- the whole model

    def forward(self, ids: np.ndarray) -> tuple[np.ndarray, _Cache]:
        """Logits for every position of every sequence.

        Parameters
        ----------
        ids : int array ``(seq_len, batch)``.

        Returns
        -------
        logits : ``(seq_len, batch, vocab_size)``; position i predicts token i + 1.
        cache : what `backward` needs.

        Raises
        ------
        ValueError
            Ids outside the vocabulary; with learned positions, ``seq_len > max_len`` (a
            learned table has no rows for positions it never saw).
        """
        embedded = self.input_embedding.forward_steps(ids)  # checks the ids
        x, embed_cache = embedded.embeddings, embedded.cache  # (seq_len, batch, d_model)
        attn_out, attn_cache = self._attention(x)  # (seq_len, batch, d_model)
        h = x + attn_out  # the residual
        y, ln_cache = layer_norm(h, self.params["ln_f.gamma"], self.params["ln_f.beta"])
        d, vocab_size = self.config.d_model, self.config.vocab_size
        # the tied output: one (N, d) @ (d, V) product, 2x faster than the stacked 3-D matmul
        logits = (y.reshape(-1, d) @ self.params["token_embedding"].T).reshape(
            *y.shape[:-1], vocab_size)  # (seq_len, batch, V)
        return logits, _Cache(embed_cache, attn_cache, ln_cache, y)

    def backward(self, grad_logits: np.ndarray, cache: _Cache) -> dict[str, np.ndarray]:
        """Gradients of every parameter, given ``dL/dlogits`` and the forward's cache.

        Returns
        -------
        dict with the keys and shapes of ``self.params``.
        """
        d, vocab_size = self.config.d_model, self.config.vocab_size
        grad2d = grad_logits.reshape(-1, vocab_size)  # (N, V)
        # logits = y E^T: E gets grad^T y here, and more below where its rows were read
        grad_table_out = grad2d.T @ cache.y.reshape(-1, d)  # (V, d_model)
        grad_y = (grad2d @ self.params["token_embedding"]).reshape(cache.y.shape)
        grad_h, grad_gamma, grad_beta = layer_norm_backward(grad_y, cache.ln_f)
        # h = x + attention(x): the residual passes grad_h straight to x, attention adds its part
        grad_x_attn, grads = self._attention_backward(grad_h, cache.attention)
        grad_x = grad_h + grad_x_attn
        # the input stage: the token rows it read (scatter-add), its position rows
        # (dense arrays: sparse=False)
        grads.update(cast(dict[str, np.ndarray],
                          self.input_embedding.backward(grad_x, cache=cache.embed)))
        grads["token_embedding"] += grad_table_out
        grads["ln_f.gamma"], grads["ln_f.beta"] = grad_gamma, grad_beta
        return {name: grads[name] for name in self.params}  # in the parameters' order

    def loss(self, inputs: np.ndarray, targets: np.ndarray) -> float:
        """Mean next-token cross-entropy (nats/token) of ``targets`` given ``inputs``."""
        logits, _ = self.forward(inputs)
        return cross_entropy(logits, targets)[0]

    def loss_and_grads(self, inputs: np.ndarray,
                       targets: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        """One training step's work: the loss and the gradient of every parameter."""
        logits, cache = self.forward(inputs)
        loss, probs = cross_entropy(logits, targets)
        return loss, self.backward(cross_entropy_backward(probs, targets), cache)
