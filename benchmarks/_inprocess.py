"""Shared by the in-process kernel benchmarks (``detect_inference_kernel.py``,
``detect_inference_prada.py``): run a timing child on every capture file, in a fresh process
per path and the paths in turn each round (so a load spike on the shared machine falls on all
alike), and keep the least CPU time of each part over the rounds.

The child is a ``python -c`` program made by :func:`child_program`: it reads its ``src`` folder
from ``{prefix}_SRC``, turns its kernel off when ``{prefix}_OFF`` is set, wraps the functions
its part list names with timers, runs the library call once, and prints one JSON object of
CPU-seconds by part as its last line.
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

_HEAD = r"""
import json, os, sys, time
sys.path.insert(0, os.environ["{prefix}_SRC"])
import duckdb, threadpoolctl  # imported before the clock starts
if os.environ.get("{prefix}_OFF"):
    from mlstix.detect.inference import _accel
    _accel._loaded["{module}"] = None
from mlstix.detect.inference import InferenceOptions, detect_inference, engine
from mlstix.detect.inference import _baseline, _detectors, _prada, _steps
from mlstix.kb.load import load_kb

spent = {{}}

def timed(owner, name, key):
    plain = getattr(owner, name)
    spent.setdefault(key, 0.0)
    def call(*args, **kwargs):
        begun = time.process_time()
        try:
            return plain(*args, **kwargs)
        finally:
            spent[key] += time.process_time() - begun
    setattr(owner, name, call)

def timed_steps(owner, name, key):  # a generator: time each step of it
    plain = getattr(owner, name)
    spent.setdefault(key, 0.0)
    def steps(*args, **kwargs):
        pieces = plain(*args, **kwargs)
        while True:
            begun = time.process_time()
            try:
                stop = next(pieces)
            except StopIteration:
                spent[key] += time.process_time() - begun
                return
            spent[key] += time.process_time() - begun
            yield stop
    setattr(owner, name, steps)
"""

_TAIL = r"""
kb = load_kb()
options = InferenceOptions(client_key="inference-id-prefix::")
begun = time.process_time()
detect_inference([sys.argv[1]], kb, options)
spent["call"] = time.process_time() - begun
"""


def child_program(prefix: str, module: str, timers: str, after: str = "") -> str:
    """The child's program: ``timers`` (calls of ``timed``/``timed_steps`` on the library's
    functions) run before the library call, ``after`` (derived parts) after it; ``module`` is
    the kernel ``{prefix}_OFF`` turns off."""
    head = _HEAD.format(prefix=prefix, module=module)
    return head + timers + _TAIL + after + "print(json.dumps(spent))\n"


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
