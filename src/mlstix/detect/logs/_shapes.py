"""The log shapes ``mlstix detect`` reads, and how a file is recognised from its first bytes.

A *shape* is a container format (JSON lines, a JSON array, or one document holding a records
array) around the events of one *source* (the Sigma log source the rules are written for):

==========================  ====================================  ==========================
source (Sigma logsource)    files as users have them              container
==========================  ====================================  ==========================
aws / cloudtrail            S3 delivery ``{"Records": [...]}``    document (``Records``)
                            (``AWSLogs/<acct>/CloudTrail/<region>
                            /YYYY/MM/DD/*.json.gz``)
aws / cloudtrail            CloudTrail Lake exports, one event    JSON lines
                            per line
aws / cloudtrail            EventBridge events (``detail-type``,  JSON lines; the event is
                            CloudTrail record in ``detail``)      ``detail``
azure / activitylogs        diagnostic-settings export            JSON lines, or a document
                            (``PT1H.json``)                       (``records``)
gcp / gcp.audit             ``gcloud logging read --format=json`` JSON array
gcp / gcp.audit             log sink exports to Cloud Storage     JSON lines
kubernetes / audit          API server audit log backend          JSON lines
==========================  ====================================  ==========================

Fields are the logs' own names (CloudTrail's ``userIdentity.arn``, LogEntry's
``protoPayload.methodName``), so the same rule text converts unchanged for a SIEM that keeps the
native field names.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import orjson

__all__ = ["SOURCES", "EmptyLog", "Shape", "Source", "sniff"]

Container = Literal["lines", "array", "document"]

_HEAD_BYTES = 256 * 1024
_LONG_LINE = 16 * 1024 * 1024  # a first event longer than the head (Kubernetes RequestResponse)


@dataclass(frozen=True)
class Source:
    """One Sigma log source: where its events keep time, who, from where, and on what."""

    product: str
    service: str
    time: str  # field holding the event time (ISO 8601)
    required: tuple[str, ...]  # fields every event has; a record without them is an error
    principal: tuple[str, ...]  # first present wins
    source_ip: tuple[str, ...]
    resource: tuple[str, ...]
    action: str

    @property
    def key(self) -> str:
        return f"{self.product}/{self.service}"


SOURCES: dict[str, Source] = {
    s.key: s
    for s in (
        Source(
            product="aws",
            service="cloudtrail",
            time="eventTime",
            required=("eventTime", "eventSource", "eventName"),
            principal=(
                "userIdentity.arn",
                "userIdentity.principalId",
                "userIdentity.invokedBy",
                "userIdentity.type",
            ),
            source_ip=("sourceIPAddress",),
            resource=(
                "requestParameters.key",
                "requestParameters.bucketName",
                "requestParameters.endpointName",
                "requestParameters.modelPackageName",
                "requestParameters.modelPackageGroupName",
                "requestParameters.modelName",
                "requestParameters.notebookInstanceName",
                "requestParameters.notebookInstanceLifecycleConfigName",
                "requestParameters.studioLifecycleConfigName",
                "requestParameters.domainId",
                "requestParameters.roleName",
                "requestParameters.keyId",
                "requestParameters.repositoryName",
            ),
            action="eventName",
        ),
        Source(
            product="azure",
            service="activitylogs",
            time="time",
            required=("time", "operationName"),
            principal=(
                "identity.claims.http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
                "identity.claims.name",
                "identity.claims.appid",
                "identity.authorization.evidence.principalId",
                "caller",
            ),
            source_ip=("callerIpAddress",),
            resource=("resourceId",),
            action="operationName",
        ),
        Source(
            product="gcp",
            service="gcp.audit",
            time="timestamp",
            required=("timestamp", "protoPayload.methodName"),
            principal=("protoPayload.authenticationInfo.principalEmail",),
            source_ip=("protoPayload.requestMetadata.callerIp",),
            resource=("protoPayload.resourceName",),
            action="protoPayload.methodName",
        ),
        Source(
            product="kubernetes",
            service="audit",
            time="requestReceivedTimestamp",
            required=("requestReceivedTimestamp", "verb"),
            principal=("user.username",),
            source_ip=("sourceIPs",),
            resource=("objectRef.namespace", "objectRef.name"),
            action="verb",
        ),
    )
}


class EmptyLog(ValueError):
    """The file holds no events (empty, blank lines only, or an empty JSON array)."""


@dataclass(frozen=True)
class Shape:
    source: Source
    container: Container
    compression: Literal["gzip", "none"]
    records_key: str | None = None  # the array of a document container
    envelope: str | None = None  # EventBridge: the event sits in this key

    @property
    def name(self) -> str:
        wrap = f"{self.envelope} of " if self.envelope else ""
        return f"{self.source.key} ({wrap}{self.container})"


def _classify(keys: set[str], kind: str | None, api: str | None) -> tuple[Source, str | None]:
    if "detail-type" in keys and "detail" in keys:
        return SOURCES["aws/cloudtrail"], "detail"
    if "eventSource" in keys and "eventName" in keys:
        return SOURCES["aws/cloudtrail"], None
    if "protoPayload" in keys or "logName" in keys:
        return SOURCES["gcp/gcp.audit"], None
    if kind == "Event" and (api or "").startswith("audit.k8s.io/"):
        return SOURCES["kubernetes/audit"], None
    if "operationName" in keys and ("resourceId" in keys or "category" in keys):
        return SOURCES["azure/activitylogs"], None
    raise ValueError(
        "not an audit log mlstix reads (CloudTrail, EventBridge, Azure Activity Log, Google "
        "Cloud LogEntry or Kubernetes audit): the first record has none of their fields"
    )


def _keys_of(obj: object) -> tuple[Source, str | None]:
    if not isinstance(obj, dict):
        raise ValueError("the first record is not a JSON object")
    kind, api = obj.get("kind"), obj.get("apiVersion")
    return _classify(
        set(obj), kind if isinstance(kind, str) else None, api if isinstance(api, str) else None
    )


_KEY = re.compile(rb'"([A-Za-z@][A-Za-z0-9_@-]*)"\s*:')
_RECORDS = re.compile(rb'^\s*\{\s*"(Records|records)"\s*:\s*\[')


def read_head(path: Path, limit: int = _HEAD_BYTES) -> tuple[bytes, bool]:
    """At most ``limit`` first bytes of ``path``, decompressed when it is gzip (never more than
    ``limit`` inflated, whatever the compression ratio; concatenated members are followed; a
    truncated gzip gives what inflates); whether it was gzip.

    A gzip stream that is cut or damaged before anything but blanks inflated raises
    ``ValueError``: it would otherwise look like an empty log, and unreadable is never clean.
    """
    with path.open("rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        if not gzipped:
            return raw.read(limit), False
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out = b""
        damage = ""
        while len(out) < limit:
            if inflater.eof:
                rest = inflater.unused_data
                if not rest and not (rest := raw.read(1 << 16)):
                    break  # the last member ended where the file does
                inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)  # another member follows
                block = rest
            else:
                block = inflater.unconsumed_tail or raw.read(1 << 16)
            if not block:
                damage = "the gzip stream ends before its end marker (truncated)"
                break
            try:
                out += inflater.decompress(block, limit - len(out))
            except zlib.error as exc:
                damage = f"the gzip stream is damaged ({exc})"
                break
        if damage and not out.strip():
            raise ValueError(f"{damage}, before any event")
        return out, True


def sniff(path: Path) -> Shape:
    """Recognise the shape of ``path`` from its first bytes; ``ValueError`` says why not."""
    head, gzipped = read_head(path)
    compression: Literal["gzip", "none"] = "gzip" if gzipped else "none"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text:
        raise EmptyLog("no events")
    records = _RECORDS.match(text)
    if records:
        key = records.group(1).decode()
        inner = text[records.end() :].lstrip()
        try:
            first = orjson.loads(_first_value(inner))
            source, envelope = _keys_of(first)
        except (orjson.JSONDecodeError, ValueError):
            source = (
                SOURCES["aws/cloudtrail"] if key == "Records" else SOURCES["azure/activitylogs"]
            )
            envelope = None
        return Shape(source, "document", compression, records_key=key, envelope=envelope)
    if text[:1] == b"[":
        if text[1:].strip() == b"]":  # gcloud logging read with no results
            raise EmptyLog("no events")
        try:
            first = orjson.loads(_first_value(text[1:].lstrip()))
            source, envelope = _keys_of(first)
        except orjson.JSONDecodeError:
            source, envelope = _by_keys_in(text)
        return Shape(source, "array", compression, envelope=envelope)
    if text[:1] != b"{":
        raise ValueError("not JSON: the file does not start with '{' or '['")
    if b"\n" not in text and len(head) == _HEAD_BYTES:  # one long first event
        head, _ = read_head(path, _LONG_LINE)
        text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    line = text.split(b"\n", 1)[0]
    try:
        first = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise ValueError(
            "line 1 is not a complete JSON object: expected JSON lines, a JSON array or a "
            'document with a "Records"/"records" array'
        ) from None
    source, envelope = _keys_of(first)
    return Shape(source, "lines", compression, envelope=envelope)


def _first_value(text: bytes) -> bytes:
    """The first JSON value of ``text`` (an array's first element), cut by bracket counting."""
    depth = 0
    in_string = escaped = False
    for i, byte in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x7B, 0x5B):
            depth += 1
        elif byte in (0x7D, 0x5D):
            depth -= 1
            if depth == 0:
                return text[: i + 1]
    raise orjson.JSONDecodeError("the first record is longer than the sniffed head", "", 0)


def _by_keys_in(text: bytes) -> tuple[Source, str | None]:
    keys = {m.group(1).decode() for m in _KEY.finditer(text[:65536])}
    return _classify(
        keys, "Event" if '"audit.k8s.io/' in text.decode("latin-1") else None, "audit.k8s.io/v1"
    )
