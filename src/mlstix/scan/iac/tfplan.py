"""Terraform plan and state JSON (``terraform show -json``) → :class:`Resource`.

Format: https://developer.hashicorp.com/terraform/internals/json-format. Values under
``planned_values`` (plan) or ``values`` (state) are resolved by Terraform itself, provider
defaults included. An attribute listed in ``resource_changes[].change.after_unknown`` is only
known after apply: it becomes an :class:`Expr` carrying the configuration's references, so rules
that look for a reference (say, a KMS key) still see one; inside nested blocks and lists
(``"data_capture_config": [{"kms_key_id": true}]``) it becomes an :class:`Expr` too. ``null``
means "not set". Data sources (``"mode": "data"``, read during plan or deferred to apply)
keep their ``data`` flag: rules never judge them (:class:`~mlstix.scan.rules.iac.Context`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from mlstix.scan.iac._values import Expr, LineIndex
from mlstix.scan.iac.resource import ParsedFile, Resource
from mlstix.scan.iac.terraform import provider_of

__all__ = ["PlanParser", "is_plan"]


def is_plan(doc: Any) -> bool:
    return (
        isinstance(doc, dict)
        and "format_version" in doc
        and isinstance(doc.get("planned_values", doc.get("values")), dict)
    )


def _modules(module: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield module
    for child in module.get("child_modules") or []:
        if isinstance(child, dict):
            yield from _modules(child)


def _config_refs(config: Mapping[str, Any], prefix: str = "") -> dict[str, dict[str, str]]:
    """address (without index) → attribute → first reference, from ``configuration``."""
    out: dict[str, dict[str, str]] = {}
    for res in config.get("resources") or []:
        refs = {}
        for attr, expr in (res.get("expressions") or {}).items():
            if isinstance(expr, dict) and expr.get("references"):
                refs[attr] = str(expr["references"][-1])
        out[f"{prefix}{res.get('address', '')}"] = refs
    for name, call in (config.get("module_calls") or {}).items():
        inner = call.get("module") or {}
        out.update(_config_refs(inner, f"{prefix}module.{name}."))
    return out


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def _mark_unknown(values: Any, unknown: Any, depth: int = 0) -> Any:
    """``values`` with what ``after_unknown`` flags (at any depth: inside nested blocks and
    lists too) as unknown :class:`Expr` values."""
    if unknown is True:
        return values if isinstance(values, Expr) else Expr("${known after apply}")
    if depth > 64:
        return values
    if isinstance(unknown, dict) and isinstance(values, dict):
        out = dict(values)
        for k, flag in unknown.items():
            if flag is True or k in out:
                out[k] = _mark_unknown(out.get(k), flag, depth + 1)
        return out
    if isinstance(unknown, list) and isinstance(values, list):
        out_list = list(values)
        for i, flag in enumerate(unknown):
            if i < len(out_list):
                out_list[i] = _mark_unknown(out_list[i], flag, depth + 1)
            elif flag is True:
                out_list.append(Expr("${known after apply}"))
        return out_list
    return values


def _is_data(res: Mapping[str, Any], address: str, module: str) -> bool:
    """A data source (``mode: "data"``): a read of something managed elsewhere. Without a
    ``mode`` (hand-trimmed JSON), the address tells: ``[module.x.]data.TYPE.NAME``."""
    mode = res.get("mode")
    if isinstance(mode, str):
        return mode == "data"
    local = address[len(module) + 1 :] if module and address.startswith(module + ".") else address
    return local.startswith("data.")


def _key(index: Any) -> str | int | None:
    if isinstance(index, bool) or not isinstance(index, str | int):
        return None
    return index


class PlanParser:
    kind = "terraform-plan"

    def parse(self, document: Any, text: str, path: str) -> ParsedFile:
        root = document.get("planned_values", document.get("values")) or {}
        changes = {
            rc.get("address"): rc.get("change") or {}
            for rc in document.get("resource_changes") or []
            if isinstance(rc, dict)
        }
        refs = _config_refs((document.get("configuration") or {}).get("root_module") or {})
        index = LineIndex(text)
        out = []
        for module in _modules(root.get("root_module") or {}):
            for res in module.get("resources") or []:
                if not isinstance(res, dict) or "type" not in res:
                    continue
                address = str(res.get("address", ""))
                values = _drop_nulls(dict(res.get("values") or {}))
                unknown = (changes.get(address) or {}).get("after_unknown") or {}
                base = re.sub(r"\[[^\]]*\]", "", address)
                config = refs.get(base, {})
                for attr, flag in unknown.items() if isinstance(unknown, dict) else ():
                    if flag is True and attr not in values:
                        ref = config.get(attr)
                        values[attr] = Expr(f"${{{ref}}}" if ref else "${known after apply}")
                    elif attr in values:
                        values[attr] = _mark_unknown(values[attr], flag)
                m = re.search(r'"address"\s*:\s*' + re.escape(json.dumps(address)), text)
                module_addr = str(module.get("address", ""))
                rtype = str(res["type"])
                out.append(
                    Resource(
                        provider=provider_of(rtype),
                        type=rtype,
                        name=str(res.get("name", "")),
                        attributes=values,
                        file=path,
                        line=index.line_of(m.start()) if m else 1,
                        language="terraform-plan",
                        scope=path,
                        module=module_addr,
                        data=_is_data(res, address, module_addr),
                        key=_key(res.get("index")),
                    )
                )
        return ParsedFile(tuple(out), self.kind)
