"""Long-budget differential fuzzing of the pickle analysis against CPython's real unpickler.

The same checks as ``tests/scan_models/test_class3_pickle_parity.py`` (which runs a short,
seeded budget in ``make test``), for as long as you like: random opcode streams built from
CPython's opcode table, and byte-level mutations of the real-library corpus and of the public
bypass fixtures. Each input is read by the real unpickler in the sandboxed worker of
``tests/scan_models/differential`` (nothing executes) and by mlstix; every disagreement is
printed with the bytes that caused it (base64), and the exit code is 1 if there was any.

    .venv/bin/python benchmarks/fuzz_models.py --seconds 600 --seed 1
"""

from __future__ import annotations

import argparse
import base64
import collections
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.scan_models import builders as b  # noqa: E402
from tests.scan_models.differential import RealReaders, check_pickle  # noqa: E402
from tests.scan_models.differential.generate import mutate, opcode_stream  # noqa: E402


def seeds() -> list[bytes]:
    corpus = [
        p.read_bytes() for p in sorted((ROOT / "tests/scan_models/real/pickling").glob("*.pkl"))
    ]
    corpus += [
        b.torch_state_pickle(),
        b.call_pickle("os", "system", "id"),
        b.stack_global_pickle("subprocess", "Popen", "id"),
        b"(V/bin/sh\nios\nsystem\n.",
    ]
    return corpus


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--inputs",
        type=int,
        help="stop after this many inputs (replays a run: same seed, same inputs)",
    )
    parser.add_argument("--mode", choices=["gen", "mut", "both"], default="both")
    parser.add_argument(
        "--reader",
        choices=["c", "py", "joblib", "plain"],
        default="c",
        help="c: CPython's _pickle (pickle.load, torch.load); py: pickle._Unpickler; joblib:"
        " joblib.load's own unpickler on mutated joblib files (arrays read from the stream);"
        " plain: pickle.load on mutated joblib files, failing on names this environment lacks"
        " (array bytes read as opcodes); py, joblib and plain are compared on the names they"
        " invoke only (they accept other streams)",
    )
    parser.add_argument("--show", type=int, default=10, help="examples printed per problem")
    parser.add_argument("--save", type=Path, help="write every disagreeing input to this folder")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    corpus = seeds()
    if args.reader in ("joblib", "plain"):
        folder = ROOT / "tests/scan_models/real/pickling"
        raw = [p.read_bytes() for p in sorted(folder.glob("*.joblib"))]
        corpus = [data for data in raw if data[:1] == b"\x80"]  # uncompressed dumps
    problems: collections.Counter[str] = collections.Counter()
    examples: dict[str, list[bytes]] = collections.defaultdict(list)
    runs = real_ok = 0
    started = time.monotonic()
    deadline = started + args.seconds
    with RealReaders() as real:
        while time.monotonic() < deadline and (args.inputs is None or runs < args.inputs):
            generated = args.reader not in ("joblib", "plain") and (
                args.mode == "gen" or (args.mode == "both" and rng.random() < 0.5)
            )
            if generated:
                data = opcode_stream(rng, rng.randrange(1, 24))
            else:
                data = mutate(rng, rng.choice(corpus), rng.randrange(1, 6))
            if args.reader == "plain":
                result = real.pickle(data, findable=True)
            else:
                read = {"c": real.pickle, "py": real.pickle_py, "joblib": real.joblib}
                result = read[args.reader](data)
            runs += 1
            real_ok += result.ok
            for problem in check_pickle(data, result):
                if args.reader != "c" and problem.startswith(
                    ("real reader fails", "real reader succ")
                ):
                    continue  # which streams it accepts differs from _pickle: names only
                key = problem[:100]
                problems[key] += 1
                if len(examples[key]) < args.show:
                    examples[key].append(data)
                if args.save is not None:
                    args.save.mkdir(parents=True, exist_ok=True)
                    name = f"seed{args.seed}-{runs}.pkl"
                    (args.save / name).write_bytes(data)
    took = time.monotonic() - started
    print(f"{runs} inputs in {took:.0f} s ({runs / took:.0f}/s), real reader accepted {real_ok}")
    for key, count in problems.most_common():
        print(f"\n{count}x {key}")
        for data in examples[key]:
            print("   ", base64.b64encode(data[:400]).decode())
    print(f"\n{sum(problems.values())} disagreements")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
