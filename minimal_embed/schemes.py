"""One interface for every way of encoding position: the three places a scheme can act.

The literature asks three questions of a position scheme, and each scheme here answers all three
(most with "nothing" for two of them):

1. what it **adds to the input rows** -- ``input_rows(seq_len, offset)``, a ``(seq_len, d_model)``
   table added to the token vectors (learned: GPT-2, BERT; sinusoidal: the original Transformer);
2. how it **rotates queries and keys** -- ``rotate(x, positions)`` on ``(..., seq, d_head)``
   heads (RoPE: GPT-NeoX, GPT-J, LLaMA);
3. what it **adds to the scores** -- ``score_bias(q_len, k_len)``, ``(n_heads, q_len, k_len)``
   (ALiBi: BLOOM, MPT; T5's buckets).

Each answer has its backward beside it, returning the gradients of the scheme's own parameters
by name (``parameters()``: ``position_embedding`` for a learned table, ``t5.table`` for T5's).
``NoPositions`` answers "nothing" three times: order then comes from the causal mask alone.
The input stage (:class:`~minimal_embed.pipeline.InputEmbedding`) asks question 1, the model
(:class:`~minimal_embed.model.AttentionLM`) questions 2 and 3, so neither holds a branch per
scheme. Transformer-XL's position term depends on the query itself, ``(q_i + v) . r_{i-j}``, so it
is not a bias fixed before attention and stays a function
(:func:`~minimal_embed.relative.transformer_xl_scores`).

``position_scheme(name, ...)`` builds one from its name in ``POSITION_SCHEMES``; ``config()`` and
``from_config`` carry a scheme through a checkpoint's metadata.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from minimal_embed._checks import check_choice, check_float_dtype, check_integer
from minimal_embed.positional import LearnedPositions, sinusoidal_table
from minimal_embed.relative import (
    T5RelativeBias,
    alibi_bias,
    rope,
    rope_backward,
    rope_frequencies,
)

__all__ = ["POSITION_SCHEMES", "PositionScheme", "NoPositions", "Learned", "Sinusoidal",
           "ALiBi", "T5Buckets", "RoPE", "scheme_class", "position_scheme", "from_config"]

# The one list of scheme names: the model, the training command and the checkpoints use it.
POSITION_SCHEMES = ("learned", "sinusoidal", "none", "alibi", "rope", "t5")


class PositionScheme:
    """The interface, with "nothing" as every answer; a scheme overrides the ones it gives.

    ``acts_on`` says where the scheme acts: ``"input"``, ``"rotation"``, ``"scores"`` or
    ``"nothing"``. Parameters of an input scheme belong to the input stage; the others' to the
    model around it.
    """

    name: ClassVar[str] = "none"
    acts_on: ClassVar[str] = "nothing"
    has_dtype: ClassVar[bool] = False  # built with a dtype= for the arrays it makes
    scales_tokens: ClassVar[bool] = False  # the model scales token vectors by sqrt(d_model)

    @classmethod
    def check_head(cls, d_head: int) -> None:
        """Refuse an attention head width the scheme cannot serve (ValueError); most serve all."""

    def parameters(self) -> dict[str, np.ndarray]:
        """The scheme's trainable arrays by name (updated in place by an optimizer)."""
        return {}

    def config(self) -> dict[str, Any]:
        """What rebuilds this scheme (JSON-able); :func:`from_config` reads it back."""
        return {"name": self.name}

    # 1. the input rows
    def input_rows(self, seq_len: int, offset: int = 0) -> np.ndarray | None:
        """Rows ``(seq_len, d_model)`` added at positions ``offset ..``, or None."""
        return None

    def input_rows_backward(self, grad_rows: np.ndarray,
                            offset: int = 0) -> dict[str, np.ndarray]:
        """Gradients of the parameters from dL/d(rows) ``(seq_len, d_model)``."""
        return {}

    # 2. the rotation of queries and keys
    def rotate(self, x: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Queries or keys ``(..., seq, d_head)`` at integer ``positions`` ``(seq,)``, rotated."""
        return x

    def rotate_backward(self, grad: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """dL/dx from dL/d(rotate(x)); the same shape."""
        return grad

    # 3. the bias added to the scores
    def score_bias(self, q_len: int, k_len: int | None = None) -> np.ndarray | None:
        """``(n_heads, q_len, k_len)`` added to the scores (queries are the last keys), or None."""
        return None

    def score_bias_backward(self, grad_bias: np.ndarray) -> dict[str, np.ndarray]:
        """Gradients of the parameters from dL/d(bias) ``(..., n_heads, q_len, k_len)``."""
        return {}

    def __repr__(self) -> str:
        options = ", ".join(f"{key}={value!r}" for key, value in self.config().items()
                            if key != "name")
        return f"{type(self).__name__}({options})"


class NoPositions(PositionScheme):
    """No position information at all: a causal mask alone still tells a token what came first.

    Examples
    --------
    >>> NoPositions().input_rows(4) is None, NoPositions().score_bias(4) is None
    (True, True)
    """


class Learned(PositionScheme):
    """A trained table added to the input, row p at position p (GPT-2, BERT); a hard ``max_len``.

    Parameters
    ----------
    max_len, d_model : int
        The table is ``(max_len, d_model)``.
    std : float, default 0.01
        Initial rows N(0, std**2) (GPT-2's value).
    seed : int or None
    dtype : floating dtype, default np.float32

    Examples
    --------
    >>> scheme = Learned(8, 4, seed=0)
    >>> scheme.input_rows(3, offset=2).shape, list(scheme.parameters())
    ((3, 4), ['position_embedding'])
    """

    name = "learned"
    acts_on = "input"
    has_dtype = True

    def __init__(self, max_len: int, d_model: int, *, std: float = 0.01, seed: int | None = None,
                 dtype: npt.DTypeLike = np.float32) -> None:
        self.table = LearnedPositions(max_len, d_model, std=std, seed=seed, dtype=dtype)

    def parameters(self) -> dict[str, np.ndarray]:
        return {"position_embedding": self.table.weight}

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "max_len": self.table.max_len, "d_model": self.table.dim}

    def input_rows(self, seq_len: int, offset: int = 0) -> np.ndarray:
        return self.table.forward(seq_len, offset)  # (seq_len, d_model), refuses past max_len

    def input_rows_backward(self, grad_rows: np.ndarray,
                            offset: int = 0) -> dict[str, np.ndarray]:
        # row offset + i was added at sequence index i: its gradient is grad_rows[i]
        return {"position_embedding": self.table.backward(grad_rows, offset=offset)}


class Sinusoidal(PositionScheme):
    """The fixed sinusoid added to the input (Vaswani et al., 2017): no parameters, no length limit.

    Parameters
    ----------
    d_model : int
    base : float, default 10000.0
    interleaved : bool, default True
        sin/cos alternate (the paper); False: ``[all sin | all cos]``.
    dtype : floating dtype, default np.float32

    Examples
    --------
    >>> Sinusoidal(4).input_rows(2, offset=1)[0].round(4).tolist()
    [0.8415, 0.5403, 0.01, 1.0]
    """

    name = "sinusoidal"
    acts_on = "input"
    has_dtype = True
    # Vaswani et al. (2017, section 3.4) scale the token vectors up before adding the sinusoid,
    # whose entries are as large as 1: unscaled 0.02-sized token vectors drown under it
    scales_tokens = True

    def __init__(self, d_model: int, *, base: float = 10000.0, interleaved: bool = True,
                 dtype: npt.DTypeLike = np.float32) -> None:
        self.d_model = check_integer("d_model", d_model, 1)
        self.base, self.interleaved = float(base), bool(interleaved)
        self.dtype = check_float_dtype("dtype", dtype)
        sinusoidal_table(0, self.d_model, base=self.base)  # checks base now, not at first use

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "d_model": self.d_model, "base": self.base,
                "interleaved": self.interleaved}

    def input_rows(self, seq_len: int, offset: int = 0) -> np.ndarray:
        return sinusoidal_table(seq_len, self.d_model, base=self.base, offset=offset,
                                interleaved=self.interleaved, dtype=self.dtype)


class ALiBi(PositionScheme):
    """A fixed linear penalty on the scores, ``-m_h (i - j)`` (Press et al., 2022; BLOOM, MPT).

    Parameters
    ----------
    n_heads : int
    symmetric : bool, default False
        ``-m_h |i - j|`` for encoders (not in the paper).
    dtype : floating dtype, default np.float32

    Examples
    --------
    >>> ALiBi(8).score_bias(2)[0].tolist()
    [[0.0, 0.5], [-0.5, 0.0]]
    """

    name = "alibi"
    acts_on = "scores"
    has_dtype = True

    def __init__(self, n_heads: int, *, symmetric: bool = False,
                 dtype: npt.DTypeLike = np.float32) -> None:
        self.n_heads = check_integer("n_heads", n_heads, 1)
        self.symmetric = bool(symmetric)
        self.dtype = check_float_dtype("dtype", dtype)

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "n_heads": self.n_heads, "symmetric": self.symmetric}

    def score_bias(self, q_len: int, k_len: int | None = None) -> np.ndarray:
        return alibi_bias(self.n_heads, q_len, k_len, symmetric=self.symmetric, dtype=self.dtype)


class T5Buckets(PositionScheme):
    """A learned scalar per head and distance bucket, added to the scores (Raffel et al., 2020).

    Parameters
    ----------
    n_heads : int
    num_buckets, max_distance : int, default 32 and 128
    bidirectional : bool, default True
        An encoder's table; False for a decoder (keys after the query share bucket 0).
    std : float, default 0.02
        Initial weights N(0, std**2).
    seed : int or None
    dtype : floating dtype, default np.float32

    Examples
    --------
    >>> scheme = T5Buckets(2, seed=0)
    >>> scheme.score_bias(3, 5).shape, scheme.parameters()["t5.table"].shape
    ((2, 3, 5), (32, 2))
    """

    name = "t5"
    acts_on = "scores"
    has_dtype = True

    def __init__(self, n_heads: int, *, num_buckets: int = 32, max_distance: int = 128,
                 bidirectional: bool = True, std: float = 0.02, seed: int | None = None,
                 dtype: npt.DTypeLike = np.float32) -> None:
        self.bias = T5RelativeBias(num_buckets, n_heads, bidirectional=bidirectional,
                                   max_distance=max_distance, std=std, seed=seed, dtype=dtype)

    def parameters(self) -> dict[str, np.ndarray]:
        return {"t5.table": self.bias.weight}

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "n_heads": self.bias.n_heads,
                "num_buckets": self.bias.num_buckets, "max_distance": self.bias.max_distance,
                "bidirectional": self.bias.bidirectional}

    def score_bias(self, q_len: int, k_len: int | None = None) -> np.ndarray:
        return self.bias(q_len, k_len)  # (n_heads, q_len, k_len)

    def score_bias_backward(self, grad_bias: np.ndarray) -> dict[str, np.ndarray]:
        return {"t5.table": self.bias.backward(grad_bias)}  # scatter-add over the buckets


class RoPE(PositionScheme):
    """Rotations of queries and keys by ``p * theta_t`` (Su et al., 2021; NeoX, GPT-J, LLaMA).

    Parameters
    ----------
    base : float, default 10000.0
    rotary_dim : int or None
        Even; only the first ``rotary_dim`` dims of a head rotate (None: all of them).
    interleaved : bool, default False
        False pairs dim t with t + rotary_dim/2 (GPT-NeoX); True pairs 2t with 2t+1 (GPT-J).
    scaling : dict or None
        Slower rotations for longer contexts, ``{"kind": "linear", "factor": 4.0}`` or Llama
        3.1's ``"llama3"`` (see :func:`~minimal_embed.relative.rope_frequencies`).

    Examples
    --------
    >>> RoPE().rotate(np.array([[1.0, 0.0]]), np.array([1])).round(4).tolist()
    [[0.5403, 0.8415]]
    """

    name = "rope"
    acts_on = "rotation"

    def __init__(self, *, base: float = 10000.0, rotary_dim: int | None = None,
                 interleaved: bool = False, scaling: dict | None = None) -> None:
        self.base, self.interleaved = float(base), bool(interleaved)
        self.rotary_dim = None if rotary_dim is None else check_integer("rotary_dim",
                                                                        rotary_dim, 2)
        if self.rotary_dim is not None and self.rotary_dim % 2:
            raise ValueError(f"rotary_dim={rotary_dim} must be even: RoPE rotates pairs of dims")
        self.scaling = None if scaling is None else dict(scaling)
        rope_frequencies(self.rotary_dim or 2, self.base, scaling=self.scaling)  # checks now

    @classmethod
    def check_head(cls, d_head: int) -> None:
        if d_head % 2:
            raise ValueError(f"rope rotates pairs of dims: d_head={d_head} must be even; "
                             "change d_model or n_heads")

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "base": self.base, "rotary_dim": self.rotary_dim,
                "interleaved": self.interleaved, "scaling": self.scaling}

    def frequencies(self, d_head: int) -> np.ndarray:
        """The rotation frequencies ``theta_t`` of a ``d_head``-wide head, ``(rotary_dim / 2,)``."""
        return rope_frequencies(self.rotary_dim or d_head, self.base, scaling=self.scaling)

    def rotate(self, x: np.ndarray, positions: np.ndarray) -> np.ndarray:
        return rope(x, positions, base=self.base, interleaved=self.interleaved,
                    rotary_dim=self.rotary_dim, scaling=self.scaling)

    def rotate_backward(self, grad: np.ndarray, positions: np.ndarray) -> np.ndarray:
        # a rotation R(p) is orthogonal: its gradient is the inverse rotation R(-p)
        return rope_backward(grad, positions, base=self.base, interleaved=self.interleaved,
                             rotary_dim=self.rotary_dim, scaling=self.scaling)


def scheme_class(name: str) -> type[PositionScheme]:
    """The class of the scheme called ``name`` (one of ``POSITION_SCHEMES``; ValueError else)."""
    return _CLASSES[check_choice("position scheme", name, POSITION_SCHEMES)]


def position_scheme(name: str, *, d_model: int, n_heads: int = 1, max_len: int = 1024,
                    causal: bool = False, num_buckets: int = 32, max_distance: int = 128,
                    std: float = 0.02, seed: int | None = None,
                    dtype: npt.DTypeLike = np.float32) -> PositionScheme:
    """Build the scheme called ``name`` (one of ``POSITION_SCHEMES``) from common settings.

    ``d_model`` is the width of input rows (learned, sinusoidal); ``n_heads`` the heads that get a
    bias (alibi, t5); ``max_len`` the rows of a learned table; ``causal`` gives T5 a decoder's
    one-sided buckets, ``num_buckets`` and ``max_distance`` its buckets; ``std`` is the initial
    std of T5's table (a learned position table starts at GPT-2's 0.01); ``seed`` seeds a learned
    table. Everything else takes its default (base 10000, all head dims rotating): build the
    class itself for other settings. Raises ValueError for an unknown name (and the classes' own
    checks).

    Examples
    --------
    >>> position_scheme("alibi", d_model=16, n_heads=4)
    ALiBi(n_heads=4, symmetric=False)
    """
    check_choice("position scheme", name, POSITION_SCHEMES)
    builders = {
        "none": lambda: NoPositions(),
        "learned": lambda: Learned(max_len, d_model, seed=seed, dtype=dtype),
        "sinusoidal": lambda: Sinusoidal(d_model, dtype=dtype),
        "alibi": lambda: ALiBi(n_heads, dtype=dtype),
        "rope": lambda: RoPE(),
        "t5": lambda: T5Buckets(n_heads, num_buckets=num_buckets, max_distance=max_distance,
                                bidirectional=not causal, std=std, seed=seed, dtype=dtype),
    }
    return builders[name]()


def from_config(config: dict[str, Any], *, dtype: npt.DTypeLike = np.float32) -> PositionScheme:
    """The scheme a ``config()`` describes, with fresh parameters of ``dtype`` to load into.

    Raises ValueError for a config that is not a dict with a known ``name`` and its settings.

    Examples
    --------
    >>> from_config(RoPE(rotary_dim=16).config())
    RoPE(base=10000.0, rotary_dim=16, interleaved=False, scaling=None)
    """
    if not isinstance(config, dict) or "name" not in config:
        raise ValueError(f"a position scheme's config is a dict with a 'name', got {config!r}")
    name = config["name"]
    chosen = scheme_class(name)
    options = {key: value for key, value in config.items() if key != "name"}
    if chosen.has_dtype:
        options["dtype"] = dtype
    if chosen in (Learned, T5Buckets):
        options["std"] = 0.0  # a table to load into: zeros, never drawn
    try:
        return chosen(**options)
    except TypeError as error:
        raise ValueError(f"the {name!r} position scheme cannot be built from {config!r} "
                         f"({error})") from None


_CLASSES: dict[str, type[PositionScheme]] = {
    scheme.name: scheme for scheme in (NoPositions, Learned, Sinusoidal, ALiBi, T5Buckets, RoPE)}
