"""Running one analysis per file in worker processes that may die.

A hostile file can crash a C library (h5py, a decompressor) with a segfault, spin in C code
where no Python signal reaches, or exhaust memory. ``concurrent.futures`` loses the whole pool
(and every result) when one worker dies; here each worker runs one file at a time, the parent
watches each worker's pipe, process sentinel and deadline, and a dead or stuck worker becomes
an error result *for that file only*: the worker is replaced and the scan goes on.

Small files cost little to analyse, so messages must cost less: tasks go to a worker in
batches, and results come back in groups (every ``_FLUSH`` seconds or ``_GROUP`` results).
Which file a dead or stuck worker was on is not read from the results, then, but from a
shared page where the worker writes, before each task, how many it has started and when: the
task it was on is the failed one, and those it finished but had not yet sent go back to the
queue (their analysis is run again, by a new worker).

Workers are forked (they inherit the imported analyzers), cap their address space
(``RLIMIT_AS``), and leave quietly on Ctrl-C (the terminal sends SIGINT to the whole process
group); the parent kills whatever is left when it stops, normally or not.
"""

from __future__ import annotations

import contextlib
import faulthandler
import gc
import mmap
import multiprocessing
import os
import selectors
import signal
import struct
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

__all__ = ["TOOK_LONGER", "run_isolated"]

T = TypeVar("T")
R = TypeVar("R")


TOOK_LONGER = "the analysis took longer than"  # how a task killed for its time is described


def _grace(timeout: float) -> float:
    """Seconds past the analysis timeout (which the worker enforces itself where Python code
    runs) before the parent kills a worker stuck in C code."""
    return max(1.0, min(10.0, timeout))


_PROGRESS = struct.Struct("<qd")  # tasks started by the worker, monotonic time of the last start
_GROUP = 64  # results sent together at most
_FLUSH = 0.02  # seconds a finished result may wait for others


def _worker(
    conn: Any,
    func: Callable[[Any], Any],
    memory: int,
    progress: mmap.mmap,
    inherited: tuple[Any, ...] = (),
) -> None:
    # The fork copied the parent's ends of this worker's pipe and of its siblings' pipes: held
    # here, they would keep a pipe open after the parent died, and recv() would wait for ever.
    for end in inherited:
        with contextlib.suppress(OSError):
            end.close()
    faulthandler.disable()  # a crash is reported by the parent, in one line, not as a dump
    gc.freeze()  # the inherited heap is never traversed by the collector, nor copied
    signal.signal(signal.SIGINT, lambda signum, frame: os._exit(130))
    signal.signal(signal.SIGTERM, lambda signum, frame: os._exit(143))
    if memory > 0:
        import resource

        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    started = 0
    try:
        while True:
            batch = conn.recv()
            if batch is None:
                return
            done: list[Any] = []
            since = time.monotonic()
            for task in batch:
                started += 1
                _PROGRESS.pack_into(progress, 0, started, time.monotonic())
                done.append(func(task))
                if len(done) >= _GROUP or time.monotonic() - since >= _FLUSH:
                    _send(conn, done, progress, started)
                    done = []
                    since = time.monotonic()
            if done:
                _send(conn, done, progress, started)
    except (EOFError, BrokenPipeError, ConnectionResetError, KeyboardInterrupt):
        return  # the parent is gone or stopping
    finally:
        os._exit(0)


def _send(conn: Any, done: list[Any], progress: mmap.mmap, started: int) -> None:
    """Send a group of results. A result that cannot be sent (pickling it fails: nothing is
    written then) is the failed task: the others go one by one, and the progress page is set
    back to it before the worker ends, so that the parent blames that task and no other."""
    try:
        conn.send(done)
    except (EOFError, BrokenPipeError, ConnectionResetError):
        raise
    except Exception:
        first = started - len(done)  # tasks whose results were sent before this group
        for i, result in enumerate(done):
            try:
                conn.send([result])
            except (EOFError, BrokenPipeError, ConnectionResetError):
                raise
            except Exception:
                _PROGRESS.pack_into(progress, 0, first + i + 1, time.monotonic())
                raise


# Tasks are sent to a worker in batches, ahead of need, so it seldom waits for the parent and
# small files do not cost a message round trip each: at least _AHEAD tasks are outstanding, and
# more (up to _BATCH) while their expected reading time stays under _AHEAD_SECONDS. Big files
# go one at a time: two large checkpoints queued to one worker leave the other one idle.
_AHEAD = 1
_BATCH = 32
_AHEAD_SECONDS = 0.25


@dataclass
class _Slot(Generic[T]):
    proc: Any
    conn: Any
    progress: mmap.mmap  # shared with the worker: see _PROGRESS
    tasks: deque[T] = field(default_factory=deque)  # sent, in the order the worker runs them
    received: int = 0  # results received from this worker
    closed: bool = False

    def running(self) -> tuple[int, float]:
        """``(i, since)``: the worker is on ``tasks[i]`` since ``since``; ``i`` is -1 when it
        has started no task whose result is not in."""
        started, since = _PROGRESS.unpack_from(self.progress, 0)
        return started - self.received - 1, since


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
    ready = selectors.DefaultSelector()  # each busy worker's pipe and process sentinel

    def start() -> _Slot[T]:
        parent, child = mp.Pipe()
        progress = mmap.mmap(-1, _PROGRESS.size)  # shared: the worker is forked
        inherited = (parent, *(s.conn for s in slots if not s.conn.closed))
        proc = mp.Process(
            target=_worker, args=(child, func, memory, progress, inherited), daemon=True
        )
        proc.start()
        child.close()
        slot: _Slot[T] = _Slot(proc, parent, progress)
        watch(slot, True)
        return slot

    def watch(slot: _Slot[T], on: bool) -> None:
        for fd in (slot.conn.fileno(), slot.proc.sentinel):
            if on:
                ready.register(fd, selectors.EVENT_READ)
            else:
                ready.unregister(fd)

    def fill(slot: _Slot[T]) -> None:
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

    def receive(slot: _Slot[T]) -> Iterator[R]:
        """Every result that has arrived; stops at the end of the pipe (a dead worker)."""
        while slot.tasks and slot.conn.poll():
            try:
                results = slot.conn.recv()
            except (EOFError, OSError):
                return
            for result in results:
                slot.tasks.popleft()
                slot.received += 1
                yield result

    def lose(slot: _Slot[T], why: str) -> Iterator[R]:
        """A dead or killed worker: the task it was on fails, the others go back to the queue
        (finished ones whose results it had not sent are analysed again), a new worker starts."""
        index, _ = slot.running()
        index = max(0, min(index, len(slot.tasks) - 1))
        task = slot.tasks[index]
        del slot.tasks[index]
        queue.extendleft(reversed(slot.tasks))
        slot.tasks.clear()
        if not slot.closed:
            watch(slot, False)
        slot.conn.close()
        slot.progress.close()
        fresh = start()
        slots[slots.index(slot)] = fresh
        yield failed(task, why)
        fill(fresh)

    try:
        for _ in range(max(1, min(jobs, len(tasks)))):
            slot = start()
            slots.append(slot)
            fill(slot)
        meanwhile()
        while any(s.tasks for s in slots):
            ready.select(0.5)
            for slot in [s for s in slots if s.tasks]:
                yield from receive(slot)
                if not slot.tasks:
                    fill(slot)
                    continue
                if not slot.proc.is_alive():
                    yield from receive(slot)  # what it sent before it ended
                    slot.proc.join()
                    if slot.tasks:
                        yield from lose(slot, _describe(slot.proc))
                    else:
                        fill(slot)
                    continue
                index, since = slot.running()
                if index < 0 or index >= len(slot.tasks):
                    fill(slot)
                    continue
                hard = grace + reading(slot.tasks[index])
                if grace and time.monotonic() - since > hard:
                    slot.proc.kill()
                    slot.proc.join()
                    yield from receive(slot)
                    yield from lose(slot, f"{TOOK_LONGER} {hard:g} s")
                else:
                    fill(slot)
    finally:
        for slot in slots:
            if slot.proc.is_alive():
                slot.proc.kill()
        for slot in slots:
            slot.proc.join()
            slot.conn.close()
            slot.progress.close()
        ready.close()
