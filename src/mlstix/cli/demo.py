"""``mlstix demo``: the main job on a bundled example (what ``make demo`` runs)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click
from rich.table import Table

from mlstix.cli._console import console
from mlstix.kb.load import load_kb

__all__ = ["demo"]


@click.command()
def demo() -> None:
    """Build the knowledge base into a temporary folder, validate it, and summarize it."""
    from mlstix.kb.build import write_tree
    from mlstix.kb.compile import BUNDLE_FILES
    from mlstix.kb.render.markdown import category_title
    from mlstix.kb.validate import validate_path

    knowledge = load_kb()
    with tempfile.TemporaryDirectory(prefix="mlstix-demo-") as tmp:
        out = Path(tmp)
        written = write_tree(knowledge, out)
        console.rule("[bold]mlstix knowledge base")
        console.print(f"built {len(written)} files (STIX bundles, diagram, reference pages)")
        for name in BUNDLE_FILES:
            problems = validate_path(out / "stix" / name)
            count = len(problems)
            size = (out / "stix" / name).stat().st_size
            verdict = "[green]valid[/]" if not count else f"[red]{count} problems[/]"
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
