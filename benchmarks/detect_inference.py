"""Benchmark: ``mlstix detect inference`` on attacks actually run against a local endpoint.

Run by hand (never in the test suite), from the repository root:

    .venv/bin/python benchmarks/detect_inference.py [--honest 200] [--per-client 500]
        [--datasets digits,breast_cancer] [--seeds 7,8,9] [--no-peer] [--keep DIR]
        [--baseline REV] [--repeat N] [--captures FILE...]

For each data set (both ship inside scikit-learn, nothing is downloaded) and seed, it trains a
classifier, serves it through the endpoint shim of ``tests/detect_inference/traffic.py`` and
writes SageMaker Data Capture JSON lines for honest clients drawing from held-back data and
for four attackers: random-query extraction (Tramèr et al. 2016), Jacobian-based augmentation
(Papernot et al. 2017), a boundary attack (Brendel et al. 2018) and a HopSkipJump-style search
(Chen et al. 2020). Then it runs the detector and prints, per attack, whether and by which
detector it was found and after how many of its queries, and the false-positive rate on honest
clients.

Speed is records per CPU-second of the whole job, per core: ``mlstix detect inference LOG
--client-key inference-id-prefix:: --format json -o REPORT`` run as its own process on the
written capture file (start-up, imports, knowledge base, reading, parsing, baseline,
detection, the JSON report), its user + system CPU time taken from the operating system
(``RUSAGE_CHILDREN``). The job is single-threaded (DuckDB and BLAS held to one thread), so CPU
time is time on one core. The same run prints the in-process figure without start-up, and the
peer: the same library call with the columnar reader off (the line-by-line reader every record
took before it), on the same file. ``--baseline REV`` also runs the whole job with mlstix as of
commit REV (its ``src`` from ``git archive``, its C accelerators compiled by its own
``hatch_build.py``), alternating with today's ``--repeat`` times, and prints the ratio of the
least CPU times and whether the two JSON reports are byte-identical.

Two figures of speed are printed side by side. The whole job on the written file includes what
a job costs before its first record (start-up, learning the baseline, the report, exit), which
weighs heavily on a short log. The steady state is what each further record costs: the same
job is also run on the file's first half, and (CPU - CPU of the half) / (records - records of
the half) is the cost of a record at the margin, the rate a long log tends to; the same line
gives the fixed cost at zero records. The job runs as the ``mlstix`` console script does
(``python -m mlstix`` would also import runpy).

Published reference points, for comparison: PRADA (Juuti et al., EuroS&P 2019) reports
detecting all the extraction attacks it studied with no false positives on its benign traffic;
Blacklight (Li et al., USENIX Security 2022) reports detecting the query-based attacks it
studied within the first handful of queries at about 0% false positives.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

ATTACKS = {
    "atk-random": "random-query extraction (Tramèr)",
    "atk-jbda": "Jacobian augmentation (Papernot)",
    "atk-boundary": "boundary attack (Brendel)",
    "atk-hsj": "HopSkipJump (Chen)",
}


def build(dataset: str, seed: int, honest: int, per_client: int, out: Path) -> tuple[Path, int]:
    from tests.detect_inference import traffic

    world = traffic.make_world(dataset, seed=seed)
    for index in range(honest):
        count = int(world.rng.integers(per_client // 10, per_client * 2))
        traffic.honest(world, f"honest-{index}", count)
    traffic.random_extraction(world, "atk-random", 500)
    traffic.jacobian_extraction(world, "atk-jbda", seeds=20, rounds=5)
    traffic.boundary_attack(world, "atk-boundary", 500)
    traffic.hopskipjump(world, "atk-hsj", 800)
    path = world.endpoint.write(out / f"{dataset}-{seed}.jsonl")
    return path, len(world.endpoint.lines)


TARGET = 100_000  # records per CPU-second per core (issue 16)
JUDGING_TARGET = 4.0  # CPU microseconds per record for judging: a quarter of the whole budget


def baseline_src(rev: str, scratch: Path) -> Path:
    """mlstix's ``src`` as of commit ``rev`` (``git archive``; the working tree is not touched),
    its C accelerators compiled in place by its own ``hatch_build.py`` where it has one (a
    failed compile leaves its NumPy paths, as an install would), bytecode compiled."""
    import io
    import tarfile

    dest = scratch / f"baseline-{rev.replace('/', '_')}"
    names = ["src"]
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-tree", "--name-only", rev],
                            capture_output=True, text=True, check=True)  # fmt: skip
    if "hatch_build.py" in listed.stdout.split():
        names.append("hatch_build.py")
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, *names],
                             capture_output=True, check=True)  # fmt: skip
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(dest, filter="data")
    if (dest / "hatch_build.py").exists():
        subprocess.run([sys.executable, "hatch_build.py"], cwd=dest, capture_output=True,
                       check=False, timeout=600)  # fmt: skip
    compileall.compile_dir(dest / "src" / "mlstix", quiet=1)
    return dest / "src"


# what the installed ``mlstix`` console script runs (``python -m mlstix`` also imports runpy:
# about 5 ms that the command users run does not pay)
CONSOLE_SCRIPT = "import sys; from mlstix.cli.main import main; sys.argv[0] = 'mlstix'; main()"


def job(path: Path, out: Path, src: Path = ROOT / "src") -> tuple[dict[str, dict[str, int]], float]:
    """The whole CLI job as its own process (mlstix from ``src``): findings per client, and
    its CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    env = {**os.environ, "PYTHONPATH": str(src)}
    # as installed: bytecode cached (pip compiles at install; with this variable set, every run
    # of a checkout compiles the modules it imports again: about 0.03 CPU-s of this job)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    command = [sys.executable, "-c", CONSOLE_SCRIPT, "detect", "inference", str(path),
               "--client-key", "inference-id-prefix::", "--format", "json",
               "-o", str(out)]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):
        raise SystemExit(f"mlstix detect inference failed ({done.returncode}): {done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    found: dict[str, dict[str, int]] = {}
    for finding in json.loads(out.read_text(encoding="utf-8"))["findings"]:
        evidence = finding["evidence"]
        if "client" in evidence and "queries_until_detection" in evidence:
            found.setdefault(str(evidence["client"]), {})[str(evidence["detector"])] = int(
                evidence["queries_until_detection"]
            )
    return found, cpu


def first_half(path: Path, out: Path) -> int:
    """Write the first half of ``path``'s lines to ``out`` (the same clients, each with about
    half its queries); return how many lines that is."""
    lines = path.read_bytes().splitlines(keepends=True)
    half = len(lines) // 2
    out.write_bytes(b"".join(lines[:half]))
    return half


def marginal(records: int, cpu: float, half: int, cpu_half: float) -> tuple[float, float] | None:
    """The steady-state cost per record and the fixed cost of a job, from the whole job on a
    file and on its first half: (CPU seconds per record, CPU seconds at zero records), or None
    when the difference is lost in the noise (the longer job was not the dearer one)."""
    if records <= half or cpu <= cpu_half:
        return None
    per_record = (cpu - cpu_half) / (records - half)
    return per_record, cpu - records * per_record


def library(path: Path, columnar: bool) -> tuple[float, float]:
    """CPU seconds of the library call alone (no start-up: modules imported and knowledge base
    loaded before the clock starts), and of its judging: the detectors' work on the queries
    once the baseline is learnt (``engine._Run.judge``: scaling, the off-manifold test,
    grouping by client and every client's detectors)."""
    import threadpoolctl  # noqa: F401  (imported here so that its import is not timed)

    from mlstix.detect.inference import InferenceOptions, detect_inference, engine
    from mlstix.kb.load import load_kb

    kb = load_kb()
    options = InferenceOptions(client_key="inference-id-prefix::", columnar=columnar)
    judging = [0.0]
    judge = engine._Run.judge

    def timed(run: engine._Run, rows: engine._Rows) -> None:
        begun = time.process_time()
        judge(run, rows)
        judging[0] += time.process_time() - begun

    engine._Run.judge = timed  # type: ignore[method-assign,assignment]
    try:
        start = time.process_time()
        detect_inference([str(path)], kb, options)
        return time.process_time() - start, judging[0]
    finally:
        engine._Run.judge = judge  # type: ignore[method-assign]


def inputs(args: argparse.Namespace, out: Path) -> Iterator[tuple[str, str, Path, int, int]]:
    """(data set, seed, capture file, records, honest clients) of each run: traffic made now,
    or the files of ``--captures`` (their honest clients counted by name in the file)."""
    if not args.captures:
        for dataset in args.datasets.split(","):
            for seed in args.seeds.split(","):
                path, records = build(dataset, int(seed), args.honest, args.per_client, out)
                yield dataset, seed, path, records, args.honest
        return
    for path in args.captures:
        dataset, _, seed = path.name.removesuffix(".jsonl").rpartition("-")
        data = path.read_bytes()
        honest = set(re.findall(rb'"inferenceId":\s*"(honest-\d+):', data))
        yield dataset or seed, seed if dataset else "-", path, data.count(b"\n"), len(honest)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--honest", type=int, default=200, help="honest clients per run")
    parser.add_argument("--per-client", type=int, default=500, help="typical honest queries")
    parser.add_argument("--datasets", default="digits,breast_cancer")
    parser.add_argument("--seeds", default="7,8,9")
    parser.add_argument("--no-peer", action="store_true", help="skip the line-by-line peer")
    parser.add_argument(
        "--baseline",
        metavar="REV",
        help="also time the whole job with mlstix as of commit REV, alternating "
        "with today's, and say whether the reports are byte-identical",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="run each whole job N times (alternating with --baseline), least CPU time counted",
    )
    parser.add_argument("--captures", type=Path, nargs="+", metavar="FILE",
                        help="time the job on these capture files (written by an earlier run's "
                        "--keep, named DATASET-SEED.jsonl) instead of making new traffic; "
                        "--honest, --per-client, --datasets and --seeds are then "
                        "ignored")  # fmt: skip
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="write the capture files and reports into DIR and keep them "
                        "(for profiling the job); default: a temporary folder")  # fmt: skip
    args = parser.parse_args()
    honest_flagged = 0
    honest_total = 0
    rows = []
    speeds: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="mlstix-bench-") as scratch:
        tmp = str(args.keep or scratch)
        Path(tmp).mkdir(parents=True, exist_ok=True)
        compileall.compile_dir(ROOT / "src" / "mlstix", quiet=1)  # as pip does at install
        old = baseline_src(args.baseline, Path(scratch)) if args.baseline else None
        for dataset, seed, path, records, honest in inputs(args, Path(tmp)):
            report = Path(tmp) / f"{dataset}-{seed}.json"
            shorter = Path(scratch) / f"{dataset}-{seed}-half.jsonl"
            half = first_half(path, shorter)
            cpu = then = cpu_half = float("inf")
            for _ in range(max(1, args.repeat)):
                if old is not None:
                    then = min(then, job(path, Path(scratch) / "baseline.json", old)[1])
                found, spent = job(path, report)
                cpu = min(cpu, spent)
                cpu_half = min(cpu_half, job(shorter, Path(scratch) / "half.json")[1])
            if old is not None:
                same = (Path(scratch) / "baseline.json").read_bytes() == report.read_bytes()
                print(f"{dataset} seed {seed}: whole job as of {args.baseline} {then:.2f} "
                      f"CPU-s ({records / then:,.0f}/s), now {cpu:.2f} ({records / cpu:,.0f}"
                      f"/s): {then / cpu:.2f}x; reports "
                      f"{'byte-identical' if same else 'DIFFERENT'}", flush=True)  # fmt: skip
            inside, judging = library(path, columnar=True)
            peer = None if args.no_peer else library(path, columnar=False)[0]
            sums = speeds.setdefault(dataset, [0.0] * 8)
            sums[0] += records
            sums[1] += cpu
            sums[2] += inside
            sums[3] += peer or 0.0
            sums[4] += records if peer else 0
            sums[5] += judging
            sums[6] += half
            sums[7] += cpu_half
            flagged = [c for c in found if c.startswith("honest")]
            honest_flagged += len(flagged)
            honest_total += honest
            for client, name in ATTACKS.items():
                hits = found.get(client, {})
                first = min(hits.values()) if hits else None
                rows.append((dataset, seed, name, ",".join(sorted(hits)) or "-", first))
            shown = f"{peer:.2f} s" if peer else "skipped"
            margin = marginal(records, cpu, half, cpu_half)
            steady = (
                f"{1e6 * margin[0]:.2f} us/record ({1 / margin[0]:,.0f}/s), fixed cost "
                f"{margin[1]:.2f} CPU-s"
                if margin
                else "not measurable (the longer job was not the dearer one: noise)"
            ) + (" (imprecise: half the file is under 10,000 records)" if half < 10_000 else "")
            print(
                f"{dataset} seed {seed}: {records:,} records; whole job {cpu:.2f} CPU-s "
                f"({records / cpu:,.0f}/s); first {half:,} records {cpu_half:.2f} CPU-s; "
                f"steady state {steady}; library call {inside:.2f} CPU-s, of which "
                f"judging {judging:.2f} ({1e6 * judging / records:.1f} us/record); "
                f"line-by-line peer {shown}; honest flagged: {flagged or 'none'}",
                flush=True,
            )
    print()
    print(f"{'data set':14} {'seed':>4}  {'attack':36} {'detectors':32} {'first at query':>14}")
    for dataset, seed, name, detectors, first in rows:
        shown = "MISSED" if first is None else str(first)
        print(f"{dataset:14} {seed:>4}  {name:36} {detectors:32} {shown:>14}")
    detected = sum(1 for row in rows if row[4] is not None)
    print()
    print(f"attacks detected: {detected}/{len(rows)}")
    print(
        f"false positives: {honest_flagged}/{honest_total} honest clients "
        f"({100 * honest_flagged / max(1, honest_total):.2f}%)"
    )
    print()
    print("records per CPU-second, one core (the job is single-threaded):")
    print(f"{'data set':14} {'whole job':>12} {'vs target':>10} {'steady state':>13} "
          f"{'vs target':>10} {'fixed CPU-s':>12} {'library':>12} {'line peer':>12} "
          f"{'columnar/peer':>14} {'judging us/rec':>15}")  # fmt: skip
    for dataset, sums in speeds.items():
        count, cpu, inside, peer_cpu, peer_records, judging, halves, cpu_halves = sums
        job_rate, lib_rate = count / cpu, count / inside
        peer_rate = peer_records / peer_cpu if peer_cpu else 0.0
        ratio = f"{lib_rate / peer_rate:.2f}x" if peer_rate else "-"
        shown = f"{peer_rate:,.0f}" if peer_rate else "-"
        margin = marginal(int(count), cpu, int(halves), cpu_halves)
        steady, versus, fixed = (
            (f"{1 / margin[0]:,.0f}", f"{1 / margin[0] / TARGET:.2f}x", f"{margin[1]:.2f}")
            if margin
            else ("-", "-", "-")
        )
        print(f"{dataset:14} {job_rate:>12,.0f} {job_rate / TARGET:>9.2f}x {steady:>13} "
              f"{versus:>10} {fixed:>12} {lib_rate:>12,.0f} {shown:>12} {ratio:>14} "
              f"{1e6 * judging / count:>15.1f}")  # fmt: skip
    print(
        f"target: {TARGET:,} records per CPU-second per core, for the whole job "
        "(start-up, knowledge base, reading, baseline, detection, report); "
        f"judging (the detectors on learnt baseline) within {JUDGING_TARGET} us/record"
    )
    print(
        "whole job: the job on the written file, as its own process (start-up and exit "
        "included). steady state: what each record adds at the margin, from the job on the "
        "whole file and on its first half ((CPU - CPU of half) / (records - records of half)); "
        "fixed CPU-s: what the job costs before its first record by the same line (start-up, "
        "learning the baseline, report, exit). The whole job tends to the steady state on "
        "long logs."
    )


if __name__ == "__main__":
    main()
