"""Run a command and measure its peak memory, summed over its process tree (its workers too).

Memory is the proportional set size (Pss, /proc/PID/smaps_rollup): a page shared by n processes
counts 1/n in each, so a pool of workers that share the interpreter's libraries is not counted
n times over. Sampled every 20 ms, so a peak shorter than that can be missed. Linux only.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_pss_mb(pid: int) -> float:
    """The Pss of ``pid`` and all its descendants, in MB."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        total += _pss_kb(current)
        todo += _children(current)
    return total / 1e3


def run(command: list[str], env: dict[str, str] | None = None) -> tuple[str, float]:
    """Run ``command``; return its stdout and the peak Pss of its process tree in MB."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, env=env, text=True)
    peak = 0.0
    while process.poll() is None:
        peak = max(peak, tree_pss_mb(process.pid))
        time.sleep(0.02)
    output = process.stdout.read() if process.stdout else ""
    if process.returncode != 0:
        raise RuntimeError(f"{command} failed with exit code {process.returncode}")
    return output, peak
