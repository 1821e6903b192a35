"""The listing beside the rest of a scan's start: a forked process or a thread hands back the
listing, its error, or (a child that died without an answer) the work is done here instead."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest

from mlstix.errors import UsageError
from mlstix.scan.remote._background import Agent, Worker, in_process, in_thread
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


def _serve(tasks: list[Any]) -> Any:
    for t in tasks:
        if t == "die":
            os.kill(os.getpid(), signal.SIGKILL)
        if t == "spin":
            signal.pause()
        yield (t, os.getpid())


def test_the_agent_lists_then_serves_in_its_own_process() -> None:
    agent: Agent[int] = Agent(os.getpid)
    pid = agent.result()
    assert pid != os.getpid()
    assert list(agent.serve(_serve, ["a", "b"])) == [("a", pid), ("b", pid)]
    agent.finish()
    assert not agent.proc.is_alive()


def test_what_the_agent_does_not_answer_is_left_to_the_caller() -> None:
    agent: Agent[int] = Agent(os.getpid)
    agent.result()
    assert [r[0] for r in agent.serve(_serve, ["a", "die", "b"])] == ["a"]
    assert not agent.proc.is_alive()
    assert list(agent.serve(_serve, ["c"])) == []  # a dead agent serves nothing more


def test_a_worker_serves_in_a_child_of_this_process() -> None:
    worker = Worker(_serve, ["a", "b"])
    pid = worker.proc.pid
    assert pid != os.getpid()
    assert list(worker.results(5.0)) == [("a", pid), ("b", pid)]
    assert not worker.proc.is_alive()


def test_what_a_worker_does_not_answer_is_left_to_the_caller() -> None:
    worker = Worker(_serve, ["a", "die", "b"])
    assert [r[0] for r in worker.results(5.0)] == ["a"]
    assert not worker.proc.is_alive()


def test_a_task_past_the_deadline_ends_the_worker() -> None:
    start = time.monotonic()
    worker = Worker(_serve, ["a", "spin", "b"])
    assert [r[0] for r in worker.results(0.5)] == ["a"]
    assert not worker.proc.is_alive()
    assert time.monotonic() - start < 5


def test_an_agent_that_dies_listing_lists_here_and_serves_nothing() -> None:
    parent = os.getpid()

    def die_in_child() -> int:
        if os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
        return os.getpid()

    agent: Agent[int] = Agent(die_in_child)
    assert agent.result() == parent
    assert list(agent.serve(_serve, ["a"])) == []
    agent.finish()


def test_an_agent_listing_error_is_raised_here_and_the_agent_ends() -> None:
    def fail() -> None:
        raise RemoteError("s3://b/p: cannot list: AccessDenied")

    agent: Agent[None] = Agent(fail)
    with pytest.raises(RemoteError, match="AccessDenied"):
        agent.result()
    assert not agent.proc.is_alive()


def test_a_cancelled_agent_ends_even_while_it_lists() -> None:
    agent: Agent[None] = Agent(lambda: signal.pause())  # an import or a listing that hangs
    start = time.monotonic()
    agent.cancel()
    assert not agent.proc.is_alive()
    assert time.monotonic() - start < 3
