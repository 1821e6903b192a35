"""Terraform override files (``override.tf``, ``*_override.tf`` and their ``.tf.json`` forms):
how one block of an override file merges into the block of the same type and labels.

Terraform language documentation, "Override Files": override files are loaded after every other
file of the module, in lexical order. Within a top-level block an argument of the override
replaces the original's; a nested block type in the override replaces every block of that type in
the original (their contents are not merged), and a ``dynamic "x"`` block counts as a block of
type ``x``; the ``lifecycle`` block of a resource merges argument by argument. ``locals`` merge
by name, ``variable`` and ``output`` blocks argument by argument. An override block without an
original is an error (Terraform: "Missing base ... for override").

Bodies are in the shape :mod:`mlstix.scan.iac._hcl` gives: arguments by name, nested blocks as a
list of bodies under their type, dynamic blocks as ``{"dynamic": [{"x": body}]}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["merge_body"]


def _is_blocks(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)


def _dynamics(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The ``dynamic`` blocks of a body (an attribute named so that is not a block: none)."""
    value = body.get("dynamic")
    return [e for e in value if isinstance(e, Mapping)] if isinstance(value, list) else []


def _dynamic_labels(body: Mapping[str, Any]) -> set[str]:
    return {str(label) for entry in _dynamics(body) for label in entry}


def _without_dynamic(body: dict[str, Any], labels: set[str]) -> None:
    if not _is_blocks(body.get("dynamic")):
        return
    kept = [e for e in _dynamics(body) if not set(e) & labels]
    if kept:
        body["dynamic"] = kept
    else:
        body.pop("dynamic", None)


def merge_body(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``override`` merged in, as Terraform merges a top-level block."""
    out = dict(base)
    labels = _dynamic_labels(override)  # block types the override makes dynamic
    replaced = {k for k, v in override.items() if k != "dynamic" and _is_blocks(v)}
    for label in labels:
        out.pop(label, None)  # the original's static blocks of those types
    _without_dynamic(out, replaced | labels)  # the original's dynamic blocks of redefined types
    for key, value in override.items():
        if key == "dynamic" and _is_blocks(value):
            continue
        if key == "lifecycle" and _is_blocks(value) and _is_blocks(out.get(key)):
            merged = dict(out[key][0])
            for v in value:
                merged.update(v)
            out[key] = [merged]
            continue
        out[key] = value
    if labels:
        out["dynamic"] = [*_dynamics(out), *_dynamics(override)]
    return out
