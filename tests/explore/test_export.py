"""`mlstix kb export`: the knowledge base as a control-matrix workbook or a zip of CSV files."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlstix.cli.main import cli
from mlstix.kb.graph import KnowledgeBase
from mlstix.kb.model import Cloud
from mlstix.kb.render import export
from mlstix.kb.render.export import SHEETS, csv_zip, xlsx

openpyxl = pytest.importorskip("openpyxl")


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def read_csv_zip(data: bytes) -> dict[str, list[list[str]]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {
            name.removesuffix(".csv"): list(csv.reader(io.StringIO(archive.read(name).decode())))
            for name in archive.namelist()
        }


def read_xlsx(data: bytes) -> dict[str, list[list[str]]]:
    book = openpyxl.load_workbook(io.BytesIO(data))
    return {
        sheet.title: [["" if v is None else str(v) for v in row] for row in sheet.values]
        for sheet in book.worksheets
    }


def expected_counts(kb: KnowledgeBase) -> dict[str, int]:
    return {
        "attack-patterns": len(kb.attack_patterns),
        "vulnerabilities": len(kb.vulnerabilities),
        "courses-of-action": len(kb.courses_of_action),
        "mitre": len(kb.mitre),
        "relationships": len(kb.relationships),
    }


@pytest.mark.parametrize("reader", [read_csv_zip, read_xlsx])
def test_one_sheet_per_type_and_one_for_relationships(kb: KnowledgeBase, reader: object) -> None:
    data = csv_zip(kb) if reader is read_csv_zip else xlsx(kb)
    sheets = reader(data)  # type: ignore[operator]
    assert list(sheets) == list(SHEETS)
    for name, count in expected_counts(kb).items():
        assert len(sheets[name]) == count + 1, name  # header + one row per object / edge
    aps = {
        row[0]: dict(zip(sheets["attack-patterns"][0], row, strict=True))
        for row in sheets["attack-patterns"][1:]
    }
    for ap in kb.attack_patterns:
        row = aps[ap.key]
        assert row["name"] == ap.name and row["stix_id"] == ap.id
        assert set(row["targets"].splitlines()) == {e.target for e in ap.targets}
    coas = {
        row[0]: dict(zip(sheets["courses-of-action"][0], row, strict=True))
        for row in sheets["courses-of-action"][1:]
    }
    for coa in kb.courses_of_action:
        row = coas[coa.key]
        for cloud in Cloud:
            steps = row[f"{cloud.value}_steps"].count("\n") + 1
            assert steps >= len(coa.cloud[cloud].steps)
            assert (
                coa.cloud[cloud].example.code.strip().splitlines()[0]
                in row[f"{cloud.value}_example"]
            )
    rels = sheets["relationships"]
    header = rels[0]
    assert header[:3] == ["id", "type", "source_key"]
    assert {r[0] for r in rels[1:]} == {r.id for r in kb.relationships}
    related = [dict(zip(header, r, strict=True)) for r in rels[1:] if r[1] == "related-to"]
    assert all(kb.mitre_object(r["target_key"]).name == r["target_name"] for r in related)


def test_exports_are_deterministic(kb: KnowledgeBase) -> None:
    assert csv_zip(kb) == csv_zip(kb)
    assert xlsx(kb) == xlsx(kb)
    # nothing in the workbook depends on the clock: openpyxl's save-time stamp is replaced
    newest = max(o.modified for o in kb.objects).strftime("%Y-%m-%dT%H:%M:%SZ")
    with zipfile.ZipFile(io.BytesIO(xlsx(kb))) as archive:
        core = archive.read("docProps/core.xml").decode()
        assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    stamps = re.findall(r"<dcterms:(created|modified)[^>]*>([^<]+)<", core)
    assert stamps == [("created", newest), ("modified", newest)]


def test_xlsx_keeps_formula_like_text_as_text(
    kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = '=HYPERLINK("https://evil.example","click")'
    monkeypatch.setattr(
        export,
        "tables",
        lambda _kb: {"attack-patterns": [["key", "name"], ["k", payload], ["k2", "bad\x07char"]]},
    )
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx(kb)))["attack-patterns"]
    assert sheet["B2"].value == payload
    assert sheet["B2"].data_type == "s"
    assert sheet["B3"].value == "badchar"


@pytest.mark.parametrize(("suffix", "fmt"), [(".xlsx", "xlsx"), (".zip", "csv")])
def test_cli_infers_the_format_from_the_suffix(
    tmp_path: Path, kb: KnowledgeBase, suffix: str, fmt: str
) -> None:
    out = tmp_path / f"kb{suffix}"
    code, output = run("kb", "export", "--output", str(out))
    assert code == 0, output
    data = out.read_bytes()
    assert data == (xlsx(kb) if fmt == "xlsx" else csv_zip(kb))


def test_cli_explicit_format_wins(tmp_path: Path, kb: KnowledgeBase) -> None:
    out = tmp_path / "matrix.bin"
    code, output = run("kb", "export", "--format", "csv", "--output", str(out))
    assert code == 0, output
    assert zipfile.ZipFile(out).namelist() == [f"{s}.csv" for s in SHEETS]


def test_cli_unknown_suffix_is_an_error_and_writes_nothing(tmp_path: Path) -> None:
    code, output = run("kb", "export", "--output", str(tmp_path / "kb.ods"))
    assert code == 2
    assert "kb.ods" in output and "--format" in output
    assert list(tmp_path.iterdir()) == []


def test_cli_rejects_unknown_format(tmp_path: Path) -> None:
    code, output = run("kb", "export", "--format", "ods", "--output", str(tmp_path / "x"))
    assert code == 2
    assert "ods" in output
    assert list(tmp_path.iterdir()) == []
