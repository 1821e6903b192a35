"""The benchmark in the explorer site, in `kb export` and in `benchmark export` csv/xlsx."""

from __future__ import annotations

import csv
import io
import posixpath
import re
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlstix.cli.main import cli
from mlstix.kb.controls import Benchmark
from mlstix.kb.graph import KnowledgeBase
from mlstix.kb.render.benchmark import CONTROL_COLUMNS
from mlstix.kb.render.site import render_site


def test_a_page_per_control_reachable_from_its_courses_of_action(
    bench: Benchmark, kb: KnowledgeBase
) -> None:
    files = render_site(kb)
    for control in bench.controls:
        page = f"controls/{control.id.lower()}.html"
        assert page in files, page
        html = files[page].decode("utf-8")
        assert control.title.replace("'", "&#x27;") in html
        for key in bench.courses_of_action(control):
            coa_page = files[f"objects/{key}.html"].decode("utf-8")
            assert f'href="../{page}"' in coa_page, (control.id, key)
    # every relative link on the control pages resolves to a file of the site
    for path, content in files.items():
        if not path.startswith("controls/"):
            continue
        for href in re.findall(r'href="([^"#]+)"', content.decode("utf-8")):
            if href.startswith("https://"):
                continue
            resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), href))
            assert resolved in files, (path, href)


def test_the_control_page_draws_remediation_from_the_course_of_action(
    bench: Benchmark, kb: KnowledgeBase
) -> None:
    control = bench.control("MLCS-4.1")
    html = render_site(kb)["controls/mlcs-4.1.html"].decode("utf-8")
    coa = kb.course_of_action("implement-immutable-ml-model-versioning")
    step = coa.cloud[next(iter(coa.cloud))].steps[control.remediation.aws[0] - 1]
    assert "Object Lock" in step and "Object Lock" in html
    assert "MLSTIX-AWS-S3-001" in html and "CP-9" in html


def test_kb_export_has_a_controls_sheet(bench: Benchmark, tmp_path: Path) -> None:
    out = tmp_path / "kb.zip"
    result = CliRunner().invoke(cli, ["kb", "export", "-o", str(out)])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(out) as archive:
        rows = list(csv.reader(io.StringIO(archive.read("controls.csv").decode("utf-8"))))
    assert rows[0] == CONTROL_COLUMNS
    assert [r[0] for r in rows[1:]] == [c.id for c in bench.controls]


def test_benchmark_export_csv_and_xlsx(bench: Benchmark, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "controls.csv"
    result = runner.invoke(cli, ["benchmark", "export", "--format", "csv", "-o", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert len(rows) == len(bench.controls) + 1
    by_id = {r[0]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    assert "MLSTIX-K8S-SRV-001" in by_id["MLCS-7.4"]["automated_rules"]
    assert by_id["MLCS-9.1"]["automated_rules"] == ""
    openpyxl = pytest.importorskip("openpyxl", reason="the xlsx export needs mlstix[export]")
    xlsx = tmp_path / "controls.xlsx"
    result = runner.invoke(cli, ["benchmark", "export", "--format", "xlsx", "-o", str(xlsx)])
    assert result.exit_code == 0, result.output
    sheet = openpyxl.load_workbook(xlsx)["controls"]
    assert sheet.max_row == len(bench.controls) + 1
    first = xlsx.read_bytes()
    runner.invoke(cli, ["benchmark", "export", "--format", "xlsx", "-o", str(xlsx)])
    assert xlsx.read_bytes() == first  # deterministic


def test_export_refuses_a_missing_folder_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "missing" / "catalog.json"
    result = CliRunner().invoke(cli, ["benchmark", "export", "--format", "csv", "-o", str(out)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert not out.exists()
