"""Wrong arguments to PRADA's compiled kernel are refused with ValueError (never a crash, never
a half-done batch), the Python side hands it only what it accepts, and values at float32's
limits (inf and NaN once scaled) are judged the same both ways without a warning."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlstix.detect.inference import InferenceOptions, _accel, detect_inference
from mlstix.detect.inference._prada import Prada
from mlstix.detect.inference._stats import _coefficients
from mlstix.kb.graph import KnowledgeBase

kprada = pytest.importorskip(
    "mlstix.detect.inference._kprada", reason="the C kernel is not built (no compiler?)"
)

DIM = 5
ROWS = np.arange(4 * DIM, dtype=np.float32).reshape(4, DIM)
SLOTS = np.array([0, 1, 0, 2], dtype=np.int64)


def _out(k: int = 4) -> np.ndarray:
    return np.empty(k, dtype=np.float64)


@pytest.mark.parametrize(
    ("rows", "slots", "out", "message"),
    [
        (ROWS.astype(np.int32), SLOTS, _out(), "rows"),
        (ROWS.astype(np.float16), SLOTS, _out(), "rows"),
        (ROWS[:, :3], SLOTS, _out(), "rows"),  # another dimension
        (np.asfortranarray(np.ones((4, DIM), np.float32)), SLOTS, _out(), "C-contiguous"),
        (np.ones((6, DIM), np.float32)[::2], SLOTS[:3], _out(3), "C-contiguous"),
        (ROWS.ravel(), SLOTS, _out(), "rows"),
        (ROWS, SLOTS.astype(np.int32), _out(), "slots"),
        (ROWS, SLOTS[:3], _out(), "slots"),
        (ROWS, SLOTS, _out(3), "out"),
        (ROWS, SLOTS, np.zeros(4, np.float32), "out"),
        (ROWS, np.array([0, 1, -1, 2], np.int64), _out(), "slot -1"),
        (ROWS, np.array([0, 1, 2, 4096], np.int64), _out(), "slot 4096"),
        ("not an array", SLOTS, _out(), "rows"),
        (ROWS, SLOTS, b"12345678" * 4, "out"),  # read-only
    ],
)
def test_wrong_arguments_are_refused(rows: Any, slots: Any, out: Any, message: str) -> None:
    sets = kprada.Sets(DIM, 8)
    sets.add(ROWS, SLOTS, 1e-3, _out())
    before = [sets.group(s) for s in range(3)]
    with pytest.raises(ValueError, match=message):
        sets.add(rows, slots, 1e-3, out)
    assert [sets.group(s) for s in range(3)] == before  # nothing half done


@pytest.mark.parametrize(("dim", "cap"), [(0, 8), (-1, 8), (3, -1), (2**25, 8)])
def test_impossible_sizes_are_refused(dim: int, cap: int) -> None:
    with pytest.raises(ValueError, match="dim must be"):
        kprada.Sets(dim, cap)


def test_an_uninitialised_object_is_refused() -> None:
    sets = kprada.Sets.__new__(kprada.Sets)
    with pytest.raises(ValueError, match="not initialised"):
        sets.add(ROWS, SLOTS, 1e-3, _out())
    assert sets.group(0)[0] == 0
    with pytest.raises(TypeError):
        kprada.Sets("five", 8)


def test_a_cap_of_zero_keeps_no_member_and_an_empty_batch_is_fine() -> None:
    sets = kprada.Sets(DIM, 0)
    out = _out()
    sets.add(ROWS, SLOTS, 1e-3, out)
    assert np.isinf(out).all() and sets.group(0)[0] == 0
    sets.add(ROWS[:0], SLOTS[:0], 1e-3, _out(0))
    assert sets.groups() == 3


@pytest.mark.parametrize(
    ("values", "coefficients", "message"),
    [
        (np.array([3.0, 1.0, 2.0]), _coefficients(3), "sorted"),
        (np.array([1.0, np.nan, 2.0]), _coefficients(3), "sorted"),
        (np.array([1.0, 2.0]), np.array([-0.7, 0.7]), "n >= 3"),
        (np.array([1.0, 2.0, 3.0]), _coefficients(4), "coefficients"),
        (np.array([1, 2, 3]), _coefficients(3), "float64"),
        (np.ones((3, 3)), _coefficients(3), "float64"),
        (np.array([1.0, 2.0, 3.0]), "abc", "coefficients"),
    ],
)
def test_w_refuses_what_it_cannot_judge(values: Any, coefficients: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        kprada.shapiro_w(values, coefficients)


def test_prada_hands_the_kernel_what_it_takes() -> None:
    # float32 slices that are not C-contiguous, labels of any int type, huge label values
    base = np.random.default_rng(3).normal(size=(40, 2 * DIM)).astype(np.float32)
    batch = base[:, ::2]
    labels = np.array([10**12, -7, 3, 3] * 10, dtype=np.int64)
    got = []
    for kernel in (True, False):
        prada = Prada(DIM, 100, kernel=kernel)
        prada.add_batch(batch, labels, 1e-3)
        got.append((prada.distances.values().tobytes(), prada._stats))
    assert got[0] == got[1]
    assert len(got[0][1]) == 3


def _judge_quietly(log: Path, kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch,
                   off: bool) -> list[tuple[str, str]]:  # fmt: skip
    with monkeypatch.context() as patch:
        patch.setattr(_accel, "_loaded", {})  # decided again, from the variable below
        if off:
            patch.setenv("MLSTIX_NO_KERNEL", "1")
        else:
            patch.delenv("MLSTIX_NO_KERNEL", raising=False)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no NumPy warning reaches the user
            report = detect_inference([str(log)], kb, InferenceOptions())
    assert not report.errors
    return sorted((f.rule_id, json.dumps(f.evidence, sort_keys=True)) for f in report.findings)


def test_values_at_float32s_limits_are_judged_quietly_and_alike(
    tmp_path: Path, kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch
) -> None:
    # centred and scaled in float32 these overflow to inf (and inf - inf to NaN)
    rng = np.random.default_rng(4)
    log = tmp_path / "limits.jsonl"
    with log.open("w", encoding="utf-8") as out:
        for i in range(2600):
            x = [float(rng.choice([3.3e38, -3.3e38, 0.0, 1.0])), float(rng.random()),
                 float(rng.random() * 1e20)]  # fmt: skip
            out.write(json.dumps({"client": f"c{i % 20}", "time": 1_700_000_000 + i,
                                  "input": x, "output": [0.2, 0.8] if i % 2 else [0.7, 0.3]})
                      + "\n")  # fmt: skip
    kernel = _judge_quietly(log, kb, monkeypatch, off=False)
    assert kernel == _judge_quietly(log, kb, monkeypatch, off=True)
