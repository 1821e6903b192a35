"""``mlstix demo``: the main job on bundled examples (what ``make demo`` runs).

It builds and validates the knowledge base, then scans the example models and cloud
configuration under ``examples/`` (present in a checkout; an installed package has only the
knowledge base), prints the findings with the knowledge base's remediation, and assesses the
ML Cloud Security Benchmark's controls from the two reports.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import click
from rich.table import Table

from mlstix.cli._console import console
from mlstix.kb.load import load_kb

__all__ = ["demo"]


def _examples() -> Path | None:
    from mlstix.cli.kb import find_checkout

    root = find_checkout() or find_checkout(Path(__file__))
    folder = root / "examples" if root else None
    return folder if folder is not None and folder.is_dir() else None


def _shown(path: Path) -> str:
    """``path`` relative to the working folder when it is inside it (the checkout), else
    absolute: `../../work/main/examples/iac/main.tf` says less than the path itself."""
    relative = os.path.relpath(path)
    return str(path) if relative.startswith("..") else relative


@click.command()
def demo() -> None:
    """Build and validate the knowledge base, then scan the bundled example models and IaC."""
    from mlstix.findings.formats.table import print_table
    from mlstix.findings.model import Report
    from mlstix.kb.build import write_tree
    from mlstix.kb.compile import BUNDLE_FILES
    from mlstix.kb.render.markdown import category_title
    from mlstix.kb.validate import validate_path
    from mlstix.scan.iac import collect
    from mlstix.scan.models import ScanOptions, scan_models
    from mlstix.scan.rules.iac import default_registry, evaluate_isolated

    knowledge = load_kb()
    with tempfile.TemporaryDirectory(prefix="mlstix-demo-") as tmp:
        out = Path(tmp)
        written = write_tree(knowledge, out)
        console.rule("[bold]1. The knowledge base, compiled to STIX 2.1")
        console.print(f"built {len(written)} files (STIX bundles, diagram, reference pages)")
        for name in BUNDLE_FILES:
            problems = validate_path(out / "stix" / name)
            size = (out / "stix" / name).stat().st_size
            verdict = "[green]valid[/]" if not problems else f"[red]{len(problems)} problems[/]"
            console.print(f"  stix/{name:<24} {size:>8} bytes  stix2-validator --strict: {verdict}")
    table = Table(title="Objects by category")
    for col in ("type", "category", "objects"):
        table.add_column(col)
    seen: dict[tuple[str, str], list[str]] = {}
    for obj in knowledge.objects:
        seen.setdefault((obj.kind, category_title(obj)), []).append(obj.name)
    for (kind, category), names in seen.items():
        table.add_row(kind, category, "\n".join(names))
    console.print(table)
    edges = [r for r in knowledge.relationships if r.type != "related-to"]
    console.print(
        f"{len(edges)} relationships "
        f"({sum(r.type == 'targets' for r in edges)} targets, "
        f"{sum(r.type == 'mitigates' for r in edges)} mitigates), "
        f"{len(knowledge.relationships) - len(edges)} mappings to MITRE ATLAS and ATT&CK"
    )

    examples = _examples()
    if examples is None:
        console.print("(no examples/ folder here: run `make demo` in a checkout to see the scans)")
        return
    models = _shown(examples / "models")
    console.rule(f"[bold]2. mlstix scan models {models}")
    report = scan_models([models], knowledge, ScanOptions(jobs=1))
    print_table(report, knowledge, console)

    iac = _shown(examples / "iac")
    console.rule(f"[bold]3. mlstix scan iac {iac}")
    found = collect([Path(iac)])
    registry = default_registry()
    judged = evaluate_isolated(registry, list(registry), found.resources, knowledge)
    errors = [*found.errors, *judged.errors]
    iac_report = Report.build(
        "iac",
        found.scanned,
        judged.findings,
        errors,
        rules_run=judged.ran(registry),
        rules_not_applicable=judged.not_applicable(registry),
    )
    print_table(iac_report, knowledge, console)

    console.rule("[bold]4. mlstix benchmark assess (the two reports above)")
    from mlstix.benchmark.demo import print_demo_scorecard

    print_demo_scorecard({"scan models": report, "scan iac": iac_report}, knowledge, console)
    found_keys = [f.vulnerability for f in (*report.findings, *iac_report.findings)]
    key = found_keys[0] if found_keys else knowledge.vulnerabilities[0].key
    console.print(
        f"\nNext: `mlstix kb show {key}` for the first vulnerability above (`mlstix kb list` "
        "shows every key), `--format sarif|stix|html` for reports, "
        "`mlstix benchmark show MLCS-7.4` for a control, `mlstix kb site --out site` for the "
        "offline explorer."
    )
