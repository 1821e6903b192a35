"""Shared by the in-process kernel benchmarks (``detect_inference_kernel.py``,
``detect_inference_prada.py``): run a timing child on every capture file, in a fresh process
per path and the paths in turn each round (so a load spike on the shared machine falls on all
alike), and keep the least CPU time of each part over the rounds.

The child is a ``python -c`` program that reads its ``src`` folder from ``{prefix}_SRC``, turns
its kernel off when ``{prefix}_OFF`` is set, and prints one JSON object of CPU-seconds by part
as its last line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

Least = dict[tuple[str, str], dict[str, float]]


def _run(child: str, prefix: str, path: Path, src: Path, off: bool) -> dict[str, float]:
    env = {**os.environ, f"{prefix}_SRC": str(src)}
    env.pop("MLSTIX_NO_KERNEL", None)
    if off:
        env[f"{prefix}_OFF"] = "1"
    done = subprocess.run([sys.executable, "-c", child, str(path)], env=env,
                          capture_output=True, text=True, check=True)  # fmt: skip
    spent: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return spent


def least_cpu(
    child: str, prefix: str, files: list[Path], rounds: int, old_src: Path | None
) -> tuple[list[str], Least]:
    """The paths timed (``kernel``, ``numpy``, and ``old`` with ``old_src``) and, per file name
    and path, the least CPU-seconds of each part over ``rounds``; prints time and load before
    and after."""
    paths = {"kernel": (ROOT / "src", False), "numpy": (ROOT / "src", True)}
    if old_src:
        paths["old"] = (old_src, False)
    least: Least = {}
    print(f"{time.strftime('%H:%M:%S', time.gmtime())} UTC, load {os.getloadavg()[0]:.1f}")
    for _ in range(rounds):
        for path in files:
            for name, (src, off) in paths.items():
                spent = _run(child, prefix, path, src, off)
                best = least.setdefault((path.name, name), spent)
                for key, value in spent.items():
                    best[key] = min(best[key], value)
    print(f"{time.strftime('%H:%M:%S', time.gmtime())} UTC, load {os.getloadavg()[0]:.1f}")
    return list(paths), least
