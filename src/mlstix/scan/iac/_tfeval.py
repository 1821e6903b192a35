"""Evaluation of HCL expression trees (:class:`~mlstix.scan.iac._hcl.Node`) as Terraform does.

Values are Python values (``None`` is null; lists, dicts, str, int, float, bool); a value that
cannot be known without running Terraform (a resource attribute, a data source, a variable with
no value, a function we do not implement) is an :class:`~mlstix.scan.iac._values.Expr` whose text
shows where it comes from (``${aws_kms_key.ml.arn}``, ``arn:${data.x.y.id}/*``), so rules can
still see a reference. Unknown propagates: an operation on an unknown is unknown; a conditional
on an unknown is unknown unless both branches agree; ``true || x`` and ``false && x`` short-cut.

Terraform's errors (a missing attribute, a bad index, a type mismatch) raise :class:`EvalError`,
which ``try()`` and ``can()`` catch and which makes an attribute unknown. Work is bounded: a step
budget per evaluation, :data:`MAX_ITEMS` per collection, :data:`MAX_CHARS` per string.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from mlstix.scan.iac._hcl import Node
from mlstix.scan.iac._tftypes import (
    EvalError,
    LimitError,
    Unknown,
    equal,
    has_unknown,
    to_bool,
    to_number,
    to_string,
    unknown,
)
from mlstix.scan.iac._values import Expr

__all__ = ["MAX_CHARS", "MAX_ITEMS", "RESOURCES", "STEP_BUDGET", "Evaluator", "Lazy"]

MAX_ITEMS = 100_000
RESOURCES = "\x00resources"  # a root holding resolve(type, name) for resource references
MAX_CHARS = 1_000_000
STEP_BUDGET = 5_000_000


class Lazy:
    """A mapping whose values are computed on demand (``local``, ``module``)."""

    def __init__(self, get: Callable[[str], Any], name: str) -> None:
        self._get = get
        self.name = name

    def get(self, key: str) -> Any:
        return self._get(key)


class _Ref:
    """The root of a reference to something only known after apply (a resource, a data source)."""

    def __init__(self, text: str) -> None:
        self.text = text


def _render_key(value: Any) -> str:
    if isinstance(value, Expr):
        inner = str(value)
        return inner[2:-1] if inner.startswith("${") and inner.endswith("}") else inner
    if isinstance(value, bool) or value is None:
        return "true" if value else "false" if value is not None else "null"
    if isinstance(value, int | float):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


_ARITH: dict[str, Callable[[Any, Any], Any]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b if b else _raise("division by zero"),
    "%": lambda a, b: a % b if b else _raise("modulo by zero"),
    "<": lambda a, b: a < b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    ">=": lambda a, b: a >= b,
}


def _raise(message: str) -> Any:
    raise EvalError(message)


class Evaluator:
    """Evaluates nodes against named roots (``var``, ``local``, ``each``, ...).

    ``roots`` maps a root name to its value (a dict, a :class:`Lazy`, or a primitive); a root
    that is not there refers to a resource or data source and is unknown.
    """

    def __init__(self, functions: Mapping[str, Callable[..., Any]], budget: list[int]) -> None:
        self.functions = functions
        self.budget = budget

    def value(self, value: Any, roots: Mapping[str, Any]) -> Any:
        if isinstance(value, Node):
            return self.node(value, roots)
        if isinstance(value, dict):
            return {k: self.value(v, roots) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v, roots) for v in value]
        return value

    def node(self, node: Node, roots: Mapping[str, Any]) -> Any:
        self.budget[0] -= 1
        if self.budget[0] < 0:
            raise LimitError("evaluation budget spent")
        handler = getattr(self, "_" + node.kind, None)
        if handler is None:
            return unknown(node.src)
        result: Any = handler(node, roots)
        return result

    # -- kinds ---------------------------------------------------------------------------------

    def _unknown(self, node: Node, roots: Mapping[str, Any]) -> Any:
        return unknown(node.src)

    def _tpl(self, node: Node, roots: Mapping[str, Any]) -> Any:
        if len(node.args) == 1 and not isinstance(node.args[0], str):
            # HCL: a template that is a single interpolation ("${x}", the JSON syntax's usual
            # form) is the value itself, not converted to a string (a literal the parser
            # folded, "${[1, 2]}", too)
            part = node.args[0]
            return self.node(part, roots) if isinstance(part, Node) else part
        out: list[str] = []
        known = True
        for part in node.args:
            if isinstance(part, str):
                out.append(part)
                continue
            # a literal the parser folded (`${true}` in a heredoc is the bool True), or a node
            value = self.node(part, roots) if isinstance(part, Node) else part
            if isinstance(value, Expr):
                known = False
                out.append(str(value))
            else:
                out.append(to_string(value))
            if sum(map(len, out)) > MAX_CHARS:
                raise LimitError("string too long")
        text = "".join(out)
        return text if known else Expr(text)

    def _tif(self, node: Node, roots: Mapping[str, Any]) -> Any:
        """``%{ if c }a%{ else }b%{ endif }`` inside a template."""
        test_node, then, other = node.args
        test = self.value(test_node, roots)
        if isinstance(test, Expr):
            return unknown(node.src)
        return self.value(then if to_bool(test) else other, roots)

    def _tfor(self, node: Node, roots: Mapping[str, Any]) -> Any:
        """``%{ for k, v in coll }...%{ endfor }`` inside a template."""
        key_var, value_var, coll_node, body = node.args
        coll = self.value(coll_node, roots)
        if isinstance(coll, Expr):
            return unknown(node.src)
        if isinstance(coll, dict):
            pairs: list[tuple[Any, Any]] = sorted(coll.items())
        elif isinstance(coll, list):
            pairs = list(enumerate(coll))
        else:
            raise EvalError("a template for needs a collection")
        out: list[str] = []
        known = True
        for k, v in pairs:
            scope = {**roots, value_var: v, **({key_var: k} if key_var else {})}
            rendered = self.value(body, scope)
            known = known and not isinstance(rendered, Expr)
            out.append(str(rendered) if isinstance(rendered, Expr) else to_string(rendered))
            if sum(map(len, out)) > MAX_CHARS:
                raise LimitError("string too long")
        return "".join(out) if known else Expr("".join(out))

    def _var(self, node: Node, roots: Mapping[str, Any]) -> Any:
        return self._traverse(node.args[0], (), roots, node.src)

    def _trav(self, node: Node, roots: Mapping[str, Any]) -> Any:
        base, steps = node.args
        if isinstance(base, Node) and base.kind == "var":
            return self._traverse(base.args[0], steps, roots, node.src)
        value = self.value(base, roots)
        return self._steps(value, steps, roots, node.src)

    def _traverse(
        self, name: str, steps: tuple[Any, ...], roots: Mapping[str, Any], src: str
    ) -> Any:
        if name in roots:
            return self._steps(roots[name], steps, roots, src)
        resolve = roots.get(RESOURCES)
        if callable(resolve) and steps and steps[0][0] == "attr":
            found = resolve(name, steps[0][1])
            if found is not None:  # a resource of this module: its configured arguments
                return self._steps(found, steps[1:], roots, src)
        # a resource (type.name...), data.type.name..., or an unknown root: render the reference
        # with the indexes we can evaluate, so rules can match instance addresses
        return self._steps(_Ref(name), steps, roots, src)

    def _steps(self, value: Any, steps: tuple[Any, ...], roots: Mapping[str, Any], src: str) -> Any:
        for i, step in enumerate(steps):
            if isinstance(value, _Ref):
                value = _Ref(value.text + self._render_step(step, roots))
                continue
            if isinstance(value, Expr):
                text = str(value)
                if not (text.startswith("${") and text.endswith("}")):
                    return unknown(src)
                rest = "".join(self._render_step(s, roots) for s in steps[i:])
                return Expr(text[:-1] + rest + "}")
            kind = step[0]
            if kind == "attr":
                value = self._get(value, step[1])
            elif kind == "index":
                key = self.value(step[1], roots)
                if isinstance(key, Expr):
                    return unknown(src)
                value = self._index(value, key)
            else:  # splat
                if value is None:
                    return []
                if i != len(steps) - 1:
                    raise EvalError("a traversal after a splat")
                items = value if isinstance(value, list) else [value]
                return [self._steps(v, step[1], roots, src) for v in items]
        if isinstance(value, _Ref):
            return Expr("${" + value.text + "}")
        if isinstance(value, Lazy):
            raise EvalError(f"{value.name} is not a value")
        return value

    def _render_step(self, step: tuple[Any, ...], roots: Mapping[str, Any]) -> str:
        if step[0] == "attr":
            return "." + str(step[1])
        if step[0] == "index":
            try:
                key = self.value(step[1], roots)
            except EvalError:
                key = Expr("${?}")
            return "[" + _render_key(key) + "]"
        return "[*]" + "".join(self._render_step(s, roots) for s in step[1])

    @staticmethod
    def _get(value: Any, name: str) -> Any:
        if isinstance(value, Lazy):
            return value.get(name)
        if isinstance(value, dict):
            if name in value:
                return value[name]
            raise EvalError(f"no attribute {name!r}")
        if value is None:
            raise EvalError(f"attribute {name!r} of null")
        raise EvalError(f"attribute {name!r} of a {type(value).__name__}")

    @staticmethod
    def _index(value: Any, key: Any) -> Any:
        if isinstance(value, Lazy):
            return value.get(str(key))
        if isinstance(value, list):
            try:
                index = int(to_number(key))
            except (EvalError, ValueError, OverflowError):
                raise EvalError("a list index must be a number") from None
            if not 0 <= index < len(value):
                raise EvalError(f"index {index} out of range")
            return value[index]
        if isinstance(value, dict):
            k = to_string(key)
            if k in value:
                return value[k]
            raise EvalError(f"no key {k!r}")
        raise EvalError("cannot index this value")

    def _cond(self, node: Node, roots: Mapping[str, Any]) -> Any:
        test_node, then_node, else_node = node.args
        test = self.value(test_node, roots)
        if isinstance(test, Expr):
            a, b = self._quiet(then_node, roots), self._quiet(else_node, roots)
            if a is not _FAILED and not has_unknown(a) and equal(a, b):
                return a
            return unknown(node.src)
        return self.value(then_node if to_bool(test) else else_node, roots)

    def _quiet(self, value: Any, roots: Mapping[str, Any]) -> Any:
        try:
            return self.value(value, roots)
        except EvalError:
            return _FAILED

    def _un(self, node: Node, roots: Mapping[str, Any]) -> Any:
        op, operand = node.args
        value = self.value(operand, roots)
        if isinstance(value, Expr):
            return unknown(node.src)
        if op == "!":
            return not to_bool(value)
        return -to_number(value)

    def _bin(self, node: Node, roots: Mapping[str, Any]) -> Any:
        op, left, right = node.args
        a = self.value(left, roots)
        if op in ("&&", "||"):
            if not isinstance(a, Expr) and to_bool(a) == (op == "||"):
                return op == "||"
            b = self.value(right, roots)
            if not isinstance(b, Expr) and to_bool(b) == (op == "||"):
                return op == "||"
            if isinstance(a, Expr) or isinstance(b, Expr):
                return unknown(node.src)
            return op == "&&"  # neither decided it: both true for &&, both false for ||
        b = self.value(right, roots)
        if has_unknown(a) or has_unknown(b):
            return unknown(node.src)
        if op == "==":
            return equal(a, b)
        if op == "!=":
            return not equal(a, b)
        fn = _ARITH.get(op)
        if fn is None:
            raise EvalError(f"operator {op!r}")
        try:
            return fn(to_number(a), to_number(b))
        except (OverflowError, ValueError) as exc:
            raise EvalError(str(exc)) from None

    def _tuple(self, node: Node, roots: Mapping[str, Any]) -> Any:
        return [self.value(v, roots) for v in node.args]

    def _object(self, node: Node, roots: Mapping[str, Any]) -> Any:
        out: dict[str, Any] = {}
        for key_node, value_node in node.args:
            key = self.value(key_node, roots)
            if isinstance(key, Expr):
                return unknown(node.src)
            out[to_string(key)] = self.value(value_node, roots)
        return out

    def _call(self, node: Node, roots: Mapping[str, Any]) -> Any:
        name, arg_nodes, expand = node.args
        name = name.rsplit("::", 1)[-1]  # provider::aws::x / core::x
        if name in ("try", "can"):
            return self._try(name, arg_nodes, roots, node.src)
        fn = self.functions.get(name)
        if fn is None:
            return unknown(node.src)
        args = [self.value(a, roots) for a in arg_nodes]
        if expand and args:
            last = args.pop()
            if isinstance(last, Expr):
                return unknown(node.src)
            if not isinstance(last, list):
                raise EvalError("'...' expands a list")
            args.extend(last)
        if any(isinstance(a, Expr) for a in args) and not getattr(fn, "tolerant", False):
            return unknown(node.src)
        try:
            return fn(*args)
        except Unknown:
            return unknown(node.src)
        except (TypeError, ValueError, KeyError, IndexError, OverflowError) as exc:
            if isinstance(exc, EvalError):
                raise
            raise EvalError(f"{name}(): {exc}") from None

    def _try(
        self, name: str, arg_nodes: tuple[Any, ...], roots: Mapping[str, Any], src: str
    ) -> Any:
        for arg in arg_nodes:
            try:
                value = self.value(arg, roots)
            except LimitError:
                raise  # our bound, not Terraform's error: the result is unknown, not a fallback
            except EvalError:
                if name == "can":
                    return False
                continue
            if has_unknown(value):
                return unknown(src)
            return True if name == "can" else value
        if name == "can":
            return False
        raise EvalError("no argument of try() has a value")

    def _for(self, node: Node, roots: Mapping[str, Any]) -> Any:
        is_object, key_var, value_var, coll_node, key_node, value_node, test, group = node.args
        coll = self.value(coll_node, roots)
        if isinstance(coll, Expr):
            return unknown(node.src)
        if isinstance(coll, dict):
            pairs: list[tuple[Any, Any]] = sorted(coll.items())
        elif isinstance(coll, list):
            pairs = list(enumerate(coll))
        else:
            raise EvalError("a for expression needs a collection")
        obj: dict[str, Any] = {}
        items: list[Any] = []
        for k, v in pairs:
            scope = dict(roots)
            scope[value_var] = v
            if key_var:
                scope[key_var] = k
            if test is not None:
                keep = self.value(test, scope)
                if isinstance(keep, Expr):
                    return unknown(node.src)
                if not to_bool(keep):
                    continue
            value = self.value(value_node, scope)
            if not is_object:
                items.append(value)
            else:
                key = self.value(key_node, scope)
                if isinstance(key, Expr):
                    return unknown(node.src)
                key = to_string(key)
                if group:
                    obj.setdefault(key, []).append(value)
                elif key in obj:
                    raise EvalError(f"duplicate key {key!r} in a for expression")
                else:
                    obj[key] = value
            if len(items) + len(obj) > MAX_ITEMS:
                raise LimitError("collection too large")
        return obj if is_object else items


_FAILED = object()
