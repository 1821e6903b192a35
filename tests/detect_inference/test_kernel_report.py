"""End to end: ``mlstix detect inference`` on a capture file of attacks actually run (as the
benchmark writes them) gives the same JSON report, byte for byte, with the compiled kernels
and with ``MLSTIX_NO_KERNEL=1`` (the NumPy path)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("mlstix.detect.inference._kernel", reason="the C kernel is not built")
from tests.detect_inference import traffic


def _report(log: Path, out: Path, *, kernel: bool) -> bytes:
    env = {k: v for k, v in os.environ.items() if k != "MLSTIX_NO_KERNEL"}
    if not kernel:
        env["MLSTIX_NO_KERNEL"] = "1"
    command = [sys.executable, "-m", "mlstix", "detect", "inference", str(log), "--client-key",
               "inference-id-prefix::", "--format", "json", "-o", str(out)]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert done.returncode in (0, 1), done.stderr
    return out.read_bytes()


def test_the_report_is_the_same_with_and_without_the_kernels(tmp_path: Path) -> None:
    # digits (64 features): the nearest query, the steps and PRADA all have work to do
    world = traffic.make_world("digits", seed=7)
    for index in range(30):
        traffic.honest(world, f"honest-{index}", int(world.rng.integers(20, 400)))
    traffic.jacobian_extraction(world, "atk-jbda", seeds=20, rounds=4)
    traffic.boundary_attack(world, "atk-boundary", 300)
    traffic.hopskipjump(world, "atk-hsj", 400)
    log = world.endpoint.write(tmp_path / "capture.jsonl")
    fast = _report(log, tmp_path / "kernel.json", kernel=True)
    plain = _report(log, tmp_path / "numpy.json", kernel=False)
    assert fast == plain
    for rule in ("extraction-synthetic", "adversarial-probing", "extraction-prada"):
        assert f"inference/{rule}".encode() in fast  # each detector had work and fired
