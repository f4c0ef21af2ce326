"""Reading a 0.5 GB safetensors file: ours (NumPy + mmap) next to safetensors.numpy.load_file.

    python benchmarks/safetensors_read.py [--repeats N]

The file holds GPT-2 small's 148 tensors (124 M float32 values, 498 MB) with random values; it is
written to a temporary folder and deleted afterwards. It was just written, so it sits in the OS
page cache: these are the costs of the readers, not of the disk.

Time, best of N alternating rounds:

- "open": until the dict of arrays is returned. Ours maps the file and builds views (no data is
  read yet); load_file copies every tensor into memory.
- "open + read every value": the same, then one pass over every array (a sum), which is what a
  computation on all the weights pays at least once; ours reads the pages then.

Memory, in a fresh subprocess per reader that opens the file and sums every array: the growth of
the peak resident set (VmHWM) and of the private (anonymous) memory (RssAnon), from Linux's
/proc/self/status (not printed elsewhere). Mapped pages are the page cache's, shared and
reclaimable, so they show in the resident set but not in private memory; a copy is private.

Target: open + read every value <= 1.2x load_file's time, memory not doubled.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from minimal_embed.pretrained.safetensors import read_safetensors, write_safetensors  # noqa: E402

TARGET = 1.2


def gpt2_small_shapes() -> dict[str, tuple[int, ...]]:
    """The tensors of GPT-2 small (Radford et al., 2019) under GPT2Model's names."""
    shapes: dict[str, tuple[int, ...]] = {"wte.weight": (50257, 768), "wpe.weight": (1024, 768)}
    for layer in range(12):
        prefix = f"h.{layer}."
        shapes.update({prefix + "ln_1.weight": (768,), prefix + "ln_1.bias": (768,),
                       prefix + "attn.c_attn.weight": (768, 2304),
                       prefix + "attn.c_attn.bias": (2304,),
                       prefix + "attn.c_proj.weight": (768, 768),
                       prefix + "attn.c_proj.bias": (768,),
                       prefix + "ln_2.weight": (768,), prefix + "ln_2.bias": (768,),
                       prefix + "mlp.c_fc.weight": (768, 3072), prefix + "mlp.c_fc.bias": (3072,),
                       prefix + "mlp.c_proj.weight": (3072, 768),
                       prefix + "mlp.c_proj.bias": (768,)})
    shapes.update({"ln_f.weight": (768,), "ln_f.bias": (768,)})
    return shapes


def write_file(path: Path) -> int:
    """Write the file (random N(0, 0.02^2) values); return its size in bytes."""
    rng = np.random.default_rng(0)
    arrays = {name: rng.standard_normal(shape, dtype=np.float32) * np.float32(0.02)
              for name, shape in gpt2_small_shapes().items()}
    write_safetensors(path, arrays, {"format": "pt"})
    return path.stat().st_size


def ours(path: str) -> dict[str, np.ndarray]:
    return read_safetensors(path)


def theirs(path: str) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(path)


def read_everything(arrays: dict[str, np.ndarray]) -> float:
    """One pass over every value (float64 accumulation), so every page is read."""
    return sum(float(array.sum(dtype=np.float64)) for array in arrays.values())


def best_times(path: str, readers: dict, repeats: int) -> dict[str, tuple[float, float]]:
    """Best (open, open + read everything) seconds per reader, the readers alternating."""
    best = {name: [float("inf"), float("inf")] for name in readers}
    for _ in range(repeats):
        for name, read in readers.items():
            start = time.perf_counter()
            arrays = read(path)
            opened = time.perf_counter() - start
            read_everything(arrays)
            total = time.perf_counter() - start
            del arrays
            best[name][0] = min(best[name][0], opened)
            best[name][1] = min(best[name][1], total)
    return {name: (times[0], times[1]) for name, times in best.items()}


_CHILD = r"""
import json, resource, sys
sys.path.insert(0, sys.argv[3])
import numpy as np
from safetensors_read import ours, theirs, read_everything
def status_kb(field):
    # VmHWM (this process's peak resident set; ru_maxrss would carry the parent's peak across
    # exec on Linux) and RssAnon (private memory); None where /proc is missing
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))
    except (OSError, StopIteration):
        return None
read = {"ours": ours, "theirs": theirs}[sys.argv[1]]
if sys.argv[1] == "theirs":
    import safetensors.numpy         # its import before the baseline, as ours is imported above
before = {field: status_kb(field) for field in ("VmHWM", "RssAnon")}
arrays = read(sys.argv[2])
read_everything(arrays)
after = {field: status_kb(field) for field in ("VmHWM", "RssAnon")}
print(json.dumps({key: None if before[field] is None else after[field] - before[field]
                  for key, field in (("peak_kb", "VmHWM"), ("private_kb", "RssAnon"))}))
"""


def memory(reader: str, path: str) -> dict:
    """Peak-RSS growth and private memory (KB) of one reader, in a fresh process."""
    here = os.path.dirname(os.path.abspath(__file__))
    done = subprocess.run([sys.executable, "-c", _CHILD, reader, path, here,
                           os.path.join(here, "..")], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": os.path.join(here, "..")})
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    try:
        import safetensors
        peer = f"safetensors {safetensors.__version__}"
    except ImportError:
        peer = None
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "gpt2-small.safetensors")
        size = write_file(Path(path))
        print(f"GPT-2 small's shapes, float32, random values: {size / 1e6:.0f} MB, "
              f"{len(gpt2_small_shapes())} tensors; best of {args.repeats} alternating rounds")
        if peer is None:
            print("the peer safetensors is not installed (pip install safetensors); ours alone:")
            times = best_times(path, {"ours": ours}, args.repeats)
            print(f"open {1e3 * times['ours'][0]:.1f} ms, open + read every value "
                  f"{1e3 * times['ours'][1]:.1f} ms")
            return
        times = best_times(path, {"ours": ours, "theirs": theirs}, args.repeats)
        used = {reader: memory(reader, path) for reader in ("ours", "theirs")}
    print(f"peer: {peer} (safetensors.numpy.load_file); numpy {np.__version__}")
    print(f"\n{'':30}{'ours':>12}{'load_file':>12}{'ratio':>8}{'target':>9}  met")
    for index, what in enumerate(("open (ms)", "open + read every value (ms)")):
        mine, peer_time = 1e3 * times["ours"][index], 1e3 * times["theirs"][index]
        ratio = mine / peer_time
        target = f"<= {TARGET:g}" if index == 1 else "-"
        met = ("yes" if ratio <= TARGET else "NO") if index == 1 else ""
        print(f"{what:30}{mine:12.1f}{peer_time:12.1f}{ratio:8.2f}{target:>9}  {met}")
    for key, what in (("peak_kb", "peak RSS growth (MB)"), ("private_kb", "private memory (MB)")):
        if used["ours"][key] is None:
            continue
        mine, peer_memory = used["ours"][key] / 1024, used["theirs"][key] / 1024
        print(f"{what:30}{mine:12.1f}{peer_memory:12.1f}"
              f"{mine / peer_memory if peer_memory else float('nan'):8.2f}")
    print("\nOur arrays are read-only views of the mapped file: its pages are the OS page cache's,"
          "\nshared and reclaimable; they are counted in the resident set once read, but no"
          "\nprivate copy is made.")


if __name__ == "__main__":
    main()
