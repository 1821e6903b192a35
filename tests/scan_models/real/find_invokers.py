"""List allowlisted callables that call one of their own arguments while they run.

Such a callable (a class whose ``__init__`` calls a function it was given, a rebuild helper
calling ``func(*args)``) turns an argument the stream merely references into an invocation:
``pickles/allowlist.py``'s ``INVOKES_ARGUMENT`` must name it. This walks every allowed pair
that resolves in the running environment, parses the source of the function (or of the
class's ``__init__``) with :mod:`ast` and prints those that call a parameter, or an attribute
of ``self`` set from one. Run it in an environment with the libraries the allowlist covers::

    /work/fixture-venv/bin/python tests/scan_models/real/find_invokers.py

It imports the libraries (never a model file) and reads their source; a heuristic to review,
not a proof (a call under a condition counts; a call through a helper does not).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import textwrap
import warnings
from pathlib import Path
from typing import Any

PICKLES = Path(__file__).resolve().parents[3] / "src" / "mlstix" / "scan" / "models" / "pickles"


def allowed_pairs() -> set[str]:
    """The allowed names: ``allowed.txt`` and the dotted names quoted in ``allowlist.py`` (read
    as text, so the libraries' environment needs none of mlstix's dependencies)."""
    text = (PICKLES / "allowed.txt").read_text()
    names = {line.replace(" ", ".", 1) for line in text.splitlines() if line and line[0] != "#"}
    hand = (PICKLES / "allowlist.py").read_text()
    return names | set(re.findall(r'"([A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)+)"', hand))


def _resolve(qualname: str) -> Any:
    parts = qualname.split(".")
    for i in range(len(parts) - 1, 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:i]))
        except Exception:  # a library missing here, or failing to import, is skipped
            continue
        try:
            for part in parts[i:]:
                obj = getattr(obj, part)
        except (AttributeError, ImportError):  # lazy attributes that refuse to load
            return None
        return obj
    return None


def _calls_a_parameter(func: Any) -> list[str]:
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    except (OSError, TypeError, SyntaxError):
        return []
    fn = tree.body[0]
    if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
        return []
    params = {a.arg for a in fn.args.args + fn.args.kwonlyargs} - {"self", "cls"}
    if fn.args.vararg:
        params.add(fn.args.vararg.arg)
    aliases = {
        t.attr
        for node in ast.walk(fn)
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Name)
        and node.value.id in params
        for t in node.targets
        if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self"
    }
    found = set()
    for node in ast.walk(fn):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if isinstance(f, ast.Name) and f.id in params:
            found.add(f.id)
        elif (
            isinstance(f, ast.Attribute)
            and isinstance(f.value, ast.Name)
            and f.value.id == "self"
            and f.attr in aliases
        ):
            found.add(f"self.{f.attr}")
    return sorted(found)


def main() -> None:
    warnings.simplefilter("ignore")
    for qualname in sorted(allowed_pairs()):
        obj = _resolve(qualname)
        if obj is None:
            continue
        calls = _calls_a_parameter(obj.__init__ if inspect.isclass(obj) else obj)
        if calls:
            print(qualname, ", ".join(calls))


if __name__ == "__main__":
    main()
