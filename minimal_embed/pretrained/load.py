"""A downloaded Hugging Face model folder in: its input stage and its position scheme, exactly.

A model folder holds ``config.json`` (the family and its sizes), the weights as safetensors
(``model.safetensors``, or shards listed by ``model.safetensors.index.json``) and usually the
tokenizer's files. :func:`load_pretrained` reads the three and builds what this package computes
from them: the :class:`~minimal_embed.pipeline.InputEmbedding` the model's first layer reads
from, filled with the checkpoint's tables (its ``forward`` equals the model's own embedding
output), and the position scheme with the checkpoint's settings and tables (a
:class:`~minimal_embed.schemes.PositionScheme`). :mod:`~minimal_embed.pretrained.families` says
where each family keeps them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from minimal_embed._checks import check_float_dtype
from minimal_embed.checkpoint import copy_arrays
from minimal_embed.pipeline import InputEmbedding
from minimal_embed.pretrained.families import family_parts
from minimal_embed.pretrained.safetensors import Tensors, open_safetensors
from minimal_embed.schemes import PositionScheme

if TYPE_CHECKING:
    from typing import TypeAlias

    from minimal_embed.tokenizer import Tokenizer, UnigramTokenizer, WordPieceTokenizer

    AnyTokenizer: TypeAlias = "Tokenizer | WordPieceTokenizer | UnigramTokenizer"

__all__ = ["PretrainedModel", "load_pretrained", "read_config", "read_tokenizer"]


@dataclass
class PretrainedModel:
    """A published model's input stage and position scheme, as :func:`load_pretrained` reads them.

    ``input_embedding`` (an InputEmbedding, inference mode) maps ids to what the first layer
    reads; ``positions`` is the scheme (the same object as ``input_embedding.positions``), and
    ``decoder_positions`` T5's decoder scheme (None elsewhere). The scores of the model's
    attention are ``score_scale * q @ k^T`` (``1 / sqrt(head_dim)``; T5: 1.0) over ``n_heads``
    heads of ``head_dim``. ``tokenizer`` is None when the folder has no tokenizer this package
    reads; ``config`` is the parsed ``config.json``; ``family`` its ``model_type``.
    """

    family: str
    config: dict[str, Any]
    input_embedding: InputEmbedding
    positions: PositionScheme
    tokenizer: AnyTokenizer | None
    n_heads: int
    head_dim: int
    score_scale: float
    decoder_positions: PositionScheme | None
    folder: Path


def load_pretrained(folder: str | os.PathLike, *, dtype: npt.DTypeLike | None = None,
                    batch_first: bool = False) -> PretrainedModel:
    """The input stage and position scheme of a Hugging Face model folder.

    Parameters
    ----------
    folder : str or PathLike
        A downloaded model: ``config.json`` and safetensors weights (see
        :func:`~minimal_embed.pretrained.safetensors.read_safetensors`), and optionally GPT-2's
        tokenizer files ``vocab.json`` + ``merges.txt``. Nothing is fetched from the network.
    dtype : floating dtype, optional
        Of the tables; default float64 for a float64 checkpoint, float32 otherwise (float16 and
        bfloat16 weights are widened exactly).
    batch_first : bool, default False
        Ids and embeddings as ``(batch, seq_len, ...)``, the layout of transformers.

    Returns
    -------
    PretrainedModel
        Its ``input_embedding.forward(ids)`` equals the model's embedding output (GPT-2's
        ``hidden_states[0]``, ``BertEmbeddings``, BLOOM's normalised embeddings ...).

    Raises
    ------
    FileNotFoundError
        If the folder, its ``config.json`` or its weights are missing.
    ValueError
        Naming the file: an unsupported ``model_type`` (listing the supported families),
        settings it cannot reproduce exactly (e.g. an unsupported ``rope_scaling`` kind), a
        missing or misshapen array, a damaged file, or PyTorch pickle weights (refused, with how
        to convert them).

    Examples
    --------
    A GPT-2 of 3 tokens, 2 dims and 4 positions, written by hand:

    >>> import json, tempfile
    >>> from minimal_embed.pretrained.safetensors import write_safetensors
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "config.json").write_text(json.dumps({"model_type": "gpt2", "vocab_size": 3,
    ...                                         "n_embd": 2, "n_head": 1, "n_positions": 4}))
    >>> _ = write_safetensors(folder / "model.safetensors",
    ...                       {"wte.weight": np.eye(3, 2), "wpe.weight": np.ones((4, 2))})
    >>> model = load_pretrained(folder)
    >>> model.family, model.positions
    ('gpt2', Learned(max_len=4, d_model=2))
    >>> model.input_embedding.forward([[0], [1]])[0][:, 0].tolist()  # wte[ids] + wpe[0, 1]
    [[2.0, 1.0], [1.0, 2.0]]
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no model folder at {str(folder)!r}")
    config = read_config(folder)
    arrays = open_safetensors(folder)  # views made on lookup: only the tables used are read
    table_dtype = _stage_dtype(dtype, arrays)
    family, parts = family_parts(config, arrays, dtype=table_dtype, where=str(folder))
    # std 0: tables to load into, never drawn (a 128k x 4096 table would be drawn for nothing)
    stage = InputEmbedding(None, parts.d_model, positions=parts.positions, dropout=0.0,
                           token_std=0.0, batch_first=batch_first, vocab_size=parts.vocab_size,
                           token_types=parts.token_types, layer_norm_eps=parts.layer_norm_eps,
                           padding_idx=parts.padding_idx, dtype=table_dtype).eval()
    copy_arrays(stage.state_dict(), parts.arrays, str(folder))
    if parts.decoder_positions is not None:
        copy_arrays(parts.decoder_positions.parameters(), parts.decoder_arrays,
                    f"{folder} (decoder)")
    tokenizer = read_tokenizer(folder)
    if tokenizer is not None:
        if tokenizer.vocab_size > parts.vocab_size:
            raise ValueError(f"{folder}: the tokenizer has {tokenizer.vocab_size} ids but the "
                             f"token table only {parts.vocab_size} rows")
        stage.tokenizer = tokenizer  # a table may have spare rows beyond the tokenizer's ids
    scale = parts.score_scale if parts.score_scale is not None else parts.head_dim ** -0.5
    return PretrainedModel(family, config, stage, parts.positions, tokenizer, parts.n_heads,
                           parts.head_dim, scale, parts.decoder_positions, folder)


def read_config(folder: Path) -> dict[str, Any]:
    """A model folder's ``config.json`` as a dict (FileNotFoundError, ValueError naming it)."""
    path = folder / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{folder} has no config.json; a Hugging Face model folder holds "
                                "config.json beside its weights")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as error:  # bad UTF-8 or JSON, nesting, 5000 digits
        raise ValueError(f"{path} is not valid JSON ({error})") from None
    if not isinstance(config, dict):
        raise ValueError(f"{path} must hold a JSON object, got {type(config).__name__}")
    return config


def read_tokenizer(folder: Path) -> AnyTokenizer | None:
    """The folder's tokenizer: ``tokenizer.json`` (BPE, WordPiece or Unigram) when it has one,
    else GPT-2-style ``vocab.json`` + ``merges.txt``, else None.

    Raises
    ------
    ValueError
        Naming the folder, if the file is there but cannot be read (an unsupported model type
        or normalizer is named).
    """
    from minimal_embed.tokenizer import Tokenizer, load_hf_tokenizer

    if (folder / "tokenizer.json").is_file():
        return load_hf_tokenizer(folder / "tokenizer.json")
    vocab, merges = folder / "vocab.json", folder / "merges.txt"
    if not (vocab.is_file() and merges.is_file()):
        return None
    try:
        return Tokenizer.from_gpt2(vocab, merges)
    except ValueError as error:
        raise ValueError(f"{folder}: its vocab.json + merges.txt cannot be read ({error})") \
            from None


def _stage_dtype(dtype: npt.DTypeLike | None, arrays: Tensors) -> np.dtype:
    """The tables' dtype: as asked, else float64 for a float64 checkpoint, else float32."""
    if dtype is not None:
        return check_float_dtype("dtype", dtype)
    floats = {arrays.stored_dtype(name) for name in arrays} & {"F16", "BF16", "F32", "F64"}
    return np.dtype(np.float64 if floats == {"F64"} else np.float32)
