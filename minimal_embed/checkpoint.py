"""Model files: the one place that reads and writes ``.npz`` checkpoints, with one set of checks.

A checkpoint is an uncompressed NumPy ``.npz`` archive (a zip of ``.npy`` files): one array per
parameter under its dotted name (``token_embedding``, ``position_embedding``, ``attn.w_q``,
``t5.table`` ...) and one 0-d string array, ``metadata``, holding a JSON object::

    {"format": "minimal_embed checkpoint", "version": 2,
     "input_embedding": {... InputEmbedding.config() ...},   what rebuilds the input stage
     "model": {...}, "train": {...}, ...}                       whatever else the writer adds

Reading never unpickles (``allow_pickle=False``) and refuses a damaged file with a
``ValueError`` that names it. Writing goes through a temporary file and a rename, and stamps
nothing that depends on the clock, so the same arrays give the same bytes. Files of version 1
(``config_json`` + ``positions``, written by minimal_embed 0.1) are read and upgraded.

The input stage (:meth:`~minimal_embed.pipeline.InputEmbedding.load`), the training code
(:func:`~minimal_embed.train.load_checkpoint`) and the command line all read through
:func:`read_checkpoint`; :func:`copy_arrays` is the one check that arrays fit a model.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from minimal_embed._files import atomic_write

__all__ = ["FORMAT", "VERSION", "write_checkpoint", "read_checkpoint", "check_shapes",
           "copy_arrays"]

FORMAT = "minimal_embed checkpoint"
VERSION = 2
_METADATA = "metadata"


def write_checkpoint(path: str | os.PathLike, arrays: dict[str, np.ndarray],
                     metadata: dict[str, Any]) -> Path:
    """Write ``arrays`` and a JSON ``metadata`` object to ``path`` as an ``.npz`` checkpoint.

    ``format`` and ``version`` are added to the metadata; keys are sorted, so the bytes depend
    on the content alone (``np.savez`` stamps every zip entry 1980-01-01 00:00).

    Parameters
    ----------
    path : str or PathLike
        The file; written as given (no ``.npz`` is appended), atomically.
    arrays : dict of str to numpy.ndarray
        Numeric or bool arrays by name; ``metadata`` is reserved.
    metadata : dict
        JSON-serialisable.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValueError
        For the reserved name, an object array, or metadata JSON cannot hold.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "tiny.npz"
    >>> _ = write_checkpoint(path, {"w": np.eye(2)}, {"note": "identity"})
    >>> arrays, meta = read_checkpoint(path)
    >>> arrays["w"].tolist(), meta["note"], meta["version"]
    ([[1.0, 0.0], [0.0, 1.0]], 'identity', 2)
    """
    if _METADATA in arrays:
        raise ValueError(f"{_METADATA!r} is reserved for the checkpoint's metadata; rename "
                         "that array")
    for name, array in arrays.items():
        if np.asarray(array).dtype.kind not in "biuf":
            raise ValueError(f"array {name!r} has dtype {np.asarray(array).dtype}; a "
                             "checkpoint holds numeric or bool arrays only")
    try:
        text = json.dumps({"format": FORMAT, "version": VERSION, **metadata}, sort_keys=True,
                          allow_nan=False)
    except (TypeError, ValueError) as error:
        raise ValueError(f"the checkpoint's metadata cannot be written as JSON: {error}") from None
    contents = {_METADATA: np.array(text), **arrays}
    return atomic_write(path, lambda file: np.savez(file, allow_pickle=False, **contents))


def read_checkpoint(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The arrays and the metadata of a checkpoint written by :func:`write_checkpoint`.

    Parameters
    ----------
    path : str or PathLike

    Returns
    -------
    arrays : dict of str to numpy.ndarray
        Every parameter array by name (``metadata`` taken out).
    metadata : dict
        The JSON object, with ``version`` 2 (a version-1 file is upgraded).

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ValueError
        Naming the file, if it is not an ``.npz`` archive (a folder, a plain ``.npy``, a
        pickle, a truncated zip), a member cannot be read, or the metadata is missing, not a
        JSON object, or from an unknown format or version.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such checkpoint: {str(path)!r}")
    arrays = _read_npz(path)
    if _METADATA not in arrays and "config_json" in arrays:
        return _upgrade_version_1(arrays, path)
    if _METADATA not in arrays and "format" in arrays and "weight" in arrays:
        return _upgrade_embedding_1(arrays, path)
    if _METADATA not in arrays:
        # the arrays `minimal-embed embed --save` writes: a common thing to pass by mistake
        hint = ("; it looks like the arrays `minimal-embed embed --save` writes, not a model"
                if "input_embeddings" in arrays else "")
        raise ValueError(f"{path} is an .npz archive but not a checkpoint: it has no "
                         f"{_METADATA!r} entry (its arrays: "
                         f"{', '.join(sorted(arrays)) or 'none'}){hint}")
    metadata = _json_object(arrays.pop(_METADATA), _METADATA, path)
    if metadata.get("format") != FORMAT or metadata.get("version") != VERSION:
        raise ValueError(f"{path} is of format {metadata.get('format')!r} version "
                         f"{metadata.get('version')!r}; this minimal_embed reads {FORMAT!r} "
                         f"version {VERSION} (and 1)")
    return arrays, metadata


def check_shapes(arrays: dict[str, np.ndarray], shapes: dict[str, tuple[int, ...]],
                 what: str) -> None:
    """Refuse ``arrays`` unless each name in ``shapes`` is there with that shape.

    Loaders call it with the shapes a file's metadata claims *before* building anything from
    them, so a size the file only claims is never allocated.

    Raises
    ------
    ValueError
        Naming the missing arrays, or the first one whose shape differs, and ``what``.
    """
    missing = [name for name in shapes if name not in arrays]
    if missing:
        raise ValueError(f"{what} lacks the arrays {missing} (it has {sorted(arrays)}); it was "
                         "saved from a model of another configuration")
    for name, shape in shapes.items():
        if arrays[name].shape != tuple(shape):
            raise ValueError(f"{what}: {name} has shape {arrays[name].shape}, but the model "
                             f"needs {tuple(shape)}")


def copy_arrays(target: dict[str, np.ndarray], arrays: dict[str, np.ndarray], what: str) -> None:
    """Copy ``arrays`` into the same-named arrays of ``target`` in place, after checking them all.

    Every name of ``target`` must be in ``arrays`` with the same shape; nothing is copied
    unless all fit. Extra names in ``arrays`` are ignored (a training checkpoint holds more than
    its input stage). Values are cast to the target's dtype.

    Raises
    ------
    ValueError
        Naming the missing arrays, or the first one whose shape differs, and ``what`` (the file
        or model) they should have fit.
    """
    check_shapes(arrays, {name: value.shape for name, value in target.items()}, what)
    for name, value in target.items():
        value[...] = arrays[name]  # in place: layers and optimizers share these arrays


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """Every member of an .npz archive, or a ValueError that names the file and the fault."""
    if path.is_dir():
        raise ValueError(f"{path} is a folder, not a checkpoint file{_pretrained_hint(path)}")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not an .npz checkpoint (not a zip archive; a plain .npy, a "
                         "pickle or a damaged file); nothing was unpickled"
                         + _pretrained_hint(path))
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as error:
        # NumPy's own message would advise enabling pickles: never pass that advice on
        reason = ("it holds pickled (object) data, which is never loaded"
                  if "pickle" in str(error) else f"{type(error).__name__}: "
                  f"{str(error).splitlines()[0] if str(error) else 'unreadable'}")
        raise ValueError(f"{path} is a damaged .npz checkpoint ({reason}); nothing was "
                         "unpickled") from None


def _pretrained_hint(path: Path) -> str:
    """Where a published model's files (safetensors, a model folder) are read instead."""
    if path.suffix == ".safetensors" or (path.is_dir() and (path / "config.json").is_file()):
        return ("; a Hugging Face model's weights are read by minimal_embed.read_safetensors, "
                "its folder by minimal_embed.load_pretrained")
    return ""


def _json_object(array: np.ndarray, name: str, path: Path) -> dict[str, Any]:
    """A 0-d string array holding a JSON object, parsed; ValueError naming the file otherwise."""
    if array.shape != () or array.dtype.kind != "U":
        raise ValueError(f"{path}: {name!r} must be a 0-d string, got {array.dtype} "
                         f"{array.shape}")
    try:
        value = json.loads(str(array))
    except (ValueError, RecursionError) as error:  # bad JSON, too deeply nested, 5000 digits
        raise ValueError(f"{path}: {name!r} is not valid JSON ({error})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path}: {name!r} must be a JSON object, got {type(value).__name__}")
    return value


def _upgrade_embedding_1(arrays: dict[str, np.ndarray],
                         path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """A 0.1 Embedding.save file (format, weight, padding_idx arrays) in version 2's terms."""
    if str(arrays.pop("format")) != "minimal_embed.Embedding/1" or "padding_idx" not in arrays:
        raise ValueError(f"{path} is not a checkpoint: it has no {_METADATA!r} entry")
    padding = arrays.pop("padding_idx")
    if padding.shape != () or padding.dtype.kind not in "iu":
        raise ValueError(f"{path}: padding_idx must be an integer scalar, got {padding.dtype} "
                         f"{padding.shape}")
    metadata = {"format": FORMAT, "version": VERSION, "upgraded_from": 1,
                "embedding": {"padding_idx": None if int(padding) == -1 else int(padding)}}
    return arrays, metadata


def _upgrade_version_1(arrays: dict[str, np.ndarray],
                       path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """A 0.1 training checkpoint (config_json + positions) in version 2's terms."""
    config = _json_object(arrays.pop("config_json"), "config_json", path)
    if "positions" not in arrays:
        raise ValueError(f"{path} is a version-1 checkpoint without its 'positions' entry")
    name = str(arrays.pop("positions"))
    try:
        d_model, n_heads = int(config["d_model"]), int(config["n_heads"])
        vocab_size = int(config["vocab_size"])
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{path}: config_json lacks a model size ({error})") from None
    schemes: dict[str, dict[str, Any]] = {
        "none": {}, "rope": {"base": 10000.0, "rotary_dim": None, "interleaved": False},
        "sinusoidal": {"d_model": d_model, "base": 10000.0, "interleaved": True},
        "alibi": {"n_heads": n_heads, "symmetric": False},
        "t5": {"n_heads": n_heads, "num_buckets": 32, "max_distance": 128,
               "bidirectional": False},
        "learned": {"max_len": int(config.get("max_len", 0)), "d_model": d_model},
    }
    if name not in schemes:
        raise ValueError(f"{path}: unknown position scheme {name!r}")
    stage = {"vocab_size": vocab_size, "d_model": d_model, "combine": "add", "d_pos": d_model,
             # 0.1 trained sinusoidal models on sqrt(d_model) E[ids] + PE
             "scale": name == "sinusoidal", "token_types": 0, "layer_norm_eps": None,
             "padding_idx": None, "dropout": 0.0, "dtype": str(arrays["token_embedding"].dtype),
             "positions": {"name": name, **schemes[name]}}
    model = {"vocab_size": vocab_size, "d_model": d_model, "n_heads": n_heads,
             "max_len": int(config.get("max_len", 0)), "positions": name,
             "init_std": float(config.get("init_std", 0.02))}
    train_keys = ("positions", "steps", "seq_len", "d_model", "n_heads", "batch_size", "lr",
                  "min_lr", "warmup", "weight_decay", "seed", "eval_every", "val_fraction")
    metadata = {"format": FORMAT, "version": VERSION, "upgraded_from": 1,
                "input_embedding": stage, "model": model,
                "train": {key: config[key] for key in train_keys if key in config},
                "tokenizer": config.get("tokenizer"), "steps_done": config.get("steps_done")}
    return arrays, metadata
