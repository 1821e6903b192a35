"""What happens when the stream puts items into, or sets state on, objects that are not plain
containers it built itself: their own code runs with what it is given.

- **Items handed to an object's own methods.** ``SETITEM(S)``, ``APPEND(S)`` and ``ADDITEMS``
  fill an exact ``dict``, ``list`` or ``set`` directly; on anything else CPython's unpickler
  calls the object: ``obj[key] = value`` (its ``__setitem__``), and ``obj.extend``/
  ``obj.append``/``obj.add`` looked up *on the instance* (``load_appends``,
  ``do_setitems``, ``load_additems`` in ``Modules/_pickle.c``). pandas' ``DataFrame`` and
  ``Series.__setitem__`` call a callable key with the frame
  (``pandas.core.common.apply_if_callable``); scikit-learn's ``Bunch`` and SciPy's result
  bunches answer any missing attribute with an item (``__getattr__``), so a callable stored
  under ``extend``, ``append``, ``add`` or ``__setstate__`` is what the next opcode calls, and
  one under ``predict`` is what the user calls. So a function or class object put into an
  allowlisted object that is not one of the standard library's inert containers
  (:data:`INERT`) counts as invoked (high; critical with a command beside it), as if it had
  been handed to its constructor (:mod:`._kept`).
- **Imported objects changed by the stream.** ``find_class`` returns shared objects: classes,
  modules (``typing.collections`` is the ``collections`` module), module-level tables. A
  ``BUILD`` on one sets class or module attributes (``setattr(cls, '__setstate__', f)``: every
  later instance calls ``f``; ``setattr(module, 'OrderedDict', f)``), and ``SETITEM`` on one
  fills the table: ``_compat_pickle.NAME_MAPPING`` renames what the next protocol-2 import
  (``collections.OrderedDict``, the first name of every ``torch.save`` file) really imports,
  ``copyreg._inverted_registry`` decides what an ``EXT`` opcode imports. No pickler writes
  either; every such change is reported (high), and what it stores counts as invoked.

Reference: CPython ``Modules/_pickle.c`` (``do_append``, ``do_setitems``, ``load_additems``,
``load_build``, ``_pickle_Unpickler_find_class_impl``), pandas ``DataFrame.__setitem__``,
scikit-learn ``sklearn/utils/_bunch.py``.
"""

from __future__ import annotations

from typing import Any

from mlstix.scan.models.pickles._kept import Kept, kept_callables, library_own
from mlstix.scan.models.pickles.allowlist import CONSTRUCTS_FIRST_ARG
from mlstix.scan.models.pickles.opcodes import Call, Global
from mlstix.scan.models.pickles.result import short

__all__ = ["INERT", "Inserts", "instance_class"]

# classes whose instances take items without running code of the stream's choosing
INERT = frozenset(
    [
        "builtins.dict",
        "builtins.list",
        "builtins.set",
        "builtins.frozenset",
        "builtins.bytearray",
        "collections.OrderedDict",
        "collections.defaultdict",
        "collections.Counter",
        "collections.deque",
    ]
)
_METHOD = {"SETITEM": "__setitem__", "SETITEMS": "__setitem__", "APPEND": "append",
           "APPENDS": "extend or append", "ADDITEMS": "add"}  # fmt: skip


class Inserts(Kept):
    """Items handed to objects' own methods, and imported objects the stream changes, mixed
    into the machine."""

    def inserted(self, target: Any, items: list[Any], opcode: str, pos: int) -> None:
        """``SETITEM(S)``/``APPEND(S)``/``ADDITEMS`` of ``items`` onto a symbolic ``target``."""
        self.hold(target, items)
        if isinstance(target, Global):
            self.mutated(target, items, opcode, pos)
            return
        cls = instance_class(target)
        if cls is None or cls.qualname in INERT:
            return
        st = self.result.imports.get(cls.qualname)
        if st is None or st.verdict != "allowed":
            return  # building it was already a call of what it is
        how = f"an item {opcode} hands to {cls.qualname}'s {_METHOD.get(opcode, opcode)}"
        for g in kept_callables(items, self.held, None, self.kept_budget):
            if g.qualname != cls.qualname and not library_own(g):
                self.mark(g, (target,), later=how)

    def mutated(self, target: Global, value: Any, opcode: str, pos: int) -> None:
        """``opcode`` changes an imported object (a class, a module, a module-level table)."""
        what = "sets attributes of" if opcode == "BUILD" else "puts items into"
        if len(self.result.mutations) < 20:
            text = f"{opcode} {what} {target.qualname} ({short(value)})"
            self.result.mutations.append((text, pos))
        parts = value if isinstance(value, tuple) else (value,)
        whole = [list(p.items()) if isinstance(p, dict) else p for p in parts]  # dunders too
        for g in kept_callables(whole, self.held, None, self.kept_budget):
            if g.qualname != target.qualname:
                self.mark(g, (), later=f"stored into {target.qualname} by {opcode}")


def instance_class(value: Any) -> Global | None:
    """The class of what a call built: the class called, or the class handed to a known
    constructor function (``copyreg._reconstructor(cls, ...)``)."""
    if not isinstance(value, Call) or not isinstance(value.func, Global):
        return None
    func = value.func
    if func.qualname in CONSTRUCTS_FIRST_ARG and isinstance(value.args, tuple) and value.args:
        first = value.args[0]
        return first if isinstance(first, Global) else None
    return func
