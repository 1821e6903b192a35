"""The knowledge base as spreadsheets: one sheet per object type, one for relationships.

Security teams keep control matrices in spreadsheets; this gives them the knowledge base in that
shape. Sheets (:data:`SHEETS`): ``attack-patterns``, ``vulnerabilities``, ``courses-of-action``
(with each cloud's services, steps, example and references in their own columns), ``mitre`` (the
catalogued ATLAS/ATT&CK objects and what maps to them), ``relationships`` (targets, mitigates
and related-to edges, with both ends' keys, types and names) and ``controls`` (the ML Cloud
Security Benchmark's controls, :mod:`mlstix.kb.render.benchmark`). List-valued cells hold one
item per line.

Two containers:

- ``xlsx`` (Office Open XML, via openpyxl, the ``export`` extra): one workbook, one worksheet per
  sheet, header row frozen and filterable. Text that starts with ``=`` stays text, never a formula.
- ``csv``: a zip of one RFC 4180 CSV file per sheet (``<sheet>.csv``, UTF-8 without BOM, CRLF line
  ends), because one CSV file cannot hold several tables. Open it in Excel via the xlsx instead.

Both are deterministic: the same knowledge base gives the same bytes (zip entries carry a fixed
timestamp; the workbook's document properties carry the knowledge base's newest ``modified``).
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from mlstix.errors import UsageError
from mlstix.kb.graph import KnowledgeBase
from mlstix.kb.model import AttackPattern, Cloud, CourseOfAction, DocLink, KbObject, Vulnerability
from mlstix.kb.render.markdown import category_title

__all__ = ["EXPORTERS", "SHEETS", "csv_zip", "tables", "workbook", "xlsx"]

SHEETS = (
    "attack-patterns",
    "vulnerabilities",
    "courses-of-action",
    "mitre",
    "relationships",
    "controls",
)
_FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_XLSX_CELL_MAX = 32767
Table = list[list[str]]


def _lines(items: Iterable[object]) -> str:
    return "\n".join(str(i) for i in items)


def _links(links: tuple[DocLink, ...]) -> str:
    return _lines(f"{link.title} <{link.url}>" for link in links)


def _common(kb: KnowledgeBase, obj: KbObject) -> list[str]:
    return [
        obj.key,
        obj.name,
        category_title(obj),
        obj.id,
        obj.created.isoformat().replace("+00:00", "Z"),
        obj.modified.isoformat().replace("+00:00", "Z"),
        " ".join(obj.summary.split()),
        obj.description.strip(),
        obj.example.strip(),
        obj.detection.strip(),
        _lines(obj.references.cwe),
        _lines(obj.references.owasp_ml),
        _lines(
            f"{m.external_id} {kb.mitre_object(m.external_id).name}" for m in obj.references.mitre
        ),
        _links(obj.references.links),
    ]


_COMMON_HEAD = [
    "key",
    "name",
    "category",
    "stix_id",
    "created",
    "modified",
    "summary",
    "description",
    "example",
    "detection",
    "cwe",
    "owasp_ml",
    "mitre",
    "references",
]


def _edges(kb: KnowledgeBase, key: str, rtype: str, *, incoming: bool) -> str:
    rels = kb.edges_to(key) if incoming else kb.edges_from(key)
    return _lines(r.source if incoming else r.target for r in rels if r.type == rtype)


def tables(kb: KnowledgeBase) -> dict[str, Table]:
    """Sheet name → rows, the header row first."""
    aps: Table = [[*_COMMON_HEAD, "aliases", "targets", "mitigated_by"]]
    vulns: Table = [[*_COMMON_HEAD, "targeted_by", "mitigated_by"]]
    cloud_head = [
        f"{c.value}_{part}"
        for c in Cloud
        for part in ("services", "steps", "example", "references")
    ]
    coas: Table = [
        [
            *_COMMON_HEAD[:9],
            "verification",
            *_COMMON_HEAD[10:],
            "mitigates",
            *cloud_head,
            "platform_recommendation",
        ]
    ]
    for obj in kb.objects:
        row = _common(kb, obj)
        if isinstance(obj, AttackPattern):
            aps.append(
                [
                    *row,
                    _lines(obj.aliases),
                    _edges(kb, obj.key, "targets", incoming=False),
                    _edges(kb, obj.key, "mitigates", incoming=True),
                ]
            )
        elif isinstance(obj, Vulnerability):
            vulns.append(
                [
                    *row,
                    _edges(kb, obj.key, "targets", incoming=True),
                    _edges(kb, obj.key, "mitigates", incoming=True),
                ]
            )
        else:
            assert isinstance(obj, CourseOfAction)
            per_cloud: list[str] = []
            for cloud in Cloud:
                g = obj.cloud[cloud]
                per_cloud += [
                    _lines(g.services),
                    _lines(f"{i}. {s.strip()}" for i, s in enumerate(g.steps, 1)),
                    f"{g.example.title} ({g.example.language})\n{g.example.code.rstrip()}",
                    _links(g.references),
                ]
            rec = obj.platform_recommendation
            coas.append(
                [
                    *row,
                    _edges(kb, obj.key, "mitigates", incoming=False),
                    *per_cloud,
                    f"{rec.title}: {' '.join(rec.description.split())}\n"
                    + _lines(f"- {c}" for c in rec.capabilities),
                ]
            )
    mitre: Table = [["external_id", "name", "source", "type", "stix_id", "url", "mapped_by"]]
    for m in kb.mitre:
        mitre.append(
            [
                m.external_id,
                m.name,
                m.source,
                m.id.split("--", 1)[0],
                m.id,
                m.url,
                _edges(kb, m.external_id, "related-to", incoming=True),
            ]
        )
    rels: Table = [
        [
            "id",
            "type",
            "source_key",
            "source_type",
            "source_name",
            "target_key",
            "target_type",
            "target_name",
            "description",
        ]
    ]
    for r in kb.relationships:
        src = kb.get(r.source)
        if r.type == "related-to":
            mo = kb.mitre_object(r.target)
            target: tuple[str, str, str] = (mo.external_id, mo.source, mo.name)
        else:
            to = kb.get(r.target)
            target = (to.key, to.kind, to.name)
        rels.append([r.id, r.type, src.key, src.kind, src.name, *target, r.description.strip()])
    from mlstix.kb.controls import load_benchmark
    from mlstix.kb.render.benchmark import control_table

    controls = control_table(load_benchmark(kb), kb)
    return dict(zip(SHEETS, (aps, vulns, coas, mitre, rels, controls), strict=True))


def _zip_entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_FIXED_ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info


def csv_zip(kb: KnowledgeBase) -> bytes:
    """A zip holding ``<sheet>.csv`` for every sheet."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, rows in tables(kb).items():
            text = io.StringIO(newline="")
            csv.writer(text, lineterminator="\r\n").writerows(rows)
            archive.writestr(_zip_entry(f"{name}.csv"), text.getvalue().encode("utf-8"))
    return buffer.getvalue()


def _normalize_xlsx(data: bytes, modified: str) -> bytes:
    """Rewrite a workbook with fixed zip timestamps and a fixed ``dcterms:modified`` (openpyxl
    stamps the save time there), so the same knowledge base gives the same bytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            content = src.read(info)
            if info.filename == "docProps/core.xml":
                content = re.sub(
                    rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                    rb"\g<1>" + modified.encode() + rb"\g<2>",
                    content,
                )
            dst.writestr(_zip_entry(info.filename), content)
    return out.getvalue()


def xlsx(kb: KnowledgeBase) -> bytes:
    """An Excel workbook, one worksheet per sheet."""
    newest = max((o.modified for o in kb.objects), default=datetime(2025, 1, 1, tzinfo=UTC))
    return workbook(tables(kb), newest)


def workbook(sheets: dict[str, Table], newest: datetime) -> bytes:
    """An Excel workbook of ``sheets``, stamped with ``newest`` so it is deterministic."""
    try:
        from openpyxl import Workbook
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
        from openpyxl.styles import Alignment, Font
        from openpyxl.utils import get_column_letter
    except ImportError:
        raise UsageError(
            "the xlsx export needs openpyxl", hint="pip install 'mlstix[export]'"
        ) from None
    book = Workbook()
    book.remove(book.active)
    book.properties.creator = "mlstix"
    book.properties.created = newest.replace(tzinfo=None)
    wrap = Alignment(wrap_text=True, vertical="top")
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for r, row in enumerate(rows, 1):
            for c, value in enumerate(row, 1):
                text = ILLEGAL_CHARACTERS_RE.sub("", value)
                if len(text) > _XLSX_CELL_MAX:
                    text = text[: _XLSX_CELL_MAX - 20] + "… (truncated)"
                cell = sheet.cell(row=r, column=c, value=text)
                cell.data_type = "s"  # text, even when it starts with "="
                cell.alignment = wrap
                if r == 1:
                    cell.font = Font(bold=True)
        for c, head in enumerate(rows[0], 1):
            long_text = head in {
                *("description", "example", "detection", "verification"),
                *("statement", "rationale", "manual_audit", "remediation"),
            }
            sheet.column_dimensions[get_column_letter(c)].width = 60 if long_text else 24
        sheet.freeze_panes = "C2"
        sheet.auto_filter.ref = sheet.dimensions
    buffer = io.BytesIO()
    book.save(buffer)
    stamp = newest.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return _normalize_xlsx(buffer.getvalue(), stamp)


EXPORTERS: dict[str, Callable[[KnowledgeBase], bytes]] = {"csv": csv_zip, "xlsx": xlsx}
