"""Class 4 of issue 10 (code paths outside the load itself): code a checkpoint attaches to
what it builds, run after ``torch.load`` returns.

- backward hooks: ``torch._utils._rebuild_tensor_v2/v3``, ``_rebuild_qtensor``,
  ``_rebuild_parameter[_with_state]`` set ``tensor._backward_hooks`` from an argument, and
  ``Tensor.__setstate__`` (a BUILD on a tensor) from its state: every hook runs on each
  backward pass;
- attributes set from a state: ``_rebuild_parameter_with_state`` and ``_rebuild_from_type_v2``
  ``setattr`` every item (``__class__`` too: the parameter's methods are the new class's from
  then on), and a BUILD's slot state does the same on any object.

A hook or class that is not an allowlisted name is high, like any callable the stream invokes.
The checkpoints are written byte by byte (no torch needed); torch 2.14's ``torch.load``
(``weights_only=False``) was seen to set the hooks and replace the class on these same
shapes (with a harmless function and ``torch.Tensor`` in place of the gadget).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from . import builders as b
from .conftest import Scan, imports

_g, _u = b.global_op, b.unicode_op
_OD = _g("collections", "OrderedDict") + b")R"
_STORAGE = b"(" + _u("storage") + _g("torch", "FloatStorage") + _u("0") + _u("cpu") + b"K\x04tQ"


def _hooks(module: str, name: str) -> bytes:
    return _OD + b"(" + _u("h") + _g(module, name) + b"u"


def _tensor(hooks: bytes = _OD) -> bytes:
    """``_rebuild_tensor_v2(storage, 0, (4,), (1,), False, hooks)``."""
    args = _STORAGE + b"K\x00K\x04\x85K\x01\x85\x89" + hooks
    return _g("torch._utils", "_rebuild_tensor_v2") + b"(" + args + b"tR"


def _class_state(module: str, name: str) -> bytes:
    return b"}" + _u("__class__") + _g(module, name) + b"s"


def _state_dict(value: bytes) -> bytes:
    return b"\x80\x02" + _OD + _u("weight") + value + b"s."


CASES = {
    "rebuild_tensor_v2-hooks": _tensor(_hooks("acme.hooks", "h")),
    "rebuild_parameter-hooks": (
        _g("torch._utils", "_rebuild_parameter") + b"(" + _tensor() + b"\x89"
        + _hooks("acme.hooks", "h") + b"tR"
    ),
    "rebuild_parameter_with_state-class": (
        _g("torch._utils", "_rebuild_parameter_with_state") + b"(" + _tensor() + b"\x89" + _OD
        + _class_state("acme.hooks", "Evil") + b"tR"
    ),
    "rebuild_parameter_with_state-attribute": (
        _g("torch._utils", "_rebuild_parameter_with_state") + b"(" + _tensor() + b"\x89" + _OD
        + b"}" + _u("forward") + _g("acme.hooks", "h") + b"s" + b"tR"
    ),
    "tensor-setstate-hooks": _tensor() + b"(\x89N" + _hooks("acme.hooks", "h") + b"tb",
    "build-slot-state-class": _OD + b"N" + _class_state("acme.hooks", "Evil") + b"\x86b",
    "build-module-forward-hooks": (
        _g("torch.nn.parameter", "Parameter") + b")\x81"
        + b"}" + _u("_forward_hooks") + _hooks("acme.hooks", "h") + b"sb"
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_hook_or_class_attached_on_load_is_high(tmp_path: Path, scan: Scan, name: str) -> None:
    (tmp_path / "model.pt").write_bytes(b.torch_zip(_state_dict(CASES[name])))
    report = scan(tmp_path)
    found = imports(report, "models/pickle-unallowed-call")
    assert found & {"acme.hooks.h", "acme.hooks.Evil"}, found
    assert any("after load" in f.message for f in report.findings)


@pytest.mark.parametrize(
    "value",
    [
        b.torch_state_pickle(),  # empty hooks, as torch.save writes them
        _state_dict(_tensor(_OD + b"(" + _u("h") + _g("torch", "Tensor") + b"u")),
        _state_dict(
            _g("torch._utils", "_rebuild_parameter_with_state") + b"(" + _tensor() + b"\x89"
            + _OD + _class_state("torch.nn.parameter", "Buffer") + b"tR"
        ),
    ],
    ids=["empty-hooks", "allowlisted-hook", "allowlisted-class"],
)  # fmt: skip
def test_allowlisted_or_empty_hooks_and_classes_are_clean(
    tmp_path: Path, scan: Scan, value: bytes
) -> None:
    (tmp_path / "model.pt").write_bytes(b.torch_zip(value))
    report = scan(tmp_path)
    assert [f.rule_id for f in report.findings if f.rule_id.startswith("models/pickle-")] == [
        "models/pickle-format"
    ]
