"""Convert the detection rules for the SIEM a user runs, with pySigma's own backends.

``mlstix detect export --target T --output DIR`` writes one query file per rule, named after the
rule, plus the target's import format where the backend has one:

=========  =====================================  ====================================
target     backend (package)                      files
=========  =====================================  ====================================
splunk     SplunkBackend (pySigma-backend-splunk)  ``<rule>.spl``, ``savedsearches.conf``
esql       ESQLBackend (pySigma-backend-           ``<rule>.esql``
           elasticsearch)
lucene     LuceneBackend (same package)            ``<rule>.lucene``
kusto      KustoBackend (pySigma-backend-kusto)    ``<rule>.kql`` (Microsoft Sentinel,
                                                   Defender XDR, Azure Data Explorer)
sigma      none: the rules as authored             ``<rule>.yml``
=========  =====================================  ====================================

Field names stay the logs' own (``eventName``, ``protoPayload.methodName``, ``verb``); a SIEM
that renames fields at ingestion needs a pySigma processing pipeline for its schema. For Kusto a
nested field is written as a path into the event's dynamic columns (``objectRef.apiGroup``,
``requestParameters['x-amz-acl']``), as for a table holding the raw JSON events. Every file is
written atomically after every rule converted, so a failure leaves nothing half-written.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaError

from mlstix._io import prepare_out_dir, write_many_atomic
from mlstix.detect.logs._rules import LoadedRule, RuleError

__all__ = ["TARGETS", "export_rules"]


def _splunk() -> Any:
    from sigma.backends.splunk.splunk import SplunkBackend

    return SplunkBackend()


def _esql() -> Any:
    from sigma.backends.elasticsearch.elasticsearch_esql import ESQLBackend

    return ESQLBackend()


def _lucene() -> Any:
    from sigma.backends.elasticsearch.elasticsearch_lucene import LuceneBackend

    return LuceneBackend()


_KQL_NAME = re.compile(r"^[A-Za-z_]\w*$")


def _kql_path(field: str) -> str:
    """``objectRef.apiGroup`` → ``objectRef.apiGroup``, ``requestParameters.x-amz-acl`` →
    ``requestParameters['x-amz-acl']``: a path into the event's dynamic (JSON) columns.

    The stock backend quotes any name that is not one word, ``'objectRef.apiGroup'``, which KQL
    reads as a string literal: the comparison is then constant and the query never matches."""
    if "['" in field or _KQL_NAME.match(field):  # already a path, or a plain column
        return field
    head, *rest = field.split(".")
    out = head if _KQL_NAME.match(head) else f"['{head}']"
    for part in rest:
        out += f".{part}" if _KQL_NAME.match(part) else f"['{part}']"
    return out


def _kusto() -> Any:
    from sigma.backends.kusto.kusto import KustoBackend

    class _PathKusto(KustoBackend):
        def escape_and_quote_field(self, field_name: str) -> str:
            return _kql_path(field_name)

    return _PathKusto()


# target -> (backend factory, query file suffix, (bundle format, bundle file name) or None)
TARGETS: dict[str, tuple[Callable[[], Any] | None, str, tuple[str, str] | None]] = {
    "splunk": (_splunk, ".spl", ("savedsearches", "savedsearches.conf")),
    # The Elastic backends' rule formats (siem_rule_ndjson) download MITRE ATT&CK data while
    # converting; nothing here may reach the network, so Elastic gets the queries only.
    "esql": (_esql, ".esql", None),
    "lucene": (_lucene, ".lucene", None),
    "kusto": (_kusto, ".kql", None),
    "sigma": (None, ".yml", None),
}


def _text(result: Any) -> str:
    if isinstance(result, list):
        return "\n".join(str(r) for r in result)
    return str(result)


def render_rules(rules: list[LoadedRule], target: str) -> dict[str, str]:
    """File name → content for ``target``; :class:`RuleError` names a rule that cannot convert."""
    factory, suffix, bundle = TARGETS[target]
    files: dict[str, str] = {}
    if factory is None:
        return {f"{r.meta.name}{suffix}": r.meta.text for r in rules}
    problems = []
    for rule in rules:
        try:
            queries = factory().convert(SigmaCollection([rule.sigma]))
        except (SigmaError, RuntimeError) as exc:  # pySigma raises RuntimeError for data it lacks
            problems.append(f"{rule.meta.path}: {exc}")
            continue
        files[f"{rule.meta.name}{suffix}"] = _text(queries).rstrip("\n") + "\n"
    if bundle is not None and not problems:
        fmt, name = bundle
        try:
            out = factory().convert(SigmaCollection([r.sigma for r in rules]), output_format=fmt)
        except (SigmaError, RuntimeError) as exc:
            problems.append(f"{name}: {exc}")
        else:
            files[name] = _text(out).rstrip("\n") + "\n"
    if problems:
        raise RuleError(f"cannot convert to {target}:\n" + "\n".join(f"  {p}" for p in problems))
    return files


def export_rules(rules: list[LoadedRule], target: str, out: Path) -> list[Path]:
    files = render_rules(rules, target)
    prepare_out_dir(out)
    targets = {out / name: text for name, text in sorted(files.items())}
    write_many_atomic(targets)
    return list(targets)
