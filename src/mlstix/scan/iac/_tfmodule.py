"""Evaluate a Terraform root module and the modules it calls, the way Terraform plans them.

- Variables: the ``default`` (``null`` is null: the attribute is then unset), then
  ``TF_VAR_name`` environment values, ``terraform.tfvars``, ``*.auto.tfvars`` by name,
  ``--var-file`` files in order, ``--var`` values; a variable with none of these is unknown; a
  ``null`` given to a ``nullable = false`` variable takes its default.
  Type constraints convert primitives and fill ``optional(type, default)`` attributes.
- Locals, outputs of called modules (``module.x.y``), ``each``/``count``, ``path``,
  ``terraform.workspace`` (``default``) resolve, and so do the configured arguments of
  resources of the same module; what a provider computes and data sources stay unknown,
  rendered with their evaluated index (``${aws_s3_bucket.b["logs"].arn}``).
- ``count`` and ``for_each`` expand into instances with their own address and key; a ``count``
  or ``for_each`` that cannot be known gives one instance whose ``count.index``/``each`` are
  unknown. ``dynamic`` blocks expand into the blocks they produce (one block with unknown
  iterator values when their ``for_each`` is unknown: the block is present).
- Module calls are followed through local paths and ``.terraform/modules/modules.json``;
  anything else is an error entry naming the module's address.

Bounds: :data:`MAX_INSTANCES` per block, :data:`MAX_MODULE_DEPTH` levels of modules, and the
evaluator's step budget.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from mlstix.scan.iac._hcl import Node
from mlstix.scan.iac._tfeval import RESOURCES, STEP_BUDGET, Evaluator, Lazy
from mlstix.scan.iac._tffiles import file_functions, yamldecode
from mlstix.scan.iac._tffuncs import FUNCTIONS
from mlstix.scan.iac._tfsets import MORE_FUNCTIONS
from mlstix.scan.iac._tftypes import (
    EvalError,
    LimitError,
    cli_value,
    to_number,
    to_string,
    typed,
    unknown,
)
from mlstix.scan.iac._values import Expr
from mlstix.scan.iac.resource import Resource
from mlstix.scan.iac.terraform import NO_DEFAULT, Block, TerraformDir, local_source, provider_of

__all__ = ["MAX_INSTANCES", "MAX_MODULE_DEPTH", "Options", "RootEvaluation"]

MAX_INSTANCES = 10_000
MAX_MODULE_DEPTH = 10
_META = frozenset(
    {"count", "for_each", "depends_on", "provider", "lifecycle", "provisioner", "connection"}
)
_CALL_META = frozenset({"source", "version", "providers", "count", "for_each", "depends_on"})

Loader = Callable[[Path, str], "TerraformDir | None"]


class Options:
    """Values given on the command line: Terraform ``--var-file`` contents and ``--var
    NAME=VALUE``, CloudFormation ``--parameter KEY=VALUE``."""

    def __init__(
        self,
        var_files: tuple[tuple[str, dict[str, Any]], ...] = (),
        variables: tuple[tuple[str, str], ...] = (),
        parameters: tuple[tuple[str, str], ...] = (),
        environment: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.var_files = var_files
        self.variables = variables
        self.parameters = parameters
        self.environment = environment  # TF_VAR_name values, weakest of all


class RootEvaluation:
    """One root module's evaluation: its resources and the problems met on the way."""

    def __init__(self, loader: Loader, scope: str) -> None:
        self.loader = loader
        self.scope = scope
        self.errors: list[tuple[str, str]] = []
        self.ev = Evaluator(FUNCTIONS, [STEP_BUDGET])
        self.folders: set[Path] = set()  # module folders evaluated: file() reads below them
        self._error_seen: set[tuple[str, str]] = set()
        self.root_shown = "."
        self.root = Path()

    def error(self, path: str, message: str) -> None:
        if (path, message) not in self._error_seen:
            self._error_seen.add((path, message))
            self.errors.append((path, message))

    def run(self, tfdir: TerraformDir, options: Options) -> list[Resource]:
        self.root_shown = tfdir.shown or "."
        self.root = tfdir.path
        self.folders.add(tfdir.path)
        files = file_functions(
            tfdir.path, lambda: tuple(self.folders), lambda node, roots: self.ev.value(node, roots)
        )
        functions = {**FUNCTIONS, **MORE_FUNCTIONS, **files, "yamldecode": yamldecode}
        self.ev = Evaluator(functions, [STEP_BUDGET])
        values: dict[str, Any] = {}
        for name, text in options.environment:
            if name in tfdir.variables:
                values[name] = cli_value(text, tfdir.variables[name].type)
        for _shown, assigned in (*tfdir.tfvars, *options.var_files):
            for name, raw in assigned.items():
                if name in tfdir.variables:
                    values[name] = self.attr(raw, {})
        for name, text in options.variables:
            if name in tfdir.variables:
                values[name] = cli_value(text, tfdir.variables[name].type)
        top = _Instance(self, tfdir, self.variables(tfdir, values), "", (tfdir.path,))
        out: list[Resource] = []
        top.emit(out)
        return out

    def variables(self, tfdir: TerraformDir, given: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, var in tfdir.variables.items():
            if name in given and not (
                given[name] is None and not var.nullable and var.default is not NO_DEFAULT
            ):
                value = given[name]  # (null given to a non-nullable variable: its default)
            elif var.default is NO_DEFAULT:
                value = Expr("${var." + name + "}")
            else:
                value = self.attr(var.default, {})
            out[name] = typed(value, var.type) if var.type is not None else value
        return out

    def attr(self, value: Any, roots: Mapping[str, Any]) -> Any:
        """Evaluate an attribute value; an expression Terraform would refuse is unknown."""
        if isinstance(value, Node):
            try:
                return self.ev.node(value, roots)
            except RecursionError:
                return unknown(value.src)
            except LimitError as exc:
                if self.ev.budget[0] < 0:
                    message = (
                        f"{exc} ({STEP_BUDGET} steps): the values not yet evaluated are unknown"
                    )
                else:
                    message = f"{exc}: {value.src[:80]} is left unknown"
                self.error(self.root_shown, message)
                return unknown(value.src)
            except EvalError:
                return unknown(value.src)
        if isinstance(value, dict):
            return {k: self.attr(v, roots) for k, v in value.items()}
        if isinstance(value, list):
            return [self.attr(v, roots) for v in value]
        return value


class _Instance:
    """One instance of one module: its variables, lazily evaluated locals and child modules."""

    def __init__(
        self,
        run: RootEvaluation,
        tfdir: TerraformDir,
        variables: dict[str, Any],
        prefix: str,
        stack: tuple[Path, ...],
    ) -> None:
        self.run = run
        self.dir = tfdir
        self.prefix = prefix
        self.stack = stack
        self._locals: dict[str, Any] = {}
        self._resolving: set[str] = set()
        self._children: dict[str, list[tuple[Any, _Instance]] | Expr] = {}
        self._resources: dict[tuple[str, str], Any] = {}
        self._reading: set[tuple[str, str, Any, str]] = set()
        self.roots: dict[str, Any] = {
            "var": variables,
            "local": Lazy(self._local, "local"),
            "module": Lazy(self._module, "module"),
            "path": {"module": _relative(tfdir.path, run.root), "root": ".", "cwd": "."},
            "terraform": {"workspace": "default"},
            RESOURCES: self._resource,
        }

    def _local(self, name: str) -> Any:
        if name in self._locals:
            return self._locals[name]
        if name not in self.dir.locals:
            raise EvalError(f"no local {name!r}")
        if name in self._resolving:
            raise EvalError(f"local {name!r} refers to itself")
        self._resolving.add(name)
        try:
            value = self.run.attr(self.dir.locals[name], self.roots)
        finally:
            self._resolving.discard(name)
        self._locals[name] = value
        return value

    def _module(self, name: str) -> Any:
        call = next((c for c in self.dir.modules if c.name == name), None)
        if call is None:
            raise EvalError(f"no module {name!r}")
        children = self.children(call)
        if isinstance(children, Expr):
            return children
        outputs = {key: Lazy(child.output, f"module.{name}") for key, child in children}
        if "count" in call.body:
            return [outputs[k] for k, _ in children]
        if "for_each" in call.body:
            return outputs
        return outputs.get(None, Expr("${module." + name + "}"))

    def _resource(self, rtype: str, name: str) -> Any:
        """A reference ``type.name`` to a resource of this module: its instances, whose
        configured arguments are known at plan; what the provider computes (``arn``, ``id``)
        stays unknown, written as the reference."""
        if (rtype, name) in self._resources:
            return self._resources[(rtype, name)]
        block = next(
            (b for b in self.dir.blocks if not b.data and b.type == rtype and b.name == name), None
        )
        if block is None:
            return None
        self._resources[(rtype, name)] = None  # while resolving: a self-reference stays unknown
        found: list[tuple[Any, Lazy]] = []
        for key, roots in self.instances(block):
            index = (
                ""
                if key is None
                else f"[{key}]"
                if isinstance(key, int)
                else ("[" + json.dumps(key) + "]")
            )
            found.append((key, Lazy(self._argument(block, key, roots, index), f"{rtype}.{name}")))
        value: Any = dict(found) if "for_each" in block.body else [lazy for _, lazy in found]
        if "count" not in block.body and "for_each" not in block.body:
            value = found[0][1]
        elif any(key is None for key, _ in found):
            value = None  # count/for_each not known: instances not known either
        self._resources[(rtype, name)] = value
        return value

    def _argument(self, block: Block, key: Any, roots: Mapping[str, Any], index: str) -> Any:
        def get(attr: str) -> Any:
            mark = (block.type, block.name, key, attr)
            if attr in _META or attr not in block.body or mark in self._reading:
                return Expr("${" + f"{block.type}.{block.name}{index}.{attr}" + "}")
            self._reading.add(mark)
            try:
                value = self.body({attr: block.body[attr]}, roots).get(attr)
            finally:
                self._reading.discard(mark)
            # null in the configuration: the provider may compute it, so unknown at plan
            return (
                Expr("${" + f"{block.type}.{block.name}{index}.{attr}" + "}")
                if (value is None)
                else value
            )

        return get

    def output(self, name: str) -> Any:
        if name not in self.dir.outputs:
            raise EvalError(f"no output {name!r}")
        return self.run.attr(self.dir.outputs[name], self.roots)

    # -- instances, bodies ---------------------------------------------------------------------

    def instances(self, block: Block) -> Iterator[tuple[Any, dict[str, Any]]]:
        body = block.body
        if "count" in body:
            n = self.run.attr(body["count"], self.roots)
            if isinstance(n, Expr) or n is None:
                yield None, {**self.roots, "count": {"index": Expr("${count.index}")}}
                return
            try:
                count = int(to_number(n))
            except (EvalError, ValueError, OverflowError):
                yield None, {**self.roots, "count": {"index": Expr("${count.index}")}}
                return
            if count > MAX_INSTANCES:
                self.run.error(
                    block.file,
                    f"{self._address(block)}: count {count} is over "
                    f"{MAX_INSTANCES}; only the first {MAX_INSTANCES} are scanned",
                )
                count = MAX_INSTANCES
            for i in range(max(count, 0)):
                yield i, {**self.roots, "count": {"index": i}}
            return
        if "for_each" in body:
            items = self.run.attr(body["for_each"], self.roots)
            pairs: list[tuple[Any, Any]]
            if isinstance(items, dict):
                pairs = sorted(items.items())
            elif isinstance(items, list) and not any(
                isinstance(i, Expr | list | dict) or i is None for i in items
            ):
                pairs = [(to_string(i), i) for i in items]
            elif items is None:
                pairs = []
            else:
                unknown_each = {"key": Expr("${each.key}"), "value": Expr("${each.value}")}
                yield None, {**self.roots, "each": unknown_each}
                return
            if len(pairs) > MAX_INSTANCES:
                self.run.error(
                    block.file,
                    f"{self._address(block)}: for_each has over "
                    f"{MAX_INSTANCES} elements; only the first are scanned",
                )
            for key, value in pairs[:MAX_INSTANCES]:
                yield key, {**self.roots, "each": {"key": key, "value": value}}
            return
        yield None, self.roots

    def _address(self, block: Block) -> str:
        local = f"{'data.' if block.data else ''}{block.type}.{block.name}"
        if block.type == "module":
            local = f"module.{block.name}"
        return f"{self.prefix}.{local}" if self.prefix else local

    def body(self, body: Mapping[str, Any], roots: Mapping[str, Any], top: bool = False) -> Any:
        out: dict[str, Any] = {}
        for key, value in body.items():
            if top and key in _META:
                continue
            if key == "dynamic" and isinstance(value, list):
                for item in value:
                    for label, spec in item.items() if isinstance(item, dict) else ():
                        blocks = self._dynamic(label, spec, roots)
                        if blocks:  # no block produced: as if none were written
                            out.setdefault(label, []).extend(blocks)
                continue
            if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                out.setdefault(key, []).extend(self.body(v, roots) for v in value)
                continue
            result = self.run.attr(value, roots)
            if result is not None:  # null: the argument is unset
                out[key] = result
        return out

    def _dynamic(self, label: str, spec: Mapping[str, Any], roots: Mapping[str, Any]) -> list[Any]:
        iterator = spec.get("iterator")
        name = iterator.args[0] if isinstance(iterator, Node) and iterator.kind == "var" else label
        if isinstance(iterator, str) and iterator.isidentifier():
            name = iterator  # JSON syntax: the iterator's name as a string
        contents = spec.get("content")
        content = contents[0] if isinstance(contents, list) and contents else {}
        items = self.run.attr(spec.get("for_each"), roots)
        if isinstance(items, dict):
            pairs: list[tuple[Any, Any]] = sorted(items.items())
        elif isinstance(items, list):
            pairs = list(enumerate(items))
        elif items is None:
            return []
        else:  # unknown: the block is there, its iterator values are not known
            each = {"key": Expr("${" + name + ".key}"), "value": Expr("${" + name + ".value}")}
            return [self.body(content, {**roots, name: each})]
        return [
            self.body(content, {**roots, name: {"key": k, "value": v}})
            for k, v in pairs[:MAX_INSTANCES]
        ]

    # -- modules -------------------------------------------------------------------------------

    def children(self, call: Block) -> list[tuple[Any, _Instance]] | Expr:
        if call.name in self._children:
            return self._children[call.name]
        self._children[call.name] = Expr("${module." + call.name + "}")  # while resolving
        target = self._target(call)
        found: list[tuple[Any, _Instance]] | Expr = Expr("${module." + call.name + "}")
        if target is not None:
            found = []
            for key, roots in self.instances(call):
                args = {
                    k: self.run.attr(v, roots)
                    for k, v in call.body.items()
                    if k not in _CALL_META and k in target.variables
                }
                index = (
                    ""
                    if key is None
                    else f"[{key}]"
                    if isinstance(key, int)
                    else ("[" + json.dumps(key) + "]")
                )
                prefix = self._address(call) + index
                child_vars = self.run.variables(target, args)
                found.append(
                    (
                        key,
                        _Instance(self.run, target, child_vars, prefix, (*self.stack, target.path)),
                    )
                )
        self._children[call.name] = found
        return found

    def _target(self, call: Block) -> TerraformDir | None:
        address = self._address(call)
        source = call.body.get("source")
        if not isinstance(source, str):
            self.run.error(call.file, f"{address}: module source is not a literal string")
            return None
        if len(self.stack) > MAX_MODULE_DEPTH:
            self.run.error(call.file, f"{address}: modules nested deeper than {MAX_MODULE_DEPTH}")
            return None
        folder = local_source(self.dir.path, call)
        if folder is not None:
            shown = os.path.normpath(Path(self.dir.shown or ".") / source)
        else:
            folder, shown = self._installed(call, address)
        if folder is None:
            self.run.error(
                call.file,
                f"{address}: module source {source!r} is not on disk (run `terraform init` so "
                "it is in .terraform/modules, or scan `terraform show -json` output); "
                "its resources were not scanned",
            )
            return None
        if folder in self.stack:
            self.run.error(call.file, f"{address}: module calls itself")
            return None
        target = self.run.loader(folder, shown)
        if target is not None:
            self.run.folders.add(target.path)
        if target is None:
            self.run.error(call.file, f"{address}: module folder {shown} does not exist")
        return target

    def _installed(self, call: Block, address: str) -> tuple[Path | None, str]:
        """A remote module that ``terraform init`` put under the root's ``.terraform``."""
        root = self.stack[0]
        manifest = root / ".terraform" / "modules" / "modules.json"
        key = ".".join(
            part.split("[", 1)[0].removeprefix("module.") for part in address.split(".module.")
        )
        try:
            entries = json.loads(manifest.read_text(encoding="utf-8")).get("Modules") or []
        except (OSError, ValueError, AttributeError, RecursionError):
            return None, ""
        for entry in entries:
            if (
                isinstance(entry, dict)
                and entry.get("Key") == key
                and isinstance(entry.get("Dir"), str)
            ):
                folder = (root / entry["Dir"]).resolve()
                if folder.is_relative_to((root / ".terraform").resolve()):
                    shown = os.path.normpath(Path(self.run.root_shown) / entry["Dir"])
                    return folder, shown
        return None, ""

    def emit(self, out: list[Resource]) -> None:
        for block in self.dir.blocks:
            for key, roots in self.instances(block):
                out.append(
                    Resource(
                        provider=provider_of(block.type),
                        type=block.type,
                        name=block.name,
                        attributes=self.body(block.body, roots, top=True),
                        file=block.file,
                        line=block.line,
                        language="terraform",
                        scope=self.run.scope,
                        module=self.prefix,
                        data=block.data,
                        key=key,
                    )
                )
        for call in self.dir.modules:
            children = self.children(call)
            if isinstance(children, list):
                for _, child in children:
                    child.emit(out)


def _relative(folder: Path, root: Path) -> str:
    """``path.module``: the module's folder relative to the root module's, as Terraform gives it."""
    return os.path.relpath(folder, root) if folder != root else "."
