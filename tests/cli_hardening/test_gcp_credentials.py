"""`assess gcp` with a GOOGLE_APPLICATION_CREDENTIALS file that is not a usable one: one line
naming the file and what is wrong, exit 2, no report, and nothing sent anywhere.

google-auth raises its errors with (message, cause) arguments, which the line showed as a Python
tuple (``('File x is not a valid json file.', JSONDecodeError('Expecting value: ...'))``); a JSON
list was an AttributeError traceback; a FIFO blocked for ever; any size was read whole.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.cli_hardening.conftest import assert_clean, invoke

pytest.importorskip("google.auth", reason="assess gcp needs the 'assess' extra (google-auth)")

_SA = {
    "type": "service_account",
    "project_id": "acme-ml-prod",
    "private_key_id": "0123456789abcdef",
    "private_key": "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n",
    "client_email": "scanner@acme-ml-prod.iam.gserviceaccount.com",
    "client_id": "100000000000000000001",
    "token_uri": "https://oauth2.googleapis.com/token",
}

CASES: dict[str, tuple[bytes | None, str]] = {
    "not json": (b"garbage\n", "is not a valid json file: Expecting value: line 1 column 1"),
    "not utf-8": (b"\xff\xfe{", "is not a valid json file"),
    "a json list": (b"[1, 2]", "its JSON is list, not an object"),
    "json null": (b"null", "its JSON is null, not an object"),
    "no type": (b'{"client_email": "x"}', "not a usable credentials file"),
    "unknown type": (
        b'{"type": "nope"}',
        "does not have a valid type. Type is nope, expected one of authorized_user, "
        "service_account, external_account",
    ),
    "service account without fields": (
        b'{"type": "service_account"}',
        "Failed to load service account credentials from {path}: Service account info was not "
        "in the expected format, missing fields",
    ),
    "service account with a bad key": (
        json.dumps(_SA).encode(),
        "Failed to load service account credentials from {path}: ",
    ),
    "fields of the wrong type": (
        json.dumps({**_SA, "private_key": 7}).encode(),
        "Failed to load service account credentials",
    ),
    "authorized user without fields": (
        b'{"type": "authorized_user"}',
        "Authorized user info was not in the expected format",
    ),
    "too large": (b" " * (1 << 20) + b"{}", f"which is {(1 << 20) + 2} bytes: not a credentials"),
    "a folder": (None, "which is a folder"),
    "a fifo": (None, "which is not a regular file"),
    "missing": (None, ": no such file or directory"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_credentials_file_is_one_line_naming_it(tmp_path: Path, case: str) -> None:
    content, said = CASES[case]
    path = tmp_path / "creds.json"
    if content is not None:
        path.write_bytes(content)
    elif case == "a folder":
        path.mkdir()
    elif case == "a fifo":
        os.mkfifo(path)
    out = tmp_path / "report.json"
    args = ["assess", "gcp", "--project", "acme-ml-prod", "--format", "json", "-o", str(out)]
    # a closed port for every API: if the credentials were taken, nothing could answer either
    closed = "http://127.0.0.1:9/"
    env: dict[str, str | None] = {
        "GOOGLE_APPLICATION_CREDENTIALS": str(path),
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_AIPLATFORM": closed,
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDRESOURCEMANAGER": closed,
        "GCE_METADATA_HOST": "127.0.0.1:9",
        "NO_COLOR": "1",
    }
    outcome = invoke(args, env=env, alarm=30)
    assert_clean(outcome, {2}, names=str(path))
    (line,) = outcome.error_lines
    assert line.startswith(f"error: GOOGLE_APPLICATION_CREDENTIALS names {path}"), line
    assert said.format(path=path) in line, line
    assert "('" not in line and "Error(" not in line, line  # no Python tuple or repr
    assert not out.exists()
