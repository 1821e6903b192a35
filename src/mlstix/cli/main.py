"""The ``mlstix`` command: a click group whose sub-commands live one module per concern.

Sub-commands are imported only when invoked (or listed by ``--help``): ``mlstix verify`` does
not pay for importing FastAPI, the scanners or the site generator. This is also the only place
that turns an :class:`~mlstix.errors.MlstixError` into a message and an exit code (2 unless the
error says otherwise); sub-commands raise, they do not exit.
"""

from __future__ import annotations

import gc

# Nothing imported here (click, the standard modules under it) makes a garbage cycle, and a
# collection during the imports only walks what they made: off until the last line, on again
# at the end of this module (3.3 million instructions, 1-4 ms, less start-up for every command).
_COLLECTING = gc.isenabled()
gc.disable()

import contextlib  # noqa: E402
import importlib  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import click  # noqa: E402

from mlstix import __version__  # noqa: E402
from mlstix.cli import _process  # noqa: E402
from mlstix.errors import MlstixError  # noqa: E402

__all__ = ["cli", "main"]


def _attr(spec: str) -> Any:
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def _kb() -> click.Command:
    group: click.Group = _attr("mlstix.cli.kb:kb")
    group.add_command(_attr("mlstix.cli.explore:site"))
    group.add_command(_attr("mlstix.cli.explore:export"))
    return group


def _scan() -> click.Command:
    group: click.Group = _attr("mlstix.cli.scan:scan")
    group.add_command(_attr("mlstix.cli.iac:iac"))
    return group


def _detect() -> click.Command:
    group: click.Group = _attr("mlstix.cli.detect:detect")
    group.add_command(_attr("mlstix.cli.inference:inference"))
    return group


# command name -> loader; the order is the order of `mlstix --help`
_COMMANDS: dict[str, Callable[[], click.Command]] = {
    "demo": lambda: _attr("mlstix.cli.demo:demo"),
    "kb": _kb,
    "scan": _scan,
    "rules": lambda: _attr("mlstix.cli.iac:rules"),
    "sign": lambda: _attr("mlstix.cli.integrity:sign"),
    "verify": lambda: _attr("mlstix.cli.integrity:verify"),
    "bom": lambda: _attr("mlstix.cli.integrity:bom"),
    "navigator": lambda: _attr("mlstix.cli.explore:navigator"),
    "serve": lambda: _attr("mlstix.cli.taxii:serve"),
    "publish": lambda: _attr("mlstix.cli.taxii:publish"),
    "assess": lambda: _attr("mlstix.cli.assess:assess"),
    "detect": _detect,
    "benchmark": lambda: _attr("mlstix.cli.benchmark:benchmark"),
}


# command name -> the first paragraph of its help: what `mlstix --help` lists, so that listing
# the commands imports none of them (0.3 CPU-s of the knowledge base, the scanners, the
# server...); a test renders the list both ways and compares
_SUMMARIES = {
    "assess": "Assess a running ML estate (read-only APIs) with the knowledge base's rules.",
    "benchmark": "The ML Cloud Security Benchmark: list, show, assess and export its controls.",
    "bom": "Write a CycloneDX 1.6 JSON ML-BOM of MODEL_PATH: every file's hash, the model card,\n"
    "the frameworks it declares and its signature; validated against the CycloneDX schema.",
    "demo": "Build and validate the knowledge base, then scan the bundled example models and IaC.",
    "detect": "Detect attacks in logs: Sigma rules over cloud audit logs ('detect LOG...', the "
    "same as\n'detect logs LOG...'), and the rules exported for a SIEM ('detect export').",
    "kb": "The knowledge base: build, check, validate, list and show.",
    "navigator": "Write an ATT&CK/ATLAS Navigator layer (layer format 4.5).",
    "publish": "Send the objects of a STIX bundle FILE ('-' for stdin) to a TAXII 2.1 collection.",
    "rules": "The IaC scanner's rules: list them, or show one with its remediation.",
    "scan": "Scan model artifacts (and, with other sub-commands, infrastructure) for the "
    "knowledge\nbase's vulnerabilities.",
    "serve": "Run the TAXII 2.1 server: the knowledge base and a Findings collection.",
    "sign": "Sign MODEL_PATH (a folder or a file) in the OpenSSF model-signing format.",
    "verify": "Verify MODEL_PATH against its signature; name every changed, added and missing "
    "file.",
}


# top-level module of an optional dependency -> the extra that installs it
_EXTRAS = {
    "model_signing": "sign",
    "cryptography": "sign",
    "OpenSSL": "sign",
    "cyclonedx": "sign",
    "blake3": "sign",
    "packageurl": "sign",
    "h5py": "scan",
    "fastapi": "serve",
    "uvicorn": "serve",
    "sqlalchemy": "serve",
    "psycopg": "serve",
    "httpx": "serve",
    "openpyxl": "export",
    "trestle": "benchmark",
    "boto3": "assess",
    "botocore": "assess",
    "kubernetes": "assess",
    "azure": "assess",
    "googleapiclient": "assess",
    "google_auth_httplib2": "assess",
    "sigma": "detect",
    "duckdb": "detect",
    "orjson": "detect",
    "numpy": "detect",
    "PIL": "detect",
    "threadpoolctl": "detect",
}


class _Group(click.Group):
    """Loads sub-commands on demand and reports our errors in one consistent way."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        loader = _COMMANDS.get(cmd_name)
        if loader is None:
            return None
        if cmd_name not in self.commands:
            self.commands[cmd_name] = _case_insensitive(loader())
        return self.commands[cmd_name]

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list of ``mlstix --help``, from :data:`_SUMMARIES` (a command missing
        there is loaded for its help)."""
        listed = [
            click.Command(name, help=_SUMMARIES[name])
            if name in _SUMMARIES
            else self.get_command(ctx, name)
            for name in self.list_commands(ctx)
        ]
        click.Group(commands=[c for c in listed if c is not None]).format_commands(ctx, formatter)

    def invoke(self, ctx: click.Context) -> Any:
        _process.quiet_library_logs()
        try:
            try:
                return super().invoke(ctx)
            except ModuleNotFoundError as exc:
                extra = _EXTRAS.get((exc.name or "").split(".")[0])
                if extra is None:
                    raise
                raise MlstixError(
                    f"this command needs the Python package {exc.name!r}, which is not installed",
                    hint=f"pip install 'mlstix[{extra}]' (or 'mlstix[all]')",
                ) from None
            except BrokenPipeError:
                _stdout_closed()
            except click.Abort as exc:  # click's prompts turn Ctrl-C and end of input into Abort
                if isinstance(exc.__context__, EOFError):
                    raise MlstixError(
                        "input ended before a value was given (no terminal to ask on?)"
                    ) from None
                _interrupted()
            except KeyboardInterrupt:
                _interrupted()
            except OSError as exc:  # the last resort: one line, never a traceback
                raise MlstixError(_os_error(exc)) from None
            except UnicodeError as exc:  # the last resort for text no reader or writer expected
                said, hint = _unicode(exc)
                raise MlstixError(said, hint=hint) from None
            except RecursionError:  # json/yaml readers recurse once per level of nesting
                raise MlstixError(
                    "cannot read an input: it is nested too deeply (JSON or YAML nested more "
                    f"than about {sys.getrecursionlimit()} levels)",
                    hint="no report, policy or bundle mlstix reads is nested that deeply: "
                    "check that the file is the one intended",
                ) from None
            except MemoryError:  # the big buffers are gone once the stack has unwound to here
                raise MlstixError(
                    "ran out of memory: an input is far larger than it looks (a compression "
                    "bomb?) or than this machine's memory limit",
                    hint="check the inputs; split a large log, or raise the memory limit",
                ) from None
            except RuntimeError as exc:  # (after its subclass RecursionError) DuckDB takes Ctrl-C
                loop = _symlink_loop(exc)
                if loop is not None:
                    raise MlstixError(loop) from None
                if str(exc) != "Query interrupted":
                    raise
                _interrupted()
        except MlstixError as exc:
            if _reader_left(exc):
                _stdout_closed()
            from rich.markup import escape

            from mlstix.cli._console import err_console, utf8

            said = escape(utf8(exc.diagnostics()))  # a path that is not UTF-8 shows as \xff
            err_console.print(f"[bold red]error:[/] {said}", soft_wrap=True)
            sys.exit(exc.exit_code)


def _case_insensitive(command: click.Command) -> click.Command:
    """Every choice of every command accepts any case (``--format JSON``, ``--fail-on High``),
    and every path reports a missing file or a folder in one line (:class:`UniformPath`): set
    here once for the whole tree, so no command can forget it."""
    from mlstix.cli._params import UniformPath

    for param in command.params:
        if isinstance(param.type, click.Choice):
            param.type.case_sensitive = False
        if type(param.type) is click.Path:  # the same checks, in mlstix's one-line wording
            param.type.__class__ = UniformPath
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _case_insensitive(sub)
    return command


def _os_error(exc: OSError) -> str:
    reason = exc.strerror or str(exc) or type(exc).__name__
    reason = reason[:1].lower() + reason[1:]
    return f"{exc.filename}: {reason}" if exc.filename is not None else reason


def _unicode(exc: UnicodeError) -> tuple[str, str]:
    """One line (and a hint) for text that could not be encoded or decoded."""
    if isinstance(exc, UnicodeEncodeError) and exc.encoding.replace("-", "").lower() != "utf8":
        return (
            f"cannot print a character of the output in the encoding {exc.encoding}",
            "use a UTF-8 locale (LANG=C.UTF-8) or PYTHONIOENCODING=utf-8, or write to a file "
            "with -o",
        )
    said = exc.reason if isinstance(exc, UnicodeEncodeError | UnicodeDecodeError) else str(exc)
    return f"cannot handle text that is not valid UTF-8: {said}", ""


def _symlink_loop(exc: RuntimeError) -> str | None:
    """Python before 3.13 reports a symbolic-link loop met by ``Path.resolve()`` as
    ``RuntimeError("Symlink loop from '/a/b'")`` instead of ``OSError(ELOOP)``: the one line
    for it, naming the path, or None for any other RuntimeError."""
    prefix = "Symlink loop from "
    text = str(exc)
    if not text.startswith(prefix):
        return None
    path = text.removeprefix(prefix).strip("'\"")
    return f"{path}: too many levels of symbolic links"


def _interrupted() -> None:
    """Ctrl-C: exit 130 at once, without click's ``Aborted!`` or a traceback.

    Context managers and ``finally`` blocks have run on the way here (temporary files are gone);
    ``os._exit`` then skips waiting for hashing threads and pool workers, which got the same
    SIGINT and stop on their own.
    """
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.write("\ninterrupted\n")
        sys.stderr.flush()
    os._exit(130)


def _reader_left(exc: MlstixError) -> bool:
    """The report was being written to stdout (``-o -``, or ``/dev/stdout``) when its reader
    left: what a rich table meets as BrokenPipeError, the output helper reports as "cannot
    write standard output: broken pipe" (exit 2, which a pipeline reads as "could not run")."""
    from mlstix.errors import OutputError

    return (
        isinstance(exc, OutputError)
        and isinstance(exc.__context__, BrokenPipeError)
        and exc.path in ("standard output", "/dev/stdout", "/dev/fd/1")
    )


def _stdout_closed() -> None:
    """The reader of our stdout went away (``mlstix … | head``): stop quietly, as a shell
    tool killed by SIGPIPE would."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(141)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mlstix")
def cli() -> None:
    """Security of ML models in the cloud: knowledge base, scanners, signing, TAXII."""


def main() -> None:
    """The ``mlstix`` command (the console script): runs it and ends the process
    (:mod:`mlstix.cli._process`: a command that wrote everything ends without teardown)."""
    _process.begin()
    try:
        cli(prog_name="mlstix")
    except SystemExit as exc:
        _process.end(exc.code)  # returns when the ordinary exit is to follow
        raise
    finally:
        _process.ordinary_exit()


if _COLLECTING:  # the end of this module's imports (at its top)
    gc.enable()
