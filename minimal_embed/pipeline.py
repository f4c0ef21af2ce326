"""The whole input stage in one object: text -> ids -> token vectors + positions -> embeddings.

:class:`InputEmbedding` chains the steps of the earlier modules and keeps what its backward
needs. With the default layout (``batch_first=False``; ``True`` swaps the first two axes)::

    texts ──tokenizer.encode_batch──▶ ids, mask              (seq_len, batch) int64, bool
    ids ──E[ids]──▶ token vectors                            (seq_len, batch, d_tok)
        × sqrt(d_tok)                    if scale            (the original Transformer)
    positions offset .. offset+seq_len-1 ──▶ P               (seq_len, d_pos), learned or sinusoid
    token vectors + P  (or [tokens | P])  broadcast          (seq_len, batch, d_model)
        + T[token_type_ids]              if token_types      (BERT's segment embeddings)
        LayerNorm                        if layer_norm_eps   (BERT)
        dropout                          if dropout > 0 and training
    ──▶ input embeddings, mask                               (seq_len, batch, d_model), bool

With ``combine="add"`` d_tok = d_pos = d_model; with ``"concat"`` the token vectors take
``d_model - d_pos`` columns and the positions ``d_pos``, so the output is d_model wide either way.
:meth:`InputEmbedding.preset` builds GPT-2's, BERT's and the original Transformer's recipes.

What this hands on: the ``(seq_len, batch, d_model)`` array the first attention layer reads, the
mask of real tokens for its padding mask, and (from :meth:`InputEmbedding.backward`) one gradient
per parameter for :class:`~minimal_embed.optim.SGD` / :class:`~minimal_embed.optim.Adam`.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from minimal_embed.embedding import Embedding, SparseRows
from minimal_embed.layernorm import LayerNorm
from minimal_embed.positional import (
    LearnedPositions,
    add_positions,
    add_positions_backward,
    concat_positions,
    concat_positions_backward,
    scale_token_embeddings,
    scale_token_embeddings_backward,
    sinusoidal_table,
)

__all__ = ["InputEmbedding", "dropout", "dropout_backward", "PRESETS"]


def dropout(x: np.ndarray, rate: float,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Inverted dropout: zero each entry with probability ``rate``, scale the rest by 1/(1-rate).

    The expected value of every entry is unchanged, so nothing needs rescaling at inference time
    (PyTorch's ``nn.Dropout``): ``y = x * keep / (1 - rate)``.

    Parameters
    ----------
    x : numpy.ndarray
        Any shape, floating.
    rate : float
        Probability of zeroing an entry, in ``[0, 1)``.
    rng : numpy.random.Generator
        Draws the mask (one float32 per entry).

    Returns
    -------
    y : numpy.ndarray
        The shape and dtype of ``x``.
    keep : numpy.ndarray of bool
        The shape of ``x``; True where the entry was kept. Pass it to :func:`dropout_backward`.

    Raises
    ------
    ValueError
        If ``rate`` is not in ``[0, 1)``.

    Examples
    --------
    >>> y, keep = dropout(np.ones((2, 4)), 0.5, np.random.default_rng(0))
    >>> sorted(set(y.ravel().tolist())) == [0.0, 2.0] and bool((y[keep] == 2.0).all())
    True
    """
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout rate must be in [0, 1), got {rate!r}")
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


class InputEmbedding:
    """Token ids (or texts) to input embeddings, with a hand-written backward.

    See the module docstring for the picture with shapes at each step.

    Parameters
    ----------
    tokenizer : Tokenizer or None
        Encodes texts given to :meth:`forward`; with None, pass ``vocab_size`` and id arrays.
    d_model : int
        Width of the output vectors.
    positions : {"learned", "sinusoidal", "none"}, default "learned"
        "none" adds no position vectors (for models whose positions enter attention: ALiBi,
        RoPE, T5).
    combine : {"add", "concat"}, default "add"
    scale : bool, default False
        Multiply the token vectors by ``sqrt(d_tok)`` before combining.
    max_len : int, default 1024
        Rows of the learned table (a hard limit); for sinusoids, rows computed once up front
        (longer inputs are computed on demand).
    dropout : float, default 0.0
        Rate of the final dropout, applied while ``training`` is True.
    batch_first : bool, default False
        Ids and outputs are ``(batch, seq_len, ...)`` instead of ``(seq_len, batch, ...)``.
    seed : int or None
        One seed for every table and the dropout masks.
    vocab_size : int, optional
        Rows of the token table; default ``tokenizer.vocab_size``.
    token_std, position_std : float, default 0.02 and 0.01
        Initial N(0, std**2) of the token (and token-type) table and of the learned position
        table; ``token_std=None`` means ``d_tok ** -0.5``, the original Transformer's choice.
    d_pos : int, optional
        Position columns with ``combine="concat"`` (default ``d_model // 2``).
    token_types : int, default 0
        Rows of a token-type table added to every vector (BERT: 2); 0 for none.
    layer_norm_eps : float or None, default None
        Normalise the sum with a :class:`~minimal_embed.layernorm.LayerNorm` of this eps.
    base : float, default 10000.0
        The sinusoid's base.
    dtype : floating dtype, default np.float32

    Raises
    ------
    ValueError
        Neither a tokenizer nor ``vocab_size`` (or the two disagree); an unknown ``positions``
        or ``combine``; ``d_model``, ``max_len`` or ``token_types`` not an integer of at least
        1, 1, 0; ``dropout`` outside ``[0, 1)``; a ``d_pos`` that leaves the token vectors no
        column or is given with ``combine="add"``.

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

    def __init__(self, tokenizer, d_model: int, *, positions: str = "learned",
                 combine: str = "add", scale: bool = False, max_len: int = 1024,
                 dropout: float = 0.0, batch_first: bool = False, seed: int | None = None,
                 vocab_size: int | None = None, token_std: float | None = 0.02,
                 position_std: float = 0.01, d_pos: int | None = None, token_types: int = 0,
                 layer_norm_eps: float | None = None, base: float = 10000.0,
                 dtype=np.float32) -> None:
        vocab_size = _vocab_size(tokenizer, vocab_size)
        _check_choice("positions", positions, ("learned", "sinusoidal", "none"))
        _check_choice("combine", combine, ("add", "concat"))
        for name, value, least in (("d_model", d_model, 1), ("max_len", max_len, 1),
                                   ("token_types", token_types, 0)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
                raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        d_pos = _position_width(positions, combine, d_model, d_pos)
        d_tok = d_model - d_pos if combine == "concat" else d_model
        seeds = [None] * 4 if seed is None else np.random.SeedSequence(seed).generate_state(4)
        seeds = [None if s is None else int(s) for s in seeds]

        self.tokenizer, self.d_model, self.d_tok, self.d_pos = tokenizer, d_model, d_tok, d_pos
        self.positions, self.combine, self.scale = positions, combine, scale
        self.max_len, self.dropout, self.batch_first = max_len, dropout, batch_first
        self.base, self.training = base, True
        std = d_tok ** -0.5 if token_std is None else token_std
        self.token_embedding = Embedding(vocab_size, d_tok, std=std, seed=seeds[0], dtype=dtype)
        self.learned_positions = None
        if positions == "learned":
            self.learned_positions = LearnedPositions(max_len, d_pos, std=position_std,
                                                      seed=seeds[1], dtype=dtype)
        self.sinusoid = None                                    # (max_len, d_pos), made once
        if positions == "sinusoidal":
            self.sinusoid = sinusoidal_table(max_len, d_pos, base=base, dtype=dtype)
        self.token_type_embedding = None
        if token_types:
            self.token_type_embedding = Embedding(token_types, d_model, std=std,
                                                  seed=seeds[2], dtype=dtype)
        self.layer_norm = None
        if layer_norm_eps is not None:
            self.layer_norm = LayerNorm(d_model, eps=layer_norm_eps, dtype=dtype)
        self._rng = np.random.default_rng(seeds[3])             # dropout masks
        self._saved: dict[str, Any] | None = None

    # --- construction from recipes and files -----------------------------------------------

    @classmethod
    def preset(cls, name: str, tokenizer, **overrides) -> InputEmbedding:
        """A published model's input stage: ``"gpt2"``, ``"bert"`` or ``"transformer"``.

        The keyword arguments are in :data:`PRESETS`; ``overrides`` replace any of them (e.g.
        ``d_model=64, dropout=0.0`` for a small test model). The vocabulary is the tokenizer's.

        Examples
        --------
        >>> emb = InputEmbedding.preset("bert", None, vocab_size=100, d_model=16, seed=0)
        >>> print(*emb.parameters())
        token_embedding position_embedding token_type_embedding layer_norm.gamma layer_norm.beta
        """
        _check_choice("preset name", name, tuple(PRESETS))
        kwargs = {**PRESETS[name], **overrides}
        return cls(tokenizer, kwargs.pop("d_model"), **kwargs)

    @classmethod
    def load(cls, path: str | Path, tokenizer) -> InputEmbedding:
        """Build the input stage of a trained checkpoint (``data/checkpoint.npz``).

        Reads ``token_embedding`` ``(V, d_model)``, ``positions`` and, for learned positions,
        ``position_embedding`` ``(max_len, d_model)``, whose row count becomes ``max_len``: a
        longer input is refused rather than fed untrained rows. Schemes that act inside
        attention (alibi, rope, t5) add nothing here (``positions="none"``). Never unpickles.

        Parameters
        ----------
        path : str or Path
            A checkpoint written by training (``minimal-embed train -o PATH``).
        tokenizer : Tokenizer or None
            The tokenizer the checkpoint was trained with (None: feed id arrays only).

        Returns
        -------
        InputEmbedding
            With the checkpoint's tables, no scaling, LayerNorm or dropout.

        Raises
        ------
        ValueError
            If a key is missing, the scheme is unknown, or the tokenizer's vocabulary size
            differs from the table's rows.
        """
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
        for key in ("token_embedding", "positions"):
            if key not in arrays:
                raise ValueError(f"{path} has no {key!r} array; keys: {sorted(arrays)}")
        table, scheme = arrays["token_embedding"], str(arrays["positions"])
        _check_choice(f"positions in {path}", scheme,
                      ("learned", "sinusoidal", "none", "alibi", "rope", "t5"))
        config = json.loads(str(arrays["config_json"])) if "config_json" in arrays else {}
        if scheme == "learned" and "position_embedding" not in arrays:
            raise ValueError(f"{path} uses learned positions but has no 'position_embedding'")
        max_len = (arrays["position_embedding"].shape[0] if scheme == "learned"
                   else int(config.get("max_len", 1024)))
        if tokenizer is not None and tokenizer.vocab_size != table.shape[0]:
            raise ValueError(f"the tokenizer has {tokenizer.vocab_size} ids but {path}'s "
                             f"token_embedding has {table.shape[0]} rows; load the tokenizer "
                             f"the checkpoint was trained with ({config.get('tokenizer', '?')})")
        positions = scheme if scheme in ("learned", "sinusoidal") else "none"
        emb = cls(tokenizer, table.shape[1], positions=positions, max_len=max_len,
                  vocab_size=table.shape[0], dtype=table.dtype, seed=0)
        emb.token_embedding = Embedding.from_pretrained(table)
        if scheme == "learned":
            emb.learned_positions.weight = np.array(arrays["position_embedding"])
        return emb

    def parameters(self) -> dict[str, np.ndarray]:
        """The trainable arrays by name, in a fixed order (the order of :meth:`backward`).

        ``token_embedding`` ``(V, d_tok)``; ``position_embedding`` ``(max_len, d_pos)`` (learned
        positions only); ``token_type_embedding`` ``(token_types, d_model)``;
        ``layer_norm.gamma`` and ``layer_norm.beta`` ``(d_model,)``. An optimizer takes
        ``list(emb.parameters().values())`` and updates them in place.
        """
        params = {"token_embedding": self.token_embedding.weight}
        if self.learned_positions is not None:
            params["position_embedding"] = self.learned_positions.weight
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

    def forward(self, texts_or_ids, *, token_type_ids=None,
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
        ids, mask = self._ids_and_mask(texts_or_ids)
        seq_len = ids.shape[1 if self.batch_first else 0]
        x = self.token_embedding(ids)                            # (seq_len, batch, d_tok)
        if self.scale:
            x = scale_token_embeddings(x)
        pos = self._position_rows(seq_len, offset)               # (seq_len, d_pos) or None
        if pos is not None:
            combine = add_positions if self.combine == "add" else concat_positions
            x = combine(x, pos, batch_first=self.batch_first)    # (seq_len, batch, d_model)
        type_ids = self._token_type_ids(token_type_ids, ids)
        if type_ids is not None:
            x = x + self.token_type_embedding(type_ids)          # (seq_len, batch, d_model)
        if self.layer_norm is not None:
            x = self.layer_norm.forward(x)
        keep = None
        if self.dropout > 0 and self.training:
            x, keep = dropout(x, self.dropout, self._rng)
        self._saved = dict(ids=ids, type_ids=type_ids, offset=offset, keep=keep, shape=x.shape)
        return x, mask

    def backward(self, grad: np.ndarray, *,
                 sparse: bool = False) -> dict[str, np.ndarray | SparseRows]:
        """Gradients of every parameter, given ``grad`` = dL/d(embeddings) of the last forward.

        Runs the forward's steps in reverse: dropout's mask, LayerNorm's backward (γ, β), the
        token-type rows (scatter-add), the positions (summed over the batch), the scale, the
        token rows (scatter-add).

        Parameters
        ----------
        grad : numpy.ndarray
            Same shape as the last forward's embeddings.
        sparse : bool, default False
            Return the token and token-type gradients as ``SparseRows`` (only the rows used).

        Returns
        -------
        dict
            Name -> gradient, the same keys in the same order as :meth:`parameters`; each is
            an array of its parameter's shape or ``SparseRows``, so
            ``opt.step(list(emb.backward(g).values()))`` works with SGD and Adam.
        """
        if self._saved is None:
            raise RuntimeError("backward needs a forward call first (it uses that call's ids)")
        saved = self._saved
        grad = np.asarray(grad)
        if grad.shape != saved["shape"]:
            raise ValueError(f"grad has shape {grad.shape}; the last forward returned "
                             f"{saved['shape']}")
        grads: dict[str, Any] = {}
        # each step hands the gradient of its input to the step before it (chain rule)
        if saved["keep"] is not None:
            grad = dropout_backward(grad, saved["keep"], self.dropout)
        if self.layer_norm is not None:
            grad, grads["layer_norm.gamma"], grads["layer_norm.beta"] = \
                self.layer_norm.backward(grad)
        if saved["type_ids"] is not None:                        # x + T[types]: dT scatters grad
            grads["token_type_embedding"] = self.token_type_embedding.backward(
                saved["type_ids"], grad, sparse=sparse)
        grad_tok = grad
        if self.positions != "none":
            combine_backward = (add_positions_backward if self.combine == "add"
                                else partial(concat_positions_backward, d_tok=self.d_tok))
            # grad_pos: (seq_len, d_pos)
            grad_tok, grad_pos = combine_backward(grad, batch_first=self.batch_first)
        if self.learned_positions is not None:
            grads["position_embedding"] = self.learned_positions.backward(
                grad_pos, offset=saved["offset"])
        if self.scale:
            grad_tok = scale_token_embeddings_backward(grad_tok)
        grads["token_embedding"] = self.token_embedding.backward(saved["ids"], grad_tok,
                                                                 sparse=sparse)
        return {name: grads[name] for name in self.parameters()}

    # --- forward's inputs: ids and mask, position rows, token-type ids ---------------------

    def _ids_and_mask(self, texts_or_ids) -> tuple[np.ndarray, np.ndarray]:
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

    def _position_rows(self, seq_len: int, offset: int) -> np.ndarray | None:
        if self.learned_positions is not None:
            return self.learned_positions.forward(seq_len, offset)   # (seq_len, d_pos)
        if self.sinusoid is None:
            return None
        if not isinstance(offset, (int, np.integer)) or offset < 0:
            raise ValueError(f"offset must be an integer >= 0, got {offset!r}")
        if offset + seq_len <= self.max_len:
            return self.sinusoid[offset: offset + seq_len]           # the rows made up front
        return sinusoidal_table(seq_len, self.d_pos, base=self.base, offset=offset,
                                dtype=self.sinusoid.dtype)

    def _token_type_ids(self, token_type_ids, ids: np.ndarray) -> np.ndarray | None:
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


def _vocab_size(tokenizer, vocab_size: int | None) -> int:
    if tokenizer is None and vocab_size is None:
        raise ValueError("pass a tokenizer or vocab_size= (the number of token ids)")
    if tokenizer is not None and vocab_size is not None and vocab_size != tokenizer.vocab_size:
        raise ValueError(f"vocab_size={vocab_size} differs from the tokenizer's "
                         f"{tokenizer.vocab_size}; leave vocab_size out")
    return tokenizer.vocab_size if vocab_size is None else vocab_size


def _check_choice(name: str, value, choices: tuple) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")


def _position_width(positions: str, combine: str, d_model: int, d_pos: int | None) -> int:
    if combine == "add":
        if d_pos not in (None, d_model):
            raise ValueError(f"d_pos={d_pos} needs combine='concat'; adding needs d_pos == "
                             f"d_model == {d_model}")
        return d_model
    if positions == "none":
        raise ValueError("combine='concat' needs position vectors; positions='none' has none")
    d_pos = d_model // 2 if d_pos is None else d_pos
    if not 1 <= d_pos < d_model:
        raise ValueError(f"d_pos={d_pos} must be in 1..{d_model - 1} so tokens keep a column")
    return d_pos
