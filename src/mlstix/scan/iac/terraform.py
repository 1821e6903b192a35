"""Terraform configuration (``.tf`` directories) → :class:`Resource`.

HCL is parsed with ``bc-python-hcl2`` (chosen by measurement: on a 357-line file it parses in
~16 ms against ~48 ms warm / 1.6 s cold for ``python-hcl2`` 8.x; see benchmarks/scan_iac.py and
the issue note). Its output wraps every attribute in a one-element list and every nested block
in a list of bodies; :func:`_body` reduces that to the shape of ``terraform show -json``.

Static evaluation, as far as it is sound without running Terraform:

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

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlstix.scan.iac._values import Expr
from mlstix.scan.iac.resource import Resource

__all__ = ["TerraformDir", "evaluate_root", "load_dir", "provider_of"]

_WHOLE = re.compile(r"^\$\{(.*)\}$", re.S)
_INTERP = re.compile(r"\$\{([^{}]*)\}")
_REF = re.compile(r"^(var|local)\.([A-Za-z_][A-Za-z0-9_-]*)((?:\.[A-Za-z_][A-Za-z0-9_-]*)*)$")
_META_ARGS = frozenset({"source", "version", "providers", "count", "for_each", "depends_on"})
MAX_MODULE_DEPTH = 10
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
    files: list[str] = field(default_factory=list)


_ESCAPE = re.compile(r'\\(["\\nrt]|u[0-9a-fA-F]{4})')
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "r": "\r", "t": "\t"}


def _unescape(value: Any) -> Any:
    """HCL string escapes (the parser keeps them as written)."""
    if isinstance(value, str) and "\\" in value:
        return _ESCAPE.sub(
            lambda m: _ESCAPES.get(m.group(1)) or chr(int(m.group(1)[1:], 16)), value
        )
    if isinstance(value, list):
        return [_unescape(v) for v in value]
    return value


def _body(raw: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key.startswith("__") and key.endswith("__"):
            continue
        if isinstance(value, list) and len(value) == 1 and not isinstance(value[0], dict):
            out[key] = _unescape(value[0])
        elif isinstance(value, list) and value and all(isinstance(x, dict) for x in value):
            out[key] = [_body(x) for x in value]
        else:
            out[key] = value
    return out


def _parse_file(path: Path) -> dict[str, Any]:
    import hcl2
    from lark.exceptions import LarkError

    text = path.read_text(encoding="utf-8")
    try:
        parsed: dict[str, Any] = hcl2.loads(text)  # type: ignore[attr-defined]
    except LarkError as exc:
        raise ValueError(f"HCL syntax error: {str(exc).splitlines()[0]}") from None
    except RecursionError:
        raise ValueError("HCL nesting too deep") from None
    return parsed


def load_dir(folder: Path, files: list[Path], display: dict[Path, str]) -> TerraformDir:
    """Parse the given ``.tf`` / ``.tfvars`` files of one folder; a bad file is an error entry."""
    out = TerraformDir(path=folder)
    for path in sorted(files):
        shown = display.get(path, str(path))
        try:
            doc = _parse_file(path)
        except (ValueError, UnicodeDecodeError, OSError) as exc:
            out.errors.append((shown, str(exc)))
            continue
        out.files.append(shown)
        if path.suffix == ".tfvars":
            out.tfvars.update(_body(doc))
            continue
        for var in doc.get("variable", []):
            for name, body in var.items():
                out.variables[name] = _body(body).get("default", Expr(f"${{var.{name}}}"))
        for loc in doc.get("locals", []):
            out.locals.update(_body(loc))
        for mode in ("resource", "data"):
            for group in doc.get(mode, []):
                for rtype, named in group.items():
                    for name, body in named.items():
                        line = int(body.get("__start_line__", 1))
                        out.blocks.append(
                            _Block(rtype, name, _body(body), shown, line, mode == "data")
                        )
        for mod in doc.get("module", []):
            for name, body in mod.items():
                line = int(body.get("__start_line__", 1))
                out.modules.append(_Block("module", name, _body(body), shown, line))
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
