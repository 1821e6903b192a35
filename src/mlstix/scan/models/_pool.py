"""Running one analysis per file in worker processes that may die.

A hostile file can crash a C library (h5py, a decompressor) with a segfault, spin in C code
where no Python signal reaches, or exhaust memory. ``concurrent.futures`` loses the whole pool
(and every result) when one worker dies; here each worker runs one file at a time, the parent
watches each worker's pipe, process sentinel and deadline, and a dead or stuck worker becomes
an error result *for that file only*: the worker is replaced and the scan goes on.

Workers are forked (they inherit the imported analyzers), cap their address space
(``RLIMIT_AS``), and leave quietly on Ctrl-C (the terminal sends SIGINT to the whole process
group); the parent kills whatever is left when it stops, normally or not.
"""

from __future__ import annotations

import contextlib
import faulthandler
import gc
import multiprocessing
import os
import selectors
import signal
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

__all__ = ["run_isolated"]

T = TypeVar("T")
R = TypeVar("R")


def _grace(timeout: float) -> float:
    """Seconds past the analysis timeout (which the worker enforces itself where Python code
    runs) before the parent kills a worker stuck in C code."""
    return max(1.0, min(10.0, timeout))


def _worker(conn: Any, func: Callable[[Any], Any], memory: int) -> None:
    faulthandler.disable()  # a crash is reported by the parent, in one line, not as a dump
    gc.freeze()  # the inherited heap is never traversed by the collector, nor copied
    signal.signal(signal.SIGINT, lambda signum, frame: os._exit(130))
    signal.signal(signal.SIGTERM, lambda signum, frame: os._exit(143))
    if memory > 0:
        import resource

        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    try:
        while True:
            batch = conn.recv()
            if batch is None:
                return
            for task in batch:  # one result per message: a crash is the file it happened on
                conn.send(func(task))
    except (EOFError, BrokenPipeError, ConnectionResetError, KeyboardInterrupt):
        return  # the parent is gone or stopping
    finally:
        os._exit(0)


# Tasks are sent to a worker in batches, ahead of need, so it never waits for the parent and
# small files do not cost a message round trip each: at least _AHEAD tasks are outstanding, and
# more (up to _BATCH) while their expected reading time stays under _AHEAD_SECONDS.
_AHEAD = 3
_BATCH = 32
_AHEAD_SECONDS = 0.25


@dataclass
class _Slot(Generic[T]):
    proc: Any
    conn: Any
    tasks: deque[T] = field(default_factory=deque)  # sent, in the order the worker runs them
    started: float = 0.0  # when the worker began the first of them
    closed: bool = False


def _describe(proc: Any) -> str:
    code = proc.exitcode
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"the analysis crashed ({name})"
    if code == 0 or code is None:
        return "the analysis process ended without a result"
    return f"the analysis process exited with status {code}"


def run_isolated(
    tasks: list[T],
    func: Callable[[T], R],
    failed: Callable[[T, str], R],
    *,
    jobs: int,
    timeout: float,
    reading: Callable[[T], float] = lambda task: 0.0,
    memory: int,
    meanwhile: Callable[[], object] = lambda: None,
) -> Iterator[R]:
    """Yield ``func(task)`` for each task, computed in ``jobs`` worker processes; a task whose
    worker dies, or outlives ``timeout`` (plus a grace period, plus ``reading(task)``: the time
    reading and hashing it may take, which the analysis timeout does not count), yields
    ``failed(task, why)``.
    ``meanwhile`` runs in this process once the workers are started."""
    mp = multiprocessing.get_context("fork")
    queue = deque(tasks)
    slots: list[_Slot[T]] = []
    grace = timeout + _grace(timeout) if timeout > 0 else 0.0
    ready = selectors.DefaultSelector()  # each worker's pipe and process sentinel

    def start() -> _Slot[T]:
        parent, child = mp.Pipe()
        proc = mp.Process(target=_worker, args=(child, func, memory), daemon=True)
        proc.start()
        child.close()
        slot: _Slot[T] = _Slot(proc, parent)
        watch(slot, True)
        return slot

    def watch(slot: _Slot[T], on: bool) -> None:
        for fd in (slot.conn.fileno(), slot.proc.sentinel):
            if on:
                ready.register(fd, selectors.EVENT_READ)
            else:
                ready.unregister(fd)

    def fill(slot: _Slot[T]) -> None:
        if not slot.tasks:
            slot.started = time.monotonic()
        batch: list[T] = []
        ahead = sum(map(reading, slot.tasks))
        while queue and (
            len(slot.tasks) < _AHEAD or (len(slot.tasks) < _BATCH and ahead < _AHEAD_SECONDS)
        ):
            task = queue.popleft()
            ahead += reading(task)
            slot.tasks.append(task)
            batch.append(task)
        if batch:
            with contextlib.suppress(OSError):  # died before reading: seen through its sentinel
                slot.conn.send(batch)
        if not slot.tasks and not slot.closed:
            slot.closed = True
            with contextlib.suppress(OSError):
                slot.conn.send(None)
            watch(slot, False)  # an idle worker's pipe and exit are no longer waited for

    def replace(slot: _Slot[T]) -> _Slot[T]:
        """A dead or killed worker: what it had not started goes back to the queue."""
        queue.extendleft(reversed(slot.tasks))
        if not slot.closed:
            watch(slot, False)
        slot.conn.close()
        fresh = start()
        slots[slots.index(slot)] = fresh
        return fresh

    try:
        for _ in range(max(1, min(jobs, len(tasks)))):
            slot = start()
            slots.append(slot)
            fill(slot)
        meanwhile()
        while any(s.tasks for s in slots):
            ready.select(0.5)
            for slot in [s for s in slots if s.tasks]:
                got = False
                while slot.tasks and slot.conn.poll():  # every result that has arrived
                    task = slot.tasks[0]
                    try:
                        result = slot.conn.recv()
                    except (EOFError, OSError):
                        slot.proc.join(1)
                        slot.tasks.popleft()
                        yield failed(task, _describe(slot.proc))
                        slot = replace(slot)
                        break
                    got = True
                    slot.tasks.popleft()
                    slot.started = time.monotonic()
                    yield result
                if got or not slot.tasks:
                    fill(slot)
                    continue
                task = slot.tasks[0]
                if not slot.proc.is_alive():
                    slot.proc.join()
                    slot.tasks.popleft()
                    yield failed(task, _describe(slot.proc))
                    fill(replace(slot))
                elif grace and time.monotonic() - slot.started > grace + reading(task):
                    slot.proc.kill()
                    slot.proc.join()
                    slot.tasks.popleft()
                    hard = grace + reading(task)
                    yield failed(task, f"the analysis took longer than {hard:g} s")
                    fill(replace(slot))
    finally:
        for slot in slots:
            if slot.proc.is_alive():
                slot.proc.kill()
        for slot in slots:
            slot.proc.join()
            slot.conn.close()
        ready.close()
