"""DESIGN.md's layers: ``kb`` imports nothing of ours above it, and ``findings`` only ``kb``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "mlstix"
ABOVE = {
    "kb": ("findings", "scan", "integrity", "taxii", "cli", "assess", "detect", "benchmark"),
    "findings": ("scan", "integrity", "taxii", "cli", "assess", "detect", "benchmark"),
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize("layer", sorted(ABOVE))
def test_no_upward_imports(layer: str) -> None:
    forbidden = tuple(f"mlstix.{name}" for name in ABOVE[layer])
    upward = [
        f"{path.relative_to(SRC)} imports {name}"
        for path in sorted((SRC / layer).rglob("*.py"))
        for name in sorted(_imports(path))
        if name.startswith(forbidden)
    ]
    assert upward == []
