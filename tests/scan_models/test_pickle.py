"""The pickle analyzer: every way a stream imports, allowlist first, bypasses of public
scanners, stacked and malformed pickles."""

from __future__ import annotations

import io
import pickle
import pickletools

import pytest

from mlstix.scan.models.pickles.allowlist import ImportPolicy
from mlstix.scan.models.pickles.analyze import analyze_pickle_stream, looks_like_pickle

from . import builders as b


@pytest.fixture(autouse=True, params=["buffer", "stream"])
def reader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs on both readers: in memory, and streaming from the file (huge pickles)."""
    if request.param == "stream":
        monkeypatch.setattr("mlstix.scan.models.pickles.analyze.MAX_BUFFER", 0)
    return str(request.param)


def analyze(data: bytes, policy: ImportPolicy | None = None):  # type: ignore[no-untyped-def]
    return analyze_pickle_stream(io.BytesIO(data), policy or ImportPolicy())


def verdicts(data: bytes) -> dict[str, str]:
    return {q: st.verdict for q, st in analyze(data).imports.items()}


class _Payload:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        import os

        return (os.system, ("echo pwned",))


@pytest.mark.parametrize("proto", range(6))
def test_every_protocol_resolves_the_payload(proto: int) -> None:
    data = pickle.dumps({"w": [1.0, 2.0], "x": _Payload()}, protocol=proto)
    result = analyze(data)
    assert result.malformed is None
    st = result.imports["posix.system"]
    assert st.verdict == "dangerous" and st.called
    assert st.args == "('echo pwned',)"
    assert looks_like_pickle(data[:64])


def test_torch_state_dict_is_allowed() -> None:
    result = analyze(b.torch_state_pickle())
    assert result.malformed is None
    assert {st.verdict for st in result.imports.values()} == {"allowed"}
    assert set(result.imports) == {
        "collections.OrderedDict",
        "torch._utils._rebuild_tensor_v2",
        "torch.FloatStorage",
    }
    assert result.hits(None, "pickle") == []


def test_stack_global_through_memo() -> None:
    """Module and name memoized with MEMOIZE, popped, and fetched back with BINGET."""
    result = analyze(b.stack_global_pickle("subprocess", "Popen", "id"))
    assert result.imports["subprocess.Popen"].verdict == "dangerous"
    assert result.imports["subprocess.Popen"].called


def test_stack_global_with_computed_name_is_dangerous() -> None:
    # module comes from a call result, not a literal: resolved only at load time
    data = (
        b"\x80\x04"
        + b.global_op("builtins", "str")
        + b.unicode_op("os")
        + b"\x85R"
        + b.unicode_op("system")
        + b"\x93"
        + b.unicode_op("id")
        + b"\x85R."
    )
    result = analyze(data)
    hits = result.hits(None, "pickle")
    assert any("computed at load time" in h.message for h in hits)
    assert any(h.rule_id == "models/pickle-dangerous-import" for h in hits)


def test_inst_obj_newobj() -> None:
    inst = b"(V/bin/sh\nios\nsystem\n."
    assert verdicts(inst) == {"os.system": "dangerous"}
    obj = b"\x80\x02(" + b.global_op("subprocess", "Popen") + b"Vid\no."
    assert verdicts(obj) == {"subprocess.Popen": "dangerous"}
    newobj = b"\x80\x02" + b.global_op("socket", "socket") + b")\x81."
    assert verdicts(newobj) == {"socket.socket": "dangerous"}


def test_extension_registry_codes_are_reported() -> None:
    result = analyze(b"\x80\x02\x82\x07)R.")
    hits = result.hits(None, "pickle")
    assert [h.evidence["import"] for h in hits if "import" in h.evidence] == ["extension:7"]
    # what the code names depends on the loading process's copyreg registry: an error too
    assert result.malformed is not None and "extension code 7" in result.malformed[0]


@pytest.mark.parametrize(
    ("module", "name"),
    [
        # denylists defeated by submodules or re-exports
        ("asyncio.unix_events", "_UnixSubprocessTransport"),
        ("torch.serialization", "os.system"),
        ("numpy.testing._private.utils", "runstring"),
        ("_posixsubprocess", "fork_exec"),
        ("pty", "spawn"),
        # indirection through importlib / pkgutil / runpy / attribute access
        ("importlib", "import_module"),
        ("pkgutil", "resolve_name"),
        ("runpy", "run_path"),
        ("builtins", "getattr"),
        ("__builtin__", "eval"),
        ("operator", "attrgetter"),
        ("types", "FunctionType"),
        ("marshal", "loads"),
        ("_pickle", "loads"),
        ("cProfile", "run"),
        ("timeit", "timeit"),
        ("pdb", "run"),
        ("ctypes", "CDLL"),
        ("webbrowser", "open"),
        ("torch._utils", "_rebuild_tensor.__globals__"),
    ],
)
def test_known_scanner_bypasses_are_critical(module: str, name: str) -> None:
    assert verdicts(b.call_pickle(module, name, "x")) == {
        f"{module}.{name}".replace("__builtin__", "builtins"): "dangerous"
    }


def test_unknown_import_is_medium_not_clean() -> None:
    referenced = b"\x80\x02" + b.global_op("mycompany.gadgets", "Thing") + b"."
    hits = analyze(referenced).hits(None, "pickle")
    assert [h.rule_id for h in hits] == ["models/pickle-unknown-import"]


def test_unknown_callable_invoked_is_high() -> None:
    hits = analyze(b.call_pickle("mycompany.gadgets", "Thing", "x")).hits(None, "pickle")
    assert [h.rule_id for h in hits] == ["models/pickle-unallowed-call"]


def test_user_policy_allows_an_import() -> None:
    policy = ImportPolicy.with_allowed(["mycompany.*"])
    result = analyze(b.call_pickle("mycompany.gadgets", "Thing", "x"), policy)
    assert result.hits(None, "pickle") == []


def test_payload_after_a_harmless_first_pickle() -> None:
    data = pickle.dumps([1, 2, 3], protocol=2) + b.call_pickle("os", "system", "id")
    result = analyze(data)
    assert result.segments == 2
    assert result.imports["os.system"].segment == 1


def test_payload_in_fifth_pickle_of_a_legacy_file() -> None:
    magic = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)
    parts = [
        magic,
        pickle.dumps(1001, protocol=2),
        pickle.dumps({"le": True}, protocol=2),
        b.torch_state_pickle(),
        b.call_pickle("os", "system", "id"),
    ]
    result = analyze(b"".join(parts) + b"\x00" * 64)
    assert result.torch_legacy
    assert result.imports["os.system"].verdict == "dangerous"
    assert result.malformed is None  # raw storage bytes after the pickles are not an error


def test_every_truncation_is_a_finding_never_a_crash() -> None:
    data = pickle.dumps({"a": _Payload(), "b": list(range(50))}, protocol=4)
    for cut in range(1, len(data)):
        result = analyze(data[:cut])
        assert result.malformed is not None, cut
        assert any(h.rule_id == "models/pickle-malformed" for h in result.hits(None, "pickle"))


@pytest.mark.parametrize(
    "data",
    [
        b"\x80\x02\xff.",  # unknown opcode
        b"\x80\x02h\x05.",  # memo key never stored
        b"\x80\x02R.",  # stack underflow
        b"\x80\x02t.",  # TUPLE without MARK
        b"\x80\x02cos\nsystem",  # unterminated GLOBAL argument
        b"\x80\x02\x8e\xff\xff\xff\xff\xff\xff\xff\x7f.",  # 9 EB payload
    ],
)
def test_malformed_streams(data: bytes) -> None:
    result = analyze(data)
    assert result.malformed is not None


def test_big_payloads_are_skipped_not_read() -> None:
    blob = b"\x80\x04\x8e" + (5 << 20).to_bytes(8, "little") + b"\x00" * (5 << 20) + b"."
    result = analyze(blob)
    assert result.malformed is None and result.segments == 1


def test_opcode_table_covers_pickletools() -> None:
    from mlstix.scan.models.pickles.opcodes import OPS

    assert {op.name for op in pickletools.opcodes} == {op.name for op in OPS.values()}


def test_attribute_chain_through_getattr_is_followed() -> None:
    """getattr(__import__('os'), 'system')('id'): the final call is reported with its chain."""
    data = (
        b"\x80\x02" + b.global_op("builtins", "getattr") + b.global_op("builtins", "__import__")
        + b.unicode_op("os") + b"\x85R" + b.unicode_op("system") + b"\x86R"
        + b.unicode_op("id") + b"\x85R."
    )  # fmt: skip
    messages = [h.message for h in analyze(data).hits(None, "pickle")]
    assert (
        "the pickle calls builtins.getattr(builtins.__import__('os'), 'system')('id')" in messages
    )


def test_calls_of_allowed_results_are_not_chains() -> None:
    result = analyze(b.torch_state_pickle())
    assert result.chains == []


def test_global_names_are_read_as_pickle_reads_them() -> None:
    """pickletools escape-decodes GLOBAL arguments and insists on ASCII; pickle does neither.
    A scanner built on pickletools crashes or sees another name: we read what pickle imports."""
    utf8 = b"\x80\x02cos\nsyst" + "\u00e9".encode() + b"m\n)R."
    assert verdicts(utf8) == {"os.syst\u00e9m": "dangerous"}
    escaped = b"\x80\x02cmy\\x6fs\nThing\n)R."  # pickle imports the module literally named so
    assert verdicts(escaped) == {"my\\x6fs.Thing": "unknown"}


def test_global_module_names_with_a_space_are_kept_whole() -> None:
    # GLOBAL's two lines are the module and the name; a space inside the module is part of it
    data = b"c_c %odecs\nencode\n(tR."
    assert set(verdicts(data)) == {"_c %odecs.encode"}
