"""Safetensors files: the format published models come in, read and written with NumPy alone.

A ``.safetensors`` file is three parts, nothing else (no code, so nothing to unpickle)::

    8 bytes        N, the header's length, an unsigned little-endian integer
    N bytes        a JSON object: {"name": {"dtype": "F32", "shape": [50257, 768],
                                            "data_offsets": [begin, end]}, ...,
                                   "__metadata__": {"format": "pt", ...}}   (optional, str -> str)
    the rest       the tensors' raw little-endian bytes, C order, back to back

``data_offsets`` count from the first byte after the header. The reference reader refuses a file
whose tensors leave a gap, overlap, or do not end exactly at the end of the file, and so does
:func:`read_safetensors`. Its writer pads the header with spaces so the data starts at a multiple
of 8 bytes and stores the widest dtypes first, so every tensor starts at a multiple of its own
item size; :func:`write_safetensors` does the same, in the same order, and so writes the same
bytes as ``safetensors.numpy.save_file`` (the tests hold this).

Reading maps the file into memory (:mod:`mmap`) and returns read-only NumPy views of it: a 500 MB
checkpoint is not copied, and only the pages a computation touches are ever read from disk.
BF16 (bfloat16, the upper half of a float32) has no NumPy dtype, so BF16 tensors are widened to
float32, exactly, which makes a copy of them. A large model is split into shards listed by
``model.safetensors.index.json``; :func:`read_safetensors` reads a folder, a file or that index.
PyTorch's ``pytorch_model.bin`` is a pickle, which can run code when loaded: it is refused, with
the commands that convert it.
"""

from __future__ import annotations

import json
import math
import mmap
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from minimal_embed._files import atomic_write

__all__ = ["DTYPES", "read_safetensors", "open_safetensors", "Tensors", "read_metadata",
           "write_safetensors"]

# safetensors' dtype names -> little-endian NumPy dtypes, in the reference writer's order (it
# stores the last first); BF16 has no NumPy dtype and is read as its uint16 bit patterns
DTYPES: dict[str, np.dtype] = {name: np.dtype(code) for name, code in [
    ("BOOL", "?"), ("U8", "u1"), ("I8", "i1"), ("I16", "<i2"), ("U16", "<u2"), ("F16", "<f2"),
    ("BF16", "<u2"), ("I32", "<i4"), ("U32", "<u4"), ("F32", "<f4"), ("F64", "<f8"),
    ("I64", "<i8"), ("U64", "<u8")]}
_WRITE_ORDER = {name: rank for rank, name in enumerate(DTYPES)}
_NAME_OF = {dtype.str: name for name, dtype in DTYPES.items() if name != "BF16"}

MAX_HEADER = 100_000_000  # bytes; the reference reader's limit too
INDEX = "model.safetensors.index.json"
_PICKLES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


def read_safetensors(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Every tensor of a safetensors file, a sharded checkpoint, or a model folder, by name.

    Parameters
    ----------
    path : str or PathLike
        A ``.safetensors`` file; ``model.safetensors.index.json`` (its shards are read and
        joined); or a folder holding either (``model.safetensors`` first).

    Returns
    -------
    dict of str to numpy.ndarray
        Read-only views of the memory-mapped file(s) in the stored dtype and shape (``np.array``
        of one makes a writable copy); BF16 tensors as float32 copies, exactly widened.

    Raises
    ------
    FileNotFoundError
        If nothing is there, or a folder holds no safetensors weights.
    ValueError
        Naming the file: a PyTorch pickle (``pytorch_model.bin``: with how to convert it); a
        header that is cut short, longer than the file, not a JSON object, or with a malformed
        entry; an unknown dtype; a tensor whose byte range does not match its shape, lies outside
        the file, overlaps another or leaves a gap; an index whose shards disagree with it.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "model.safetensors"
    >>> _ = write_safetensors(path, {"wte.weight": np.eye(2, dtype=np.float32)})
    >>> arrays = read_safetensors(path.parent)
    >>> arrays["wte.weight"].tolist(), arrays["wte.weight"].flags.writeable
    ([[1.0, 0.0], [0.0, 1.0]], False)
    """
    return dict(open_safetensors(path))


def open_safetensors(path: str | os.PathLike) -> Tensors:
    """:func:`read_safetensors` lazily: a mapping whose arrays are made when looked up.

    Every check runs now; a lookup then builds its view (or widens its BF16 tensor), so reading
    the embedding table of a large bfloat16 model widens that table alone.
    """
    path = Path(path)
    if path.is_dir():
        path = _weights_in_folder(path)
    elif not path.exists():
        raise FileNotFoundError(f"no such file or folder: {str(path)!r}")
    _refuse_pickle(path)
    if path.name.endswith(".index.json"):
        return _read_sharded(path)
    return _read_file(path)[0]


class Tensors(Mapping[str, np.ndarray]):
    """The tensors of checked safetensors files by name; each array is made when looked up."""

    def __init__(self) -> None:
        # name -> (mapped file, where its data starts, dtype name, shape, begin, end)
        self.places: dict[str, tuple[Any, int, str, tuple[int, ...], int, int]] = {}

    def __getitem__(self, name: str) -> np.ndarray:
        return _tensor(*self.places[name])

    def __iter__(self) -> Iterator[str]:
        return iter(self.places)

    def __len__(self) -> int:
        return len(self.places)

    def stored_dtype(self, name: str) -> str:
        """The dtype a tensor is stored in, by safetensors' name (``"BF16"``, ``"F32"`` ...)."""
        return self.places[name][2]


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors file (``{}`` without one); the same checks."""
    path = Path(path)
    _refuse_pickle(path)
    return _read_file(path)[1]


def write_safetensors(path: str | os.PathLike, arrays: dict[str, np.ndarray],
                      metadata: dict[str, str] | None = None) -> Path:
    """Write ``arrays`` (and string ``metadata``) as a safetensors file, atomically.

    The layout is the reference writer's: the widest dtypes first (then by name), so every tensor
    is aligned to its item size; the header padded with spaces to a multiple of 8 bytes; values
    little-endian in C order. Equal arrays always give equal bytes (metadata keys are sorted).

    Parameters
    ----------
    path : str or PathLike
        The file to create or replace; its folder must exist.
    arrays : dict of str to array
        Bool, integer (8 to 64 bits) or float16/32/64 arrays of any shape, by name.
    metadata : dict of str to str, optional
        Stored as ``__metadata__`` (Hugging Face writes ``{"format": "pt"}``).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    TypeError
        For a name or metadata entry that is not a str.
    ValueError
        For the reserved name ``__metadata__`` or an array of another dtype (complex, object,
        str; bfloat16 has no NumPy dtype to write from).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "ids.safetensors"
    >>> _ = write_safetensors(path, {"ids": np.arange(3)}, {"note": "three ids"})
    >>> read_safetensors(path)["ids"], read_metadata(path)
    (array([0, 1, 2]), {'note': 'three ids'})
    """
    tensors = {name: _little_endian(name, array) for name, array in arrays.items()}
    order = sorted(tensors, key=lambda name: (-_WRITE_ORDER[_dtype_name(tensors[name])], name))
    header: dict[str, Any] = {}
    if metadata is not None:
        header["__metadata__"] = _checked_metadata(metadata)
    offset = 0
    for name in order:
        size = tensors[name].nbytes
        header[name] = {"dtype": _dtype_name(tensors[name]),
                        "shape": list(tensors[name].shape), "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-(8 + len(text)) % 8)  # the data starts at a multiple of 8 bytes

    def write(file: BinaryIO) -> None:
        file.write(len(text).to_bytes(8, "little"))
        file.write(text)
        for name in order:
            if tensors[name].size:
                file.write(tensors[name].reshape(-1).view(np.uint8).data)

    return atomic_write(path, write)


# --- reading one file ----------------------------------------------------------------------------

def _read_file(path: Path) -> tuple[Tensors, dict[str, str]]:
    """The tensors (to be viewed in the mapped file) and the metadata of one safetensors file."""
    if path.is_dir():
        raise ValueError(f"{path} is a folder; give a .safetensors file or the folder itself "
                         "to read_safetensors")
    size = path.stat().st_size
    with open(path, "rb") as file:
        length = int.from_bytes(file.read(8), "little") if size >= 8 else -1
        if length < 0:
            raise ValueError(f"{path} is {size} bytes, shorter than the 8-byte header length "
                             "that starts every safetensors file")
        if length > size - 8:
            raise ValueError(f"{path}: the header length is {length} bytes but the file has only "
                             f"{size - 8} after the length field; the file is cut short or not "
                             "a safetensors file")
        if length > MAX_HEADER:
            raise ValueError(f"{path}: the header length {length} exceeds the format's limit of "
                             f"{MAX_HEADER} bytes; the file is damaged")
        header = _parse_header(file.read(length), path)
        data_start, data_size = 8 + length, size - 8 - length
        metadata = _metadata_of(header.pop("__metadata__", None) or {}, path)
        entries = {name: _entry(name, info, path) for name, info in header.items()}
        _check_layout(entries, data_size, path)
        buffer: Any = b""
        if data_size:
            buffer = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
    tensors = Tensors()
    tensors.places = {name: (buffer, data_start, *entry) for name, entry in entries.items()}
    return tensors, metadata


def _parse_header(raw: bytes, path: Path) -> dict[str, Any]:
    """The header's JSON object; ValueError naming the file otherwise."""
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_repeats)
    except (ValueError, RecursionError) as error:  # bad UTF-8 or JSON, nesting, 5000 digits
        raise ValueError(f"{path}: the header is not valid UTF-8 JSON ({error}); the file is "
                         "damaged or not a safetensors file") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path}: the header must be a JSON object, got "
                         f"{type(header).__name__}")
    return header


def _no_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are all different (a name given twice is a damaged header)."""
    result = dict(pairs)
    if len(result) != len(pairs):
        repeated = sorted({key for key, _ in pairs if [k for k, _ in pairs].count(key) > 1})
        raise json.JSONDecodeError(f"the key {repeated[0]!r} appears twice", "", 0)
    return result


def _metadata_of(metadata: Any, path: Path) -> dict[str, str]:
    """``__metadata__`` checked: a JSON object of strings."""
    if not isinstance(metadata, dict) or not all(isinstance(value, str)
                                                 for value in metadata.values()):
        raise ValueError(f"{path}: __metadata__ must be an object of strings, got {metadata!r}")
    return metadata


def _entry(name: str, info: Any, path: Path) -> tuple[str, tuple[int, ...], int, int]:
    """One header entry as (dtype name, shape, begin, end), every field checked."""
    where = f"{path}: tensor {name!r}"
    if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= set(info):
        raise ValueError(f"{where} must have 'dtype', 'shape' and 'data_offsets', got {info!r}")
    dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    if dtype not in DTYPES:
        raise ValueError(f"{where} has the unknown dtype {dtype!r}; this reader knows "
                         f"{', '.join(DTYPES)}")
    if not isinstance(shape, list) or not all(type(n) is int and n >= 0 for n in shape):
        raise ValueError(f"{where} has the shape {shape!r}; a shape is a list of integers >= 0")
    if not (isinstance(offsets, list) and len(offsets) == 2
            and all(type(n) is int and n >= 0 for n in offsets) and offsets[0] <= offsets[1]):
        raise ValueError(f"{where} has data_offsets {offsets!r}; they must be [begin, end] with "
                         "0 <= begin <= end")
    expected = math.prod(shape) * DTYPES[dtype].itemsize
    if offsets[1] - offsets[0] != expected:
        raise ValueError(f"{where}: a {dtype} tensor of shape {shape} takes {expected} bytes, but "
                         f"its data_offsets {offsets} hold {offsets[1] - offsets[0]}")
    return dtype, tuple(shape), offsets[0], offsets[1]


def _check_layout(entries: dict[str, tuple[str, tuple[int, ...], int, int]], data_size: int,
                  path: Path) -> None:
    """The byte ranges must tile the data exactly: no range outside it, no overlap, no gap."""
    end_so_far, previous = 0, None
    for name, (_, _, begin, end) in sorted(entries.items(), key=lambda item: item[1][2:]):
        if end > data_size:
            raise ValueError(f"{path}: tensor {name!r} has data_offsets [{begin}, {end}], outside "
                             f"the file's {data_size} data bytes; the file is cut short or damaged")
        if begin < end_so_far:
            raise ValueError(f"{path}: the bytes of tensors {previous!r} and {name!r} overlap "
                             f"(from {begin} to {min(end, end_so_far)}); the header is damaged")
        if begin > end_so_far:
            raise ValueError(f"{path}: {begin - end_so_far} bytes before tensor {name!r} belong "
                             "to no tensor; the header is damaged")
        end_so_far, previous = max(end, end_so_far), name
    if end_so_far != data_size:
        raise ValueError(f"{path}: the tensors end at data byte {end_so_far} but the file holds "
                         f"{data_size}; the file is damaged")


def _tensor(buffer: Any, data_start: int, dtype: str, shape: tuple[int, ...], begin: int,
            end: int) -> np.ndarray:
    """A read-only view of one tensor's bytes (BF16: widened to a float32 copy)."""
    if begin == end:
        return np.zeros(shape, np.float32 if dtype == "BF16" else DTYPES[dtype])
    flat = np.frombuffer(buffer, DTYPES[dtype], count=math.prod(shape), offset=data_start + begin)
    if dtype == "BF16":
        # a bfloat16 is the upper 16 bits of the float32 of the same value
        flat = (flat.astype(np.uint32) << 16).view(np.float32)
    return flat.reshape(shape)


# --- folders, shards, pickles --------------------------------------------------------------------

def _weights_in_folder(folder: Path) -> Path:
    """The safetensors weights of a model folder: model.safetensors, else the shards' index."""
    for name in ("model.safetensors", INDEX):
        if (folder / name).is_file():
            return folder / name
    for pickle in sorted(p for p in folder.iterdir() if _is_pickle(p)):
        _refuse_pickle(pickle)
    found = sorted(p.name for p in folder.iterdir())
    raise FileNotFoundError(f"{folder} holds no model.safetensors and no {INDEX} (it has: "
                            f"{', '.join(found[:12]) or 'nothing'})")


def _is_pickle(path: Path) -> bool:
    """A PyTorch pickle by its name (``pytorch_model.bin``, its shards or their index)."""
    return Path(path.name.removesuffix(".index.json")).suffix in _PICKLES


def _refuse_pickle(path: Path) -> None:
    """A PyTorch pickle is refused before a byte of it is read, with how to convert it."""
    if _is_pickle(path):
        raise ValueError(
            f"{path} is a PyTorch pickle: loading it can run any code, so it is not read here "
            "(nothing was unpickled). Convert it to safetensors once, where you trust it: "
            "transformers' AutoModel.from_pretrained(folder).save_pretrained(folder, "
            "safe_serialization=True), or the 'convert' tool of the safetensors project")


def _read_sharded(index: Path) -> Tensors:
    """Join the shards that ``model.safetensors.index.json`` lists, checked against its map."""
    try:
        weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
    except (ValueError, RecursionError, KeyError, TypeError) as error:
        raise ValueError(f"{index} is not a shard index with a 'weight_map' ({error})") from None
    if not isinstance(weight_map, dict) or not all(isinstance(shard, str)
                                                   for shard in weight_map.values()):
        raise ValueError(f"{index}: 'weight_map' must map tensor names to shard file names")
    joined = Tensors()
    where: dict[str, str] = {}
    for shard in sorted(set(weight_map.values())):
        shard_path = index.parent / shard
        if not shard_path.is_file():
            raise FileNotFoundError(f"{index} lists the shard {shard!r}, which is not in "
                                    f"{index.parent}")
        _refuse_pickle(shard_path)
        for name, place in _read_file(shard_path)[0].places.items():
            if name in where:
                raise ValueError(f"{index}: tensor {name!r} is in both {where[name]} and {shard}")
            joined.places[name], where[name] = place, shard
    for name, shard in weight_map.items():
        if where.get(name) != shard:
            raise ValueError(f"{index} places {name!r} in {shard}, but "
                             + (f"it is in {where[name]}" if name in where else "no shard has it"))
    return joined


# --- writing -------------------------------------------------------------------------------------

def _little_endian(name: object, array: Any) -> np.ndarray:
    """A C-contiguous little-endian copy (or view) of one array to write, checked."""
    if not isinstance(name, str):
        raise TypeError(f"tensor names must be str, got {name!r} ({type(name).__name__})")
    if name == "__metadata__":
        raise ValueError("'__metadata__' is the header's metadata entry; rename that tensor")
    array = np.asarray(array)
    wanted = array.dtype.newbyteorder("<")
    if wanted.str not in _NAME_OF:
        raise ValueError(f"tensor {name!r} has dtype {array.dtype}; safetensors stores bool, "
                         "int8..64, uint8..64 and float16/32/64 arrays")
    return np.asarray(array, dtype=wanted, order="C")  # keeps a 0-d array 0-d


def _dtype_name(array: np.ndarray) -> str:
    """The safetensors name of a little-endian array's dtype."""
    return _NAME_OF[array.dtype.str]


def _checked_metadata(metadata: dict[str, str]) -> dict[str, str]:
    """Metadata entries must be str -> str (the format has no other kind); sorted by key."""
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"metadata must map str to str, got {key!r}: {value!r}")
    return dict(sorted(metadata.items()))
