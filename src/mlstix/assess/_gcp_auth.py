# mypy: disable-error-code="import-untyped"
"""The Google credentials of ``mlstix assess gcp``: application-default credentials
(``google.auth.default``), and one line for whatever is wrong with them.

google-auth raises its errors with a tuple of arguments, a message and the error beneath it
(``('File x.json is not a valid json file.', JSONDecodeError(...))``), which ``str()`` shows as
a Python tuple: :func:`reason` makes one sentence of the parts. The file named by
``GOOGLE_APPLICATION_CREDENTIALS`` is checked before google-auth opens it: google-auth reads it
whole with ``json.load`` (a FIFO there blocks for ever, a huge file fills memory), and a real
credentials file (service account key, authorized user, external account, impersonation) is a
few KB.
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from typing import Any

from mlstix.errors import MlstixError

__all__ = ["ENV", "MAX_FILE", "SCOPE", "GcpCredentialsError", "default_credentials", "reason"]

ENV = "GOOGLE_APPLICATION_CREDENTIALS"
SCOPE = "https://www.googleapis.com/auth/cloud-platform.read-only"
MAX_FILE = 1 << 20  # bytes: far above any credentials file


class GcpCredentialsError(MlstixError):
    """No usable application-default credentials, or the APIs cannot be reached."""

    hint = f"run `gcloud auth application-default login`, or set {ENV}"


def reason(exc: BaseException, depth: int = 0) -> str:
    """One line from google-auth's (message, cause) arguments: the text parts and the causes'
    own reasons, joined; a response body (a dict) is left out."""
    parts: list[str] = []
    for arg in exc.args:
        if isinstance(arg, BaseException) and depth < 3:
            parts.append(reason(arg, depth + 1))
        elif isinstance(arg, str) and arg.strip():
            parts.append(arg.strip().rstrip("."))
    text = ": ".join(p for p in parts if p) or type(exc).__name__
    # a Python tuple of names inside a message ("expected one of ('a', 'b')") as a list
    text = _NAMES.sub(lambda m: ", ".join(re.findall(r"'([^']*)'", m.group(0))), text)
    return " ".join(text.split())[:300]


_NAMES = re.compile(r"\('[^'()]*'(?:, '[^'()]*')*,?\)")


def _check_file(named: str) -> None:
    """The file ``GOOGLE_APPLICATION_CREDENTIALS`` names is a regular file of a credentials
    file's size (google-auth would block on a FIFO and read any size)."""
    try:
        st = Path(named).stat()
    except OSError as exc:
        why = (exc.strerror or type(exc).__name__).lower()
        raise GcpCredentialsError(f"{ENV} names {named}: {why}") from None
    if not stat.S_ISREG(st.st_mode):
        kind = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise GcpCredentialsError(f"{ENV} names {named}, which is {kind}")
    if st.st_size > MAX_FILE:
        raise GcpCredentialsError(
            f"{ENV} names {named}, which is {st.st_size} bytes: not a credentials file (those "
            "are a few KB)"
        )
    try:
        info = json.loads(Path(named).read_bytes())
    except ValueError:  # not JSON at all: google-auth's own message says so
        return
    except OSError as exc:
        why = (exc.strerror or type(exc).__name__).lower()
        raise GcpCredentialsError(f"{ENV} names {named}: {why}") from None
    if not isinstance(info, dict):  # google-auth calls .get() on it (an AttributeError)
        raise GcpCredentialsError(
            f"{ENV} names {named}, which is not a usable credentials file: its JSON is "
            f"{type(info).__name__ if info is not None else 'null'}, not an object"
        )


def default_credentials() -> Any:
    """Application-default credentials with the read-only scope, or one clear error."""
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError, GoogleAuthError

    named = os.environ.get(ENV)
    if named:
        _check_file(named)
    try:
        credentials, _ = google.auth.default(scopes=[SCOPE])
    except DefaultCredentialsError as exc:
        if named:  # the file named is what failed: say so, not the whole chain
            raise GcpCredentialsError(
                f"{ENV} names {named}, which is not a usable credentials file: {reason(exc)}"
            ) from None
        raise GcpCredentialsError(
            f"no Google application-default credentials: tried {ENV}, the gcloud ADC file "
            "(application_default_credentials.json) and the GCE metadata server"
        ) from None
    except (GoogleAuthError, ValueError, OSError, TypeError, AttributeError, KeyError) as exc:
        # a file google-auth half understood (a field of the wrong JSON type)
        where = f"{ENV} names {named}: " if named else ""
        raise GcpCredentialsError(f"{where}cannot use the credentials: {reason(exc)}") from None
    return credentials
