"""Running the listing of a scan beside the rest of its start: in a thread, or in a forked
process when the scan forks its workers anyway.

A rescan of a large registry is mostly fixed cost: importing the object store's SDK, one
listing, reading the state, loading the knowledge base and the analyzers. In one process those
steps queue behind the interpreter lock; a forked process lists on another core (importing the
SDK, waiting on the network, parsing the pages) while this one gets everything else ready, and
hands the objects back through a pipe. The child is forked before this process starts any
thread, runs nothing but the listing, and ends with ``os._exit``; a child that dies without an
answer is not an error of the scan: the listing then runs again here.

An :class:`Agent` is such a child, forked first (before this process imports the model
scanner), that then also serves the scan's work. It has imported the store's SDK and made its
client for the listing, so a rescan imports neither here nor in new workers. The few objects
that changed since the last scan are analysed by a :class:`Worker` forked from this process
(which has imported the scanner), under the worker limits (the caller watches the deadline and
sees a crash), whose range reads the agent does (:mod:`._relay`); many are sent to the agent,
which runs the isolated worker pool, forked from it. Whatever was not answered (a process died,
or an object outlived the deadline) the caller analyses again in its own pool, where a hostile
file costs only its own worker.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import gc
import os
import signal
import threading
import time
from collections.abc import Callable, Generator, Iterator
from typing import Any, Generic, Protocol, TypeVar

__all__ = ["Agent", "Pending", "Worker", "in_process", "in_thread", "paused_gc"]

T = TypeVar("T")
R = TypeVar("R")
T_co = TypeVar("T_co", covariant=True)


class Pending(Protocol[T_co]):
    def result(self) -> T_co: ...

    def cancel(self) -> bool: ...


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """The cyclic collector paused (then restored as it was) while a scan starts: imports, the
    knowledge base and the state allocate many objects and free few, and the collector's passes
    over them are a tenth of that CPU (Python 3.11; 0.05 s of a rescan's 0.4 s here, as much in
    the agent). Objects without cycles are freed as ever. What it made is then frozen
    (``gc.freeze``: the first pass after would walk it all, and the workers forked next share
    its pages rather than copy them), as the scan keeps it to its end."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


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


# The end of a stream of results (anything else sent before it is a result)
_DONE = "done"


def _stream(conn: Any, proc: Any, deadline: float) -> Generator[Any, None, bool]:
    """The answers ``proc`` sends on ``conn`` up to :data:`_DONE`; it stops early when ``proc``
    dies, or (``deadline`` > 0) when one answer takes longer than ``deadline`` seconds. Whether
    it reached the end is the generator's return value."""
    from multiprocessing.connection import wait

    started = time.monotonic()
    while True:
        left = deadline - (time.monotonic() - started) if deadline > 0 else None
        if left is not None and left <= 0:
            return False
        wait([conn, proc.sentinel], timeout=left)
        try:
            if not conn.poll():
                if proc.is_alive():
                    continue  # the deadline is checked above
                return False
            answer = conn.recv()
        except (EOFError, OSError):
            return False
        if isinstance(answer, str) and answer == _DONE:
            return True
        started = time.monotonic()
        yield answer


class Agent(_Forked[T]):
    """A forked process that answers ``func()`` (the listing), then, until :meth:`finish`,
    reads ranges for a worker of this process's (:mod:`._relay`: the worker inherits
    :attr:`reads`), and serves at most one batch of tasks with a function sent to it.

    It is meant to be forked first, before this process imports the scanner: it imports the
    store's SDK, makes its client and lists while this process gets the rest ready."""

    def __init__(self, func: Callable[[], T]) -> None:
        import multiprocessing

        self.func = func
        ctx = multiprocessing.get_context("fork")
        self.conn, child = ctx.Pipe(duplex=True)
        self.reads, reads_child = ctx.Pipe(duplex=True)
        # not a daemon: a daemonic process may not start the worker pool; it ends when its pipe
        # does (this process gone), and finish() or cancel() joins it
        ends = (self.conn, self.reads)  # this process's ends, which the agent closes
        self.proc = ctx.Process(target=_agent, args=(child, reads_child, func, ends), daemon=False)
        self.proc.start()
        child.close()
        reads_child.close()
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

    def serve(self, serve: Callable[[list[Any]], Iterator[R]], tasks: list[Any]) -> Iterator[R]:
        """The results of ``serve(tasks)`` (``serve`` pickles: a module's function, or a
        partial of one), run by the agent, as it answers them; it stops early (the caller does
        the rest) when the agent dies. Never raises for the agent's sake; the agent then ends."""
        if not self.listed:
            return
        self.listed = False
        try:
            self.conn.send((serve, tasks))
        except OSError:
            self.cancel()
            return
        done = yield from _stream(self.conn, self.proc, 0.0)
        if done:
            self.proc.join()
        self.cancel()

    def prefetch(self, objs: list[Any], max_bytes: int) -> None:
        """Start reading, in the agent, what a worker's first read of each of ``objs`` asks
        (:meth:`._relay.Server.prefetch`)."""
        if self.listed:
            with contextlib.suppress(OSError):
                self.conn.send(("prefetch", objs, max_bytes))

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
        for conn in (self.conn, self.reads):
            with contextlib.suppress(OSError):
                conn.close()
        return super().cancel()


def _stop(signum: int, frame: object) -> None:
    # Python swallows the exception of a handler that runs inside an at-fork hook or a
    # finalizer (a worker just forked, in logging's lock release): the process would go on and
    # outlive the scan. So: no second stop interrupts this one (the parent's SIGTERM follows the
    # Ctrl-C), the kernel ends the process in 4 s (SIGALRM's default action, which nothing in
    # Python can swallow), and a thread ends it sooner with the workers it forked.
    for stop in (signal.SIGINT, signal.SIGTERM):  # not SIG_IGN: a signal already pending
        signal.signal(stop, _again)  # would then raise "Signal 15 ignored due to race condition"
    if hasattr(signal, "setitimer"):
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.setitimer(signal.ITIMER_REAL, 4.0)
    backstop = threading.Timer(2.0, _end_now)
    backstop.daemon = True
    backstop.start()
    raise SystemExit(143)  # unwinds the pool a process may run, which kills its workers


def _again(signum: int, frame: object) -> None:
    """A stop signal while stopping: nothing more to do."""


def _end_now(code: int = 143) -> None:
    """End this process and the workers it forked: an unwinding that stopped short (or never
    ran) leaves them orphaned, waiting on their pipes for ever, and ``os._exit`` runs no
    multiprocessing exit handler to end them."""
    import multiprocessing

    for child in multiprocessing.active_children():
        with contextlib.suppress(OSError, ValueError, AttributeError):
            child.kill()
    os._exit(code)


def _agent(conn: Any, reads: Any, func: Callable[[], Any], ends: tuple[Any, ...]) -> None:
    for end in ends:  # the caller's ends: held here, the caller's exit would never show
        with contextlib.suppress(OSError):
            end.close()
    # what this process inherited stays as it is: the collector no longer walks it (nor copies
    # the pages it would touch); only what the listing and the analysis make is collected
    gc.freeze()
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)  # Ctrl-C: the parent reports it
    try:
        with contextlib.suppress(BaseException):  # the parent sees the pipe end, does the rest
            _agent_run(conn, reads, func)
    finally:
        _end_now(0)


def _agent_run(conn: Any, reads: Any, func: Callable[[], Any]) -> None:
    from multiprocessing.connection import wait

    gc.disable()  # the listing is mostly imports: see paused_gc
    try:
        answer: tuple[bool, Any] = (True, func())
    except Exception as exc:  # as _child
        answer = (False, exc)
    gc.freeze()  # what the imports made, never walked (re-enabled, a full pass would walk it)
    gc.enable()
    conn.send(answer)
    if not answer[0]:
        return
    from mlstix.scan.remote._relay import Server

    server = Server()
    waiting: list[Any] = [conn, reads]
    while True:
        ready = wait(waiting)
        if reads in ready:
            try:
                request = reads.recv()
            except (EOFError, OSError):
                waiting.remove(reads)
                continue
            reads.send(server.answer(request))
            continue
        message = conn.recv()  # EOFError: the caller is gone
        if isinstance(message, tuple) and message[0] == "prefetch":
            server.prefetch(*message[1:])
            continue
        server.close()
        if message is None:
            return
        serve, tasks = message
        for result in serve(tasks):
            conn.send(result)
        conn.send(_DONE)
        return


class Worker(Generic[R]):
    """A process forked from this one that runs ``serve(tasks)`` under a deadline per task,
    streaming each result back: the caller's sacrificial analyser (a hostile file that
    crashes or stalls it costs its own process)."""

    def __init__(
        self,
        serve: Callable[[list[Any]], Iterator[R]],
        tasks: list[Any],
        close: tuple[Any, ...] = (),
    ) -> None:
        """``close``: connections of this process's that the worker closes at once (the
        agent's control pipe: the agent ends when this process does, not when the worker
        does)."""
        import multiprocessing

        ctx = multiprocessing.get_context("fork")
        self.conn, child = ctx.Pipe(duplex=False)
        self.proc = ctx.Process(target=_worker, args=(child, serve, tasks, close), daemon=True)
        self.proc.start()
        child.close()

    def results(self, deadline: float) -> Iterator[R]:
        """Its results as they come; it stops early (the worker is then ended) when the worker
        dies or one task outlives ``deadline`` seconds (0: no deadline)."""
        try:
            done = yield from _stream(self.conn, self.proc, deadline)
            if done:
                self.proc.join()
        finally:
            self.cancel()

    def cancel(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join()
        with contextlib.suppress(OSError):
            self.conn.close()


def _worker(
    conn: Any, serve: Callable[[list[Any]], Iterator[Any]], tasks: list[Any], close: Any
) -> None:
    for other in close:
        with contextlib.suppress(OSError):
            other.close()
    gc.freeze()
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        with contextlib.suppress(BaseException):
            for result in serve(tasks):
                conn.send(result)
            conn.send(_DONE)
    finally:
        _end_now(0)
