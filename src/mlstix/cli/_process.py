"""What the ``mlstix`` process does around a command, to start and end it cheaply.

- Library log records nothing handles print one line each (:func:`quiet_library_logs`), without
  importing :mod:`logging` for commands whose libraries never log.
- A command's late imports run with the garbage collector off (:func:`collector_off`); in the
  mlstix process itself what they made is then frozen out of the collector's sight.
- A command that has written everything may end the process without the interpreter's teardown
  (:func:`skip_teardown`, :func:`end`): atexit handlers still run, stdout and stderr are flushed.

:func:`begin` and :func:`end` are called by :func:`mlstix.cli.main.main` only, so a program
that imports mlstix (or runs its commands through click's test runner) keeps its collector and
its exit as they were.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from importlib.machinery import ModuleSpec
    from types import ModuleType

__all__ = [
    "begin",
    "collector_off",
    "end",
    "ordinary_exit",
    "quiet_library_logs",
    "skip_teardown",
]

# whether this process is the mlstix command (begin() was called), not a program importing us
_OURS = False
# set by a command that has written all it writes (skip_teardown); end() reads it
_SKIP_TEARDOWN = False


def begin() -> None:
    """The mlstix process starts its command: what the imports so far made is frozen."""
    global _OURS, _SKIP_TEARDOWN
    _OURS = True
    _SKIP_TEARDOWN = False
    gc.freeze()


@contextlib.contextmanager
def collector_off() -> Iterator[None]:
    """Import a command's modules without garbage collection: they make no garbage cycles, and
    each collection would only walk the objects they made. In the mlstix process itself the
    objects made so far are then frozen (:func:`gc.freeze`: modules live until the end
    anyway), or the first collection after the imports walks them all (16-26 ms after ``detect
    inference``'s imports). A program that imported mlstix keeps its collector as it was."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if _OURS:
            gc.freeze()
        if collecting:
            gc.enable()


def skip_teardown() -> None:
    """Let :func:`end` end the process at once when the command exits, without the
    interpreter's teardown (every module and object freed one by one: 40-80 ms after ``detect
    inference`` on a 37,500-record log, most of a small log's whole run). For a command that
    has written everything it writes and leaves no thread or unwritten file behind."""
    global _SKIP_TEARDOWN
    _SKIP_TEARDOWN = True


def end(code: object) -> None:
    """The command exited with ``code``. When it called :func:`skip_teardown`, end the process
    as the interpreter's exit would, minus its teardown: the atexit handlers run and stdout and
    stderr are flushed, then ``os._exit``. Otherwise, or when that would not be the same
    (another thread still running, a code that is not a number, stdout or stderr failing to
    flush: the ordinary exit reports it as it always did), return for the ordinary exit."""
    if not _SKIP_TEARDOWN:
        return
    import atexit

    code = 0 if code is None else code
    threading = sys.modules.get("threading")
    run_handlers = getattr(atexit, "_run_exitfuncs", None)
    alone = threading is None or threading.active_count() == 1
    if type(code) is int and run_handlers is not None and alone and _flushed():
        run_handlers()
        os._exit(code if _flushed() else 120)  # 120: Python's code when it cannot flush


def ordinary_exit() -> None:
    """Before the interpreter's own exit: everything unfrozen, so that its last collection sees
    it all and finalisers run as they would have. A program that called ``main()`` and goes on
    (a test, a wrapper catching ``SystemExit``) is no longer the mlstix process: commands it
    runs later freeze nothing."""
    global _OURS
    _OURS = False
    gc.unfreeze()


def _flushed() -> bool:
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except (OSError, ValueError):
        return False
    return True


def quiet_library_logs() -> None:
    """Records nothing handles print one line each, never a traceback
    (:class:`mlstix.cli._logs.OneLineLog` in place of :data:`logging.lastResort`): now when
    :mod:`logging` is loaded, else the moment something imports it (:class:`_WhenLoggingLoads`),
    so that a command whose libraries never log does not import it at all."""
    if "logging" in sys.modules:
        from mlstix.cli._logs import install

        install()
    elif not any(isinstance(finder, _WhenLoggingLoads) for finder in sys.meta_path):
        sys.meta_path.insert(0, _WhenLoggingLoads())


class _WhenLoggingLoads:
    """A meta-path finder that waits for :mod:`logging`: it leaves the finding to the other
    finders and, when the module is loaded, removes itself and calls
    :func:`quiet_library_logs` once the module has run (a spec asked for and not loaded,
    ``importlib.util.find_spec("logging")``, leaves it waiting). The module keeps its real
    loader (``__loader__``, ``__spec__.loader``)."""

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if name != "logging":
            return None
        for finder in list(sys.meta_path):
            find = getattr(finder, "find_spec", None) if finder is not self else None
            spec: ModuleSpec | None = find(name, path, target) if find is not None else None
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _ThenQuiet(spec.loader, self)  # type: ignore[assignment]
                return spec
        return None


class _ThenQuiet:
    """The loader of :mod:`logging`, and :func:`quiet_library_logs` once it has run."""

    def __init__(self, loader: Any, finder: _WhenLoggingLoads) -> None:
        self._loader = loader
        self._finder = finder

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        made: ModuleType | None = self._loader.create_module(spec)
        return made

    def exec_module(self, module: ModuleType) -> None:
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self._finder)
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        quiet_library_logs()
