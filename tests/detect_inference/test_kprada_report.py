"""The whole detector gives the same JSON report, byte for byte, with PRADA's compiled kernel
and with the NumPy path (``MLSTIX_NO_KERNEL=1``), on a Data Capture log of honest clients and
attacks run against a scikit-learn endpoint, where PRADA fires."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlstix.cli.main import cli
from mlstix.detect.inference import _accel

pytest.importorskip("sklearn")
pytest.importorskip(
    "mlstix.detect.inference._kprada", reason="the C kernel is not built (no compiler?)"
)
from tests.detect_inference import traffic


def _report(log: Path, out: Path, monkeypatch: pytest.MonkeyPatch, off: bool) -> bytes:
    with monkeypatch.context() as patch:
        patch.setattr(_accel, "_loaded", {})  # decided again, from the variable below
        if off:
            patch.setenv("MLSTIX_NO_KERNEL", "1")
        else:
            patch.delenv("MLSTIX_NO_KERNEL", raising=False)
        from mlstix.detect.inference._psets import kernel_module

        assert (kernel_module() is None) == off
        done = CliRunner().invoke(cli, ["detect", "inference", str(log), "--client-key",
                                        "inference-id-prefix::", "--format", "json", "-o",
                                        str(out)])  # fmt: skip
    assert done.exit_code == 1, done.output  # findings
    return out.read_bytes()


def test_the_report_is_the_same_with_and_without_the_kernel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = traffic.make_world("digits", seed=7)
    for index in range(24):
        traffic.honest(world, f"honest-{index}", int(world.rng.integers(60, 200)))
    traffic.boundary_attack(world, "attacker-boundary", 300)
    traffic.hopskipjump(world, "attacker-hsj", 400)
    log = world.endpoint.write(tmp_path / "capture.jsonl")
    kernel = _report(log, tmp_path / "kernel.json", monkeypatch, off=False)
    numpy = _report(log, tmp_path / "numpy.json", monkeypatch, off=True)
    assert kernel == numpy
    rules = {f["rule_id"] for f in json.loads(kernel)["findings"]}
    assert "inference/extraction-prada" in rules  # PRADA's path was taken and fired
