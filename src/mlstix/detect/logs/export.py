"""Convert the detection rules for the SIEM a user runs, with pySigma's own backends.

``mlstix detect export --target T --output DIR`` writes one query file per rule, named after the
rule, plus the target's import format where the backend has one:

=========  =====================================  ====================================
target     backend (package)                      files
=========  =====================================  ====================================
splunk     SplunkBackend (pySigma-backend-splunk)  ``<rule>.spl``, ``savedsearches.conf``
esql       ESQLBackend (pySigma-backend-           ``<rule>.esql``,
           elasticsearch)                          ``elastic-index-template.json``
lucene     LuceneBackend (same package)            ``<rule>.lucene``, the same template
kusto      KustoBackend (pySigma-backend-kusto)    ``<rule>.kql`` for Microsoft Sentinel's
           with :mod:`._sentinel`'s pipeline      tables (AWSCloudTrail, AzureActivity,
                                                   GCPAuditLogs, AKSAudit); ``NOT-EXPORTED.txt``
sigma      none: the rules as authored             ``<rule>.yml``
=========  =====================================  ====================================

Field names stay the logs' own (``eventName``, ``protoPayload.methodName``, ``verb``) where the
SIEM keeps the events' JSON (Splunk, Elastic). Microsoft Sentinel's connectors store them in tables
with their own columns, so the Kusto export maps every field to its table's column or to a path in
a dynamic or JSON-string column (:mod:`._sentinel`); a rule reading a field its table does not keep
is not exported, and ``NOT-EXPORTED.txt`` names it and the field, unless that field only feeds an
alternative the query can lose without matching more (:mod:`._absent`; the query says so). Every
file is written atomically after every rule converted, so a failure leaves nothing half-written.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaError

from mlstix._io import prepare_out_dir, write_many_atomic
from mlstix.detect.logs._rules import LoadedRule, RuleError

__all__ = ["TARGETS", "export_rules"]


# Splunk reads CloudTrail's JSON with KV_MODE=json: objects become dotted leaf fields and lists
# become Splunk's {} fields (resources{}.ARN), which the rules name the same way. A bucket policy
# is an object whose statements Splunk flattens into multivalue leaves (every Effect, every
# Principal, no longer paired), so the rule's per-statement regular expression reads it from the
# raw event, where the only Effect/Principal pairs are the policy's.
_SPLUNK_FIELDS: dict[str | None, str | list[str]] = {"requestParameters.bucketPolicy": "_raw"}
_SPLUNK_FIELD = re.compile(r"^[\w.{}]+$")  # {} is part of a Splunk field name, unquoted


def _splunk_pipeline() -> Any:
    from sigma.processing.conditions import LogsourceCondition
    from sigma.processing.pipeline import (
        ProcessingItem,
        ProcessingPipeline,
        QueryPostprocessingItem,
    )
    from sigma.processing.postprocessing import ReplaceQueryTransformation
    from sigma.processing.transformations import FieldMappingTransformation

    return ProcessingPipeline(
        name="mlstix: CloudTrail objects Splunk flattens",
        priority=20,
        items=[
            ProcessingItem(
                identifier="mlstix_splunk_raw_objects",
                transformation=FieldMappingTransformation(dict(_SPLUNK_FIELDS)),
                rule_conditions=[LogsourceCondition(product="aws", service="cloudtrail")],
            )
        ],
        # the backend names a regex's capture and flag after the field; fields starting with _
        # are Splunk's internal ones, so the flag made from _raw is renamed
        postprocessing_items=[
            QueryPostprocessingItem(
                identifier="mlstix_splunk_raw_names",
                transformation=ReplaceQueryTransformation(
                    r"\b_raw(Match|Condition)", r"rawEvent\1"
                ),
            )
        ],
    )


def _splunk() -> Any:
    from sigma.backends.splunk.splunk import SplunkBackend

    class _Splunk(SplunkBackend):
        field_quote_pattern = _SPLUNK_FIELD

    return _Splunk(_splunk_pipeline())


def _esql() -> Any:
    from sigma.backends.elasticsearch.elasticsearch_esql import ESQLBackend

    from mlstix.detect.logs._elastic import elastic_pipeline

    class _Esql(ESQLBackend):
        # to_lower(field) is an expression, not a name to quote
        field_quote_pattern = re.compile(r"^(?:[\w.]+|to_lower\(.+\))$")

    return _Esql(elastic_pipeline("esql"))


def _lucene() -> Any:
    from sigma.backends.elasticsearch.elasticsearch_lucene import LuceneBackend

    from mlstix.detect.logs._elastic import elastic_pipeline

    return LuceneBackend(elastic_pipeline("lucene"))


def _kusto() -> Any:
    from sigma.backends.kusto.kusto import KustoBackend

    from mlstix.detect.logs._sentinel import sentinel_pipeline

    class _SentinelKusto(KustoBackend):
        def escape_and_quote_field(self, field_name: str) -> str:
            # the pipeline wrote a column or a tostring(...) path: quoting it as the stock
            # backend does ('objectRef.apiGroup') makes a string literal, constant in KQL
            return field_name

    return _SentinelKusto(sentinel_pipeline())


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


NOT_EXPORTED = "NOT-EXPORTED.txt"


def _fix_bundle(target: str, text: str) -> str:
    """pySigma-backend-splunk 2.1 writes a savedsearches.conf search whose regular expression
    sits in an OR as ``search =  \\`` then ``| rex ...``, all its terms moved to a later
    ``| search``: a saved search may not start with ``| rex``, so it gets a leading ``*`` that
    the terms then filter."""
    if target == "splunk":
        text = text.replace("\nsearch =  \\\n| ", "\nsearch = * \\\n| ")
    return text


def render_rules(rules: list[LoadedRule], target: str) -> dict[str, str]:
    """File name → content for ``target``; :class:`RuleError` names a rule that cannot convert.

    A rule that reads a field the target's table does not keep is left out and listed in
    ``NOT-EXPORTED.txt`` (a query on a column the table lacks is refused by the SIEM, and one
    without the condition would match what the rule excludes)."""
    from mlstix.detect.logs._sentinel import NotExpressible

    factory, suffix, bundle = TARGETS[target]
    files: dict[str, str] = {}
    if factory is None:
        return {f"{r.meta.name}{suffix}": r.meta.text for r in rules}
    problems = []
    skipped: list[tuple[LoadedRule, str]] = []
    for rule in rules:
        try:
            # pipelines change a rule in place (field names, dropped alternatives): convert a copy
            queries = factory().convert(SigmaCollection([copy.deepcopy(rule.sigma)]))
        except NotExpressible as exc:
            skipped.append((rule, str(exc)))
            continue
        except (SigmaError, RuntimeError) as exc:  # pySigma raises RuntimeError for data it lacks
            problems.append(f"{rule.meta.path}: {exc}")
            continue
        files[f"{rule.meta.name}{suffix}"] = _text(queries).rstrip("\n") + "\n"
    if skipped:
        files[NOT_EXPORTED] = (
            f"Rules not exported for {target}: each needs a field or a match its table cannot "
            "give.\n\n" + "".join(f"{r.meta.name} ({r.meta.path}): {why}\n" for r, why in skipped)
        )
    if bundle is not None and not problems:
        fmt, name = bundle
        kept: list[Any] = [
            copy.deepcopy(r.sigma) for r in rules if all(r is not s for s, _ in skipped)
        ]
        try:
            out = factory().convert(SigmaCollection(kept), output_format=fmt)
        except (SigmaError, RuntimeError) as exc:
            problems.append(f"{name}: {exc}")
        else:
            files[name] = _fix_bundle(target, _text(out).rstrip("\n") + "\n")
    if problems:
        raise RuleError(f"cannot convert to {target}:\n" + "\n".join(f"  {p}" for p in problems))
    if target in ("lucene", "esql"):
        from mlstix.detect.logs._elastic import MAPPINGS, index_template

        files[MAPPINGS] = index_template([r.sigma for r in rules])
    return files


def export_rules(rules: list[LoadedRule], target: str, out: Path) -> list[Path]:
    files = render_rules(rules, target)
    prepare_out_dir(out)
    targets = {out / name: text for name, text in sorted(files.items())}
    write_many_atomic(targets)
    return list(targets)
