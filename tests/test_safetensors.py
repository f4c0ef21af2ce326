"""Safetensors files: our reader and writer against the format's reference package; damaged files.

The reference (``safetensors``, the Hugging Face package) is an optional peer: the tests that
compare with it skip without it. Every other test builds its files by hand, byte by byte, from
the format's definition: 8-byte little-endian header length, JSON header, raw data.
"""

import json
import mmap
import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from minimal_embed import read_safetensors, write_safetensors
from minimal_embed.pretrained.safetensors import open_safetensors, read_metadata

WRITABLE = [np.bool_, np.uint8, np.int8, np.int16, np.uint16, np.float16, np.int32, np.uint32,
            np.float32, np.float64, np.int64, np.uint64]


def raw_file(path, header, data=b"", *, length=None):
    """A safetensors file written from a header dict (or raw header bytes) and data bytes."""
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    size = len(text) if length is None else length
    path.write_bytes(size.to_bytes(8, "little") + text + data)
    return path


def same_bits(a, b):
    """Equal dtype, shape and bytes (so NaN payloads and -0.0 count too)."""
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


# --- round trips ---------------------------------------------------------------------------------

arrays_strategy = st.dictionaries(
    st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=8)
    .filter(lambda name: name != "__metadata__"),
    st.sampled_from(WRITABLE).flatmap(
        lambda dtype: hnp.arrays(dtype, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0,
                                                         max_side=4))),
    max_size=5)


@given(arrays=arrays_strategy)
def test_write_then_read_returns_every_array_bit_for_bit(tmp_path_factory, arrays):
    path = tmp_path_factory.mktemp("st") / "a.safetensors"
    write_safetensors(path, arrays)
    back = read_safetensors(path)
    assert set(back) == set(arrays)
    assert all(same_bits(back[name], np.asarray(array)) for name, array in arrays.items())


@given(arrays=arrays_strategy)
def test_write_gives_the_reference_writers_bytes_and_each_reads_the_other(tmp_path_factory,
                                                                          arrays):
    reference = pytest.importorskip("safetensors.numpy")
    folder = tmp_path_factory.mktemp("st")
    ours, theirs = folder / "ours.safetensors", folder / "theirs.safetensors"
    write_safetensors(ours, arrays)
    reference.save_file({name: np.asarray(a) for name, a in arrays.items()}, str(theirs))
    assert ours.read_bytes() == theirs.read_bytes()
    loaded = reference.load_file(str(ours))
    assert all(same_bits(loaded[name], np.asarray(array)) for name, array in arrays.items())


def test_metadata_round_trips_and_matches_the_reference(tmp_path):
    reference = pytest.importorskip("safetensors.numpy")
    arrays = {"w": np.arange(6, dtype=np.float32).reshape(2, 3)}
    write_safetensors(tmp_path / "ours.safetensors", arrays, {"format": "pt"})
    reference.save_file(arrays, str(tmp_path / "theirs.safetensors"), metadata={"format": "pt"})
    assert (tmp_path / "ours.safetensors").read_bytes() == \
        (tmp_path / "theirs.safetensors").read_bytes()
    assert read_metadata(tmp_path / "ours.safetensors") == {"format": "pt"}
    assert read_metadata(tmp_path / "theirs.safetensors") == {"format": "pt"}


def test_writer_aligns_data_and_every_tensor_to_its_item_size(tmp_path):
    arrays = {"a": np.ones(3, np.int8), "b": np.ones(5, np.float64), "c": np.ones(1, np.float16),
              "d": np.ones(3, np.float32)}
    data = write_safetensors(tmp_path / "x.safetensors", arrays).read_bytes()
    length = int.from_bytes(data[:8], "little")
    assert (8 + length) % 8 == 0 and data[8 + length - 1:8 + length] in (b" ", b"}")
    header = json.loads(data[8:8 + length])
    assert all(header[name]["data_offsets"][0] % arrays[name].itemsize == 0 for name in arrays)


def test_big_endian_and_strided_arrays_are_stored_little_endian_in_c_order(tmp_path):
    arrays = {"be": np.arange(4, dtype=">i4"), "t": np.arange(6.0).reshape(2, 3).T}
    back = read_safetensors(write_safetensors(tmp_path / "x.safetensors", arrays))
    assert back["be"].tolist() == [0, 1, 2, 3] and back["be"].dtype == np.dtype("<i4")
    assert np.array_equal(back["t"], arrays["t"])


def test_bf16_is_widened_to_float32_exactly(tmp_path):
    torch = pytest.importorskip("torch")
    reference = pytest.importorskip("safetensors.torch")
    values = torch.tensor([0.0, -0.0, 1.5, -3.25e-3, 3.0e38, float("inf"), float("nan"), 1e-40])
    reference.save_file({"x": values.to(torch.bfloat16).reshape(2, 4)}, str(tmp_path / "b.st"))
    ours = read_safetensors(tmp_path / "b.st")["x"]
    assert ours.dtype == np.float32 and ours.shape == (2, 4)
    assert ours.tobytes() == values.to(torch.bfloat16).float().reshape(2, 4).numpy().tobytes()


def test_reading_maps_the_file_instead_of_copying_it(tmp_path):
    path = write_safetensors(tmp_path / "big.safetensors", {"w": np.ones((256, 256))})
    array = read_safetensors(path)["w"]
    owner = array
    while isinstance(owner, (np.ndarray, memoryview)):
        owner = owner.base if isinstance(owner, np.ndarray) else owner.obj
    assert isinstance(owner, mmap.mmap)
    assert not array.flags.writeable  # a view of the file: np.array(...) for a copy


def test_empty_file_and_empty_tensors(tmp_path):
    assert read_safetensors(write_safetensors(tmp_path / "e.safetensors", {})) == {}
    back = read_safetensors(write_safetensors(tmp_path / "z.safetensors",
                                              {"z": np.zeros((0, 3), np.float16)}))
    assert back["z"].shape == (0, 3) and back["z"].dtype == np.float16


# --- shards and folders --------------------------------------------------------------------------

def write_shards(folder, weight_map=None):
    write_safetensors(folder / "model-00001-of-00002.safetensors", {"a": np.arange(3.0)})
    write_safetensors(folder / "model-00002-of-00002.safetensors", {"b": np.ones((2, 2))})
    weight_map = weight_map or {"a": "model-00001-of-00002.safetensors",
                                "b": "model-00002-of-00002.safetensors"}
    index = folder / "model.safetensors.index.json"
    index.write_text(json.dumps({"metadata": {"total_size": 56}, "weight_map": weight_map}))
    return index


def test_sharded_checkpoint_reads_through_its_index_or_its_folder(tmp_path):
    index = write_shards(tmp_path)
    for source in (index, tmp_path):
        arrays = read_safetensors(source)
        assert sorted(arrays) == ["a", "b"] and arrays["a"].tolist() == [0.0, 1.0, 2.0]


def test_folder_prefers_model_safetensors(tmp_path):
    write_shards(tmp_path)
    write_safetensors(tmp_path / "model.safetensors", {"only": np.zeros(1)})
    assert list(read_safetensors(tmp_path)) == ["only"]


@pytest.mark.parametrize("weight_map, message", [
    ({"a": "model-00001-of-00002.safetensors", "b": "model-00001-of-00002.safetensors",
      "x": "model-00002-of-00002.safetensors"}, "places 'b' in model-00001"),
    ({"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors",
      "c": "model-00002-of-00002.safetensors"}, "no shard has it"),
    ({"a": "missing.safetensors"}, "which is not in"),
])
def test_index_that_disagrees_with_its_shards_is_refused(tmp_path, weight_map, message):
    index = write_shards(tmp_path, weight_map)
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        read_safetensors(index)


@pytest.mark.parametrize("content", [b"[" * 100_000 + b"]" * 100_000, b"\xff{}",
                                     b'{"weight_map": ' + b"9" * 5000 + b"}"])
def test_a_damaged_shard_index_is_a_value_error_naming_it(tmp_path, content):
    index = tmp_path / "model.safetensors.index.json"
    index.write_bytes(content)
    with pytest.raises(ValueError, match="is not a shard index") as caught:
        read_safetensors(index)
    assert str(index) in str(caught.value)


def test_tensor_in_two_shards_is_refused(tmp_path):
    write_safetensors(tmp_path / "s1.safetensors", {"a": np.zeros(1)})
    write_safetensors(tmp_path / "s2.safetensors", {"a": np.ones(1)})
    (tmp_path / "model.safetensors.index.json").write_text(
        json.dumps({"weight_map": {"a": "s1.safetensors", "b": "s2.safetensors"}}))
    with pytest.raises(ValueError, match="'a' is in both s1.safetensors and s2.safetensors"):
        read_safetensors(tmp_path)


def test_folder_without_weights_lists_what_it_has(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="no model.safetensors .* config.json"):
        read_safetensors(tmp_path)
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_safetensors(tmp_path / "nothing.safetensors")


# --- pickles are refused, never loaded -----------------------------------------------------------

class _Trap:
    """Unpickling this writes a file: proof that something was unpickled."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("name", ["pytorch_model.bin", "model.pt", "pytorch_model.bin.index.json"])
def test_pytorch_pickle_is_refused_with_how_to_convert_it(tmp_path, name):
    marker = tmp_path / "unpickled"
    (tmp_path / name).write_bytes(pickle.dumps(_Trap(marker)))
    for source in (tmp_path / name, tmp_path):
        with pytest.raises(ValueError, match="is a PyTorch pickle") as error:
            read_safetensors(source)
        assert "save_pretrained" in str(error.value) and "safe_serialization=True" in \
            str(error.value) and "nothing was unpickled" in str(error.value)
    assert not marker.exists()


# --- damaged files: a ValueError naming the file -------------------------------------------------

GOOD = {"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}


@pytest.mark.parametrize("header, data, length, message", [
    (b"", b"", 0, "not valid UTF-8 JSON"),
    (b"{\"w\": ", b"", None, "not valid UTF-8 JSON"),
    (b"\xff\xfe", b"", None, "not valid UTF-8 JSON"),
    (b"[1, 2]", b"", None, "must be a JSON object"),
    (b"[" * 100_000 + b"]" * 100_000, b"", None, "not valid UTF-8 JSON"),  # nested too deeply
    (b'{"w": ' + b"9" * 5000 + b"}", b"", None, "not valid UTF-8 JSON"),  # 5000 digits
    (GOOD, b"\0" * 8, 10_000, "header length is 10000 bytes but the file has only"),
    ({"w": {"dtype": "F8_E4M3", "shape": [2], "data_offsets": [0, 2]}}, b"\0" * 2, None,
     "unknown dtype 'F8_E4M3'"),
    ({"w": {"dtype": "F32", "shape": [2]}}, b"\0" * 8, None, "must have 'dtype', 'shape'"),
    ({"w": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, b"\0" * 8, None,
     "a shape is a list of integers"),
    ({"w": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}}, b"\0" * 8, None,
     "0 <= begin <= end"),
    ({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 8, None,
     "takes 12 bytes"),
    ({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 4, None,
     "outside the file's 4 data bytes"),
    ({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
      "v": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, b"\0" * 8, None, "overlap"),
    ({"w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, b"\0" * 8, None,
     "4 bytes before tensor 'w' belong to no tensor"),
    (GOOD, b"\0" * 12, None, "the tensors end at data byte 8 but the file holds 12"),
    ({**GOOD, "__metadata__": {"n": 3}}, b"\0" * 8, None, "__metadata__ must be an object"),
    (b'{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "w": {"dtype": "F32", '
     b'"shape": [1], "data_offsets": [4, 8]}}', b"\0" * 8, None, "the key 'w' appears twice"),
])
def test_damaged_file_gets_a_value_error_naming_it(tmp_path, header, data, length, message):
    path = raw_file(tmp_path / "bad.safetensors", header, data, length=length)
    with pytest.raises(ValueError, match=message) as error:
        read_safetensors(path)
    assert str(path) in str(error.value)


def test_file_shorter_than_the_length_field_is_refused(tmp_path):
    path = tmp_path / "tiny.safetensors"
    path.write_bytes(b"\x01\x00")
    with pytest.raises(ValueError, match="shorter than the 8-byte header length"):
        read_safetensors(path)


def test_hand_built_file_reads_as_the_format_defines(tmp_path):
    data = np.array([1.5, -2.0], "<f4").tobytes() + np.array([7], "<i2").tobytes()
    header = {"__metadata__": {"k": "v"},
              "w": {"dtype": "F32", "shape": [2, 1], "data_offsets": [0, 8]},
              "i": {"dtype": "I16", "shape": [], "data_offsets": [8, 10]}}
    path = raw_file(tmp_path / "hand.safetensors", header, data)
    arrays = read_safetensors(path)
    assert arrays["w"].tolist() == [[1.5], [-2.0]] and arrays["i"].shape == ()
    assert int(arrays["i"]) == 7 and read_metadata(path) == {"k": "v"}


# --- what the writer refuses ---------------------------------------------------------------------

@pytest.mark.parametrize("arrays, metadata, error, message", [
    ({"__metadata__": np.zeros(1)}, None, ValueError, "rename that tensor"),
    ({"c": np.zeros(2, np.complex64)}, None, ValueError, "has dtype complex64"),
    ({"s": np.array(["a"])}, None, ValueError, "has dtype <U1"),
    ({1: np.zeros(1)}, None, TypeError, "tensor names must be str"),
    ({"w": np.zeros(1)}, {"n": 3}, TypeError, "metadata must map str to str"),
])
def test_writer_refuses_what_the_format_cannot_hold(tmp_path, arrays, metadata, error, message):
    with pytest.raises(error, match=message):
        write_safetensors(tmp_path / "x.safetensors", arrays, metadata)
    assert list(tmp_path.iterdir()) == []  # nothing half-written is left behind


def test_the_npz_loader_points_a_safetensors_file_to_the_right_reader(tmp_path):
    from minimal_embed import InputEmbedding

    path = write_safetensors(tmp_path / "model.safetensors", {"wte.weight": np.zeros((2, 2))})
    with pytest.raises(ValueError, match="read by minimal_embed.read_safetensors") as error:
        InputEmbedding.load(path, None)
    assert "allow_pickle" not in str(error.value)
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="its folder by minimal_embed.load_pretrained"):
        InputEmbedding.load(tmp_path, None)


def test_open_is_lazy_and_widens_a_bf16_tensor_only_when_it_is_looked_up(tmp_path):
    bits = np.array([0x3FC0, 0xC040, 0x0000, 0x8000], "<u2")  # 1.5, -3.0, 0.0, -0.0 in bfloat16
    header = {"b": {"dtype": "BF16", "shape": [2, 2], "data_offsets": [0, 8]},
              "f": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}}
    path = raw_file(tmp_path / "bf.safetensors", header,
                    bits.tobytes() + np.array([2.5], "<f4").tobytes())
    tensors = open_safetensors(path)
    assert sorted(tensors) == ["b", "f"] and tensors.stored_dtype("b") == "BF16"
    widened = tensors["b"]
    assert widened.dtype == np.float32 and widened.tolist() == [[1.5, -3.0], [0.0, -0.0]]
    assert np.signbit(widened[1, 1]) and tensors["f"].tolist() == [2.5]
    assert read_safetensors(path)["b"].tolist() == widened.tolist()
