"""Ray workers list and read with the waits of the command that started them: the driver puts
``MLSTIX_PROBE_TIMEOUT``, ``MLSTIX_READ_TIMEOUT`` and the libraries' own wait settings (where
set) in the job's ``runtime_env``, beside the endpoints; a value that is no number of seconds is
refused once, in the driver, before any task. (Before, a worker waited the defaults whatever the
command was given.)"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from mlstix._timeouts import PROBE_ENV, READ_ENV
from mlstix.errors import UsageError


def _start(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    from mlstix.scan.remote import _executors

    seen: dict[str, Any] = {}

    def init(**kwargs: Any) -> None:
        seen.update(kwargs)

    fake = SimpleNamespace(init=init, remote=lambda **kw: lambda f: f, shutdown=lambda: None)
    monkeypatch.setattr(_executors, "_ray", lambda: fake)
    monkeypatch.setattr(_executors, "_probe", lambda address: None)
    _executors.RayExecutor("ray://head:10001", 4)
    return seen


def test_the_waits_reach_the_workers_runtime_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ENDPOINT_URL", "HF_HUB_ETAG_TIMEOUT", "AWS_RETRY_MODE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(PROBE_ENV, "3")
    monkeypatch.setenv(READ_ENV, "7.5")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "4")
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://10.0.0.5:4443")
    env = _start(monkeypatch)["runtime_env"]["env_vars"]
    assert env[PROBE_ENV] == "3" and env[READ_ENV] == "7.5" and env["AWS_MAX_ATTEMPTS"] == "4"
    assert env["STORAGE_EMULATOR_HOST"] == "http://10.0.0.5:4443"
    assert "HF_HUB_ETAG_TIMEOUT" not in env  # not set here: the worker keeps its own default


def test_nothing_set_sends_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlstix.scan.remote._executors import _ENDPOINT_VARS

    for name in (PROBE_ENV, READ_ENV, "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE", *_ENDPOINT_VARS):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("HF_HUB_ETAG_TIMEOUT", raising=False)
    monkeypatch.delenv("HF_HUB_DOWNLOAD_TIMEOUT", raising=False)
    assert _start(monkeypatch)["runtime_env"] is None


def test_a_bad_wait_is_refused_before_the_cluster_is_joined(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(READ_ENV, "soon")
    with pytest.raises(UsageError, match=f"{READ_ENV}='soon' is not a number of seconds"):
        _start(monkeypatch)
