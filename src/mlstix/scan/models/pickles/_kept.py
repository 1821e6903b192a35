"""What an allowlisted object keeps from the stream and runs later: callables it is given,
and state that its ``__setstate__`` runs as code.

- **Kept callables.** An allowlisted constructor called with a function or class object
  (``functools.partial(f, ...)``, ``collections.defaultdict(f)``, scikit-learn's
  ``FunctionTransformer(func=f)``, SciPy's optimizer wrappers, pandas' ``Apply``) or a BUILD
  state that stores one on the instance (``self.func = f``, a list of callbacks) keeps it to
  call later: on the first missing key, ``transform``, ``__call__``. The attribute name does
  not matter (a fixed list of names the libraries call cannot be complete), so every
  non-allowlisted function or class object an allowlisted object is given, directly or inside
  plain containers, counts as invoked (high; critical with a command-like argument beside it),
  unless it belongs to one of the libraries the allowlist comes from: their own functions are
  what their objects keep (``SelectKBest``'s ``f_classif``, a scorer's ``f1_score``, a
  ``metric=`` of ``sklearn.metrics.pairwise``) and stay what they were (medium when unknown).
  Instances (calls) are not walked: their class is judged where the stream built them.
- **State run as code.** SciPy's ``rv_generic.__setstate__`` (every ``scipy.stats``
  distribution, and subclasses in statsmodels and user code) updates ``__dict__`` from the
  state and calls ``_attach_argparser_methods``, which runs ``exec(self._parse_arg_template)``:
  the template is Python source taken from the pickle. What SciPy writes is three ``def``
  statements whose bodies only return their arguments (``parse_arg_template`` in
  ``scipy/stats/_distn_infrastructure.py``); anything else, or a template computed at load
  time, is code run on load (critical). The check parses the text with :func:`ast.parse`
  (nothing is compiled or run) and accepts only that shape, so the shape names of any SciPy
  version and user-defined distributions pass.

A state that names an attribute through a value computed at load time (a key that is a call
result) hides which attribute it sets: reported as a call of that computation.

What an object keeps is looked at again when the pickle ends (:meth:`Kept.recheck_kept`): a
dict or list handed over empty can be filled afterwards (SETITEM, APPEND on its memo copy),
and the object holds what it holds at the end, not at the BUILD.
"""

from __future__ import annotations

import ast
import functools
import itertools
import sys
from collections.abc import Iterable, Iterator
from typing import Any

from mlstix.scan.models.pickles._attrs import state_dicts
from mlstix.scan.models.pickles._state import State
from mlstix.scan.models.pickles.allowlist import allowed_pairs
from mlstix.scan.models.pickles.opcodes import Call, Global
from mlstix.scan.models.pickles.result import short

__all__ = [
    "CODE_STATE",
    "Kept",
    "code_in_state",
    "computed_keys",
    "kept_callables",
    "library_own",
]

_CONTAINERS = (tuple, list, dict, set, frozenset)
_MAX_STEPS = 1 << 24  # items looked at per pickle for what objects keep (past it: not checked)
_WALKED = (Global, Call, *_CONTAINERS)

# state keys whose value a library's __setstate__ runs as Python source
CODE_STATE = {
    "_parse_arg_template": "exec()-ed by scipy.stats' rv_generic.__setstate__ on load "
    "(_attach_argparser_methods)",
}
_SCIPY_PARSERS = frozenset(["_parse_args", "_parse_args_rvs", "_parse_args_stats"])
_MAX_TEMPLATE = 1 << 16
_MAX_KEPT = 1 << 18  # kept values looked at again at the end, per pickle (past it: an error)
_MUTABLE = (dict, list, set, Call)


class Kept(State):
    """Kept callables and state run as code, mixed into the machine (:class:`._calls.Calls`
    supplies :meth:`mark` and :meth:`_invoke_result`)."""

    def mark(self, g: Global, args: Any, later: str | None = None) -> None:
        raise NotImplementedError

    def _invoke_result(self, func: Call, args: Any) -> None:
        raise NotImplementedError

    def _keeps(self, owner: Global, value: Any, *extra: Any) -> None:
        """An allowlisted ``owner`` given ``value`` (arguments, a BUILD state) keeps the
        function and class objects in it and calls them later."""
        st = self.result.imports.get(owner.qualname)
        if st is None or st.verdict != "allowed":
            return
        whole = (value, *extra) if extra else value
        mutable: list[bool] = []
        for g in kept_callables(whole, self.held, mutable, self.kept_budget):
            if g.qualname != owner.qualname and not library_own(g):
                self.mark(g, value, later=f"a callable kept by {owner.qualname}")
        self.kept_cut()
        if mutable:  # what it holds may still be filled: look again at the end
            if len(self.kept) >= _MAX_KEPT:
                self.kept_budget[0] = -1
                self.kept_cut()
            else:
                self.kept.append((owner, value, whole))

    def kept_cut(self) -> None:
        """Report once that the budget for what objects keep ran out (``models/archive-limit``:
        a loader is not limited, so what was not looked at may be a kept gadget)."""
        if self.kept_budget[0] < 0 and not self.kept_reported:
            self.kept_reported = True
            self.result.unchecked.append(("what objects keep was not followed to its end",
                                          self.here))  # fmt: skip

    def recheck_kept(self) -> None:
        """At the end of the pickle: what kept containers were filled with afterwards."""
        for owner, value, whole in self.kept:
            for g in kept_callables(whole, self.held, None, self.kept_budget):
                if g.qualname != owner.qualname and not library_own(g):
                    self.mark(g, value, later=f"a callable kept by {owner.qualname}")
        self.kept_cut()

    def _code_state(self, state: Any, pos: int) -> None:
        """State a ``__setstate__`` runs as code, and attribute names computed on load."""
        parts = state if isinstance(state, tuple) and len(state) == 2 else (state,)
        extra = [d for d in state_dicts(parts, self.held) if d not in parts]
        self.result.code_states += [(text, pos) for text in code_in_state(state, extra)]
        for key, value in computed_keys(state, extra):
            self._invoke_result(key, ())
            text = f"{short(key)} = {short(value)}"
            if isinstance(value, str) and not _inert_template(value):
                self.result.code_states.append((f"{text}: an attribute named at load time", pos))
            elif len(self.result.chains) < 20:
                self.result.chains.append(f"{text} (an attribute named at load time)")


@functools.cache
def _libraries() -> frozenset[str]:
    """The third-party packages the allowlist comes from (numpy, scipy, sklearn, pandas, ...)."""
    roots = {q.split(".", 1)[0] for q in allowed_pairs()}
    return frozenset(roots - set(sys.stdlib_module_names))


def library_own(g: Global) -> bool:
    """A function or class of those libraries (dangerous ones are judged by the denylist)."""
    return g.module.split(".", 1)[0] in _libraries()


def kept_callables(
    value: Any,
    held: dict[int, tuple[Any, list[Any]]] | None = None,
    mutable: list[bool] | None = None,
    budget: list[int] | None = None,
) -> Iterator[Global]:
    """Function and class objects in ``value``: itself, or items (dict keys and values) of
    plain containers at any depth, and what SETITEM/APPEND put into objects the stream built
    (``held``: an ``OrderedDict``, a ``deque``); calls (instances) are not entered otherwise.
    ``mutable`` gets an item when a container that can still be filled (a dict, list or set,
    a call result) is on the way. ``budget``: items left to look at (shared by the pickle's
    walks); when it runs out the walk stops with ``budget[0]`` below zero, and the caller
    reports that what follows was not checked (no silent cap: a gadget after 4,096 padding
    items, or six lists deep, was once a medium)."""
    left = budget if budget is not None else [_MAX_STEPS]
    todo: list[Any] = [value]
    seen: set[int] = set()
    while todo:
        v = todo.pop()
        if isinstance(v, Global):
            yield v
            continue
        if id(v) in seen:
            continue
        if isinstance(v, _CONTAINERS):
            items: Iterable[Any] = _items(v) if isinstance(v, dict) else v
        elif isinstance(v, Call) and held and id(v) in held:
            items = held[id(v)][1]
        else:
            continue
        seen.add(id(v))
        if mutable is not None and not mutable and isinstance(v, _MUTABLE):
            mutable.append(True)
        for x in items:
            left[0] -= 1
            if left[0] < 0:
                return
            if isinstance(x, _WALKED):
                todo.append(x)


def _items(d: dict[Any, Any]) -> Iterator[Any]:
    """A dict's keys and values, but for items under dunder names: Python takes operator
    dunders (``__call__``, ``__repr__``) from the type, and those it looks up on the
    instance are judged by name first (:data:`._attrs.RUNS_ON_USE`)."""
    for key, value in d.items():
        if not (isinstance(key, str) and key.startswith("__") and key.endswith("__")):
            yield key
            yield value


def _pairs(state: Any) -> Iterator[tuple[Any, Any]]:
    """The (key, value) pairs ``__dict__.update(state)`` would set: a dict's items, or a
    sequence of pairs (what ``dict.update`` also takes); a BUILD ``(state, slots)`` tuple
    gives both parts."""
    parts = [state]
    if isinstance(state, tuple) and len(state) == 2:
        parts += list(state)
    for part in parts:
        if isinstance(part, dict):
            yield from part.items()
        elif isinstance(part, tuple | list):
            for pair in part:
                if isinstance(pair, tuple | list) and len(pair) == 2:
                    yield pair[0], pair[1]


def code_in_state(state: Any, extra: list[dict[Any, Any]]) -> list[str]:
    """What is wrong with each state item a ``__setstate__`` runs as code (:data:`CODE_STATE`)
    whose value is not the inert text the library writes. ``extra``: the dicts the stream
    built by calling ``dict``/``OrderedDict`` (:func:`._attrs.state_dicts`)."""
    out: list[str] = []
    for key, value in itertools.chain(_pairs(state), *(d.items() for d in extra)):
        if isinstance(key, str) and key in CODE_STATE and not _inert_template(value):
            out.append(f"{key} = {short(value)}: {CODE_STATE[key]}")
    return out


def computed_keys(state: Any, extra: list[dict[Any, Any]]) -> list[tuple[Call, Any]]:
    """State items whose key is computed at load time (a call result): the attribute they set
    is unknown, so it may be one a ``__setstate__`` runs (:data:`CODE_STATE`)."""
    parts = [state, *(state if isinstance(state, tuple) and len(state) == 2 else ()), *extra]
    dicts = [p for p in parts if isinstance(p, dict)]  # pairs in tuples are other states' data
    return [(k, v) for d in dicts for k, v in d.items() if
            isinstance(k, Call)]  # fmt: skip


def _inert_template(value: Any) -> bool:
    """Whether ``value`` is SciPy's argument-parser template: ``def`` statements named
    ``_parse_args*`` without decorators or annotations, constant defaults, and bodies that only
    return names, constants, tuples and calls of ``self``'s methods on those."""
    if not isinstance(value, str) or len(value) > _MAX_TEMPLATE:
        return False
    try:
        tree = ast.parse(value)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return bool(tree.body) and all(_inert_def(node) for node in tree.body)


def _inert_def(node: ast.stmt) -> bool:
    if not isinstance(node, ast.FunctionDef) or node.name not in _SCIPY_PARSERS:
        return False
    a = node.args
    if node.decorator_list or node.returns or getattr(node, "type_params", None):
        return False
    every = [*a.posonlyargs, *a.args, *a.kwonlyargs, *(x for x in (a.vararg, a.kwarg) if x)]
    if any(arg.annotation is not None for arg in every):
        return False
    defaults = [*a.defaults, *(d for d in a.kw_defaults if d is not None)]
    if not all(isinstance(d, ast.Constant) for d in defaults):
        return False
    return (
        len(node.body) == 1
        and isinstance(ret := node.body[0], ast.Return)
        and (ret.value is not None and _inert_expr(ret.value))
    )


def _inert_expr(node: ast.expr) -> bool:
    if isinstance(node, ast.Name | ast.Constant):
        return True
    if isinstance(node, ast.Tuple):
        return all(_inert_expr(e) for e in node.elts)
    if isinstance(node, ast.Call):
        f = node.func
        method = (
            isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "self"
        )
        return (
            method
            and all(_inert_expr(x) and not isinstance(x, ast.Call) for x in node.args)
            and all(
                isinstance(k.value, ast.Name | ast.Constant) and k.arg is not None
                for k in node.keywords
            )
        )
    return False
