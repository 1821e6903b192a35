"""Run a collector's read tasks on a bounded number of threads, interruptibly.

``ThreadPoolExecutor`` joins its workers when leaving its ``with`` block and runs every queued
task first, so Ctrl-C would wait for all remaining API calls. Here workers are daemon threads
taking tasks from a queue; the caller waits in short slices, so Ctrl-C reaches it at once (the CLI
then exits 130 without joining the workers). The first exception of a task is raised after the
others finished.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence

__all__ = ["run"]


def run(tasks: Sequence[Callable[[], None]], jobs: int) -> None:
    if jobs <= 1 or len(tasks) <= 1:
        for task in tasks:
            task()
        return
    todo: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
    for task in tasks:
        todo.put(task)
    errors: list[BaseException] = []
    lock = threading.Lock()
    remaining = [len(tasks)]
    finished = threading.Event()

    def worker() -> None:
        while True:
            try:
                task = todo.get_nowait()
            except queue.Empty:
                return
            try:
                task()
            except BaseException as exc:
                with lock:
                    errors.append(exc)
            finally:
                with lock:
                    remaining[0] -= 1
                    if remaining[0] == 0:
                        finished.set()

    for n in range(min(jobs, len(tasks))):
        threading.Thread(target=worker, name=f"mlstix-assess-{n}", daemon=True).start()
    while not finished.wait(0.2):
        pass
    if errors:
        raise errors[0]
