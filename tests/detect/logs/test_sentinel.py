"""``detect export --target kusto``: the queries run on the tables Microsoft Sentinel's connectors
fill (AWSCloudTrail, AzureActivity, GCPAuditLogs, AKSAudit), checked against the tables' documented
schemas.

The schemas are pySigma-backend-kusto's copy of the Azure Monitor table reference
(``sigma.pipelines.azuremonitor.tables``), which lists each column and its type as
learn.microsoft.com/azure/azure-monitor/reference/tables/<table> does.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sigma.collection import SigmaCollection
from sigma.pipelines.azuremonitor.tables import AZURE_MONITOR_TABLES

from mlstix.detect.logs._rules import load_rules
from mlstix.detect.logs._sentinel import TABLES, NoColumn, kql_field
from mlstix.detect.logs.export import NOT_EXPORTED, _kusto, export_rules, render_rules
from mlstix.kb.load import load_kb

RULES = {r.name: r for r in load_kb().detections.rules}
SOURCE = {n: f"{r.product}/{r.service}" for n, r in RULES.items()}
NOT_ON_SENTINEL = {"aws-sagemaker-presigned-notebook-url-outside-console"}
KQL_WORDS = {"and", "or", "not", "in", "contains", "endswith", "startswith", "matches", "regex",
             "where", "true", "false"}  # fmt: skip
FUNCTIONS = {"tostring", "parse_json", "isnotempty", "isempty", "isnull", "not"}


def _converted(name: str) -> str:
    (query,) = _kusto().convert(SigmaCollection.from_yaml(RULES[name].text))
    return str(query)


def _query(name: str) -> str:
    """The query without its leading ``//`` comment lines."""
    lines = _converted(name).split("\n")
    return "\n".join(line for line in lines if not line.startswith("//"))


def _columns_used(where: str) -> list[tuple[str, str]]:
    """(column, how) for every column the condition reads: ``plain``, ``tostring`` (a path into a
    dynamic column, or a bool as text) or ``parse_json`` (a string column holding JSON)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', where)  # string literals say nothing of columns
    text = re.sub(r"\['(?:[^'\\]|\\.)*'\]", "", text)  # quoted keys inside a path
    used = []
    for m in re.finditer(r"(?<![\w.])([A-Za-z_][A-Za-z0-9_]*)(?![\w(])", text):
        word = m.group(1)
        if word in KQL_WORDS:
            continue
        before = text[: m.start()]
        how = "plain"
        if before.endswith("parse_json("):
            how = "parse_json"
        elif before.endswith("tostring("):
            how = "tostring"
        used.append((word, how))
    return used


@pytest.mark.parametrize("name", sorted(set(RULES) - NOT_ON_SENTINEL))
def test_query_reads_only_documented_columns_the_way_their_type_needs(name: str) -> None:
    table = TABLES[SOURCE[name]].name
    schema = {col: spec["data_type"] for col, spec in AZURE_MONITOR_TABLES[table].items()}
    first, _, where = _query(name).partition("\n| where ")
    assert first == table and where
    used = _columns_used(where)
    assert used, where
    for column, how in used:
        assert column in schema, f"{column} is not a column of {table}"
        kind = schema[column]
        if kind == "dynamic":
            # a dynamic value compared with =~ or contains must be made a string first
            assert how == "tostring", (column, where)
        elif kind == "bool":
            assert how == "tostring", (column, where)
        elif how == "parse_json":
            assert kind == "string"
        else:
            assert kind in ("string", "datetime") and how in ("plain", "tostring")
    # no field name survived as a quoted string (KQL reads 'a.b' as a constant)
    assert not re.search(r"'[\w-]+\.[\w.-]+'", where)
    # no native JSON field name is left as a bare column name
    assert not re.search(r"\b(eventName|eventSource|operationName|protoPayload|objectRef)\b", where)


def test_known_queries() -> None:
    assert _query("k8s-kserve-inferenceservice-changed") == (
        'AKSAudit\n| where (Stage =~ "ResponseComplete" and tostring(ObjectRef.apiGroup) =~ '
        '"serving.kserve.io" and tostring(ObjectRef.resource) =~ "inferenceservices" and '
        '(Verb in~ ("patch", "update", "delete"))) and '
        '(not(tostring(ObjectRef.subresource) =~ "status"))'
    )
    acl = _query("aws-s3-model-bucket-opened")
    # any element of a list: matched in the list's JSON text, the value quoted as a whole
    assert (
        'tostring(parse_json(RequestParameters)[\'x-amz-acl\']) contains "\\"public-read\\""' in acl
    )
    public = _query("gcp-storage-model-bucket-opened-to-public")
    deltas = "tostring(ServiceData.policyDelta.bindingDeltas)"
    assert f'{deltas} contains "\\"member\\":\\"allUsers\\""' in public
    # a container image outside ECR: the anchored regex is matched after "image":" in the list
    ecr = _query("aws-sagemaker-model-image-outside-ecr")
    containers = "tostring(parse_json(RequestParameters).containers)"
    assert f'{containers} matches regex "\\"image\\":\\"' in ecr
    # no field keeps its {} (the policy regex has [^{}])
    assert not re.search(r"\w\{\}", acl + public + ecr)
    assert 'EventName =~ "PutBucketPolicy"' in acl and "UserIdentity" not in acl
    human = _query("aws-sagemaker-endpoint-changed-by-human")
    assert 'UserIdentityType in~ ("IAMUser", "Root", "IdentityCenterUser")' in human
    assert 'UserIdentityArn contains ":assumed-role/AWSReservedSSO_"' in human
    # AzureActivity spells the Start result type 'Start' or, in older workspaces, 'Started'
    azure = _query("azure-storage-immutability-policy-deleted")
    assert azure.startswith("AzureActivity\n| where OperationNameValue =~ ")
    assert 'ActivityStatusValue in~ ("Start", "Started")' in azure
    gcp = _query("gcp-vertex-dataset-imported-by-user")
    # a service account, unless a person acted as it (their email in the delegation list)
    delegation = "tostring(AuthenticationInfo.serviceAccountDelegationInfo) matches regex"
    assert f'(PrincipalEmail endswith ".gserviceaccount.com" and (not({delegation} ' in gcp
    assert "MethodName in~" in gcp and "ServiceName =~" in gcp


def test_list_regex_only_where_it_cannot_leave_the_element() -> None:
    from mlstix.detect.logs._sentinel import NotExpressible, _in_json_string

    assert _in_json_string("c{}.image", "image", '^a[^/"]*$') == '"image":"a[^/"]*"'
    assert _in_json_string("c{}.image", "image", "^[0-9]{12}x") == '"image":"[0-9]{12}x'
    for crossing in ("^a.b", "^a[^/]*$", 'a[^/"]*', "^a\\sb", '^x["]'):
        with pytest.raises(NotExpressible, match="could match across elements"):
            _in_json_string("c{}.image", "image", crossing)


def test_field_paths() -> None:
    assert kql_field("aws/cloudtrail", "requestParameters") == "RequestParameters"
    assert (
        kql_field("aws/cloudtrail", "requestParameters.primaryContainer.image")
        == "tostring(parse_json(RequestParameters).primaryContainer.image)"
    )
    assert kql_field("aws/cloudtrail", "readOnly") == "tostring(ReadOnly)"
    upn = "identity.claims.http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"
    assert kql_field("azure/activitylogs", upn) == (
        "tostring(Claims_d['http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn'])"
    )
    assert kql_field("kubernetes/audit", "annotations.authorization.k8s.io/decision") == (
        "tostring(Annotations['authorization.k8s.io/decision'])"
    )
    assert kql_field("kubernetes/audit", "sourceIPs") == "tostring(SourceIps)"
    with pytest.raises(NoColumn, match="'sessionCredentialFromConsole' has no column in the "):
        kql_field("aws/cloudtrail", "sessionCredentialFromConsole")
    with pytest.raises(NoColumn, match="AKSAudit"):
        kql_field("kubernetes/audit", "impersonatedUser.username")


def test_every_mapped_column_is_documented() -> None:
    for table in TABLES.values():
        schema = AZURE_MONITOR_TABLES[table.name]
        for expr in [*table.columns.values(), *table.dynamic.values()]:
            column = re.sub(r"^tostring\((\w+)\)$", r"\1", expr)
            assert column in schema, (table.name, column)
        for column in table.dynamic.values():
            expected = "string" if column in table.json_strings else "dynamic"
            assert schema[column]["data_type"] == expected, (table.name, column)


def test_rule_reading_a_field_the_table_lacks_is_listed_not_exported(
    tmp_path: Path, kb: Any
) -> None:
    files = render_rules(load_rules(kb), "kusto")
    assert f"{next(iter(NOT_ON_SENTINEL))}.kql" not in files
    assert set(files) == {f"{n}.kql" for n in set(RULES) - NOT_ON_SENTINEL} | {NOT_EXPORTED}
    note = files[NOT_EXPORTED]
    assert "aws-sagemaker-presigned-notebook-url-outside-console" in note
    assert "'sessionCredentialFromConsole' has no column in the AWSCloudTrail table" in note
    written = export_rules(load_rules(kb), "kusto", tmp_path / "out")
    assert (tmp_path / "out" / NOT_EXPORTED) in written


AZURE = sorted(n for n in RULES if SOURCE[n] == "azure/activitylogs")


@pytest.mark.parametrize("name", AZURE)
def test_azure_rules_take_each_request_once_on_azure_activity(name: str) -> None:
    """Every Activity Log rule matches a request by its Start record, or by the Failure record of
    a request Resource Manager refused (403), in either generation of AzureActivity's spelling
    (Start/Started, Failure/Failed); Success, Accept and other Failure records are not matched."""
    where = _query(name).partition("\n| where ")[2]
    started = 'ActivityStatusValue in~ ("Start", "Started")'
    refused = (
        '((ActivityStatusValue in~ ("Failure", "Failed")) and (ActivitySubstatusValue endswith '
        '"Forbidden" or tostring(Properties_d.statusCode) =~ "Forbidden"))'
    )
    assert f"(({started}) or {refused})" in where
    assert "Success" not in where and "Accept" not in where


HUMAN = sorted(n for n in RULES if n.endswith("-by-human"))


@pytest.mark.parametrize("name", HUMAN)
def test_by_human_rules_keep_the_signals_the_table_has_and_say_which_they_lose(name: str) -> None:
    """AWSCloudTrail keeps no sessionCredentialFromConsole, sourceIdentity or onBehalfOf: those
    alternatives (only ever adding matches) are left out, the query says so, and the IAM user,
    root, Identity Center and AWSReservedSSO_ signals stay."""
    text = _converted(name)
    comments = [line for line in text.split("\n") if line.startswith("//")]
    assert "AWSCloudTrail does not keep" in comments[0]
    dropped = "\n".join(comments)
    for absent in ("sessionCredentialFromConsole", "userIdentity.sessionContext.sourceIdentity",
                   "userIdentity.onBehalfOf.userId"):  # fmt: skip
        assert absent in dropped
    query = _query(name)
    assert 'UserIdentityType in~ ("IAMUser", "Root", "IdentityCenterUser")' in query
    assert 'UserIdentityArn contains ":assumed-role/AWSReservedSSO_"' in query
    assert "sessionCredentialFromConsole" not in query and "sourceIdentity" not in query


def test_an_alternative_is_dropped_only_where_that_can_only_lose_matches() -> None:
    from mlstix.detect.logs._absent import droppable

    names = ["selection", "sel_a", "sel_b", "filter_x"]
    assert droppable("sel_a", names, ["selection and 1 of sel_*"])
    assert droppable("sel_a", names, ["selection and (1 of sel_* or filter_x)"])
    assert droppable("sel_a", names, ["1 of them"])
    assert not droppable("sel_a", names, ["selection and all of sel_*"])
    assert not droppable("sel_a", names, ["selection and not 1 of sel_*"])
    assert not droppable("sel_a", names, ["selection and not (filter_x or 1 of sel_*)"])
    assert not droppable("sel_a", names, ["selection and sel_a"])
    assert not droppable("sel_a", names, ["selection and 1 of sel_a*"])  # no sibling left
    assert not droppable("filter_x", names, ["selection and not filter_x"])
    assert not droppable("sel_a", names, ["selection"])  # not referenced: nothing to drop


def test_a_negated_field_the_table_lacks_still_blocks_the_export() -> None:
    """The presigned-URL rule excludes console sessions: without the column the query would match
    what the rule excludes, so it stays NoColumn and is listed as not exported."""
    from mlstix.detect.logs._sentinel import NoColumn as Missing

    with pytest.raises(Missing, match="sessionCredentialFromConsole"):
        _converted("aws-sagemaker-presigned-notebook-url-outside-console")
