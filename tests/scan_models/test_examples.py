"""The bundled examples (what ``mlstix demo`` scans) are what examples/make_models.py writes,
and the scanner finds exactly the planted problems in them."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from .conftest import Scan

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("make_models", EXAMPLES / "make_models.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_examples_are_up_to_date(tmp_path: Path) -> None:
    written = _generator().write_examples(tmp_path)
    for path in written:
        committed = EXAMPLES / "models" / path.relative_to(tmp_path)
        assert committed.read_bytes() == path.read_bytes(), committed


def test_examples_scan(tmp_path: Path, scan: Scan) -> None:
    _generator().write_examples(tmp_path)
    report = scan(tmp_path)
    found = sorted(
        (Path(f.location.path).relative_to(tmp_path).as_posix(), f.rule_id, f.severity.value)
        for f in report.findings
    )
    assert found == [
        ("malicious/checkpoint.pt", "models/no-provenance", "low"),
        ("malicious/checkpoint.pt", "models/pickle-dangerous-import", "critical"),
        ("malicious/checkpoint.pt", "models/pickle-format", "low"),
        ("malicious/checkpoint.pt", "models/unsigned-model", "medium"),
        ("malicious/pipeline.joblib", "models/pickle-dangerous-import", "critical"),
        ("malicious/pipeline.joblib", "models/pickle-format", "low"),
        ("safe-model/model.safetensors", "models/unsigned-model", "medium"),
    ]
