"""Writing a module's files for a test: the IaC tests build their Terraform and templates in
``tmp_path`` from a mapping of relative name to text."""

from __future__ import annotations

from pathlib import Path


def write_tree(root: Path, files: dict[str, str]) -> Path:
    """Write each ``name: text`` under ``root`` (folders made as needed); returns ``root``."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root
