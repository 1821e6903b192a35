"""Terraform configuration (``.tf`` / ``.tf.json`` folders) → parsed modules.

HCL is parsed by :mod:`mlstix.scan.iac._hcl` (tree-sitter) into values and expression trees;
this module reads one folder (a Terraform module) into a :class:`TerraformDir`: variables with
their defaults and types, locals, outputs, resource and data blocks, module calls, and the
``terraform.tfvars`` / ``*.auto.tfvars`` files Terraform loads for a root module. Evaluation
(variables, locals, functions, ``count``/``for_each``, dynamic blocks, module calls) is
:mod:`mlstix.scan.iac._tfmodule`.

Module sources: a local path (``./x``, ``../x``, wherever it points, as Terraform reads it), or a
remote source that ``terraform init`` fetched into ``.terraform/modules`` (read through its
``modules.json``); any other remote source is reported, not skipped silently.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlstix.scan.iac._hcl import HclSyntaxError, Node, TopBlock, parse_blocks, parse_expression
from mlstix.scan.iac._tfoverride import merge_body
from mlstix.scan.iac._values import LineIndex

__all__ = [
    "NO_DEFAULT",
    "TerraformDir",
    "is_tf_file",
    "load_dir",
    "local_source",
    "provider_of",
]

MAX_HCL_BYTES = 16 * 1024 * 1024
_PROVIDERS = {"aws": "aws", "azurerm": "azure", "azuread": "azure", "google": "gcp"}
NO_DEFAULT: Any = Node("unknown", (), "no default")


def provider_of(resource_type: str) -> str:
    prefix = resource_type.split("_", 1)[0]
    return _PROVIDERS.get(prefix, "google" if prefix == "google-beta" else prefix)


def is_tf_file(name: str) -> bool:
    return name.endswith((".tf", ".tf.json", ".auto.tfvars", ".auto.tfvars.json")) or name in (
        "terraform.tfvars",
        "terraform.tfvars.json",
    )


@dataclass
class Block:
    type: str
    name: str
    body: dict[str, Any]
    file: str
    line: int
    data: bool = False


@dataclass
class Variable:
    default: Any  # NO_DEFAULT when the block has none
    type: Any = None  # the type constraint expression, if any
    nullable: bool = True  # false: a null given takes the default (Terraform >= 1.1)


@dataclass
class TerraformDir:
    """The parsed files of one folder (a Terraform module)."""

    path: Path
    shown: str = ""  # the folder as the user sees it
    variables: dict[str, Variable] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    blocks: list[Block] = field(default_factory=list)
    modules: list[Block] = field(default_factory=list)  # type = "module"
    tfvars: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # in load order
    errors: list[tuple[str, str]] = field(default_factory=list)
    files: list[tuple[str, str]] = field(default_factory=list)  # (shown path, sha256)


def is_override(name: str) -> bool:
    """``override.tf``, ``*_override.tf`` (and ``.tf.json``): merged into the other files."""
    stem = name.removesuffix(".json").removesuffix(".tf")
    return name.endswith((".tf", ".tf.json")) and (stem == "override" or stem.endswith("_override"))


def _load_order(path: Path) -> tuple[int, str]:
    # Terraform: terraform.tfvars, terraform.tfvars.json, then *.auto.tfvars(.json) by name;
    # configuration files by name, override files after all the others (by name)
    if path.name.startswith("terraform.tfvars"):
        return (0, path.name)
    return (2 if is_override(path.name) else 1, path.name)


def load_dir(folder: Path, files: list[Path], display: dict[Path, str]) -> TerraformDir:
    """Parse the given files of one folder; a bad file is an error entry, the rest still count."""
    shown_files = [display.get(p, str(p)) for p in files]
    out = TerraformDir(path=folder, shown=str(Path(shown_files[0]).parent) if files else "")
    for path in sorted(files, key=_load_order):
        shown = display.get(path, str(path))
        try:
            if path.stat().st_size > MAX_HCL_BYTES:
                raise ValueError(f"file larger than {MAX_HCL_BYTES} bytes, not scanned")
            raw = path.read_bytes()
            digest = hashlib.sha256(raw).hexdigest()
            text = raw.decode("utf-8-sig")
            if ".tfvars" in path.name:
                out.tfvars.append((shown, _tfvars(text, path.name.endswith(".json"))))
                out.files.append((shown, digest))
                continue
            blocks = _json_blocks(text) if path.name.endswith(".tf.json") else parse_blocks(text)
        except (ValueError, UnicodeDecodeError, OSError, RecursionError) as exc:
            out.errors.append((shown, str(exc) or type(exc).__name__))
            continue
        out.files.append((shown, digest))
        if is_override(path.name):
            merge_overrides(out, blocks, shown)
        else:
            _add_blocks(out, blocks, shown)
    return out


def _add_blocks(out: TerraformDir, blocks: list[TopBlock], shown: str) -> None:
    for block in blocks:
        labels = block.labels
        if block.type == "variable" and labels:
            out.variables[labels[0]] = Variable(
                block.body.get("default", NO_DEFAULT),
                block.body.get("type"),
                block.body.get("nullable") is not False,
            )
        elif block.type == "locals":
            out.locals.update(block.body)
        elif block.type == "output" and labels:
            out.outputs[labels[0]] = block.body.get("value")
        elif block.type in ("resource", "data") and len(labels) == 2:
            out.blocks.append(
                Block(labels[0], labels[1], block.body, shown, block.line, block.type == "data")
            )
        elif block.type == "module" and labels:
            out.modules.append(Block("module", labels[0], block.body, shown, block.line))


def merge_overrides(out: TerraformDir, blocks: list[TopBlock], shown: str) -> None:
    """Merge the blocks of an override file into the module's (see :mod:`._tfoverride`)."""
    for block in blocks:
        labels = block.labels
        if block.type == "locals":
            out.locals.update(block.body)
            continue
        if block.type == "variable" and labels and labels[0] in out.variables:
            var = out.variables[labels[0]]
            nullable = block.body.get("nullable", var.nullable)
            out.variables[labels[0]] = Variable(
                block.body.get("default", var.default),
                block.body.get("type", var.type),
                nullable is not False,
            )
            continue
        if block.type == "output" and labels and labels[0] in out.outputs:
            if "value" in block.body:
                out.outputs[labels[0]] = block.body["value"]
            continue
        base = None
        if block.type in ("resource", "data") and len(labels) == 2:
            data = block.type == "data"
            base = next(
                (b for b in out.blocks if (b.type, b.name, b.data) == (labels[0], labels[1], data)),
                None,
            )
        elif block.type == "module" and labels:
            base = next((m for m in out.modules if m.name == labels[0]), None)
        elif block.type in ("terraform", "provider", "moved", "import", "check", "removed"):
            continue  # nothing the evaluation reads
        if base is not None:
            base.body = merge_body(base.body, block.body)
        else:
            what = " ".join((block.type, *labels))
            out.errors.append((shown, f"line {block.line}: override of {what} has no original"))


def _tfvars(text: str, is_json: bool) -> dict[str, Any]:
    if is_json:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"JSON syntax error: {exc}") from None
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None
        if not isinstance(doc, dict):
            raise ValueError("a .tfvars.json file must hold a JSON object")
        return doc
    from mlstix.scan.iac._hcl import parse_attributes

    return parse_attributes(text)


def _end_of_sequence(text: str, start: int) -> int:
    """Index of the ``}`` closing the ``{`` at ``start`` (braces and quoted strings inside
    counted), or -1."""
    depth, i, quoted = 0, start, False
    while i < len(text):
        c = text[i]
        if quoted:
            if c == "\\":
                i += 1
            elif c == '"':
                quoted = False
        elif c == '"':
            quoted = True
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _hcl_template(text: str) -> str:
    """A JSON string value as an HCL quoted template: literal text escaped, the interpolation
    and directive sequences kept as written (their quotes are not escaped in HCL)."""
    out, i = ['"'], 0
    while i < len(text):
        if text.startswith(("$${", "%%{"), i):
            out.append(text[i : i + 3])  # an escaped sequence stays literal
            i += 3
            continue
        if text.startswith(("${", "%{"), i):
            end = _end_of_sequence(text, i + 1)
            if end < 0:  # never closed: the rest as written, for the parser to refuse
                out.append(text[i:])  # (scanning on from each later "${" would be quadratic)
                break
            out.append(text[i : end + 1])
            i = end + 1
            continue
        out.append(json.dumps(text[i])[1:-1])
        i += 1
    return "".join(out) + '"'


def _templates(value: Any, depth: int = 0) -> Any:
    """Strings of ``.tf.json`` are templates: ``"${var.x}"`` is an expression."""
    if depth > 100:
        raise ValueError("JSON nested too deeply")
    if isinstance(value, str) and ("${" in value or "%{" in value):
        try:
            return parse_expression(_hcl_template(value))
        except HclSyntaxError:
            return Node("unknown", (), value)
    if isinstance(value, dict):
        return {k: _templates(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_templates(v, depth + 1) for v in value]
    return value


def _json_dynamic(body: Any, depth: int = 0) -> Any:
    """JSON syntax's ``"dynamic": {"x": {"for_each": ..., "content": {...}}}`` in the native
    shape (``[{"x": {"for_each": ..., "content": [{...}]}}]``), nested ones too."""
    if depth > 100 or not isinstance(body, dict):
        return body
    out = {}
    for key, value in body.items():
        if key == "dynamic":
            blocks = []
            for group in value if isinstance(value, list) else [value]:
                if not isinstance(group, dict):
                    continue
                for label, spec in group.items():
                    for one in spec if isinstance(spec, list) else [spec]:
                        if not isinstance(one, dict):
                            continue
                        inner = dict(one)
                        content = inner.get("content")
                        contents = content if isinstance(content, list) else [content]
                        inner["content"] = [
                            _json_dynamic(c, depth + 1) for c in contents if isinstance(c, dict)
                        ]
                        blocks.append({label: inner})
            out[key] = blocks
        elif isinstance(value, dict):
            out[key] = _json_dynamic(value, depth + 1)
        elif isinstance(value, list):
            out[key] = [_json_dynamic(v, depth + 1) for v in value]
        else:
            out[key] = value
    return out


def _json_blocks(text: str) -> list[TopBlock]:
    """Top-level blocks of a ``.tf.json`` file (Terraform's JSON configuration syntax)."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"JSON syntax error: {exc}") from None
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
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
        return [_templates(v) for v in items if isinstance(v, dict)]

    for kind, content in doc.items():
        for group in bodies(content):
            if kind in ("resource", "data"):
                for rtype, named in group.items():
                    for named_group in bodies(named):
                        for name, body in named_group.items():
                            for b in bodies(body):
                                b = _json_dynamic(b)
                                out.append(TopBlock(kind, (rtype, name), b, line_of(rtype, name)))
            elif kind in ("variable", "module", "output"):
                for name, body in group.items():
                    for b in bodies(body):
                        out.append(TopBlock(kind, (name,), b, line_of(name)))
            elif kind == "locals":
                out.append(TopBlock(kind, (), group, line_of(kind)))
    return out


def local_source(folder: Path, call: Block) -> Path | None:
    """The folder a local module source (``./x``, ``../x``) names, wherever it is."""
    source = call.body.get("source")
    if not isinstance(source, str) or not source.startswith(("./", "../")):
        return None
    return (folder / source).resolve()
