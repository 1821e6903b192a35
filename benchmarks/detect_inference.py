"""Benchmark: ``mlstix detect inference`` on attacks actually run against a local endpoint.

Run by hand (never in the test suite), from the repository root:

    .venv/bin/python benchmarks/detect_inference.py [--honest 200] [--per-client 500]
        [--datasets digits,breast_cancer] [--seeds 7,8,9]

For each data set (both ship inside scikit-learn, nothing is downloaded) and seed, it trains a
classifier, serves it through the endpoint shim of ``tests/detect_inference/traffic.py`` and
writes SageMaker Data Capture JSON lines for honest clients drawing from held-back data and
for four attackers: random-query extraction (Tramèr et al. 2016), Jacobian-based augmentation
(Papernot et al. 2017), a boundary attack (Brendel et al. 2018) and a HopSkipJump-style search
(Chen et al. 2020). Then it runs the detector and prints, per attack, whether and by which
detector it was found and after how many of its queries, the false-positive rate on honest
clients, and records per second (one process, so per core).

Published reference points, for comparison: PRADA (Juuti et al., EuroS&P 2019) reports
detecting all the extraction attacks it studied with no false positives on its benign traffic;
Blacklight (Li et al., USENIX Security 2022) reports detecting the query-based attacks it
studied within the first handful of queries at about 0% false positives.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
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


def judge(path: Path) -> tuple[dict[str, dict[str, int]], float, float]:
    from mlstix.detect.inference import InferenceOptions, detect_inference
    from mlstix.kb.load import load_kb

    kb = load_kb()
    start, cpu = time.perf_counter(), time.process_time()
    report = detect_inference([str(path)], kb, InferenceOptions(client_key="inference-id-prefix::"))
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    found: dict[str, dict[str, int]] = {}
    for finding in report.findings:
        client = finding.evidence.get("client")
        if client is None:
            continue
        detector = str(finding.evidence["detector"])
        found.setdefault(str(client), {})[detector] = int(
            finding.evidence["queries_until_detection"]
        )
    return found, elapsed, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--honest", type=int, default=200, help="honest clients per run")
    parser.add_argument("--per-client", type=int, default=500, help="typical honest queries")
    parser.add_argument("--datasets", default="digits,breast_cancer")
    parser.add_argument("--seeds", default="7,8,9")
    args = parser.parse_args()
    total_records = 0
    total_time = 0.0
    total_cpu = 0.0
    honest_flagged = 0
    honest_total = 0
    rows = []
    with tempfile.TemporaryDirectory(prefix="mlstix-bench-") as tmp:
        for dataset in args.datasets.split(","):
            for seed in (int(s) for s in args.seeds.split(",")):
                path, records = build(dataset, seed, args.honest, args.per_client, Path(tmp))
                found, elapsed, cpu = judge(path)
                total_records += records
                total_time += elapsed
                total_cpu += cpu
                flagged = [c for c in found if c.startswith("honest")]
                honest_flagged += len(flagged)
                honest_total += args.honest
                for client, name in ATTACKS.items():
                    hits = found.get(client, {})
                    first = min(hits.values()) if hits else None
                    rows.append((dataset, seed, name, ",".join(sorted(hits)) or "-", first))
                print(
                    f"{dataset} seed {seed}: {records} records in {elapsed:.2f} s wall, "
                    f"{cpu:.2f} s CPU ({records / cpu:,.0f}/s per core); "
                    f"honest flagged: {flagged or 'none'}",
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
    print(
        f"throughput: {total_records / total_cpu:,.0f} records per CPU-second (one process), "
        f"{total_records / total_time:,.0f} records/s wall"
    )


if __name__ == "__main__":
    main()
