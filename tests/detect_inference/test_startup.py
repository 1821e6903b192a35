"""What ``mlstix detect inference`` loads to write a JSON report: not rich (the ``wrote`` line is
plain), not DuckDB (the columnar reader parses lines with orjson), not threadpoolctl (the CLI
sets the BLAS thread variables to 1 before NumPy is loaded, and OpenBLAS reads them), while
the library call, where NumPy may already be loaded, still limits BLAS with threadpoolctl."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlstix.detect.inference import InferenceOptions, detect_inference, engine

pytest.importorskip("simdjson")
pytest.importorskip("threadpoolctl")


def _log(path: Path, count: int = 400) -> Path:
    rng = np.random.default_rng(4)
    lines = []
    for i in range(count):
        capture = {
            "endpointInput": {"data": ",".join(f"{v:.4g}" for v in rng.normal(size=6)),
                              "encoding": "CSV", "mode": "INPUT"},
            "endpointOutput": {"data": "0.3,0.7", "encoding": "CSV", "mode": "OUTPUT"},
        }  # fmt: skip
        meta = {"inferenceId": f"c{i % 7}:{i}", "inferenceTime": "2026-12-01T00:00:00Z"}
        lines.append(json.dumps({"captureData": capture, "eventMetadata": meta}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# main() ends the process itself after this command (no teardown): the probe looks from an
# atexit handler, which main() still runs
_PROBE = """
import atexit, json, sys
sys.argv = ["mlstix", "detect", "inference", sys.argv[1], "--client-key",
            "inference-id-prefix::", "--format", "json", "-o", sys.argv[2]]
_UNWANTED = ("rich", "duckdb", "_duckdb", "threadpoolctl", "logging", "tempfile")

def look():
    loaded = sorted(m for m in _UNWANTED if m in sys.modules)
    from threadpoolctl import threadpool_info
    blas = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    print(json.dumps({"loaded": loaded, "blas": blas}))

atexit.register(look)
from mlstix.cli.main import main
main()
"""


def _probe(tmp_path: Path, **env: str) -> dict[str, Any]:
    log = _log(tmp_path / "capture.jsonl")
    out = tmp_path / "report.json"
    environ = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(log), str(out)],
        env={**environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr
    assert done.stderr == f"wrote {out} (json)\n"
    assert json.loads(out.read_text(encoding="utf-8"))["scanned"][0]["kind"] == (
        "sagemaker-data-capture"
    )
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_a_json_report_loads_no_rich_duckdb_threadpoolctl_logging_or_tempfile(
    tmp_path: Path,
) -> None:
    result = _probe(tmp_path)
    assert result["loaded"] == []
    assert result["blas"] and set(result["blas"]) == {1}  # one BLAS thread from the start


def test_a_users_blas_thread_setting_does_not_outlast_the_pin(tmp_path: Path) -> None:
    result = _probe(tmp_path, OPENBLAS_NUM_THREADS="2")
    assert result["loaded"] == [] and set(result["blas"]) == {1}


def test_the_library_call_limits_blas_itself_unless_told_it_is_pinned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threadpoolctl

    log = _log(tmp_path / "capture.jsonl")
    calls: list[object] = []
    real = threadpoolctl.threadpool_limits

    def limits(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs.get("limits"))
        return real(*args, **kwargs)

    monkeypatch.setattr(threadpoolctl, "threadpool_limits", limits)
    key = "inference-id-prefix::"
    first = detect_inference([str(log)], None, InferenceOptions(client_key=key, warmup=100))
    assert calls == [1]
    pinned = InferenceOptions(client_key=key, warmup=100, blas_pinned=True)
    second = detect_inference([str(log)], None, pinned)
    assert calls == ([1] if engine._openblas() else [1, 1])
    assert first.findings == second.findings


def test_the_blas_is_pinned_only_before_numpy_is_loaded() -> None:
    from mlstix.cli import inference

    assert "numpy" in sys.modules
    before = {name: os.environ.get(name) for name in inference._BLAS_THREADS}
    assert inference._one_blas_thread() is False
    assert {name: os.environ.get(name) for name in inference._BLAS_THREADS} == before
