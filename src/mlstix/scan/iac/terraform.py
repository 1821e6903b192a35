"""Terraform configuration (``.tf`` directories) → :class:`Resource`.

HCL is parsed by :mod:`mlstix.scan.iac._hcl` (tree-sitter; the measurements that chose it are
in its docstring) into the value shape of ``terraform show -json``.

Terraform's JSON syntax (``*.tf.json``) is read too. Static evaluation, as far as it is sound
without running Terraform:

- ``var.NAME`` resolves to the variable's literal ``default`` (or a value from
  ``terraform.tfvars`` / ``*.auto.tfvars`` in the root folder, or the caller's argument when the
  folder is a module);
- ``local.NAME`` resolves when the local is itself literal after resolution;
- string interpolations resolve when every part does;
- module calls whose ``source`` is a local folder (``./x``, ``../x``) inside the scanned root are
  followed, with the call's arguments as the module's variables.

Anything else (references to other resources, functions, conditionals) stays an
:class:`~mlstix.scan.iac._values.Expr`: unknown, never guessed.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlstix.scan.iac._hcl import TopBlock, parse_attributes, parse_blocks
from mlstix.scan.iac._values import Expr, LineIndex
from mlstix.scan.iac.resource import Resource

__all__ = ["TerraformDir", "evaluate_root", "load_dir", "provider_of"]

_WHOLE = re.compile(r"^\$\{(.*)\}$", re.S)
_INTERP = re.compile(r"\$\{([^{}]*)\}")
_REF = re.compile(r"^(var|local)\.([A-Za-z_][A-Za-z0-9_-]*)((?:\.[A-Za-z_][A-Za-z0-9_-]*)*)$")
_META_ARGS = frozenset({"source", "version", "providers", "count", "for_each", "depends_on"})
MAX_MODULE_DEPTH = 10
MAX_HCL_BYTES = 16 * 1024 * 1024
_PROVIDERS = {"aws": "aws", "azurerm": "azure", "azuread": "azure", "google": "gcp"}


def provider_of(resource_type: str) -> str:
    prefix = resource_type.split("_", 1)[0]
    return _PROVIDERS.get(prefix, "google" if prefix == "google-beta" else prefix)


@dataclass
class _Block:
    type: str
    name: str
    body: dict[str, Any]
    file: str
    line: int
    data: bool = False


@dataclass
class TerraformDir:
    """The parsed ``.tf`` files of one folder (a Terraform module)."""

    path: Path
    variables: dict[str, Any] = field(default_factory=dict)  # name -> literal default or Expr
    locals: dict[str, Any] = field(default_factory=dict)
    blocks: list[_Block] = field(default_factory=list)
    modules: list[_Block] = field(default_factory=list)  # type = source
    tfvars: dict[str, Any] = field(default_factory=dict)
    errors: list[tuple[str, str]] = field(default_factory=list)
    files: list[tuple[str, str]] = field(default_factory=list)  # (shown path, sha256)


def load_dir(folder: Path, files: list[Path], display: dict[Path, str]) -> TerraformDir:
    """Parse the given ``.tf`` / ``.tfvars`` files of one folder; a bad file is an error entry."""
    out = TerraformDir(path=folder)
    # Terraform's order: terraform.tfvars, then *.auto.tfvars by name; later files win
    for path in sorted(files, key=lambda p: (p.name != "terraform.tfvars", p.name)):
        shown = display.get(path, str(path))
        try:
            if path.stat().st_size > MAX_HCL_BYTES:
                raise ValueError(f"file larger than {MAX_HCL_BYTES} bytes, not scanned")
            raw = path.read_bytes()
            digest = hashlib.sha256(raw).hexdigest()
            text = raw.decode("utf-8-sig")
            if path.suffix == ".tfvars":
                out.tfvars.update(parse_attributes(text))
                out.files.append((shown, digest))
                continue
            blocks = _json_blocks(text) if path.name.endswith(".tf.json") else parse_blocks(text)
        except (ValueError, UnicodeDecodeError, OSError, RecursionError) as exc:
            out.errors.append((shown, str(exc) or type(exc).__name__))
            continue
        out.files.append((shown, digest))
        for block in blocks:
            labels = block.labels
            if block.type == "variable" and labels:
                out.variables[labels[0]] = block.body.get("default", Expr(f"${{var.{labels[0]}}}"))
            elif block.type == "locals":
                out.locals.update(block.body)
            elif block.type in ("resource", "data") and len(labels) == 2:
                out.blocks.append(
                    _Block(
                        labels[0], labels[1], block.body, shown, block.line, block.type == "data"
                    )
                )
            elif block.type == "module" and labels:
                out.modules.append(_Block("module", labels[0], block.body, shown, block.line))
    return out


def _json_blocks(text: str) -> list[TopBlock]:
    """Top-level blocks of a ``.tf.json`` file (Terraform's JSON configuration syntax)."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"JSON syntax error: {exc}") from None
    if not isinstance(doc, dict):
        raise ValueError("a .tf.json file must hold a JSON object")
    index = LineIndex(text)
    out: list[TopBlock] = []
    cursor = 0

    def line_of(*keys: str) -> int:
        nonlocal cursor
        for key in keys:
            m = re.compile(re.escape(json.dumps(key)) + r"\s*:").search(text, cursor)
            if m:
                cursor = m.end()
        return index.line_of(cursor)

    def bodies(value: Any) -> list[dict[str, Any]]:
        items = value if isinstance(value, list) else [value]
        return [v for v in items if isinstance(v, dict)]

    for kind, content in doc.items():
        for group in bodies(content):
            if kind in ("resource", "data"):
                for rtype, named in group.items():
                    for named_group in bodies(named):
                        for name, body in named_group.items():
                            for b in bodies(body):
                                out.append(TopBlock(kind, (rtype, name), b, line_of(rtype, name)))
            elif kind in ("variable", "module"):
                for name, body in group.items():
                    for b in bodies(body):
                        out.append(TopBlock(kind, (name,), b, line_of(name)))
            elif kind == "locals":
                out.append(TopBlock(kind, (), group, line_of(kind)))
    return out


class _Scope:
    """Resolves ``var.*`` and ``local.*`` inside one module instance."""

    def __init__(self, variables: Mapping[str, Any], local_exprs: Mapping[str, Any]) -> None:
        self.variables = variables
        self.local_exprs = local_exprs
        self._locals: dict[str, Any] = {}
        self._resolving: set[str] = set()

    def _local(self, name: str) -> Any:
        if name in self._locals:
            return self._locals[name]
        if name not in self.local_exprs or name in self._resolving:
            return Expr(f"${{local.{name}}}")
        self._resolving.add(name)
        value = self.resolve(self.local_exprs[name])
        self._resolving.discard(name)
        self._locals[name] = value
        return value

    def _ref(self, expr: str) -> Any:
        m = _REF.match(expr.strip())
        if not m:
            return None
        kind, name, rest = m.groups()
        if kind == "var":
            value = self.variables.get(name, Expr(f"${{var.{name}}}"))
        else:
            value = self._local(name)
        for step in filter(None, rest.split(".")):
            if isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict):
                value = value[0]
            if isinstance(value, dict) and step in value:
                value = value[step]
            else:
                return Expr(f"${{{expr}}}")
        return value

    def resolve(self, value: Any, depth: int = 0) -> Any:
        if depth > 64:
            return Expr("${...}")
        if isinstance(value, Expr):
            return value
        if isinstance(value, str):
            if "${" not in value:
                return value
            whole = _WHOLE.match(value)
            if whole and "${" not in whole.group(1):
                found = self._ref(whole.group(1))
                return Expr(value) if found is None else found
            unresolved = False

            def sub(m: re.Match[str]) -> str:
                nonlocal unresolved
                found = self._ref(m.group(1))
                if found is None or isinstance(found, Expr | dict | list):
                    unresolved = True
                    return m.group(0)
                if isinstance(found, bool):
                    return "true" if found else "false"
                return str(found)

            text = _INTERP.sub(sub, value)
            return Expr(text) if unresolved or "${" in text else text
        if isinstance(value, dict):
            return {k: self.resolve(v, depth + 1) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v, depth + 1) for v in value]
        return value


def _local_source(folder: Path, call: _Block, root: Path) -> Path | None:
    source = call.body.get("source")
    if not isinstance(source, str) or not source.startswith(("./", "../")):
        return None
    target = (folder / source).resolve()
    try:
        target.relative_to(root)
    except ValueError:
        return None  # never leave the scanned root
    return target if target.is_dir() else None


def module_targets(tfdir: TerraformDir, root: Path) -> Iterator[Path]:
    for call in tfdir.modules:
        target = _local_source(tfdir.path, call, root)
        if target is not None:
            yield target


def evaluate_root(
    dirs: Mapping[Path, TerraformDir], folder: Path, root: Path, scope: str
) -> list[Resource]:
    """Resources of the root module in ``folder`` and of the local modules it calls."""
    resources: list[Resource] = []
    top = dirs[folder]
    variables = {**top.variables, **{k: v for k, v in top.tfvars.items() if k in top.variables}}
    _evaluate(dirs, folder, variables, "", root, scope, resources, (folder,))
    return resources


def _evaluate(
    dirs: Mapping[Path, TerraformDir],
    folder: Path,
    variables: Mapping[str, Any],
    prefix: str,
    root: Path,
    scope: str,
    out: list[Resource],
    stack: tuple[Path, ...],
) -> None:
    tfdir = dirs[folder]
    ctx = _Scope(variables, tfdir.locals)
    for block in tfdir.blocks:
        out.append(
            Resource(
                provider=provider_of(block.type),
                type=block.type,
                name=block.name,
                attributes=ctx.resolve(block.body),
                file=block.file,
                line=block.line,
                language="terraform",
                scope=scope,
                module=prefix,
                data=block.data,
            )
        )
    if len(stack) > MAX_MODULE_DEPTH:
        return
    for call in tfdir.modules:
        target = _local_source(folder, call, root)
        if target is None or target in stack or target not in dirs:
            continue
        child = dirs[target]
        args = {k: ctx.resolve(v) for k, v in call.body.items() if k not in _META_ARGS}
        child_vars = {**child.variables, **{k: v for k, v in args.items() if k in child.variables}}
        child_prefix = f"{prefix}.module.{call.name}" if prefix else f"module.{call.name}"
        _evaluate(dirs, target, child_vars, child_prefix, root, scope, out, (*stack, target))
