"""Class 8 of issue 10: real files first. Every file under ``tests/scan_models/real/`` was
written by a library's own save function (see the generator scripts and ``VERSIONS.json``
beside them): none may raise a finding at high or above, and every one must be read (no
``errors`` entry, a recognized kind)."""

from __future__ import annotations

import json
from pathlib import Path

from mlstix.findings.model import Severity
from mlstix.scan.models._sniff import MODEL_SUFFIXES

from .conftest import Scan

REAL = Path(__file__).with_name("real")
_SKIP_SUFFIXES = {".py", ".json", ".md", ".txt"}


def _files() -> list[Path]:
    return sorted(p for p in REAL.rglob("*") if p.is_file() and p.suffix not in _SKIP_SUFFIXES)


def test_the_corpus_is_small_and_documented() -> None:
    files = _files()
    assert len(files) >= 50
    assert sum(p.stat().st_size for p in files) < 5 << 20
    manifest = json.loads((REAL / "pickling" / "VERSIONS.json").read_text())
    listed = set(manifest["files"]) - {"VERSIONS.json"}
    assert listed == {p.name for p in (REAL / "pickling").iterdir()} - {"VERSIONS.json"}
    assert {"scikit-learn", "pandas", "numpy", "joblib", "statsmodels"} <= set(manifest["versions"])


def test_no_real_file_alarms_and_every_one_is_read(scan: Scan) -> None:
    report = scan(REAL, jobs=1)
    alarms = [
        f"{f.location.path} {f.location.member or ''}: {f.rule_id} {f.message}"
        for f in report.findings
        if f.severity >= Severity.HIGH
    ]
    assert alarms == []
    assert [f"{e.path}: {e.message}" for e in report.errors] == []
    kinds = {Path(s.path).name: s.kind for s in report.scanned}
    models = [p for p in _files() if p.name.lower().endswith(tuple(MODEL_SUFFIXES))]
    unread = [p.name for p in models if kinds.get(p.name) in (None, "unknown")]
    assert unread == []
    # the pickling libraries' files are all read as what they are
    pickled = [p for p in (REAL / "pickling").iterdir() if p.suffix != ".json"]
    assert [p.name for p in pickled if kinds.get(p.name) in (None, "unknown")] == []
