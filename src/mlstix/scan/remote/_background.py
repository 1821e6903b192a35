"""Running the listing of a scan beside the rest of its start: in a thread, or in a forked
process when the scan forks its workers anyway.

A rescan of a large registry is mostly fixed cost: importing the object store's SDK, one
listing, reading the state, loading the knowledge base and the analyzers. In one process those
steps queue behind the interpreter lock; a forked process lists on another core (importing the
SDK, waiting on the network, parsing the pages) while this one gets everything else ready, and
hands the objects back through a pipe. The child is forked before this process starts any
thread, runs nothing but the listing, and ends with ``os._exit``; a child that dies without an
answer is not an error of the scan: the listing then runs again here.

An :class:`Agent` is such a child that then also does the scan's work: the objects that changed
since the last scan are sent to it and it answers their results. It has imported the store's
SDK and made its client for the listing, so a rescan imports neither here nor in new workers.
It analyses a few objects itself (``inline``, under the worker limits: the caller watches the
deadline and sees a crash), or runs the isolated worker pool, forked from it. Whatever it did
not answer (it died, or an object outlived the deadline) the caller analyses again in its own
pool, where a hostile file costs only its own worker.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import gc
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Generic, Protocol, TypeVar

__all__ = ["Agent", "Pending", "in_process", "in_thread"]

T = TypeVar("T")
R = TypeVar("R")
T_co = TypeVar("T_co", covariant=True)


class Pending(Protocol[T_co]):
    def result(self) -> T_co: ...

    def cancel(self) -> bool: ...


def in_thread(func: Callable[[], T]) -> concurrent.futures.Future[T]:
    """``func()`` in a daemon thread, so that an error on this side (a damaged state, Ctrl-C)
    does not wait for a listing that is still waiting on the network."""
    future: concurrent.futures.Future[T] = concurrent.futures.Future()

    def run() -> None:
        try:
            future.set_result(func())
        except BaseException as exc:  # handed to the caller: .result() raises it there
            future.set_exception(exc)

    threading.Thread(target=run, name="mlstix-listing", daemon=True).start()
    return future


class _Forked(Generic[T]):
    def __init__(self, func: Callable[[], T]) -> None:
        import multiprocessing

        self.func = func
        ctx = multiprocessing.get_context("fork")
        self.conn, child = ctx.Pipe(duplex=False)
        self.proc = ctx.Process(target=_child, args=(child, func), daemon=True)
        self.proc.start()
        child.close()

    def result(self) -> T:
        try:
            ok, value = self.conn.recv()
        except Exception:  # died without an answer, or one that does not unpickle (an error
            self.cancel()  # class whose constructor takes other arguments): list here instead
            return self.func()
        finally:
            self.conn.close()
        self.proc.join()
        if ok:
            return value  # type: ignore[no-any-return]
        raise value

    def cancel(self) -> bool:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join()
        return True


def _child(conn: Any, func: Callable[[], Any]) -> None:
    try:
        try:
            answer: tuple[bool, Any] = (True, func())
        except Exception as exc:  # the listing's own errors (RemoteError, UsageError) travel
            answer = (False, exc)
        with contextlib.suppress(Exception):
            conn.send(answer)
    finally:
        os._exit(0)  # nothing of the parent's (state connection, atexit) runs here


def in_process(func: Callable[[], T]) -> Pending[T]:
    """``func()`` in a forked process; ``result()`` waits for it (and raises its error)."""
    return _Forked(func)


# The agent's end of the work: one batch of tasks, then this marker (anything else: a result)
_DONE = "done"


class Agent(_Forked[T], Generic[T, R]):
    """A forked process that answers ``func()`` (the listing), then serves one batch of tasks
    with ``serve(tasks, inline)``, streaming each result back as it comes."""

    def __init__(self, func: Callable[[], T], serve: Callable[[list[Any], bool], Iterator[R]]):
        import multiprocessing

        self.func = func
        ctx = multiprocessing.get_context("fork")
        self.conn, child = ctx.Pipe(duplex=True)
        # not a daemon: a daemonic process may not start the worker pool; it ends when its pipe
        # does (this process gone), and finish() or cancel() joins it
        self.proc = ctx.Process(target=_agent, args=(child, func, serve), daemon=False)
        self.proc.start()
        child.close()
        self.listed = False  # False: the listing came from here, no agent is left to serve

    def result(self) -> T:
        try:
            ok, value = self.conn.recv()
        except Exception:  # see _Forked.result: the listing then runs here
            self.cancel()
            return self.func()
        if ok:
            self.listed = True
            return value  # type: ignore[no-any-return]
        self.cancel()
        raise value

    def serve(self, tasks: list[Any], inline: bool, deadline: float) -> Iterator[R]:
        """The results of ``tasks``, as the agent answers them; it stops early (the caller
        does the rest) when the agent dies, or, ``inline``, when one task outlives
        ``deadline`` seconds (the agent is then killed). Never raises for the agent's sake."""
        if not self.listed:
            return
        try:
            self.conn.send((tasks, inline))
        except OSError:
            self.cancel()
            return
        started = time.monotonic()
        from multiprocessing.connection import wait

        while True:
            left = deadline - (time.monotonic() - started) if inline and deadline > 0 else None
            if left is not None and left <= 0:
                break
            wait([self.conn, self.proc.sentinel], timeout=left)
            try:
                if not self.conn.poll():
                    if self.proc.is_alive():
                        continue  # the deadline is checked above
                    break
                answer = self.conn.recv()
            except (EOFError, OSError):
                break
            if isinstance(answer, str) and answer == _DONE:
                self.proc.join()
                self.listed = False
                return
            started = time.monotonic()
            yield answer
        self.cancel()

    def finish(self) -> None:
        """Nothing (more) to serve: the agent ends."""
        if self.listed:
            with contextlib.suppress(OSError):
                self.conn.send(None)
            self.listed = False
        self.proc.join(5)
        self.cancel()

    def cancel(self) -> bool:
        """End the agent: SIGTERM first, so that a worker pool it runs is ended with it."""
        self.listed = False
        if self.proc.is_alive() and self.proc.pid:
            with contextlib.suppress(OSError):
                os.kill(self.proc.pid, signal.SIGTERM)
            self.proc.join(2)
        with contextlib.suppress(OSError):
            self.conn.close()
        return super().cancel()


def _agent(conn: Any, func: Callable[[], Any], serve: Callable[[list[Any], bool], Any]) -> None:
    def stop(signum: int, frame: object) -> None:
        raise SystemExit(143)  # unwinds the pool it may run, which kills its workers

    # what this process inherited stays as it is: the collector no longer walks it (nor copies
    # the pages it would touch); only what the listing and the analysis make is collected
    gc.freeze()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)  # Ctrl-C: the parent reports it
    try:
        with contextlib.suppress(BaseException):  # the parent sees the pipe end, does the rest
            _agent_run(conn, func, serve)
    finally:
        os._exit(0)


def _agent_run(conn: Any, func: Callable[[], Any], serve: Callable[[list[Any], bool], Any]) -> None:
    try:
        answer: tuple[bool, Any] = (True, func())
    except Exception as exc:  # as _child
        answer = (False, exc)
    conn.send(answer)
    if not answer[0]:
        return
    batch = conn.recv()
    if batch is None:
        return
    tasks, inline = batch
    for result in serve(tasks, inline):
        conn.send(result)
    conn.send(_DONE)
