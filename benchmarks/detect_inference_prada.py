"""Benchmark: PRADA's compiled kernel (``_kprada``) against its NumPy path, in-process.

Run by hand (never in the test suite), from the repository root, on capture files written by
``benchmarks/detect_inference.py --keep DIR``:

    .venv/bin/python benchmarks/detect_inference_prada.py DIR/digits-7.jsonl \
        DIR/breast_cancer-7.jsonl [--rounds 4] [--old-src PATH]

Each round runs ``detect_inference`` on every file in a fresh process per path, the paths in
turn (so a load spike on the shared machine falls on all alike): PRADA's kernel, its NumPy path
(only PRADA's kernel off: the other kernels stay as they are), and optionally the code of
another tree (``--old-src``: a ``src`` folder, e.g. from ``git archive REV src``). It prints the
least CPU time over the rounds of PRADA's work while judging (``Prada.add_pieces`` and
``Prada.w``), of PRADA's calibration while learning the baseline (``calibrate_prada``), and of
the whole library call, with the ratios against the NumPy path.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from _inprocess import child_program, least_cpu

# run in a child process: times PRADA's parts of one library call on one file
_CHILD = child_program(
    "PRADA",
    "_kprada",
    r"""
timed_steps(_prada.Prada, "add_pieces", "prada")
timed(_prada.Prada, "w", "prada")
timed(_baseline, "calibrate_prada", "calibration")
""",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--old-src", type=Path, help="the src folder of another tree")
    args = parser.parse_args()
    paths, least = least_cpu(_CHILD, "PRADA", args.files, args.rounds, args.old_src)
    print(f"least CPU-s of {args.rounds} rounds")
    print(f"{'file':24} {'path':7} {'PRADA':>7} {'calibration':>12} {'call':>7}  vs NumPy path")
    for path in args.files:
        numpy = least[(path.name, "numpy")]
        for name in paths:
            spent = least[(path.name, name)]
            ratio = (numpy["prada"] + numpy["calibration"]) / (
                spent["prada"] + spent["calibration"]
            )
            print(f"{path.name:24} {name:7} {spent['prada']:7.3f} {spent['calibration']:12.3f} "
                  f"{spent['call']:7.3f}  {ratio:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
