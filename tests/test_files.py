"""Every file the package writes goes through _files.atomic_write: a full disk, an exception,
Ctrl-C or a killed process leaves the old file whole, and (but for a kill) no temporary.

A full disk is a subprocess whose file-size limit (RLIMIT_FSIZE; SIGXFSZ ignored, so the write
fails with EFBIG instead of killing it) is below the size of the file it tries to save over an
existing one."""

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from minimal_embed._files import atomic_write

ROOT = Path(__file__).resolve().parent.parent
OLD = b"the old content, which must survive\n"
LIMIT = 1000  # bytes; every new file below is larger

# writer name -> (code that builds what to write, the code that writes it to `target`, and the
# other files it replaces together with `target`)
WRITERS = {
    "Tokenizer.save": ("tok = load_tokenizer()", "tok.save(target)", []),
    "Tokenizer.to_tiktoken": ("tok = load_tokenizer()", "tok.to_tiktoken(target)", []),
    "rankfiles.write_gpt2": (
        "tok = load_tokenizer(); ranks, specials = tok.ranks, tok.special_tokens",
        "write_gpt2(ranks, specials, target, folder / 'vocab.bpe')", ["vocab.bpe"]),
    "Embedding.save": ("table = Embedding(2000, 8, seed=0)", "table.save(target)", []),
    "checkpoint.write_checkpoint": (
        "arrays = {'w': np.ones((100, 100))}", "write_checkpoint(target, arrays, {})", []),
    "viz.write_png": ("image = np.random.default_rng(0).integers(0, 256, (64, 64, 3), np.uint8)",
                      "write_png(target, image)", []),
    "pretrained.write_safetensors": ("arrays = {'w': np.ones((100, 100), np.float32)}",
                                     "write_safetensors(target, arrays)", []),
    "walkthrough.Result.save": (
        "z = np.zeros((20, 2, 8)); result = Result(np.zeros((20, 2), np.int64), "
        "np.ones((20, 2), bool), z, np.zeros((20, 8)), z)", "result.save(target)", []),
}

SCRIPT = """
import errno, resource, signal, sys
from pathlib import Path
import numpy as np
from minimal_embed import Embedding, load_tokenizer
from minimal_embed.app.viz import write_png
from minimal_embed.app.walkthrough import Result
from minimal_embed.checkpoint import write_checkpoint
from minimal_embed.pretrained import write_safetensors
from minimal_embed.tokenizer.rankfiles import write_gpt2
folder = Path(sys.argv[1]); target = folder / "target"
{build}
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
try:
    {write}
except OSError as error:
    print("failed with", errno.errorcode[error.errno])
"""


def run_python(code: str, *args: str, **kwargs) -> subprocess.Popen:
    environment = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONDONTWRITEBYTECODE="1")
    return subprocess.Popen([sys.executable, "-c", code, *args], env=environment,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


@pytest.mark.skipif(not hasattr(signal, "SIGXFSZ"), reason="needs POSIX file-size limits")
@pytest.mark.parametrize("writer", list(WRITERS))
def test_a_full_disk_leaves_the_old_file_whole_and_no_temporary(tmp_path, writer):
    build, write, others = WRITERS[writer]
    old_files = ["target", *others]
    for name in old_files:
        (tmp_path / name).write_bytes(OLD)
    process = run_python(SCRIPT.format(build=build, write=write, limit=LIMIT), str(tmp_path))
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert out.strip() == "failed with EFBIG"
    assert sorted(os.listdir(tmp_path)) == sorted(old_files)  # no .partial left behind
    for name in old_files:
        assert (tmp_path / name).read_bytes() == OLD


@pytest.mark.parametrize("interruption", [KeyboardInterrupt, ValueError])
def test_an_exception_while_writing_leaves_the_old_file_and_no_temporary(tmp_path, interruption):
    target = tmp_path / "target"
    target.write_bytes(OLD)

    def write_half(file):
        file.write(b"half of the new")
        raise interruption("stopped")

    with pytest.raises(interruption):
        atomic_write(target, write_half)
    assert os.listdir(tmp_path) == ["target"] and target.read_bytes() == OLD


def test_a_killed_writer_leaves_the_old_file_whole(tmp_path):
    target = tmp_path / "target"
    target.write_bytes(OLD)
    code = textwrap.dedent("""
        import sys, time
        from minimal_embed._files import atomic_write
        def slow(file):
            file.write(b"x" * 100_000); file.flush(); print("writing", flush=True); time.sleep(60)
        atomic_write(sys.argv[1], slow)
    """)
    process = run_python(code, str(target))
    assert process.stdout.readline().strip() == "writing"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    assert target.read_bytes() == OLD
    # what a kill leaves: at most the hidden temporary beside it, never a half-written target
    assert all(name == "target" or name.startswith(".target.") for name in os.listdir(tmp_path))
    # and the next write to the same file clears what the dead writer left
    atomic_write(target, lambda file: file.write(b"new"))
    assert os.listdir(tmp_path) == ["target"] and target.read_bytes() == b"new"


def test_a_live_writers_temporary_is_left_alone(tmp_path):
    target = tmp_path / "target"
    live = tmp_path / f".target.{os.getpid()}.abc.partial"  # this process is alive
    live.write_bytes(b"in progress")
    atomic_write(target, lambda file: file.write(b"new"))
    assert live.exists() and target.read_bytes() == b"new"


def test_a_successful_write_replaces_the_file_whole(tmp_path):
    target = tmp_path / "target"
    target.write_bytes(OLD)
    atomic_write(target, lambda file: file.write(b"new"))
    assert target.read_bytes() == b"new" and os.listdir(tmp_path) == ["target"]
