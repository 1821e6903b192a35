"""Benchmark: the nearest-query and repeated-steps kernel (``_kernel``) against its NumPy path,
in-process.

Run by hand (never in the test suite), from the repository root, on capture files written by
``benchmarks/detect_inference.py --keep DIR``:

    .venv/bin/python benchmarks/detect_inference_kernel.py DIR/digits-7.jsonl \
        DIR/breast_cancer-7.jsonl [--rounds 4] [--old-src PATH]

Each round runs ``detect_inference`` on every file in a fresh process per path, the paths in
turn (so a load spike on the shared machine falls on all alike): this kernel, its NumPy path
(only ``_kernel`` off: the other kernels stay as they are), and optionally the code of another
tree (``--old-src``: a ``src`` folder, e.g. from ``git archive REV src``). It prints the least
CPU time over the rounds of: the nearest earlier query (``nearest_index``, or
``nearest_in_window`` in older trees, as the detectors call it), the repeated steps from the
queries and their nearest (``StepMemory.judge_queries``; older: the detectors' moves and
fingerprints are bookkeeping, ``StepMemory.judge`` is steps), the rest of the per-batch bookkeeping
(``ClientState._update`` less those two and PRADA), all of judging (``engine._Run.judge``) and
the whole library call.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from _inprocess import child_program, least_cpu

# run in a child process: times the parts of one library call on one file
_CHILD = child_program(
    "KERNEL",
    "_kernel",
    r"""
timed_steps(_prada.Prada, "add_pieces", "prada")
timed(_prada.Prada, "w", "prada")
# the detectors' names for the two (older trees: nearest_in_window, StepMemory.judge)
new = hasattr(_detectors, "nearest_index")
timed(_detectors, "nearest_index" if new else "nearest_in_window", "nearest")
timed(_steps.StepMemory, "judge_queries" if new else "judge", "steps")
timed(_detectors.ClientState, "_update", "update")
timed(engine._Run, "judge", "judge")
""",
    after="""
spent["bookkeeping"] = spent["update"] - spent["nearest"] - spent["steps"] - spent["prada"]
""",
)

_COLUMNS = ("nearest", "steps", "bookkeeping", "judge", "call")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--old-src", type=Path, help="the src folder of another tree")
    args = parser.parse_args()
    paths, least = least_cpu(_CHILD, "KERNEL", args.files, args.rounds, args.old_src)
    print(f"least CPU-s of {args.rounds} rounds; ratio: nearest + steps against the NumPy path")
    print(f"{'file':24} {'path':7} " + " ".join(f"{c:>11}" for c in _COLUMNS) + "  ratio")
    for path in args.files:
        numpy = least[(path.name, "numpy")]
        for name in paths:
            spent = least[(path.name, name)]
            ratio = (numpy["nearest"] + numpy["steps"]) / (spent["nearest"] + spent["steps"])
            row = " ".join(f"{spent[c]:11.3f}" for c in _COLUMNS)
            print(f"{path.name:24} {name:7} {row}  {ratio:.2f}x")


if __name__ == "__main__":
    main()
