"""The whole input stage in one object: text -> ids -> token vectors + positions -> embeddings.

:class:`InputEmbedding` chains the steps of the earlier modules and keeps what its backward
needs. With the default layout (``batch_first=False``; ``True`` swaps the first two axes)::

    texts ──tokenizer.encode_batch──▶ ids, mask              (seq_len, batch) int64, bool
    ids ──E[ids]──▶ token vectors                            (seq_len, batch, d_tok)
        × sqrt(d_tok)                    if scale            (the original Transformer)
    positions offset .. offset+seq_len-1 ──▶ P               (seq_len, d_pos): the scheme's rows
    token vectors + P  (or [tokens | P])  broadcast          (seq_len, batch, d_model)
        + T[token_type_ids]              if token_types      (BERT's segment embeddings)
        LayerNorm                        if layer_norm_eps   (BERT)
        dropout                          if dropout > 0 and training
    ──▶ input embeddings, mask                               (seq_len, batch, d_model), bool

With ``combine="add"`` d_tok = d_pos = d_model; with ``"concat"`` the token vectors take
``d_model - d_pos`` columns and the positions ``d_pos``, so the output is d_model wide either way.
:meth:`InputEmbedding.preset` builds GPT-2's, BERT's and the original Transformer's recipes.

The position rows come from a position scheme (:mod:`minimal_embed.schemes`); a scheme that acts
inside attention instead (ALiBi, RoPE, T5) adds no rows here, and the model around the stage asks
it for its rotation or score bias. This stage is the one place that builds input vectors: the
model (:class:`~minimal_embed.model.AttentionLM` ``.input_embedding``), the walkthrough and every
loader use it, and :meth:`InputEmbedding.load` rebuilds it from any checkpoint.

What this hands on: the ``(seq_len, batch, d_model)`` array the first attention layer reads, the
mask of real tokens for its padding mask, and (from :meth:`InputEmbedding.backward`) one gradient
per parameter for :class:`~minimal_embed.optim.SGD` / :class:`~minimal_embed.optim.Adam`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from minimal_embed._checks import check_choice, check_float_dtype, check_integer, check_real
from minimal_embed.checkpoint import check_shapes, copy_arrays, read_checkpoint, write_checkpoint
from minimal_embed.embedding import Embedding, SparseRows
from minimal_embed.layernorm import LayerNorm
from minimal_embed.positional import (
    add_positions,
    add_positions_backward,
    concat_positions,
    concat_positions_backward,
    scale_token_embeddings,
    scale_token_embeddings_backward,
)
from minimal_embed.schemes import Learned, NoPositions, PositionScheme, Sinusoidal, from_config

__all__ = ["InputEmbedding", "InputSteps", "InputCache", "dropout", "dropout_backward",
           "PRESETS"]


def dropout(x: np.ndarray, rate: float,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Inverted dropout: ``y = x * keep / (1 - rate)``, ``keep`` true with probability ``1 - rate``.

    The expected value of every entry is unchanged, so nothing is rescaled at inference time
    (PyTorch's ``nn.Dropout``). ``x`` is any floating array; ``rng`` draws one float32 per
    entry. Returns ``y`` (``x``'s shape and dtype) and ``keep`` (bool, for
    :func:`dropout_backward`). Raises ValueError for a ``rate`` outside ``[0, 1)``.

    Examples
    --------
    >>> y, keep = dropout(np.ones((2, 4)), 0.5, np.random.default_rng(0))
    >>> sorted(set(y.ravel().tolist())) == [0.0, 2.0] and bool((y[keep] == 2.0).all())
    True
    """
    check_real("dropout rate", rate, least=0.0, below=1.0)
    keep = rng.random(x.shape, dtype=np.float32) >= rate           # same shape as x, bool
    return x * keep * np.asarray(1.0 / (1.0 - rate), dtype=x.dtype), keep


def dropout_backward(grad_out: np.ndarray, keep: np.ndarray, rate: float) -> np.ndarray:
    """Gradient of :func:`dropout`: the same mask and scale, ``grad_out * keep / (1 - rate)``."""
    return grad_out * keep * np.asarray(1.0 / (1.0 - rate), dtype=grad_out.dtype)


# name -> keyword arguments of InputEmbedding; every one can be overridden in preset()
PRESETS: dict[str, dict[str, Any]] = {
    # Radford et al. 2019; openai/gpt-2 model.py: wte N(0, 0.02), wpe N(0, 0.01); dropout 0.1
    # is embd_pdrop of Hugging Face's GPT2Config (the released TF code runs without dropout)
    "gpt2": dict(d_model=768, positions="learned", max_len=1024, token_std=0.02,
                 position_std=0.01, dropout=0.1),
    # Devlin et al. 2019; google-research/bert modeling.py: all tables N(0, 0.02) (truncated
    # there), 2 token types, LayerNorm eps 1e-12, hidden_dropout_prob 0.1
    "bert": dict(d_model=768, positions="learned", max_len=512, token_std=0.02,
                 position_std=0.02, token_types=2, layer_norm_eps=1e-12, dropout=0.1),
    # Vaswani et al. 2017: sinusoid, E * sqrt(d_model), P_drop 0.1; E ~ N(0, d_model**-0.5) as
    # in tensor2tensor and fairseq, so the scaled token vectors have unit-size entries
    "transformer": dict(d_model=512, positions="sinusoidal", scale=True, max_len=1024,
                        token_std=None, dropout=0.1),
}


_INPUT_POSITIONS = ("learned", "sinusoidal", "none")  # the schemes a name builds here


class InputCache(NamedTuple):
    """What :meth:`InputEmbedding.backward` needs from its forward."""

    ids: np.ndarray                 # (seq_len, batch) token ids
    type_ids: np.ndarray | None     # like ids, or None without a token-type table
    offset: int                     # position of the first token
    keep: np.ndarray | None         # dropout's mask, or None
    shape: tuple[int, ...]          # of the embeddings


@dataclass
class InputSteps:
    """Every intermediate array of one :meth:`InputEmbedding.forward`, for a reader to look at."""

    ids: np.ndarray                    # (seq_len, batch) int64, or batch first
    mask: np.ndarray                   # like ids, bool, True = real token
    token_vectors: np.ndarray          # E[ids], (seq_len, batch, d_tok), before any scaling
    token_scale: float                 # sqrt(d_tok) when the stage scales, else 1.0
    position_rows: np.ndarray | None   # (seq_len, d_pos), or None: the scheme adds no rows
    embeddings: np.ndarray             # what forward returns, (seq_len, batch, d_model)
    cache: InputCache                  # what backward needs (also left in emb.cache)


class InputEmbedding:
    """Token ids (or texts) to input embeddings, with a hand-written backward.

    See the module docstring for the picture with shapes at each step.

    Parameters
    ----------
    tokenizer : Tokenizer or None
        Encodes texts given to :meth:`forward`; with None, pass ``vocab_size`` and id arrays.
    d_model : int
        Width of the output vectors.
    positions : {"learned", "sinusoidal", "none"} or PositionScheme, default "learned"
        A name builds that scheme from ``max_len``, ``position_std``, ``base`` and ``seed``; a
        :class:`~minimal_embed.schemes.PositionScheme` is used as given (its input rows must be
        ``d_pos`` wide). A scheme acting inside attention (ALiBi, RoPE, T5) adds no rows here.
    combine : {"add", "concat"}, default "add"
    scale : bool, default False
        Multiply the token vectors by ``sqrt(d_tok)`` before combining (the original Transformer).
    max_len : int, default 1024
        Rows of a learned table built from the name "learned" (a hard limit).
    dropout : float, default 0.0
        Rate of the final dropout, applied while ``training`` is True.
    batch_first : bool, default False
        Ids and outputs are ``(batch, seq_len, ...)`` instead of ``(seq_len, batch, ...)``.
    seed : int or None
        One seed for every table and the dropout masks.
    vocab_size : int, optional
        Rows of the token table; default ``tokenizer.vocab_size``.
    token_std, position_std : float, default 0.02 and 0.01
        Initial N(0, std**2) of the token (and token-type) table and of a learned position
        table; ``token_std=None`` means ``d_tok ** -0.5``, the original Transformer's choice.
    d_pos : int, optional
        Position columns with ``combine="concat"`` (default ``d_model // 2``).
    token_types : int, default 0
        Rows of a token-type table added to every vector (BERT: 2); 0 for none.
    layer_norm_eps : float or None, default None
        Normalise the sum with a :class:`~minimal_embed.layernorm.LayerNorm` of this eps.
    base : float, default 10000.0
        The sinusoid's base.
    padding_idx : int or None, default None
        A token row that stays as loaded and never receives gradient.
    dtype : floating dtype, default np.float32

    Raises
    ------
    TypeError
        Sizes that are not integers, a non-floating dtype.
    ValueError
        Neither a tokenizer nor ``vocab_size`` (or the two disagree); an unknown ``positions``
        or ``combine``; sizes below 1 (``token_types`` below 0); ``dropout`` outside ``[0, 1)``;
        a ``d_pos`` that leaves the token vectors no column, is given with ``combine="add"``, or
        differs from the scheme's rows.

    Examples
    --------
    >>> emb = InputEmbedding(None, 8, vocab_size=50, max_len=16, seed=0)
    >>> x, mask = emb.forward(np.array([[1, 2], [3, 4], [5, 6]]))     # (seq_len, batch) ids
    >>> x.shape, mask.shape
    ((3, 2, 8), (3, 2))
    >>> grads = emb.backward(np.ones_like(x))
    >>> [(name, g.shape) for name, g in grads.items()]
    [('token_embedding', (50, 8)), ('position_embedding', (16, 8))]
    """

    def __init__(self, tokenizer: Any, d_model: int, *,
                 positions: str | PositionScheme = "learned", combine: str = "add",
                 scale: bool = False, max_len: int = 1024, dropout: float = 0.0,
                 batch_first: bool = False, seed: int | None = None,
                 vocab_size: int | None = None, token_std: float | None = 0.02,
                 position_std: float = 0.01, d_pos: int | None = None, token_types: int = 0,
                 layer_norm_eps: float | None = None, base: float = 10000.0,
                 padding_idx: int | None = None, dtype: npt.DTypeLike = np.float32) -> None:
        vocab_size = _vocab_size(tokenizer, vocab_size)
        d_model = check_integer("d_model", d_model, 1)
        check_integer("max_len", max_len, 1)
        token_types = check_integer("token_types", token_types, 0)
        check_choice("combine", combine, ("add", "concat"))
        self.dropout = check_real("dropout", dropout, least=0.0, below=1.0)
        dtype = check_float_dtype("dtype", dtype)
        # the first two child seeds are those AttentionLM gives its token and position tables
        seeds = [None] * 4 if seed is None else [int(s) for s in
                                                 np.random.SeedSequence(seed).generate_state(4)]
        if isinstance(positions, str):
            check_choice("positions", positions, _INPUT_POSITIONS)
            width = _position_width(positions, combine, d_model, d_pos)
            scheme = {"learned": lambda: Learned(max_len, width, std=position_std,
                                                 seed=seeds[1], dtype=dtype),
                      "sinusoidal": lambda: Sinusoidal(width, base=base, dtype=dtype),
                      "none": NoPositions}[positions]()
        else:
            width = _position_width(positions, combine, d_model, d_pos)
            scheme = positions
        d_tok = d_model - width if combine == "concat" else d_model

        self.tokenizer, self.d_model, self.d_tok, self.d_pos = tokenizer, d_model, d_tok, width
        self.positions, self.combine, self.scale = scheme, combine, bool(scale)
        self.batch_first, self.training = batch_first, True
        std = d_tok ** -0.5 if token_std is None else token_std
        self.token_embedding = Embedding(vocab_size, d_tok, std=std, seed=seeds[0], dtype=dtype,
                                         padding_idx=padding_idx)
        self.token_type_embedding = None
        if token_types:
            self.token_type_embedding = Embedding(token_types, d_model, std=std,
                                                  seed=seeds[2], dtype=dtype)
        self.layer_norm = None
        if layer_norm_eps is not None:
            self.layer_norm = LayerNorm(d_model, eps=layer_norm_eps, dtype=dtype)
        self._rng = np.random.default_rng(seeds[3])             # dropout masks
        self.cache: InputCache | None = None                    # set by every forward

    # --- construction from recipes and files -----------------------------------------------

    @classmethod
    def preset(cls, name: str, tokenizer: Any, **overrides: Any) -> InputEmbedding:
        """A published model's input stage: ``"gpt2"``, ``"bert"`` or ``"transformer"``.

        The keyword arguments are in :data:`PRESETS`; ``overrides`` replace any of them (e.g.
        ``d_model=64, dropout=0.0`` for a small test model). The vocabulary is the tokenizer's.

        Examples
        --------
        >>> emb = InputEmbedding.preset("bert", None, vocab_size=100, d_model=16, seed=0)
        >>> print(*emb.parameters())
        token_embedding position_embedding token_type_embedding layer_norm.gamma layer_norm.beta
        """
        check_choice("preset name", name, tuple(PRESETS))
        kwargs = {**PRESETS[name], **overrides}
        return cls(tokenizer, kwargs.pop("d_model"), **kwargs)

    def config(self) -> dict[str, Any]:
        """What rebuilds this stage (JSON-able): sizes, the scheme's config, scale, eps, dtype."""
        return {"vocab_size": self.token_embedding.num_embeddings, "d_model": self.d_model,
                "combine": self.combine, "d_pos": self.d_pos, "scale": self.scale,
                "token_types": 0 if self.token_type_embedding is None
                else self.token_type_embedding.num_embeddings,
                "layer_norm_eps": None if self.layer_norm is None else self.layer_norm.eps,
                "padding_idx": self.token_embedding.padding_idx, "dropout": self.dropout,
                "dtype": str(self.token_embedding.weight.dtype),
                "positions": self.positions.config()}

    @classmethod
    def from_config(cls, config: dict[str, Any], tokenizer: Any = None, *,
                    batch_first: bool = False) -> InputEmbedding:
        """A stage of the shape ``config`` (from :meth:`config`) describes, with fresh tables.

        Raises
        ------
        ValueError
            If ``config`` lacks a setting, or the tokenizer's vocabulary is another size.
        """
        try:
            dtype = np.dtype(config["dtype"])
            scheme = from_config(config["positions"], dtype=dtype)
            if tokenizer is not None and tokenizer.vocab_size != config["vocab_size"]:
                raise ValueError(f"the tokenizer has {tokenizer.vocab_size} ids but the stage's "
                                 f"token table has {config['vocab_size']} rows; load the "
                                 "tokenizer it was trained with")
            # std 0: fresh tables to load into are zeros, never drawn
            return cls(tokenizer, config["d_model"], positions=scheme, token_std=0.0,
                       combine=config["combine"], scale=config["scale"],
                       dropout=config["dropout"], batch_first=batch_first,
                       vocab_size=config["vocab_size"],
                       d_pos=None if config["combine"] == "add" else config["d_pos"],
                       token_types=config["token_types"],
                       layer_norm_eps=config["layer_norm_eps"],
                       padding_idx=config["padding_idx"], dtype=dtype)
        except (KeyError, TypeError) as error:
            raise ValueError(f"an input stage's config lacks or mistypes a setting ({error})") \
                from None

    def state_dict(self) -> dict[str, np.ndarray]:
        """Every array the stage keeps: :meth:`parameters`, then those of a scheme that acts
        inside attention (T5's ``t5.table``), which a model trains around the stage."""
        return {**self.parameters(), **self.positions.parameters()}

    def save(self, path: str | os.PathLike) -> Path:
        """Write the stage (its :meth:`state_dict` and :meth:`config`) as a checkpoint file."""
        return write_checkpoint(path, self.state_dict(), {"input_embedding": self.config()})

    @classmethod
    def load(cls, path: str | os.PathLike, tokenizer: Any, *,
             batch_first: bool = False) -> InputEmbedding:
        """The input stage of any checkpoint: a training run's, or one :meth:`save` wrote.

        It computes exactly what the trained model's ``input_embedding`` computes: the same
        tables, scheme (with a trained T5 table), ``sqrt(d_model)`` scale, token types,
        LayerNorm and ``padding_idx``. ``tokenizer`` is the one it was trained with (None: feed
        id arrays). Never unpickles.

        Raises
        ------
        FileNotFoundError, ValueError
            From :func:`~minimal_embed.checkpoint.read_checkpoint`; or if the file describes no
            input stage, lacks one of its arrays, or the tokenizer's vocabulary differs.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> emb = InputEmbedding(None, 4, vocab_size=10, max_len=8, seed=0)
        >>> path = emb.save(pathlib.Path(tempfile.mkdtemp()) / "stage.npz")
        >>> loaded = InputEmbedding.load(path, None)
        >>> bool((loaded.forward([[1, 2]])[0] == emb.forward([[1, 2]])[0]).all())
        True
        """
        arrays, metadata = read_checkpoint(path)
        if not isinstance(metadata.get("input_embedding"), dict):
            raise ValueError(f"{path} describes no input stage (no 'input_embedding' in its "
                             "metadata)")
        check_shapes(arrays, _claimed_shapes(metadata["input_embedding"]), str(path))
        try:
            emb = cls.from_config(metadata["input_embedding"], tokenizer, batch_first=batch_first)
        except (ValueError, MemoryError) as error:  # MemoryError: sizes the file only claims
            raise ValueError(f"{path}: {error}") from None
        copy_arrays(emb.state_dict(), arrays, str(path))
        return emb

    def parameters(self) -> dict[str, np.ndarray]:
        """The trainable arrays by name, in :meth:`backward`'s order (an optimizer updates them).

        ``token_embedding`` ``(V, d_tok)``; ``position_embedding`` ``(max_len, d_pos)`` (learned
        positions); ``token_type_embedding`` ``(token_types, d_model)``; ``layer_norm.gamma``,
        ``layer_norm.beta`` ``(d_model,)``.
        """
        params = {"token_embedding": self.token_embedding.weight}
        if self.positions.acts_on == "input":
            params.update(self.positions.parameters())
        if self.token_type_embedding is not None:
            params["token_type_embedding"] = self.token_type_embedding.weight
        if self.layer_norm is not None:
            params["layer_norm.gamma"] = self.layer_norm.gamma
            params["layer_norm.beta"] = self.layer_norm.beta
        return params

    def train(self, mode: bool = True) -> InputEmbedding:
        """Switch dropout on (``mode=True``) or off; returns self."""
        self.training = bool(mode)
        return self

    def eval(self) -> InputEmbedding:
        """Switch dropout off (inference); returns self."""
        return self.train(False)

    # --- forward and backward --------------------------------------------------------------

    def forward(self, texts_or_ids: Any, *, token_type_ids: Any = None,
                offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Input embeddings for a batch of texts or an id array.

        Parameters
        ----------
        texts_or_ids : list of str, or integer array
            Texts are encoded with ``tokenizer.encode_batch`` (padded with id 0 to the longest);
            an id array is ``(seq_len, batch)`` (``(batch, seq_len)`` with ``batch_first``).
        token_type_ids : integer array, optional
            Same shape as the ids, values below ``token_types``; default all 0.
        offset : int, default 0
            Position of the first token (e.g. after a cached prefix).

        Returns
        -------
        embeddings : numpy.ndarray
            ``(seq_len, batch, d_model)`` (``(batch, seq_len, d_model)`` with ``batch_first``).
        mask : numpy.ndarray of bool
            ``(seq_len, batch)`` (``(batch, seq_len)`` with ``batch_first``): True at real
            tokens, False at padding (embedded like id 0; attention must ignore them).

        Raises
        ------
        TypeError
            A single str instead of a list, texts without a tokenizer, or non-integer ids.
        ValueError
            Ids that are not a non-empty 2-D array or lie outside the vocabulary; positions
            past a learned table's ``max_len``; ``token_type_ids`` of another shape, or given
            to a model without a token-type table.
        """
        steps = self.forward_steps(texts_or_ids, token_type_ids=token_type_ids, offset=offset)
        return steps.embeddings, steps.mask

    def forward_steps(self, texts_or_ids: Any, *, token_type_ids: Any = None,
                      offset: int = 0) -> InputSteps:
        """:meth:`forward`, returning every intermediate array as :class:`InputSteps`."""
        ids, mask = self._ids_and_mask(texts_or_ids)
        seq_len = ids.shape[1 if self.batch_first else 0]
        token_vectors = self.token_embedding(ids)                # (seq_len, batch, d_tok)
        x = scale_token_embeddings(token_vectors) if self.scale else token_vectors
        rows = self.positions.input_rows(seq_len, offset)        # (seq_len, d_pos) or None
        if rows is not None:
            combine = add_positions if self.combine == "add" else concat_positions
            x = combine(x, rows, batch_first=self.batch_first)   # (seq_len, batch, d_model)
        type_ids = self._token_type_ids(token_type_ids, ids)
        if type_ids is not None and self.token_type_embedding is not None:
            x = x + self.token_type_embedding(type_ids)          # (seq_len, batch, d_model)
        if self.layer_norm is not None:
            x = self.layer_norm.forward(x)
        keep = None
        if self.dropout > 0 and self.training:
            x, keep = dropout(x, self.dropout, self._rng)
        self.cache = InputCache(ids, type_ids, int(offset), keep, x.shape)
        scale = math.sqrt(self.d_tok) if self.scale else 1.0
        return InputSteps(ids, mask, token_vectors, scale, rows, x, self.cache)

    def backward(self, grad: np.ndarray, *, sparse: bool = False,
                 cache: InputCache | None = None) -> dict[str, np.ndarray | SparseRows]:
        """Gradients of every parameter, given ``grad`` = dL/d(embeddings) of a forward.

        Runs the forward's steps in reverse: dropout's mask, LayerNorm (γ, β), the token-type
        rows (scatter-add), the position rows (summed over the batch, handed to the scheme), the
        scale, the token rows (scatter-add).

        Parameters
        ----------
        grad : numpy.ndarray
            The shape of that forward's embeddings.
        sparse : bool, default False
            Token and token-type gradients as ``SparseRows`` (only the rows used).
        cache : InputCache, optional
            ``emb.cache`` right after the forward to differentiate; default the last one.

        Returns
        -------
        dict
            Name -> gradient in :meth:`parameters`' order, so
            ``opt.step(list(emb.backward(g).values()))`` works with SGD and Adam.

        Raises
        ------
        RuntimeError
            Before any forward.
        ValueError
            If ``grad`` is not the forward's shape.
        """
        cache = self.cache if cache is None else cache
        if cache is None:
            raise RuntimeError("backward needs a forward call first (it uses that call's ids)")
        grad = np.asarray(grad)
        if grad.shape != cache.shape:
            raise ValueError(f"grad has shape {grad.shape}; the forward returned {cache.shape}")
        grads: dict[str, Any] = {}
        # each step hands the gradient of its input to the step before it (chain rule)
        if cache.keep is not None:
            grad = dropout_backward(grad, cache.keep, self.dropout)
        if self.layer_norm is not None:
            grad, grads["layer_norm.gamma"], grads["layer_norm.beta"] = \
                self.layer_norm.backward(grad)
        if cache.type_ids is not None and self.token_type_embedding is not None:
            # x + T[types]: dT scatters grad to the rows used
            grads["token_type_embedding"] = self.token_type_embedding.backward(
                cache.type_ids, grad, sparse=sparse)
        grad_tok = grad
        if self.positions.acts_on == "input":
            combine_backward = (add_positions_backward if self.combine == "add"
                                else partial(concat_positions_backward, d_tok=self.d_tok))
            # row i was added to every batch item: grad_rows (seq_len, d_pos) sums the batch
            grad_tok, grad_rows = combine_backward(grad, batch_first=self.batch_first)
            grads.update(self.positions.input_rows_backward(grad_rows, cache.offset))
        if self.scale:
            grad_tok = scale_token_embeddings_backward(grad_tok)
        grads["token_embedding"] = self.token_embedding.backward(cache.ids, grad_tok,
                                                                 sparse=sparse)
        return {name: grads[name] for name in self.parameters()}

    # --- forward's inputs: ids and mask, token-type ids ------------------------------------

    def _ids_and_mask(self, texts_or_ids: Any) -> tuple[np.ndarray, np.ndarray]:
        """Encode a list of texts, or check an id array (mask all True)."""
        if isinstance(texts_or_ids, str):
            raise TypeError("forward takes a batch: a list of str or an id array; "
                            "wrap one text as [text]")
        if isinstance(texts_or_ids, (list, tuple)) and texts_or_ids and \
                all(isinstance(t, str) for t in texts_or_ids):
            if self.tokenizer is None:
                raise TypeError("this InputEmbedding has no tokenizer; pass an id array")
            return self.tokenizer.encode_batch(list(texts_or_ids), batch_first=self.batch_first)
        ids = np.asarray(texts_or_ids)
        if ids.ndim != 2 or ids.size == 0:
            layout = "(batch, seq_len)" if self.batch_first else "(seq_len, batch)"
            raise ValueError(f"ids must be a non-empty 2-D {layout} array (a single sequence: "
                             f"ids[:, None]), got shape {ids.shape}")
        return ids, np.ones(ids.shape, dtype=bool)

    def _token_type_ids(self, token_type_ids: Any, ids: np.ndarray) -> np.ndarray | None:
        """The checked token-type ids (all 0 by default), or None without a table."""
        if self.token_type_embedding is None:
            if token_type_ids is not None:
                raise ValueError("token_type_ids given, but this InputEmbedding has no "
                                 "token-type table; build it with token_types=2 (BERT)")
            return None
        if token_type_ids is None:
            return np.zeros(ids.shape, dtype=np.int64)
        token_type_ids = np.asarray(token_type_ids)
        if token_type_ids.shape != ids.shape:
            raise ValueError(f"token_type_ids has shape {token_type_ids.shape}, the ids "
                             f"{ids.shape}; they must match")
        return token_type_ids

    def __repr__(self) -> str:
        return (f"InputEmbedding(vocab_size={self.token_embedding.num_embeddings}, "
                f"d_model={self.d_model}, positions={self.positions!r}, scale={self.scale})")


def _claimed_shapes(config: Any) -> dict[str, tuple[int, ...]]:
    """The token (and learned position) table shapes a stage's config claims; {} if unreadable."""
    try:
        d_tok = config["d_model"] - (config["d_pos"] if config["combine"] == "concat" else 0)
        shapes: dict[str, tuple[int, ...]] = {"token_embedding": (int(config["vocab_size"]),
                                                                   int(d_tok))}
        if config["positions"]["name"] == "learned":
            shapes["position_embedding"] = (int(config["positions"]["max_len"]),
                                            int(config["d_pos"]))
        return shapes
    except (KeyError, TypeError, ValueError):
        return {}  # from_config names what is missing or mistyped


def _vocab_size(tokenizer: Any, vocab_size: int | None) -> int:
    """The token table's rows: the tokenizer's vocabulary, or vocab_size (not both, unequal)."""
    if tokenizer is None and vocab_size is None:
        raise ValueError("pass a tokenizer or vocab_size= (the number of token ids)")
    if tokenizer is not None and vocab_size is not None and vocab_size != tokenizer.vocab_size:
        raise ValueError(f"vocab_size={vocab_size} differs from the tokenizer's "
                         f"{tokenizer.vocab_size}; leave vocab_size out")
    return check_integer("vocab_size", tokenizer.vocab_size if vocab_size is None else vocab_size,
                         1)


def _position_width(scheme: str | PositionScheme, combine: str, d_model: int,
                    d_pos: int | None) -> int:
    """Columns of the position rows: d_model when adding, d_pos (default half) to concatenate."""
    if combine == "add":
        if d_pos not in (None, d_model):
            raise ValueError(f"d_pos={d_pos} needs combine='concat'; adding needs d_pos == "
                             f"d_model == {d_model}")
        width = d_model
    else:
        if scheme == "none" or (isinstance(scheme, PositionScheme)
                                and scheme.acts_on != "input"):
            raise ValueError("combine='concat' needs position rows; this scheme adds none")
        width = d_model // 2 if d_pos is None else check_integer("d_pos", d_pos, 1)
        if not 1 <= width < d_model:
            raise ValueError(f"d_pos={width} must be in 1..{d_model - 1} so tokens keep a column")
    if isinstance(scheme, PositionScheme) and scheme.acts_on == "input":
        rows = scheme.input_rows(1)
        if rows is not None and rows.shape[1] != width:
            raise ValueError(f"the position scheme's rows are {rows.shape[1]} wide, but the "
                             f"stage needs {width} (d_model={d_model}, combine={combine!r})")
    return width
