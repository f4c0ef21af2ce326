"""The checkpoint module: round trips, the one set of checks on damaged files, the upgrade of
version-1 files, and the promise that a loaded input stage equals the trained one for every
position scheme."""

import json
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minimal_embed import InputEmbedding
from minimal_embed.checkpoint import copy_arrays, read_checkpoint, write_checkpoint
from minimal_embed.model import AttentionLM, ModelConfig
from minimal_embed.schemes import POSITION_SCHEMES
from minimal_embed.train import TrainConfig, load_checkpoint, save_checkpoint


class _Vocabulary:
    """A stand-in tokenizer: save_checkpoint only asks for the vocabulary size."""

    vocab_size = 30


def trained_like(scheme: str, tmp_path):
    """A model of ``scheme`` with every weight moved off its start, saved as a checkpoint."""
    config = TrainConfig(positions=scheme, steps=1, seq_len=6, d_model=8, n_heads=2)
    model = AttentionLM(config.model_config(30), seed=3)
    rng = np.random.default_rng(5)
    for weight in model.params.values():
        weight += rng.standard_normal(weight.shape).astype(weight.dtype)
    path = tmp_path / f"{scheme}.npz"
    save_checkpoint(path, model, config, _Vocabulary())
    return model, path


@pytest.mark.parametrize("scheme", POSITION_SCHEMES)
def test_loaded_input_stage_computes_exactly_what_the_trained_model_computes(scheme, tmp_path):
    model, path = trained_like(scheme, tmp_path)
    loaded = InputEmbedding.load(path, None)
    ids = np.random.default_rng(0).integers(0, 30, size=(6, 3))
    expected = model.input_embedding.forward_steps(ids)
    got = loaded.forward_steps(ids)
    np.testing.assert_array_equal(got.embeddings, expected.embeddings)
    assert got.token_scale == expected.token_scale
    assert loaded.config() == model.input_embedding.config()
    # the attention side of the scheme comes back too: T5's trained table, ALiBi's slopes
    for name, array in model.input_embedding.state_dict().items():
        np.testing.assert_array_equal(loaded.state_dict()[name], array, err_msg=name)
    bias, loaded_bias = model.positions.score_bias(6), loaded.positions.score_bias(6)
    assert (bias is None) == (loaded_bias is None)
    if bias is not None:
        np.testing.assert_array_equal(loaded_bias, bias)


def test_a_sinusoidal_checkpoint_keeps_its_sqrt_d_model_scale(tmp_path):
    model, path = trained_like("sinusoidal", tmp_path)
    loaded = InputEmbedding.load(path, None)
    ids = np.array([[1], [2]])
    x, _ = loaded.forward(ids)
    table = model.params["token_embedding"].astype(np.float64)
    expected = np.sqrt(8) * table[[1, 2]] + np.array(
        [[np.sin(p / 10000 ** (2 * (j // 2) / 8)) if j % 2 == 0 else
          np.cos(p / 10000 ** (2 * (j // 2) / 8)) for j in range(8)] for p in range(2)])
    np.testing.assert_allclose(x[:, 0], expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("scheme", POSITION_SCHEMES)
def test_load_checkpoint_restores_the_whole_model(scheme, tmp_path):
    model, path = trained_like(scheme, tmp_path)
    loaded, metadata = load_checkpoint(path)
    assert metadata["model"]["positions"] == scheme
    ids = np.arange(12).reshape(6, 2)
    np.testing.assert_array_equal(loaded.forward(ids)[0], model.forward(ids)[0])


def test_write_then_read_round_trips_arrays_and_metadata(tmp_path):
    arrays = {"a": np.arange(6, dtype=np.int64).reshape(2, 3), "b.c": np.ones(3, np.float16),
              "flags": np.array([True, False])}
    write_checkpoint(tmp_path / "x.npz", arrays, {"note": ["any", 1, None]})
    got, metadata = read_checkpoint(tmp_path / "x.npz")
    assert metadata == {"format": "minimal_embed checkpoint", "version": 2,
                        "note": ["any", 1, None]}
    assert sorted(got) == sorted(arrays)
    for name, array in arrays.items():
        np.testing.assert_array_equal(got[name], array)
        assert got[name].dtype == array.dtype


def test_the_same_arrays_give_the_same_bytes(tmp_path):
    for name in ("one.npz", "two.npz"):
        write_checkpoint(tmp_path / name, {"w": np.eye(3)}, {"b": 1, "a": 2})
    assert (tmp_path / "one.npz").read_bytes() == (tmp_path / "two.npz").read_bytes()


def test_a_failed_write_leaves_the_old_file_whole_and_no_temporary(tmp_path):
    path = tmp_path / "ck.npz"
    write_checkpoint(path, {"w": np.eye(2)}, {})
    before = path.read_bytes()
    with pytest.raises(ValueError, match="JSON"):
        write_checkpoint(path, {"w": np.zeros(2)}, {"bad": float("nan")})
    with pytest.raises(ValueError, match="dtype"):
        write_checkpoint(path, {"w": np.array(["text"])}, {})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["ck.npz"]


def damaged_files(tmp_path):
    """(path, words its error must contain) for files a checkpoint reader must refuse."""
    good = tmp_path / "good.npz"
    write_checkpoint(good, {"w": np.eye(4)}, {"input_embedding": {}})
    cases = {"empty.npz": (b"", "not an .npz"),
             "plain.npy": (None, "not an .npz"),
             "truncated.npz": (good.read_bytes()[: len(good.read_bytes()) // 2], "npz"),
             "text.npz": (b"hello, I am not a zip", "not an .npz")}
    paths = []
    for name, (content, words) in cases.items():
        path = tmp_path / name
        if content is None:
            np.save(path, np.eye(2))
            path = tmp_path / (name if name.endswith(".npy") else name + ".npy")
        else:
            path.write_bytes(content)
        paths.append((path, words))
    no_meta = tmp_path / "no_meta.npz"
    np.savez(no_meta, w=np.eye(2))
    paths.append((no_meta, "no 'metadata'"))
    for name, value in (("list.npz", "[1, 2]"), ("broken.npz", "{not json"),
                        ("deep.npz", "[" * 100_000), ("digits.npz", '{"n": ' + "9" * 5000 + "}")):
        path = tmp_path / name
        np.savez(path, metadata=np.array(value))
        paths.append((path, "JSON"))
    future = tmp_path / "future.npz"
    np.savez(future, metadata=np.array(json.dumps({"format": "minimal_embed checkpoint",
                                                   "version": 9})))
    paths.append((future, "version 9"))
    return paths


def test_damaged_files_get_a_value_error_that_names_the_file(tmp_path):
    for path, words in damaged_files(tmp_path):
        with pytest.raises(ValueError) as caught:
            read_checkpoint(path)
        message = str(caught.value)
        assert str(path) in message and words in message, message
        assert "allow_pickle" not in message


def test_a_pickle_is_refused_without_being_unpickled(tmp_path):
    path = tmp_path / "model.npz"
    np.save(path, np.array([{"payload": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="nothing was unpickled"):
        read_checkpoint(tmp_path / "model.npz.npy")
    with zipfile.ZipFile(path.with_suffix(".zip"), "w") as archive:
        archive.writestr("metadata.npy", (tmp_path / "model.npz.npy").read_bytes())
    with pytest.raises(ValueError, match="damaged"):
        read_checkpoint(path.with_suffix(".zip"))


def test_a_missing_file_is_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        read_checkpoint(tmp_path / "absent.npz")


def test_copy_arrays_checks_every_name_and_shape_before_copying_any():
    target = {"a": np.zeros(2), "b": np.zeros((2, 2))}
    with pytest.raises(ValueError, match=r"lacks the arrays \['b'\]"):
        copy_arrays(target, {"a": np.ones(2)}, "file")
    with pytest.raises(ValueError, match=r"b has shape \(3,\)"):
        copy_arrays(target, {"a": np.ones(2), "b": np.ones(3)}, "file")
    assert not target["a"].any()
    copy_arrays(target, {"a": np.ones(2), "b": np.ones((2, 2)), "extra": np.ones(1)}, "file")
    assert target["a"].tolist() == [1.0, 1.0]


def test_a_version_1_checkpoint_is_upgraded_with_its_sinusoid_scale(tmp_path):
    # the layout minimal_embed 0.1 wrote: config_json + positions beside the parameters
    model = AttentionLM(ModelConfig(vocab_size=30, d_model=8, n_heads=2, max_len=6,
                                    positions="sinusoidal"), seed=1)
    config = {"positions": "sinusoidal", "d_model": 8, "n_heads": 2, "vocab_size": 30,
              "max_len": 6, "init_std": 0.02, "seq_len": 6, "steps": 1, "tokenizer": "t.txt"}
    np.savez(tmp_path / "old.npz", positions=np.array("sinusoidal"),
             config_json=np.array(json.dumps(config)), **model.params)
    loaded = InputEmbedding.load(tmp_path / "old.npz", None)
    assert loaded.scale and loaded.positions.name == "sinusoidal"
    ids = np.array([[1], [2], [3]])
    np.testing.assert_array_equal(loaded.forward(ids)[0], model.input_embedding.forward(ids)[0])
    upgraded, metadata = load_checkpoint(tmp_path / "old.npz")
    assert metadata["upgraded_from"] == 1 and metadata["train"]["steps"] == 1
    np.testing.assert_array_equal(upgraded.forward(ids)[0], model.forward(ids)[0])


def test_a_stage_file_is_not_a_model(tmp_path):
    InputEmbedding(None, 4, vocab_size=10, max_len=3).save(tmp_path / "stage.npz")
    with pytest.raises(ValueError, match="no trained model"):
        load_checkpoint(tmp_path / "stage.npz")


@pytest.mark.parametrize(("section", "key", "value", "words"), [
    ("model", "vocab_size", 10**12, "does not fit"),  # 32 TB: MemoryError, not a traceback
    ("model", "n_heads", 3, "multiple of n_heads=3"),
    ("input_embedding", "vocab_size", 10**12, "token_embedding has shape"),
    ("input_embedding", "padding_idx", 1.5, "padding_idx must be an integer"),
    ("input_embedding", "positions", "x", "position scheme's config"),
])
def test_metadata_that_cannot_be_built_is_a_value_error_naming_the_file(tmp_path, section, key,
                                                                         value, words):
    arrays, metadata = read_checkpoint(_small_training_checkpoint(tmp_path))
    del metadata["format"], metadata["version"]
    metadata[section][key] = value
    path = write_checkpoint(tmp_path / "claims.npz", arrays, metadata)
    load = load_checkpoint if section == "model" else lambda p: InputEmbedding.load(p, None)
    with pytest.raises(ValueError, match=words) as caught:
        load(path)
    assert str(caught.value).startswith(f"{path}: ")


def _small_training_checkpoint(folder):
    from minimal_embed import Tokenizer

    model = AttentionLM(ModelConfig(vocab_size=256, d_model=8, n_heads=2, max_len=8), seed=0)
    config = TrainConfig(steps=1, seq_len=8, d_model=8, n_heads=2)
    byte_level = Tokenizer({bytes([b]): b for b in range(256)})
    save_checkpoint(folder / "good.npz", model, config, byte_level)
    return folder / "good.npz"


GOOD = {}


def good_checkpoint_bytes(tmp_path_factory):
    """The bytes of a small valid checkpoint (made once)."""
    if not GOOD:
        path = tmp_path_factory.mktemp("good") / "good.npz"
        write_checkpoint(path, {"w": np.arange(12.0).reshape(3, 4), "b": np.ones(3, np.int32)},
                         {"input_embedding": {"note": "x"}})
        GOOD["bytes"] = path.read_bytes()
    return GOOD["bytes"]


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_truncation_or_flipped_byte_gives_the_data_back_or_a_value_error(
        tmp_path_factory, data):
    content = bytearray(good_checkpoint_bytes(tmp_path_factory))
    if data.draw(st.booleans(), label="truncate"):
        content = content[: data.draw(st.integers(0, len(content) - 1), label="length")]
    else:
        where = data.draw(st.integers(0, len(content) - 1), label="where")
        content[where] ^= data.draw(st.integers(1, 255), label="flip")
    path = tmp_path_factory.mktemp("damaged") / "ck.npz"
    path.write_bytes(bytes(content))
    try:
        arrays, metadata = read_checkpoint(path)
    except ValueError as error:
        assert str(path) in str(error) and "allow_pickle" not in str(error)
    else:  # a flip in a part of the zip that nothing reads: the content must be intact
        np.testing.assert_array_equal(arrays["w"], np.arange(12.0).reshape(3, 4))
        assert metadata["input_embedding"] == {"note": "x"}


@pytest.mark.parametrize("loader", ["stage", "model"])
def test_sizes_the_metadata_only_claims_are_refused_before_anything_is_built(tmp_path, loader):
    model, path = trained_like("learned", tmp_path)
    arrays, metadata = read_checkpoint(path)
    metadata["input_embedding"]["vocab_size"] = metadata["model"]["vocab_size"] = 10**9
    metadata["model"]["d_model"] = metadata["input_embedding"]["d_model"] = 10**5
    del metadata["format"], metadata["version"]
    write_checkpoint(tmp_path / "liar.npz", arrays, metadata)
    with pytest.raises(ValueError, match="liar.npz.*token_embedding has shape"):
        if loader == "stage":
            InputEmbedding.load(tmp_path / "liar.npz", None)
        else:
            load_checkpoint(tmp_path / "liar.npz")
