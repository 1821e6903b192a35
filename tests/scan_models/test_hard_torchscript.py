"""TorchScript programs judged name by name (``formats/_torchscript.py``), and TorchBind
classes in a TorchScript archive's pickles.

``torch.jit.load`` compiles ``code/**.py`` and runs it when the model is called. Builtin ops
(``torch.linear``, ``ops.prim.*``, ``torch.ops.aten.*``) are fine; ops that reach files or the
network, code loaders, and Python no TorchScript compiler resolves are high; operators and
TorchBind classes of namespaces outside PyTorch and its domain libraries are medium. Every
archive here is built byte by byte (nothing imports torch).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from mlstix.findings.model import Report

from . import builders as b
from .conftest import Scan

REAL = Path(__file__).with_name("real") / "frameworks" / "torchscript.pt"
_DANGER, _CUSTOM = "models/torchscript-dangerous-op", "models/torchscript-custom-op"

_HEAD = """class M(Module):
  __parameters__ = []
  __buffers__ = []
  training : bool
  def forward(self: __torch__.M,
    input: Tensor) -> Tensor:
"""


def _archive(body: str, constants: bytes | None = None, head: str = _HEAD) -> bytes:
    code = head + "".join(f"    {line}\n" for line in body.splitlines())
    extra = {"code/__torch__/m.py": code.encode()}
    if constants is not None:
        extra["constants.pkl"] = constants
    return b.torch_zip(b"\x80\x02" + b.global_op("__torch__", "M") + b")\x81}b.", "m", extra)


def _scan(tmp_path: Path, scan: Scan, data: bytes) -> Report:
    path = tmp_path / "model.pt"
    path.write_bytes(data)
    return scan(path)


def _levels(report: Report) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for f in report.findings:
        if f.rule_id in (_DANGER, _CUSTOM):
            out.setdefault(f.rule_id, set()).add(str(f.evidence.get("name")))
    return out


HOSTILE = {
    "from-file": ('return torch.from_file("/etc/shadow", False, 64)', _DANGER),
    "aten-from-file": ('return torch.ops.aten.from_file("/etc/shadow")', _DANGER),
    "rpc": ('return torch.distributed.rpc.rpc_sync("w", torch.add, (input,))', _DANGER),
    "torchvision-read-file": (
        'd = torch.ops.image.read_file("/etc/passwd")\nreturn input',
        _DANGER,
    ),
    "all-reduce": ("torch.distributed.all_reduce(input)\nreturn input", _DANGER),
    "rpc-op": ('fut = ops.aten.rpc_async("w", "f", (input,))\nreturn input', _DANGER),
    "c10d": ("pg = __torch__.torch.classes.dist_c10d.ProcessGroup(1, 2)\nreturn input", _DANGER),
    "jit-load": ('m = torch.jit.load("/tmp/next.pt")\nreturn input', _DANGER),
    "load-library": ('torch.ops.load_library("/tmp/x.so")\nreturn input', _DANGER),
    "os": ('os.system("id")\nreturn input', _DANGER),
    "open": ('f = open("/etc/passwd")\nreturn input', _DANGER),
    "eval": ('return eval("input")', _DANGER),
    "import": ("import subprocess\nreturn input", _DANGER),
    "globals-attr": ("g = self.forward.__globals__\nreturn input", _DANGER),
    "globals-getattr": ('g = getattr(self, "__globals__")\nreturn input', _DANGER),
    "custom-op": ("return torch.ops.mylib.run(input)", _CUSTOM),
    "custom-op-printed": ("return ops.mylib.run(input)", _CUSTOM),
    "custom-class": ("c = __torch__.torch.classes.mylib.Runner()\nreturn input", _CUSTOM),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_program_reaching_the_system_or_custom_code_is_reported(
    tmp_path: Path, scan: Scan, case: str
) -> None:
    body, rule = HOSTILE[case]
    report = _scan(tmp_path, scan, _archive(body))
    assert rule in _levels(report), report.findings
    severity = {f.severity.value for f in report.findings if f.rule_id == rule}
    assert severity == {"high" if rule == _DANGER else "medium"}
    if rule == _CUSTOM:
        assert _DANGER not in _levels(report)


BENIGN = {
    "linear": "weight = self.weight\nreturn torch.linear(input, weight, None)",
    "input-methods": "n = input.size(0)\nd = input.dim()\nreturn torch.view(input, [n, d])",
    "aten-op": "return torch.ops.aten.add(input, input)",
    "prim-op": "_0 = ops.prim.NumToTensor(torch.size(input, 0))\nreturn _0",
    "torchvision-op": "return torch.ops.torchvision.nms(input, input, 0.5)",
    "quantized-class": (
        "p = __torch__.torch.classes.quantized.LinearPackedParamsBase\nreturn input"
    ),
    "own-function": "return __torch__.torch.nn.functional.relu(input, False, )",
    "getattr-child": '_0 = getattr(self, "0")\nreturn (_0).forward(input, )',
    "distributed-query": "if torch.distributed.is_available():\n  pass\nreturn input",
}


@pytest.mark.parametrize("case", sorted(BENIGN))
def test_builtin_ops_and_the_programs_own_names_are_clean(
    tmp_path: Path, scan: Scan, case: str
) -> None:
    report = _scan(tmp_path, scan, _archive(BENIGN[case]))
    assert _levels(report) == {} and not report.errors
    assert {f.rule_id for f in report.findings} >= {"models/torchscript-code"}


def test_a_parameter_named_like_a_python_module_is_the_parameter(
    tmp_path: Path, scan: Scan
) -> None:
    head = _HEAD.replace("input: Tensor", "open: Tensor, os: Tensor")
    report = _scan(tmp_path, scan, _archive("return torch.add(open, os.t())", head=head))
    assert _levels(report) == {}


def test_the_real_torchscript_archive_is_clean(tmp_path: Path, scan: Scan) -> None:
    report = _scan(tmp_path, scan, REAL.read_bytes())
    assert _levels(report) == {} and not report.errors
    with zipfile.ZipFile(REAL) as z:
        programs = [n for n in z.namelist() if n.endswith(".py")]
    assert len(programs) == 5  # every program was judged, none flagged


def test_code_python_cannot_parse_is_an_error_and_still_judged(tmp_path: Path, scan: Scan) -> None:
    report = _scan(tmp_path, scan, _archive('return (os.system("id")'))
    assert report.errors
    assert "os.system" in _levels(report).get(_DANGER, set())


@pytest.mark.parametrize(
    ("namespace", "flagged"), [("mylib", True), ("quantized", False)], ids=["custom", "quantized"]
)
def test_a_torchbind_class_in_constants_pkl_of_another_namespace_is_reported(
    tmp_path: Path, scan: Scan, namespace: str, flagged: bool
) -> None:
    """``torch.jit.load``'s unpickler builds TorchBind objects (``__torch__.torch.classes.*``)
    through their C++ ``__setstate__``; the program's own ``__torch__`` classes stay quiet."""
    constants = (
        b"\x80\x02(" + b.global_op(f"__torch__.torch.classes.{namespace}", "Runner")
        + b")\x81" + b.unicode_op("state") + b"b" + b.global_op("__torch__", "Mine") + b")\x81"
        + b"t."
    )  # fmt: skip
    report = _scan(tmp_path, scan, _archive("return input", constants))
    named = {str(f.evidence.get("import")) for f in report.findings}
    assert (f"__torch__.torch.classes.{namespace}.Runner" in named) is flagged
    assert "__torch__.Mine" not in named


def test_a_payload_in_constants_pkl_is_critical(tmp_path: Path, scan: Scan) -> None:
    report = _scan(tmp_path, scan, _archive("return input", b.call_pickle("os", "system", "id")))
    assert "critical" in {f.severity.value for f in report.findings}


def _bytecode(*ops: str) -> bytes:
    """A mobile ``bytecode.pkl``-shaped pickle: a version and a tuple of operator entries."""
    entries = b"".join(b"(" + b.unicode_op(op) + b.unicode_op("") + b"K\x02t" for op in ops)
    return b"\x80\x02(K\x08(" + entries + b"tt."


@pytest.mark.parametrize(
    ("ops", "rule"),
    [
        (("aten::add", "prim::NumToTensor", "quantized::linear"), None),
        (("aten::add", "aten::from_file"), _DANGER),
        (("aten::add", "mylib::run"), _CUSTOM),
        (("c10d::allreduce_",), _DANGER),
    ],
    ids=["builtin", "from-file", "custom", "collective"],
)
def test_operators_a_mobile_bytecode_pkl_lists_are_judged(
    tmp_path: Path, scan: Scan, ops: tuple[str, ...], rule: str | None
) -> None:
    """``_load_for_lite_interpreter`` runs the operators ``bytecode.pkl`` names without
    compiling ``code/``."""
    data = b.torch_zip(
        b"\x80\x02" + b.global_op("__torch__", "M") + b")\x81}b.",
        "m",
        {"bytecode.pkl": _bytecode(*ops), "constants.pkl": b"\x80\x02)."},
    )
    report = _scan(tmp_path, scan, data)
    assert set(_levels(report)) == ({rule} if rule else set())


def test_an_attribute_named_by_getattr_is_judged(tmp_path: Path, scan: Scan) -> None:
    report = _scan(tmp_path, scan, _archive('f = getattr(torch.ops, "mylib")\nreturn input'))
    assert _levels(report) == {_CUSTOM: {"torch.ops.mylib"}}
