"""What analysing a pickle stream found, and how it reads as hits (:class:`PickleResult`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from mlstix.scan.models._context import Hit
from mlstix.scan.models.pickles.allowlist import Verdict
from mlstix.scan.models.pickles.opcodes import (
    Blob,
    Call,
    Global,
)

__all__ = ["ImportStat", "PickleResult", "short"]


@dataclass
class ImportStat:
    verdict: Verdict
    opcode: str
    pos: int
    segment: int = 0
    count: int = 0
    called: bool = False
    args: str | None = None
    command: bool = False  # invoked with a shell-command- or code-like string argument
    resolver: bool = False  # builtins.getattr: harmless while it only resolves names
    misused: bool = False  # ... and used otherwise
    later: str | None = None  # runs after load, as what (a backward hook, its class)
    confused: bool = False  # plain view of a joblib file: a name that may not exist (merge_plain)

    def rule(self) -> str | None:
        """The rule this import breaks, if any."""
        if self.verdict == "allowed":
            return None
        if self.resolver and not self.misused:
            return None  # getattr(imported, 'attr'): judged as the import it resolves
        if self.verdict == "dangerous":
            return "models/pickle-dangerous-import"
        if self.called:
            return "models/pickle-gadget-call" if self.command else "models/pickle-unallowed-call"
        return "models/pickle-unknown-import"


@dataclass
class PickleResult:
    """What analysing one stream found."""

    imports: dict[str, ImportStat] = field(default_factory=dict)
    dynamic: list[tuple[str, int]] = field(default_factory=list)  # computed imports
    chains: list[str] = field(default_factory=list)  # calls of values built by dangerous calls
    code_states: list[tuple[str, int]] = field(default_factory=list)  # state run as code
    mutations: list[tuple[str, int]] = field(default_factory=list)  # imported objects changed
    unchecked: list[tuple[str, int]] = field(default_factory=list)  # opcode budget spent here
    extensions: list[tuple[int, int]] = field(default_factory=list)
    malformed: tuple[str, int] | None = None  # where the analysis cannot follow the stream
    segments: int = 0
    torch_legacy: bool = False
    frame_straddle: bool = False  # loaders read this stream differently (see Machine.straddles)
    joblib_arrays: list[int] = field(default_factory=list)  # where joblib.load read arrays
    joblib_nested: dict[int, int] = field(default_factory=dict)  # object arrays: start -> end
    # torch legacy: the object pickle's persistent ids, the storage keys, where data starts
    persistent_ids: list[Any] = field(default_factory=list)
    legacy_keys: Any = None
    legacy_data: int | None = None

    def merge_plain(self, other: PickleResult, since: int) -> None:
        """Add what the plain-pickle view of a joblib file found (``pickle.load``,
        ``torch.load``, ``pandas.read_pickle`` read joblib's array bytes from ``since`` on as
        opcodes). Up to ``since`` both views read the same; after it, every import and call of
        the plain view counts as in any pickle, but for names it may not be able to import at
        all (``ImportStat.confused``): a name that is no dotted identifier, or one built in an
        object array's nested pickle from a module the outer pickle memoized (the view reads
        that pickle against the outer memo: on a file joblib wrote, names made of whatever the
        memo holds, which the real loader fails to import). Of those only what runs for
        certain counts: known-dangerous names and calls with a shell-command- or code-like
        argument."""
        for qualname, st in other.imports.items():
            mine = self.imports.get(qualname)
            if mine is None:
                if not st.confused or st.verdict == "dangerous" or st.command:
                    self.imports[qualname] = st
                continue
            mine.called |= st.called
            mine.command |= st.command
            mine.misused |= st.misused
            mine.args = mine.args or st.args
        self.dynamic += [d for d in other.dynamic if d not in self.dynamic]
        self.chains += [c for c in other.chains if c not in self.chains][: 20 - len(self.chains)]
        self.code_states += [c for c in other.code_states if c not in self.code_states]
        self.mutations += [c for c in other.mutations if c not in self.mutations]
        self.unchecked += [c for c in other.unchecked if c not in self.unchecked]
        self.extensions += [
            e for e in other.extensions if e[1] < since and e not in self.extensions
        ]
        if self.malformed is None and other.malformed is not None and other.malformed[1] < since:
            self.malformed = other.malformed

    @property
    def error(self) -> str | None:
        """One line for the file's errors entry when the stream cannot be fully analysed."""
        if self.malformed is None:
            return None
        reason, pos = self.malformed
        return f"pickle stream at byte {pos}: {reason}"

    def hits(self, member: str | None, kind: str) -> list[Hit]:
        out = []
        for qualname, st in sorted(self.imports.items()):
            rule = st.rule()
            if rule is None:
                continue
            what = "calls" if st.called else "imports"
            where = "the pickle" if kind == "pickle" else f"a pickle in this {kind}"
            if st.segment:
                where += f" (pickle #{st.segment + 1} of the stream)"
            message = f"{where} {what} {qualname}"
            if st.later:
                message += f" after load, as {st.later}"
            elif st.args:
                message += f" with {st.args}"
            evidence: dict[str, Any] = {
                "import": qualname,
                "opcode": st.opcode,
                "offset": st.pos,
                "called": st.called,
                "pickle_index": st.segment,
            }
            if st.args:
                evidence["args"] = st.args
            if st.later:
                evidence["runs_after_load_as"] = st.later
            out.append(Hit(rule, message, member, evidence=evidence))
        for text, pos in self.dynamic:
            out.append(
                Hit(
                    "models/pickle-dangerous-import",
                    f"a {kind} pickle imports a name computed at load time ({text})",
                    member,
                    evidence={"import": text, "opcode": "STACK_GLOBAL", "offset": pos},
                )
            )
        for text in self.chains[:20]:
            out.append(
                Hit(
                    "models/pickle-unallowed-call",
                    f"{'the pickle' if kind == 'pickle' else f'a pickle in this {kind}'} "
                    f"calls {text}",
                    member,
                    evidence={"call": text},
                )
            )
        for text, pos in self.code_states[:20]:
            out.append(
                Hit(
                    "models/pickle-gadget-call",
                    f"{'the pickle' if kind == 'pickle' else f'a pickle in this {kind}'} "
                    f"sets state that is run as code: {text}",
                    member,
                    evidence={"state": text, "opcode": "BUILD", "offset": pos},
                )
            )
        for text, pos in self.mutations[:20]:
            out.append(
                Hit(
                    "models/pickle-unallowed-call",
                    f"{'the pickle' if kind == 'pickle' else f'a pickle in this {kind}'} "
                    f"changes an imported object, and the change stays in the loading process "
                    f"(what later imports and instances get): {text}",
                    member,
                    evidence={"mutation": text, "offset": pos},
                )
            )
        for text, pos in self.unchecked[:20]:
            out.append(
                Hit(
                    "models/archive-limit",
                    f"{'the pickle' if kind == 'pickle' else f'a pickle in this {kind}'} was "
                    f"not followed to its end ({text} at byte {pos}; a loader reads on): "
                    "only the imports after that point were checked",
                    member,
                    evidence={"limit": "max_opcodes", "offset": pos},
                )
            )
        for code, pos in self.extensions:
            out.append(
                Hit(
                    "models/pickle-unknown-import",
                    f"a {kind} pickle imports extension-registry code {code}, resolved by "
                    "whatever copyreg registry the loading process has",
                    member,
                    evidence={"import": f"extension:{code}", "opcode": "EXT", "offset": pos},
                )
            )
        if self.malformed:
            reason, pos = self.malformed
            out.append(
                Hit(
                    "models/pickle-malformed",
                    f"a {kind} pickle is malformed at byte {pos}: {reason}",
                    member,
                    evidence={"offset": pos, "reason": reason},
                )
            )
        return out


def _render(value: Any, depth: int = 0) -> str:
    """Python-like text of a symbolic value: imports by name, calls as ``f(args)``, so an
    attribute chain reads ``builtins.getattr(posix, 'system')``."""
    if depth > 6:
        return "..."
    if isinstance(value, Global):
        return value.qualname
    if isinstance(value, Call):
        func = value.func if isinstance(value.func, str) else _render(value.func, depth + 1)
        args = value.args if isinstance(value.args, tuple) else (value.args,)
        return f"{func}({', '.join(_render(a, depth + 1) for a in args[:8])})"
    if isinstance(value, tuple):
        inner = ", ".join(_render(v, depth + 1) for v in value[:8])
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(_render(v, depth + 1) for v in value[:8]) + "]"
    if isinstance(value, dict):
        pairs = [
            f"{_render(k, depth + 1)}: {_render(v, depth + 1)}" for k, v in islice(value.items(), 8)
        ]
        return "{" + ", ".join(pairs) + "}"
    if isinstance(value, Blob):
        return f"<{value.size} bytes>"
    return repr(value)[:200]


def short(value: Any) -> str:
    text = _render(value)
    return text if len(text) <= 200 else text[:197] + "..."
