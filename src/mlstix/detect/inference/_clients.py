"""Who sent a query: ``--client-key SPEC`` turns a record into a client name.

Endpoints rarely log their caller (SageMaker Data Capture records no principal and CloudTrail
does not log ``InvokeEndpoint``), so the user says where the caller is:

``field:NAME``
    a field of the record's metadata, dotted for nesting: the plain form's ``client``, a
    SageMaker ``eventMetadata`` field (``field:inferenceId``), an Azure ML collector attribute
    (``field:xrequestid``) or a Vertex AI column.
``attr:NAME``
    a custom attribute, ``NAME=value`` inside a ``key=value`` list separated by ``,`` or ``;``
    (what callers put in SageMaker's ``CustomAttributes`` header, when your capture pipeline
    records it as ``customAttributes`` in the metadata).
``json:PATH``
    a value inside the request body, ``$.a.b[0].c`` (a user or tenant id the application sends).
``inference-id-prefix:SEP``
    the part of the request id (SageMaker ``inferenceId``, Azure ``xrequestid``, Vertex
    ``request_id``) before the first ``SEP``: a proxy that sets ``InferenceId`` to
    ``<caller>:<uuid>`` makes callers visible with ``inference-id-prefix::``.
``join:REQUEST_FIELD=CLIENT_FIELD``
    with ``--access-log FILE``: JSON-lines access logs (API Gateway, a load balancer or proxy
    writing JSON) whose ``REQUEST_FIELD`` equals the record's request id; ``CLIENT_FIELD`` of
    that line names the caller (``join:requestId=ip``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from mlstix.detect.inference._records import Record
from mlstix.errors import UsageError

__all__ = ["ClientKey", "parse_client_key"]

ClientKey = Callable[[Record], str | None]

_REQUEST_ID_FIELDS = ("inferenceId", "xrequestid", "correlationid", "request_id", "requestId")
# (a pattern, not a compiled one: compiling it at import cost 1.6 ms of every job's start-up,
# and only json:PATH keys use it; re caches it on first use)
_PATH_PART = r"\.([A-Za-z_][\w-]*)|\[(\d+)\]|\[['\"]([^'\"]+)['\"]\]"


def _dig(value: Any, parts: Iterable[str | int]) -> Any:
    for part in parts:
        if isinstance(part, int):
            if not isinstance(value, list) or part >= len(value):
                return None
            value = value[part]
        else:
            if not isinstance(value, dict):
                return None
            value = value.get(part)
    return value


def _scalar(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    return str(value)


def _json_path(path: str) -> list[str | int]:
    text = path.strip()
    if text.startswith("$"):
        text = text[1:]
    elif not text.startswith((".", "[")):
        text = "." + text
    parts: list[str | int] = []
    pos = 0
    while pos < len(text):
        match = re.compile(_PATH_PART).match(text, pos)
        if match is None:
            raise UsageError(f"--client-key json:{path}: cannot read the path at {text[pos:]!r}")
        name, index, quoted = match.groups()
        parts.append(int(index) if index is not None else (name or quoted))
        pos = match.end()
    if not parts:
        raise UsageError(f"--client-key json:{path}: the path is empty")
    return parts


def _request_id(record: Record) -> str | None:
    for name in _REQUEST_ID_FIELDS:
        value = _scalar(record.meta.get(name))
        if value:
            return value
    return None


def _body_object(record: Record) -> Any:
    data = record.input.data
    if record.input.encoding == "OBJECT":
        return data
    if isinstance(data, str) and data.lstrip()[:1] in ("{", "["):
        try:
            return json.loads(data)
        except ValueError:
            return None
    return None


def _attributes(text: str) -> dict[str, str]:
    out = {}
    for item in re.split(r"[;,]", text):
        key, sep, value = item.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


def _load_access_logs(
    paths: Iterable[Path], request_field: str, client_field: str
) -> dict[str, str]:
    table: dict[str, str] = {}
    req_parts = request_field.split(".")
    client_parts = client_field.split(".")
    for path in paths:
        try:
            handle = path.open("rb")
        except OSError as exc:
            raise UsageError(f"--access-log {path}: {exc.strerror or exc}") from None
        found = 0
        with handle:
            for line in handle:
                try:
                    obj = json.loads(line)
                except (ValueError, RecursionError):
                    continue
                request = _scalar(_dig(obj, req_parts))
                client = _scalar(_dig(obj, client_parts))
                if request and client:
                    table[request] = client
                    found += 1
        if not found:  # garbage, an empty file, or fields named wrong: say so
            raise UsageError(
                f"--access-log {path}: no JSON line gives both {request_field} and {client_field}",
                hint="--client-key join:REQUEST_FIELD=CLIENT_FIELD names the access log's fields",
            )
    return table


def parse_client_key(spec: str | None, access_logs: Iterable[Path] = ()) -> ClientKey:
    """The client extractor that ``spec`` describes; raises :class:`UsageError` on a bad spec."""
    if spec is None or spec == "":
        spec = "field:client"
    kind, sep, arg = spec.partition(":")
    kind = kind.strip().lower()
    if not sep or not arg:
        raise UsageError(
            f"--client-key {spec!r}: expected KIND:VALUE, one of field:NAME, attr:NAME, "
            "json:PATH, inference-id-prefix:SEP, join:REQUEST_FIELD=CLIENT_FIELD"
        )
    if kind == "field":
        fields = arg.split(".")
        return lambda record: _scalar(_dig(record.meta, fields))
    if kind == "attr":

        def attribute(record: Record) -> str | None:
            for holder in ("customAttributes", "CustomAttributes", "custom_attributes"):
                raw = record.meta.get(holder)
                if isinstance(raw, list):
                    raw = ",".join(str(r) for r in raw)
                if isinstance(raw, str):
                    found = _attributes(raw).get(arg)
                    if found:
                        return found
            return None

        return attribute
    if kind == "json":
        parts = _json_path(arg)
        return lambda record: _scalar(_dig(_body_object(record), parts))
    if kind == "inference-id-prefix":

        def prefix(record: Record) -> str | None:
            request = _request_id(record)
            if request is None or arg not in request:
                return None
            return request.split(arg, 1)[0] or None

        return prefix
    if kind == "join":
        request_field, eq, client_field = arg.partition("=")
        logs = list(access_logs)
        if not eq or not request_field or not client_field:
            raise UsageError(f"--client-key {spec!r}: expected join:REQUEST_FIELD=CLIENT_FIELD")
        if not logs:
            raise UsageError(f"--client-key {spec!r} needs --access-log FILE")
        table = _load_access_logs(logs, request_field, client_field)

        def joined(record: Record) -> str | None:
            request = _request_id(record)
            return table.get(request) if request else None

        return joined
    raise UsageError(
        f"--client-key {spec!r}: unknown kind {kind!r} (field, attr, json, "
        "inference-id-prefix, join)"
    )
