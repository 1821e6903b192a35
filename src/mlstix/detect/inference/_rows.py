"""Queries in columns between the reader and the detectors: a chunk's rows (:class:`Rows`), a
query read one by one (:class:`Item`), the queue that gathers them into chunks in log order
(:class:`Queue`), and a chunk's parts put into client order in one pass (:func:`in_order`).
See :mod:`.engine`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from mlstix.detect.inference._fast import FastBatch

__all__ = ["Item", "Judge", "Queue", "Rows", "Warm", "in_order"]

Matrix = npt.NDArray[np.float32]


@dataclass
class Item:
    client: str
    kind: str
    vector: Any
    label: int | None
    path: str
    line: int
    time: float | None


@dataclass
class Rows:
    """Queries that fit the endpoint's input, in columns, in log order."""

    clients: list[str]
    vectors: Matrix
    labels: npt.NDArray[np.int64]
    files: npt.NDArray[np.int64]
    lines: npt.NDArray[np.int64]
    times: npt.NDArray[np.float64]
    # whether the clients' volumes count these rows yet (rows of blocks read in columns are
    # counted where their clients are grouped: one pass over the names instead of two)
    counted: bool = True

    def __len__(self) -> int:
        return len(self.clients)

    def part(self, start: int, stop: int) -> Rows:
        return Rows(self.clients[start:stop], self.vectors[start:stop],
                    self.labels[start:stop], self.files[start:stop], self.lines[start:stop],
                    self.times[start:stop], self.counted)  # fmt: skip


# a warm-up query read one by one, or the first ``stop`` queries of a block read in columns
Warm = Item | tuple[FastBatch, int]


class Judge(Protocol):
    """What the queue hands its chunks to (the engine's run)."""

    def columns(self, items: list[Item]) -> Rows: ...

    def judge(self, rows: Rows | list[Rows]) -> None: ...


def in_order(parts: list[Rows], order: npt.NDArray[np.intp], count: int) -> Matrix:
    """The parts' inputs, joined, in ``order`` (rows of the joined parts): put in place
    straight from each part (one pass, no joined copy)."""
    if len(parts) == 1:
        return parts[0].vectors.take(order, 0)
    place = np.empty(count, dtype=np.intp)
    place[order] = np.arange(count)
    out: Matrix = np.empty((count, parts[0].vectors.shape[1]), dtype=np.float32)
    at = 0
    for part in parts:
        out[place[at : at + len(part)]] = part.vectors
        at += len(part)
    return out


class Queue:
    """Queries waiting to be judged, in log order, judged ``size`` at a time (bounded memory;
    large batches per client keep the per-call cost of the array operations small)."""

    def __init__(self, run: Judge, size: int) -> None:
        self.run = run
        self.size = size
        self.parts: list[Rows] = []
        self.items: list[Item] = []
        self.count = 0

    def item(self, item: Item) -> None:
        self.items.append(item)
        self.count += 1
        if self.count >= self.size:
            self.flush()

    def add(self, rows: Rows | None) -> None:
        if rows is None:
            return
        if self.items:
            self.parts.append(self.run.columns(self.items))
            self.items = []
        self.parts.append(rows)
        self.count += len(rows)
        if self.count >= self.size:
            self.flush()

    def flush(self) -> None:
        if self.items:
            self.parts.append(self.run.columns(self.items))
            self.items = []
        parts, self.parts, self.count = self.parts, [], 0
        if parts:
            self.run.judge(parts)
