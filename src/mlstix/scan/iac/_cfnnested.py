"""CloudFormation nested stacks in a repository: a template that another scanned template deploys
as an ``AWS::CloudFormation::Stack`` (``TemplateURL``) or a SAM ``AWS::Serverless::Application``
(``Location``) given as a local path, the way ``aws cloudformation package`` and ``sam deploy``
take them before uploading.

Such a child is deployed with the parameter values its parent passes (``Parameters``), not with
its own defaults, and only where the parent's stack resource is created (its ``Condition``): it is
read once per parent stack resource, with those values, and not on its own. A value the parent
passes that is not known (a reference, an unresolved intrinsic) stays unknown in the child, where
its ``Default`` would otherwise have been taken; a parameter the parent leaves out takes the
child's ``Default``. Each instance has its own scope (``child.yaml<parent.yaml#Stack``), so its
references resolve inside it, and its resources are named after the stack resource that deploys
them (``Research/Notebook``), so two instances of one child get a finding each. Remote
``TemplateURL``s (``https://``, ``s3://``) are not read. Nesting is followed
:data:`MAX_NESTING` levels and :data:`MAX_INSTANCES` instances in all (an errors entry past
either); a cycle is cut.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from mlstix.scan.iac._values import Expr, is_unknown
from mlstix.scan.iac.resource import Resource

__all__ = ["MAX_NESTING", "nested_stacks"]

MAX_NESTING = 8
MAX_INSTANCES = 2000  # nested stack instances in one scan (a fan-out chain multiplies them)
_STACKS = {"AWS::CloudFormation::Stack": "TemplateURL", "AWS::Serverless::Application": "Location"}

# (path, shown, parameters) -> the child's resources, or an error message
Parse = Callable[[Path, str, tuple[tuple[str, str], ...]], "tuple[Resource, ...] | str"]


def _local(url: Any) -> str | None:
    if not isinstance(url, str) or is_unknown(url) or not url.strip():
        return None
    if "://" in url or url.startswith(("s3:", "{")):
        return None
    return url.strip()


def _parameters(value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, Mapping):
        return ()
    out: list[tuple[str, str]] = []
    for name, v in value.items():
        if isinstance(v, bool):
            out.append((str(name), "true" if v else "false"))
        elif isinstance(v, str | int | float):
            out.append((str(name), v if isinstance(v, str) else str(v)))
        else:
            out.append((str(name), Expr(str(v))))  # not known: the child's Default does not apply
    return tuple(out)


def nested_stacks(
    templates: Mapping[Path, tuple[str, tuple[Resource, ...]]], parse: Parse
) -> tuple[set[Path], list[Resource], list[tuple[str, str]]]:
    """For the parsed CloudFormation ``templates`` (resolved path → shown path, resources): the
    templates deployed as children of another (read only through it), their resources as each
    parent deploys them, and errors (shown path, message)."""
    children: set[Path] = set()
    out: list[Resource] = []
    errors: list[tuple[str, str]] = []

    def stacks(resources: Iterable[Resource], folder: Path) -> list[tuple[Resource, Path]]:
        found = []
        for r in resources:
            url = _local(r.attributes.get(_STACKS.get(r.type, ""))) if r.type in _STACKS else None
            if url is not None:
                target = (folder / url).resolve()
                if target in templates:
                    found.append((r, target))
        return found

    for path, (_shown, resources) in templates.items():
        for _stack, target in stacks(resources, path.parent):
            if target != path:
                children.add(target)

    count = [0]

    def instantiate(stack: Resource, target: Path, chain: tuple[Path, ...]) -> None:
        shown = templates[target][0]
        if target in chain or len(chain) > MAX_NESTING:
            errors.append((shown, f"nested stack {stack.name}: nesting cycle or too deep"))
            return
        count[0] += 1
        if count[0] > MAX_INSTANCES:
            if count[0] == MAX_INSTANCES + 1:
                errors.append((shown, f"more than {MAX_INSTANCES} nested stack instances"))
            return
        parsed = parse(target, shown, _parameters(stack.attributes.get("Parameters")))
        if isinstance(parsed, str):
            errors.append((shown, parsed))
            return
        scope = f"{shown}<{stack.scope}#{stack.name}"
        # named after the stack that deploys it (references resolve by the last segment)
        inner = [replace(r, scope=scope, name=f"{stack.name}/{r.name}") for r in parsed]
        out.extend(inner)
        for child_stack, grandchild in stacks(inner, target.parent):
            instantiate(child_stack, grandchild, (*chain, target))

    for path, (_shown, resources) in sorted(templates.items()):
        if path in children:
            continue  # deployed by its parent: read there
        for stack, target in stacks(resources, path.parent):
            instantiate(stack, target, (path,))
    return children, out, errors
