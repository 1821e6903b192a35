"""Running the listing of a scan beside the rest of its start: in a thread, or in a forked
process when the scan forks its workers anyway.

A rescan of a large registry is mostly fixed cost: importing the object store's SDK, one
listing, reading the state, loading the knowledge base and the analyzers. In one process those
steps queue behind the interpreter lock; a forked process lists on another core (importing the
SDK, waiting on the network, parsing the pages) while this one gets everything else ready, and
hands the objects back through a pipe. The child is forked before this process starts any
thread, runs nothing but the listing, and ends with ``os._exit``; a child that dies without an
answer is not an error of the scan: the listing then runs again here.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import threading
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

__all__ = ["Pending", "in_process", "in_thread"]

T = TypeVar("T")
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
