"""Fuzz the HTTP surface from the server's own OpenAPI document with schemathesis: no request
may cause a server error, and every answer must match the documented status codes, media type
and schema. Bounded: a few examples per operation, well under a minute.

One schemathesis check is left out: "schema-valid request accepted". JSON Schema cannot say that
``next`` must be a cursor this server issued or that ``added_after`` must be a real date in UTC
("2026-02-30T00:00:00Z" matches any pattern), so the server rightly answers 400 to such values.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import positive_data_acceptance
from taxii_support import IDENTITY, add_users

from mlstix.taxii.app import create_app
from mlstix.taxii.config import FINDINGS_COLLECTION_ID, ServerConfig


def _schema(tmp_path: Path) -> Any:
    app = create_app(
        ServerConfig(db=f"sqlite:///{tmp_path / 'fuzz.sqlite3'}", api_docs=True),
        kb_loader=lambda: [IDENTITY],
    )
    users = add_users(app)
    token = base64.b64encode(f"{users.writer[0]}:{users.writer[1]}".encode()).decode()
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    return schema, {"Authorization": f"Basic {token}"}


def _aimed(strategy: Any) -> Any:
    """Half the cases address the real Findings collection, so that the fuzzer gets past 404
    into the handlers (filters, envelopes) instead of only probing unknown collections."""

    def aim(pair: tuple[Any, bool]) -> Any:
        case, real = pair
        if real and case.path_parameters and "collection_id" in case.path_parameters:
            case.path_parameters["collection_id"] = FINDINGS_COLLECTION_ID
        return case

    return st.tuples(strategy, st.booleans()).map(aim)


def test_openapi_fuzz(tmp_path: Path) -> None:
    schema, auth = _schema(tmp_path)
    failures: list[str] = []
    operations = list(schema.get_all_operations())
    assert len(operations) >= 11
    for result in operations:
        operation = result.ok()

        @settings(
            max_examples=20,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=_aimed(operation.as_strategy()))
        def run(case: Any) -> None:
            case.call_and_validate(headers=auth, excluded_checks=[positive_data_acceptance])

        try:
            run()
        except (AssertionError, ExceptionGroup) as exc:  # schemathesis groups its failures
            failures.append(f"{operation.label}: {type(exc).__name__}: {exc}")
    assert not failures, "\n\n".join(failures)
