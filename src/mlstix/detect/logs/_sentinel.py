"""The rules as Microsoft Sentinel queries: a pySigma processing pipeline from the logs' own field
names to the columns of the Azure Monitor tables Sentinel's connectors fill.

=====================  ==================  ==================================================
log source             table               connector
=====================  ==================  ==================================================
aws / cloudtrail       ``AWSCloudTrail``   Amazon Web Services S3 (CloudTrail from S3 via SQS)
azure / activitylogs   ``AzureActivity``   Azure Activity (diagnostic settings)
gcp / gcp.audit        ``GCPAuditLogs``    Google Cloud Platform audit logs (Pub/Sub)
kubernetes / audit     ``AKSAudit``        AKS diagnostic settings, resource-specific tables
=====================  ==================  ==================================================

Column names and types follow the Azure Monitor table reference
(learn.microsoft.com/azure/azure-monitor/reference/tables/awscloudtrail, ``azureactivity``,
``gcpauditlogs``, ``aksaudit``; pySigma-backend-kusto ships the same schema, which the tests read).
The tables do not keep the events' JSON shape:

- CloudTrail's ``userIdentity`` is flattened into ``UserIdentityArn``, ``SessionIssuerArn`` …;
  ``requestParameters`` and ``responseElements`` are *strings* holding JSON, read here with
  ``parse_json(RequestParameters).key``;
- Activity Log's ``operationName`` is ``OperationNameValue`` and ``resultType`` is
  ``ActivityStatusValue``, whose values older workspaces spell ``Started``/``Succeeded``/``Failed``
  where newer ones write ``Start``/``Success``/``Failure`` (both are matched); the claims are the
  dynamic ``Claims_d``;
- Cloud Audit Logs' ``protoPayload`` fields are columns (``MethodName``, ``PrincipalEmail``,
  ``GCPResourceName``) or dynamic columns (``AuthenticationInfo``, ``ServiceData``);
- Kubernetes audit fields are columns (``Verb``, ``Stage``) or dynamic columns (``ObjectRef``,
  ``User``, ``ResponseStatus``).

A path into a dynamic or JSON-string column is wrapped in ``tostring()`` (a dynamic value compared
with ``=~`` or ``contains`` must be a string) and keys that are not KQL identifiers are quoted
(``['x-amz-acl']``). A field the table does not keep (CloudTrail's ``sessionCredentialFromConsole``)
raises :class:`NoColumn`: the rule cannot be expressed on that table, unless the field only feeds an
alternative of a positive ``1 of`` that :mod:`._absent` can drop (the query then matches less than
the rule, never more, and starts with a comment saying what it cannot see).

An any-element field (``bindingDeltas{}.member``, ``x-amz-acl{}``) has no KQL equivalent in a
``where`` clause (``mv-apply`` is a tabular operator), so it is matched in the list's compact JSON
text: a value ``v`` of the element's ``member`` becomes a containment of ``"member":"v"`` (of
``"v"`` for a list of strings); ``startswith``/``endswith`` keep their open end, ``contains`` is
looked for anywhere in the list. A regular expression anchored with ``^`` on an element's key is
matched in the same text after ``"key":"`` (its ``$`` becomes the closing quote) when it cannot
leave that JSON string: no ``.`` and every negated class excludes ``"``; any other regular
expression on such a field is :class:`NotExpressible`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from sigma.exceptions import SigmaTransformationError
from sigma.processing.conditions import IncludeFieldCondition, LogsourceCondition
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline, QueryPostprocessingItem
from sigma.processing.postprocessing import QuerySimpleTemplateTransformation
from sigma.processing.transformations import FieldFunctionTransformation, MapStringTransformation
from sigma.processing.transformations.base import DetectionItemTransformation
from sigma.rule import SigmaDetection, SigmaDetectionItem
from sigma.types import (
    SigmaExists,
    SigmaRegularExpression,
    SigmaString,
    SigmaType,
    SpecialChars,
)

from mlstix.detect.logs._absent import DropAbsentAlternatives, NoteDropped

__all__ = ["TABLES", "NoColumn", "NotExpressible", "kql_field", "sentinel_pipeline"]


class NotExpressible(SigmaTransformationError):
    """A condition the target table cannot express."""


class NoColumn(NotExpressible):
    """A field the target table does not keep."""


_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _path(column: str, keys: list[str], *, json_string: bool = False) -> str:
    """``tostring(Column.a['b-c'])``: a path into a dynamic column (or a string holding JSON)."""
    out = f"parse_json({column})" if json_string else column
    for key in keys:
        out += f".{key}" if _NAME.match(key) else "['" + key.replace("'", "\\'") + "']"
    return f"tostring({out})"


@dataclass(frozen=True)
class _Table:
    name: str
    columns: dict[str, str]  # event field -> column (string or datetime)
    dynamic: dict[str, str]  # event object -> dynamic column (or a string column holding JSON)
    json_strings: frozenset[str] = frozenset()  # the dynamic entries that are string columns
    flat: frozenset[str] = frozenset()  # dynamic columns whose keys hold dots (claim URIs)

    def field(self, name: str) -> str:
        if name in self.columns:
            return self.columns[name]
        # the longest object prefix that lands in a dynamic (or JSON string) column
        parts = name.split(".")
        for cut in range(len(parts), 0, -1):
            head = ".".join(parts[:cut])
            if head in self.dynamic:
                column = self.dynamic[head]
                rest = parts[cut:]
                if not rest and column not in self.json_strings:
                    return f"tostring({column})"
                if not rest:
                    return column
                if column in self.flat:
                    rest = [".".join(rest)]
                return _path(column, rest, json_string=column in self.json_strings)
        raise NoColumn(f"field {name!r} has no column in the {self.name} table")


_BOOL = "tostring({})"  # bool columns compared with Sigma's string values

TABLES: dict[str, _Table] = {
    "aws/cloudtrail": _Table(
        "AWSCloudTrail",
        columns={
            "eventName": "EventName",
            "eventSource": "EventSource",
            "eventTime": "TimeGenerated",
            "eventVersion": "EventVersion",
            "eventType": "EventTypeName",
            "eventCategory": "Category",
            "eventID": "AwsEventId",
            "requestID": "AwsRequestId_",
            "sharedEventID": "SharedEventId",
            "apiVersion": "APIVersion",
            "awsRegion": "AWSRegion",
            "sourceIPAddress": "SourceIpAddress",
            "userAgent": "UserAgent",
            "errorCode": "ErrorCode",
            "errorMessage": "ErrorMessage",
            "recipientAccountId": "RecipientAccountId",
            "vpcEndpointId": "VpcEndpointId",
            "readOnly": _BOOL.format("ReadOnly"),
            "managementEvent": _BOOL.format("ManagementEvent"),
            "resources": "Resources",
            "tlsDetails.tlsVersion": "TlsVersion",
            "tlsDetails.cipherSuite": "CipherSuite",
            "tlsDetails.clientProvidedHostHeader": "ClientProvidedHostHeader",
            "userIdentity.type": "UserIdentityType",
            "userIdentity.arn": "UserIdentityArn",
            "userIdentity.principalId": "UserIdentityPrincipalid",
            "userIdentity.accountId": "UserIdentityAccountId",
            "userIdentity.accessKeyId": "UserIdentityAccessKeyId",
            "userIdentity.userName": "UserIdentityUserName",
            "userIdentity.invokedBy": "UserIdentityInvokedBy",
            "userIdentity.sessionContext.sessionIssuer.type": "SessionIssuerType",
            "userIdentity.sessionContext.sessionIssuer.arn": "SessionIssuerArn",
            "userIdentity.sessionContext.sessionIssuer.principalId": "SessionIssuerPrincipalId",
            "userIdentity.sessionContext.sessionIssuer.accountId": "SessionIssuerAccountId",
            "userIdentity.sessionContext.sessionIssuer.userName": "SessionIssuerUserName",
            "userIdentity.sessionContext.attributes.mfaAuthenticated": _BOOL.format(
                "SessionMfaAuthenticated"
            ),
            "userIdentity.sessionContext.attributes.creationDate": "SessionCreationDate",
        },
        dynamic={
            "requestParameters": "RequestParameters",
            "responseElements": "ResponseElements",
            "additionalEventData": "AdditionalEventData",
            "serviceEventDetails": "ServiceEventDetails",
        },
        json_strings=frozenset(
            {"RequestParameters", "ResponseElements", "AdditionalEventData", "ServiceEventDetails"}
        ),
    ),
    "azure/activitylogs": _Table(
        "AzureActivity",
        columns={
            "operationName": "OperationNameValue",
            "resultType": "ActivityStatusValue",
            "resultSignature": "ActivitySubstatusValue",
            "category": "CategoryValue",
            "caller": "Caller",
            "callerIpAddress": "CallerIpAddress",
            "correlationId": "CorrelationId",
            "resourceId": "_ResourceId",
            "level": "Level",
            "time": "TimeGenerated",
        },
        dynamic={
            "identity.claims": "Claims_d",
            "identity.authorization": "Authorization_d",
            "properties": "Properties_d",
        },
        flat=frozenset({"Claims_d"}),
    ),
    "gcp/gcp.audit": _Table(
        "GCPAuditLogs",
        columns={
            "protoPayload.serviceName": "ServiceName",
            "protoPayload.methodName": "MethodName",
            "protoPayload.resourceName": "GCPResourceName",
            "protoPayload.authenticationInfo.principalEmail": "PrincipalEmail",
            "protoPayload.numResponseItems": "NumResponseItems",
            "resource.type": "GCPResourceType",
            "resource.labels.project_id": "ProjectId",
            "logName": "LogName",
            "severity": "Severity",
            "insertId": "InsertId",
            "timestamp": "Timestamp",
        },
        dynamic={
            "protoPayload.authenticationInfo": "AuthenticationInfo",
            "protoPayload.authorizationInfo": "AuthorizationInfo",
            "protoPayload.requestMetadata": "RequestMetadata",
            "protoPayload.request": "Request",
            "protoPayload.response": "Response",
            "protoPayload.metadata": "Metadata",
            "protoPayload.serviceData": "ServiceData",
            "protoPayload.status": "Status",
            "protoPayload.resourceLocation": "ResourceLocation",
            "protoPayload.resourceOriginalState": "ResourceOriginalState",
        },
    ),
    "kubernetes/audit": _Table(
        "AKSAudit",
        columns={
            "verb": "Verb",
            "stage": "Stage",
            "level": "Level",
            "auditID": "AuditId",
            "requestURI": "RequestUri",
            "userAgent": "UserAgent",
            "requestReceivedTimestamp": "RequestReceivedTime",
            "stageTimestamp": "StageReceivedTime",
        },
        dynamic={
            "objectRef": "ObjectRef",
            "user": "User",
            "responseStatus": "ResponseStatus",
            "sourceIPs": "SourceIps",
            "requestObject": "RequestObject",
            "responseObject": "ResponseObject",
            "annotations": "Annotations",
        },
        flat=frozenset({"Annotations"}),
    ),
}

# Activity Log result types as the AzureActivity table spells them, in either generation
_ACTIVITY_STATUS: dict[str, str | list[str]] = {
    "Start": ["Start", "Started"],
    "Success": ["Success", "Succeeded"],
    "Failure": ["Failure", "Failed"],
    "Accept": ["Accept", "Accepted"],
}


_ANY = SpecialChars.WILDCARD_MULTI


class _ArrayAsText(DetectionItemTransformation):
    """``list{}.leaf = v`` → ``list`` contains ``"leaf":"v"`` (see the module docstring)."""

    def apply_detection_item(
        self, detection_item: SigmaDetectionItem
    ) -> SigmaDetection | SigmaDetectionItem | None:
        name = detection_item.field
        if name is None or "{}" not in name:
            return None
        head, _, leaf = name.partition("{}")
        key = leaf.rsplit(".", 1)[-1] if leaf.startswith(".") else ""
        if "{}" in leaf:
            raise NotExpressible(f"field {name!r}: a list inside a list element")
        values: list[SigmaType] = []
        for value in detection_item.value:
            if isinstance(value, SigmaExists):
                values.append(value)
                continue
            if isinstance(value, SigmaRegularExpression) and key:
                regexp = _in_json_string(name, key, str(value.regexp))
                values.append(SigmaRegularExpression(regexp, value.flags))
                continue
            if not isinstance(value, SigmaString):
                raise NotExpressible(f"field {name!r}: only strings are matched in a list")
            opens, closes = value.startswith(_ANY), value.endswith(_ANY)
            if opens and closes:
                values.append(value)  # contains: anywhere in the list's text
                continue
            start = SigmaString(f'"{key}":"' if key else '"')
            text = value if opens else start + value
            text = text if closes else text + SigmaString('"')
            values.append(_ANY + text + _ANY)
        detection_item.field = head
        detection_item.value = values
        detection_item.modifiers = []
        self.processing_item_applied(detection_item)
        return None


_CLASS = re.compile(r"\[(\^?)((?:\\.|[^\]\\])*)\]")


def _in_json_string(name: str, key: str, regexp: str) -> str:
    """``^x[^/"]*$`` on an element's ``key`` → ``"key":"x[^/"]*"`` on the list's JSON text, when the
    expression cannot match across the value's closing quote."""
    outside = _CLASS.sub("", regexp)
    safe = (
        regexp.startswith("^")
        and not re.search(r"(?<!\\)\.|\\[sSDWw]", outside)
        and all(('"' in body) == bool(neg) for neg, body in _CLASS.findall(regexp))
        and "^" not in outside[1:]
    )
    if not safe:
        raise NotExpressible(f"field {name!r}: this regular expression could match across elements")
    return f'"{key}":"' + re.sub(r"(?<!\\)\$", '"', regexp[1:])


def kql_field(source: str, name: str) -> str:
    """The KQL expression for the event field ``name`` of ``source`` (``aws/cloudtrail`` …)."""
    return TABLES[source].field(name)


def _has_column(table: _Table) -> Callable[[str], bool]:
    def has(name: str) -> bool:
        try:
            table.field(name.replace("{}", ""))
        except NoColumn:
            return False
        return True

    return has


def _mapper(source: str) -> Callable[[str | None], str]:
    def apply(name: str | None) -> str:
        assert name is not None  # keywords are not mapped (apply_keyword is False)
        return kql_field(source, name)

    return apply


def sentinel_pipeline() -> ProcessingPipeline:
    """Field names to table columns, one table per log source, and the table before each query."""
    items: list[ProcessingItem] = []
    for source, table in TABLES.items():
        product, service = source.split("/")
        items.append(
            ProcessingItem(
                identifier=f"mlstix_sentinel_{table.name}_absent",
                transformation=DropAbsentAlternatives(_has_column(table), table.name),
                rule_conditions=[LogsourceCondition(product=product, service=service)],
            )
        )
    items += [
        ProcessingItem(identifier="mlstix_sentinel_lists", transformation=_ArrayAsText()),
        ProcessingItem(
            identifier="mlstix_sentinel_activity_status",
            transformation=MapStringTransformation(_ACTIVITY_STATUS),
            field_name_conditions=[IncludeFieldCondition(["resultType"])],
            rule_conditions=[LogsourceCondition(product="azure", service="activitylogs")],
        ),
    ]
    post: list[QueryPostprocessingItem] = []
    for source, table in TABLES.items():
        product, service = source.split("/")
        items.append(
            ProcessingItem(
                identifier=f"mlstix_sentinel_{table.name}",
                transformation=FieldFunctionTransformation({}, _mapper(source)),
                rule_conditions=[LogsourceCondition(product=product, service=service)],
            )
        )
        post.append(
            QueryPostprocessingItem(
                identifier=f"mlstix_sentinel_{table.name}_table",
                transformation=QuerySimpleTemplateTransformation(table.name + "\n| where {query}"),
                rule_conditions=[LogsourceCondition(product=product, service=service)],
            )
        )
    note = QueryPostprocessingItem(identifier="mlstix_sentinel_note", transformation=NoteDropped())
    post.append(note)
    return ProcessingPipeline(
        name="mlstix: native audit-log fields to Microsoft Sentinel tables",
        priority=20,
        items=items,
        postprocessing_items=post,
        allowed_backends=frozenset({"kusto"}),
    )
