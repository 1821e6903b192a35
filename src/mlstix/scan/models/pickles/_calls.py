"""Imports and calls in the symbolic pickle machine: what the stream imports, judged by the
:class:`ImportPolicy`, and which imported objects it calls, with what.

- every import (``GLOBAL``, ``INST``, ``STACK_GLOBAL``, a resolved getattr) is counted in the
  result under its normalised ``module.qualname``, with the verdict of the policy;
- ``REDUCE``, ``NEWOBJ``, ``NEWOBJ_EX``, ``OBJ`` and ``INST`` invoke a callable and ``BUILD``
  invokes ``__setstate__``: the invoked import is marked called, and a non-allowlisted one
  keeps its (shortened) arguments and whether a string among them looks like a command;
- ``builtins.getattr(imported, 'attr')`` resolves to the attribute path ``find_class`` would
  resolve, judged as an import of its own; ``getattr(instance, 'attr')`` on an instance of
  an allowlisted class is the attribute its BUILD state set, or the bound method, judged by
  :meth:`ImportPolicy.method_verdict`;
- calling what a call returned (a ``functools.partial``, a getattr result, a bound method)
  marks every risky import reachable from it (arguments, container items, items stored into
  objects the stream built, the method's instance) and records the chain;
- code attached to what the stream builds runs after load: backward hooks handed to torch's
  rebuild helpers or set by ``Tensor.__setstate__``, ``__class__`` and hook tables set from a
  state (:data:`SETS_AFTER_LOAD`): a non-allowlisted name there is invoked.

Reference: CPython ``Lib/pickle.py`` (``load_reduce``, ``load_newobj``, ``load_build``,
``find_class``).
"""

from __future__ import annotations

import re
from typing import Any

from mlstix.scan.models.pickles import _values as val
from mlstix.scan.models.pickles._attrs import RUNS_ON_USE, state_dicts
from mlstix.scan.models.pickles._commands import command_like, method_names, strings
from mlstix.scan.models.pickles._inserts import Inserts, instance_class
from mlstix.scan.models.pickles._joblib import COMPANIONS, WRAPPERS, companion_outside
from mlstix.scan.models.pickles.allowlist import (
    CONSTRUCTS_FIRST_ARG,
    INVOKES_ARGUMENT,
    SETS_AFTER_LOAD,
    dangerous_attr,
    normalize,
)
from mlstix.scan.models.pickles.opcodes import Call, Global, Malformed, Reader
from mlstix.scan.models.pickles.result import ImportStat, short

__all__ = ["Calls", "instance_class"]

_GETATTR = "builtins.getattr"
_ITERABLE = (list, str, bytes, bytearray, dict, set, frozenset)
# what a tensor's BUILD reaches Tensor.__setstate__ on: the rebuild helpers, Parameter, Tensor
_TENSOR = re.compile(r"torch\.(?:_utils\._rebuild_|_tensor\._rebuild_|Tensor$|nn\.parameter\.)")
_UNRESOLVED = object()
_WALK_BUDGET = 1 << 24  # values visited per pickle looking into what calls run
_EMPTY_HOOKS = frozenset(["collections.OrderedDict"])
_WALKED = (Global, Call, tuple, list, dict, set, frozenset)
# functions, not classes: NEWOBJ (cls.__new__(cls, ...)) on them fails in every unpickler
_FUNCTIONS = frozenset(
    [
        _GETATTR,
        *CONSTRUCTS_FIRST_ARG,
        *(k for k, v in INVOKES_ARGUMENT.items() if v[0][0] >= 0),
        "numpy.core.multiarray.scalar",
        "numpy._core.multiarray.scalar",
        "numpy.core.numeric._frombuffer",
        "numpy._core.numeric._frombuffer",
        "torch._utils._rebuild_tensor",
        "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_parameter",
        "collections.namedtuple",
    ]
)  # (the "every argument" entries of INVOKES_ARGUMENT are classes)


class Calls(Inserts):
    """Import and call handling, mixed into the machine."""

    def import_(
        self, module: str, name: str, opcode: str, pos: int, confused: bool = False
    ) -> Global:
        """``find_class(module, name)``: ``__import__('')`` fails before importing anything;
        an empty name fails after the module is imported. ``confused``: a name the plain view
        of a joblib file builds from the outer memo (:meth:`State.enter_nested`); names that
        are no dotted identifiers are too, in that view's array bytes."""
        if not module:
            raise Malformed("Empty module name", pos)
        if pos >= self.plain_from and not confused:
            confused = not _importable(module, name)
        g = Global(*normalize(module, name))
        st = self.result.imports.get(g.qualname)
        if st is None:
            st = ImportStat(self.policy.verdict(g.module, g.name), opcode, pos,
                            self.result.segments, confused=confused)  # fmt: skip
            st.resolver = g.qualname == _GETATTR
            self.result.imports[g.qualname] = st
        st.confused &= confused
        st.count += 1
        self.imports_seen += 1
        if not name:
            raise Malformed(f"module {module!r} has no attribute ''", pos)
        return g

    def invoke(self, func: Any, args: Any, pos: int) -> Any:
        """``func(*args)`` as REDUCE, NEWOBJ, OBJ and INST do it (BUILD: ``__setstate__``):
        record what is invoked; return the value it leaves on the stack."""
        self.here = pos
        if isinstance(func, Global):
            if func.qualname == _GETATTR:
                resolved = self._getattr(args, pos)
                if resolved is not _UNRESOLVED:
                    return resolved
            if func.qualname in CONSTRUCTS_FIRST_ARG and args == ():
                raise Malformed(f"{func.qualname} called without the class it builds", pos)
            self.mark(func, args)
            first = args[0] if isinstance(args, tuple) and args else None
            if func.qualname in CONSTRUCTS_FIRST_ARG and isinstance(first, Global):
                self.mark(first, args[1:])  # copyreg._reconstructor(cls, ...): cls is built
            for index, given, spread in INVOKES_ARGUMENT.get(func.qualname, ()):
                self._invoke_argument(args, index, given, spread)
            if func.qualname in SETS_AFTER_LOAD and isinstance(args, tuple):
                hooks, state = SETS_AFTER_LOAD[func.qualname]
                if hooks is not None and hooks < len(args):
                    self._runs_later(args[hooks], "a backward hook")
                if state is not None and state < len(args):
                    self._state_set(args[state], everything=True)
            self._keeps(func, args)  # after what it calls or sets while it runs
            if ".<instance>." in func.qualname:
                self._dispatch(func, args)
        elif isinstance(func, Call):
            self._invoke_result(func, args)
        return Call(func, args)

    def _dispatch(self, method: Global, args: Any) -> None:
        """A bound method of an allowlisted instance called with the name of another method:
        pandas' ``agg``/``aggregate``/``apply``/``transform`` (and the like) look a string up
        on the object and call it, so ``df.agg('to_csv', 0, path)`` writes a file. A string
        argument that names a method that reads, writes, runs or loads is that call."""
        first = args[0] if isinstance(args, tuple) and args else None
        names = [t for t in method_names(first) if dangerous_attr(t)]
        if names and len(self.result.chains) < 20:
            self.result.chains.append(
                f"{short(Call(method, args))}: a method called by its name {names[0]!r} "
                "(one that reads, writes or runs)"
            )

    def _getattr(self, args: Any, pos: int) -> Any:
        """``getattr(imported, 'attr')``: the attribute path ``find_class`` would resolve,
        judged as an import of its own (``zoneinfo.ZoneInfo._unpickle``); ``getattr(instance,
        'attr')`` on an instance of an allowlisted class: the attribute its BUILD state set,
        else the bound method, judged by :meth:`ImportPolicy.method_verdict`.
        :data:`_UNRESOLVED` otherwise."""
        if not (isinstance(args, tuple) and len(args) == 2 and isinstance(args[1], str)):
            return _UNRESOLVED
        target, attr = args
        if not attr:
            return _UNRESOLVED
        if isinstance(target, Global):
            return self.import_(target.module, f"{target.name}.{attr}", "getattr", pos)
        cls = instance_class(target)
        if cls is None or self.policy.verdict(cls.module, cls.name) != "allowed":
            return _UNRESOLVED  # getattr on anything else stays a dangerous call
        verdict = self.policy.method_verdict(cls.module, cls.name, attr)
        state = self.attrs.get(id(target))
        if state is not None and attr in state[1] and verdict != "dangerous":
            return state[1][attr]  # an instance attribute comes before the class's method
        g = Global(cls.module, f"{cls.name}.<instance>.{attr}")
        self.bound[id(g)] = (g, target)  # od.get('k') returns what od holds
        if g.qualname not in self.result.imports:
            st = ImportStat(verdict, "getattr", pos, self.result.segments)
            self.result.imports[g.qualname] = st
        self.result.imports[g.qualname].count += 1
        return g

    def mark(self, g: Global, args: Any, later: str | None = None) -> None:
        """``g`` is invoked with ``args`` (``later``: it runs after load, as what)."""
        st = self.result.imports.get(g.qualname)
        if st is None:
            return
        if st.resolver:
            st.misused = True
        if later is not None and not st.called and st.verdict != "allowed":
            st.later = later
        if st.called:
            if st.verdict != "allowed" and not st.command:  # a later call may carry a command
                st.command = any(command_like(t) for t in strings(args))
            return
        st.called = True
        if st.verdict != "allowed":
            st.args = short(args)
            st.command = any(command_like(t) for t in strings(args))

    def _set_attrs(self, obj: Any, state: Any) -> None:
        """BUILD without ``__setstate__``: the state's dict (and slot dict) become attributes
        of ``obj``, which ``getattr(obj, name)`` then returns."""
        parts = state if isinstance(state, tuple) and len(state) == 2 else (state,)
        for part in state_dicts(parts, self.held):
            if part:  # copied: the stream may change it later
                self.attrs.setdefault(id(obj), (obj, {}))[1].update(part)

    def _runs_later(self, value: Any, what: str) -> None:
        """``value`` becomes a hook or the class of what the stream built: every
        non-allowlisted name in it runs after load (a backward pass, a method call)."""
        if _empty_hooks(value) and id(value) not in self.held:
            return  # what torch.save writes: an empty OrderedDict
        for g in self._risky_inside(value):
            self.mark(g, (), later=what)

    def _state_set(self, state: Any, *, everything: bool) -> None:
        """Attributes a state sets on what it builds: ``__class__`` (its methods run from
        then on) and hook tables (``_backward_hooks``, ``_forward_hooks``, ... of tensors and
        modules). ``everything``: ``setattr`` for every item (``torch._utils._set_obj_state``):
        any non-allowlisted name set on the tensor is attached code."""
        parts = state if isinstance(state, tuple) and len(state) == 2 else (state,)
        for part in state_dicts(parts, self.held):
            for key, value in part.items():
                if key == "__class__":
                    self._runs_later(value, "its class (__class__ set from its state)")
                elif isinstance(key, str) and key.startswith("_") and key.endswith("_hooks"):
                    self._runs_later(value, f"a hook ({key} set from its state)")
                elif isinstance(key, str) and key in RUNS_ON_USE:
                    self._runs_later(value, f"its {key} (set from its state), {RUNS_ON_USE[key]}")
                elif everything:
                    self._runs_later(value, f"attribute {short(key)} of a tensor")

    def _invoke_argument(self, args: Any, index: int, given: int | None, spread: bool) -> None:
        """An allowed function calls one of its arguments (:data:`INVOKES_ARGUMENT`): what
        it calls is invoked as if the stream called it."""
        if not isinstance(args, tuple) or len(args) <= index:
            return
        if index < 0:  # any argument may be what it calls
            for i in range(min(len(args), 16)):
                self._invoke_argument(args, i, None, False)
            return
        target = args[index]
        called: Any = ()
        if given is not None and given < len(args):
            called = args[given] if spread else (args[given],)
        if isinstance(target, Global):
            self.mark(target, called)
        elif isinstance(target, Call):
            self._invoke_result(target, called)

    def _invoke_result(self, func: Call, args: Any) -> None:
        """Calling what a call returned (a partial, a getattr result, a constructed object):
        every non-allowlisted import inside it may be what runs."""
        set_state = self.partials.get(id(func))
        if set_state is not None:  # a partial whose __setstate__ replaced its function
            target, given = set_state[1], set_state[2]
            called = (
                (*given, *args) if isinstance(given, tuple) and isinstance(args, tuple) else args
            )
            if isinstance(target, Global):
                self.mark(target, called)
            elif isinstance(target, Call) and target is not func:
                self._invoke_result(target, called)
        risky = self._risky_inside(func)
        for g in risky:
            self.mark(g, args)
        if risky and len(self.result.chains) < 20:
            self.result.chains.append(short(Call(func, args)))

    def _risky_inside(self, value: Any) -> list[Global]:
        """The non-allowlisted imports (and getattr) reachable from ``value``, any of which
        may be what calling it runs: a call's function and arguments, the items of every
        container, those SETITEM(S), APPEND(S) and ADDITEMS put into objects the stream built,
        the instance a bound method belongs to, a partial's set state. Each value is visited
        once; a walk longer than the budget is an error for the file (not a quiet stop)."""
        found: list[Global] = []
        seen: set[int] = set()
        todo = [value]
        imports, held, bound, partials = self.result.imports, self.held, self.bound, self.partials
        while todo:
            v = todo.pop()
            if id(v) in seen:
                continue
            seen.add(id(v))
            self.walked += 1
            if self.walked > _WALK_BUDGET:
                self.soft("values too large to follow into what a call runs", self.here)
                break
            if isinstance(v, Global):
                st = imports.get(v.qualname)
                if st is not None and (st.verdict != "allowed" or st.resolver):
                    found.append(v)
                if id(v) in bound:
                    todo.append(bound[id(v)][1])
            elif isinstance(v, Call):
                todo += (v.func, v.args)
                if id(v) in partials:
                    todo += partials[id(v)][1:]
            elif isinstance(v, dict):
                todo += [x for x in (*v, *v.values()) if isinstance(x, _WALKED)]
            elif isinstance(v, tuple | list | set | frozenset):
                todo += [x for x in v if isinstance(x, _WALKED)]
            if id(v) in held:
                todo += [x for x in held[id(v)][1] if isinstance(x, _WALKED)]
        return found

    def check_call(self, func: Any, args: Any, opcode: str, pos: int) -> None:
        """What CPython checks before it calls: a callable (a class for NEWOBJ), and an
        argument tuple."""
        if not val.callable_value(func):
            raise Malformed(f"{opcode} on a value that cannot be called", pos)
        if opcode.startswith("NEWOBJ") and isinstance(func, Global) and func.qualname in _FUNCTIONS:
            raise Malformed(f"{opcode} class argument isn't a type object", pos)
        if not isinstance(args, tuple):
            if val.concrete(args):
                if not isinstance(args, _ITERABLE):
                    raise Malformed(f"{opcode} argument list must be a tuple", pos)
                # _pickle refuses it; pickle._Unpickler (joblib.load's) spreads *args and goes on
                self.soft(f"{opcode} argument list that is not a tuple", pos)
                return
            self.soft(f"{opcode} with an argument tuple computed at load time", pos)

    def build(self, obj: Any, state: Any, pos: int, r: Reader) -> None:
        """BUILD: ``obj.__setstate__(state)``, or its ``__dict__`` updated."""
        self.here = pos
        if val.concrete(obj):
            # no __setstate__ and no __dict__ on literal values: only an empty state passes
            slot = state[1] if isinstance(state, tuple) and len(state) == 2 else None
            inner = state[0] if isinstance(state, tuple) and len(state) == 2 else state
            if inner is not None or slot not in (None, {}):
                if inner or slot:
                    raise Malformed("BUILD on a value without __setstate__ or __dict__", pos)
                # a false state: _pickle refuses it, pickle._Unpickler (joblib's) skips it
                self.soft("BUILD with a false state on a value without __dict__", pos)
            return
        if isinstance(obj, Global):
            self.mark(obj, state)
            self.mutated(obj, state, "BUILD", pos)
            return
        setter = self.attrs.get(id(obj), (None, {}))[1].get("__setstate__")
        if setter is not None:  # load_build: getattr(inst, "__setstate__"), the instance's
            if not val.callable_value(setter):
                raise Malformed("BUILD calls a __setstate__ that cannot be called", pos)
            self._invoke_argument((setter, state), 0, 1, False)
            return
        self._code_state(state, pos)
        cls = instance_class(obj)
        if cls is not None:
            self.mark(cls, state)
            self._state_set(state, everything=False)
            self._keeps(cls, state, *state_dicts((state,), self.held))
            st = self.result.imports.get(cls.qualname)
            if st is not None and st.verdict == "allowed":  # getattr follows those only
                self._set_attrs(obj, state)
            if _TENSOR.match(cls.qualname) and isinstance(state, tuple) and len(state) in (3, 5):
                self._runs_later(state[2], "a backward hook")  # Tensor.__setstate__
            if cls.qualname == "functools.partial" and isinstance(state, tuple) and state:
                # partial.__setstate__((func, args, kwds, dict)): calling it runs func
                self.partials[id(obj)] = (obj, state[0], state[1] if len(state) > 1 else ())
            if cls.qualname == "numpy.dtype":
                self.arrays.dtype_built(obj, state)
                if self.arrays.object_flag_cleared(obj, pos) and len(self.result.chains) < 20:
                    self.result.chains.append(
                        f"{short(obj)} with the has-object flag cleared in its state "
                        "(raw bytes of the file become object pointers)"
                    )
            elif cls.qualname in COMPANIONS and (name := companion_outside(state)):
                if len(self.result.chains) < 20:
                    self.result.chains.append(
                        f"{cls.qualname} reading {short(name)} with numpy.load(allow_pickle="
                        "True) (a companion file outside the model's folder)"
                    )
            elif cls.qualname in WRAPPERS and self.joblib:
                start = r.tell()
                self.result.joblib_arrays.append(start)

                def nested() -> None:  # an object array: where its pickle starts and ends
                    self.nested()
                    self.result.joblib_nested[start] = r.tell()

                self.arrays.read_array(obj, obj.func == cls, state, r, pos, nested)
        elif isinstance(obj.func, Call):
            self._invoke_result(obj.func, state)


def _empty_hooks(value: Any) -> bool:
    return (
        isinstance(value, Call)
        and value.args == ()
        and isinstance(value.func, Global)
        and value.func.qualname in _EMPTY_HOOKS
    )


def _importable(module: str, name: str) -> bool:
    """Whether ``find_class`` could find ``module.name`` anywhere: dotted identifiers only
    (``__import__`` of anything else finds no module, ``getattr`` no attribute)."""
    return all(p.isidentifier() for p in module.split(".")) and all(
        p.isidentifier() for p in name.split(".")
    )
