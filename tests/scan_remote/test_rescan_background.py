"""The listing beside the rest of a scan's start: a forked process or a thread hands back the
listing, its error, or (a child that died without an answer) the work is done here instead."""

from __future__ import annotations

import os
import signal
from typing import Any

import pytest

from mlstix.errors import UsageError
from mlstix.scan.remote._background import in_process, in_thread
from mlstix.scan.remote._fs import RemoteError


@pytest.mark.parametrize("run", [in_process, in_thread], ids=["process", "thread"])
def test_result_and_error_come_back(run: Any) -> None:
    assert run(lambda: [os.getpid(), {"a": b"\x00" * 200_000}]).result()[1] == {
        "a": b"\0" * 200_000
    }

    def fail() -> None:
        raise RemoteError("s3://b/p: cannot list: AccessDenied", hint="check the credentials")

    with pytest.raises(RemoteError, match="AccessDenied") as err:
        run(fail).result()
    assert err.value.hint == "check the credentials"  # the hint crosses the pipe too


def test_the_listing_runs_in_another_process() -> None:
    assert in_process(os.getpid).result() != os.getpid()


def test_a_child_that_dies_is_listed_here() -> None:
    parent = os.getpid()

    def die_in_child() -> int:
        if os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
        return os.getpid()

    assert in_process(die_in_child).result() == parent


def test_an_error_that_cannot_travel_is_raised_here() -> None:
    class Local(UsageError):  # defined in a function: pickle cannot name it
        pass

    def fail() -> None:
        raise Local("nothing to scan")

    with pytest.raises(Local, match="nothing to scan"):
        in_process(fail).result()


def test_cancel_ends_the_child() -> None:
    pending = in_process(lambda: signal.pause())
    assert pending.cancel()
    assert not pending.proc.is_alive()  # type: ignore[attr-defined]


class _TwoArgs(UsageError):
    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")


def test_an_error_that_does_not_unpickle_is_raised_here() -> None:
    def fail() -> None:
        raise _TwoArgs("s3://b", "gone")

    with pytest.raises(_TwoArgs, match="s3://b: gone"):
        in_process(fail).result()
