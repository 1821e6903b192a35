"""What every ``scan`` command shares: the output options and the one way a report leaves.

``report_options`` adds ``--format``, ``--output`` and ``--fail-on``; :func:`emit` renders the
report (a rich table on a terminal, JSON when piped, unless ``--format`` says otherwise), writes
it atomically, and returns the exit code of DESIGN.md: 0 nothing at or above ``--fail-on``, 1
findings at or above it. Errors that stop a scan from running exit 2 through ``MlstixError``.
:func:`output_option` is the ``-o/--output FILE`` of every command that writes a file: the path
is checked before any work is done, and the command says ``wrote PATH`` when it is written.
"""

from __future__ import annotations

import dataclasses
import io
import os
import pickle
import re
import stat
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from mlstix._io import check_output_path, write_output
from mlstix.cli import _console
from mlstix.cli._console import utf8
from mlstix.errors import OutputError
from mlstix.findings.formats import FORMAT_NAMES, render
from mlstix.findings.model import Report, Severity

if TYPE_CHECKING:  # loaded in emit() only where the output speaks its prose (not for JSON)
    from mlstix.kb.graph import KnowledgeBase

__all__ = ["EXIT_CODES_HELP", "emit", "output_option", "report_options", "wrote"]

F = TypeVar("F", bound=Callable[..., Any])

_FAIL_ON = [*(s.value for s in Severity if s is not Severity.INFO), "none"]

EXIT_CODES_HELP = (
    "Exit codes: 0 no finding at or above --fail-on; 1 findings at or above it; 2 the scan "
    "could not run, or some input could not be scanned (the report lists it under errors)."
)


def _check_output(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value is not None and value != "-":
        check_output_path(Path(value))
    return value


def output_option(
    help: str = "Write to FILE ('-' for stdout, the default).",
    *,
    default: str | None = "-",
    required: bool = False,
) -> Callable[[F], F]:
    """``-o/--output FILE``, refused up front when FILE cannot be written (a folder, a missing
    parent folder)."""
    # a required option gets no default: click >= 8.3 takes an explicit default=None as given
    extra: dict[str, Any] = {"required": True} if required else {"default": default}
    return click.option(
        "--output", "-o", metavar="FILE", callback=_check_output, help=help, **extra
    )


def wrote(output: str, detail: str = "") -> None:
    """Say ``wrote PATH`` on stderr after a file was written (never after stdout).

    The line is written as it is when every character of it is printable, which is what rich
    would print (no markup, no emoji codes: a path holding ``:smile:`` stays as it is); a path
    with a tab or a control character goes through rich, which expands or drops them."""
    if output == "-":
        return
    said = f"{utf8(output)}{utf8(detail)}"
    if said.isprintable():
        sys.stderr.write(f"wrote {said}\n")
        sys.stderr.flush()
        return
    from rich.markup import escape

    _console.err_console.print(f"wrote {escape(said)}", highlight=False, emoji=False)


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    ctx.meta[f"mlstix.{param.name}"] = value
    return value


def _publish_url(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """``--publish URL`` is checked before the scan runs, not after it was written."""
    if value is not None:
        from urllib.parse import urlsplit

        try:
            parts = urlsplit(value)
            host = parts.hostname
        except ValueError as exc:  # an unclosed IPv6 bracket, a bad port
            raise click.BadParameter(f"{value!r} is not a URL ({exc})") from None
        if parts.scheme.lower() not in ("http", "https") or not host:
            raise click.BadParameter(
                f"{value!r} is not an http:// or https:// URL of a TAXII 2.1 server "
                "(e.g. https://taxii.example.org/taxii2/)"
            )
    return _remember(ctx, param, value)


def report_options(func: F) -> F:
    """Decorate a scan command with --format, --output, --fail-on and --publish."""
    func = click.option(
        "--publish-collection",
        default="findings",
        show_default=True,
        metavar="COLLECTION",
        expose_value=False,
        callback=_remember,
        help="Collection (id, alias or title) that --publish writes to.",
    )(func)
    func = click.option(
        "--publish",
        metavar="URL",
        expose_value=False,
        callback=_publish_url,
        help=(
            "Also send the findings as STIX 2.1 to this TAXII 2.1 server (discovery or API-root "
            "URL). Credentials: MLSTIX_TAXII_API_KEY, or MLSTIX_TAXII_USER and "
            "MLSTIX_TAXII_PASSWORD."
        ),
    )(func)
    func = click.option(
        "--fail-on",
        type=click.Choice(_FAIL_ON, case_sensitive=False),
        default="high",
        show_default=True,
        help="Exit 1 when a finding is at or above this severity ('none': only exit 2 fails).",
    )(func)
    func = output_option("Write the report to FILE ('-' for stdout, the default).")(func)
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(FORMAT_NAMES, case_sensitive=False),
        default=None,
        help="Report format (default: table on a terminal, json otherwise).",
    )(func)


# a lone surrogate (U+D800..U+DFFF) as pickle writes it: UTF-8 with "surrogatepass"
_SURROGATE = re.compile(rb"\xed[\xa0-\xbf][\x80-\xbf]")


def _all_utf8(report: Report) -> bool:
    """Whether no string anywhere in ``report`` holds a lone surrogate, in C speed: pickle
    writes every string as UTF-8 with surrogates passed through (our own objects, only ever
    dumped). Walking 140,000 findings in Python to find out took 26 s of a 67 s scan; a
    ``bytes`` value that happens to hold the pattern only sends the report the slow way."""
    try:
        dumped = pickle.dumps(report, protocol=5)
    except (pickle.PicklingError, TypeError, AttributeError):  # something unpicklable: walk it
        return False
    return _SURROGATE.search(dumped) is None


def _printable(value: Any) -> Any:
    """``value`` (a report, or anything in it) with every string made UTF-8 (:func:`utf8`)."""
    if isinstance(value, str):
        return utf8(value)
    if isinstance(value, tuple | list):
        return type(value)(_printable(v) for v in value)
    if isinstance(value, Mapping):
        return {_printable(k): _printable(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {
            f.name: _printable(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init
        }
        return dataclasses.replace(value, **changes)
    return value


def _load_kb() -> KnowledgeBase:
    """The knowledge base, imported and loaded only by outputs that speak its prose."""
    from mlstix.kb.load import load_kb

    return load_kb()


def emit(report: Report, fmt: str | None, output: str, fail_on: str, *, skip_hint: str = "") -> int:
    """Render and write ``report`` (and publish it with ``--publish``); return the exit code.

    Input that could not be read makes the exit code 2 even though the report is written:
    unreadable is never silently clean (DESIGN.md, exit codes). ``skip_hint`` tells the user
    how to leave such files out when they are not meant to be scanned.
    """
    if output != "-":
        _not_an_input(Path(output), report)
    if not _all_utf8(report):
        report = _printable(report)
    if fmt is None:
        fmt = "table" if output == "-" and sys.stdout.isatty() else "json"
    fmt = fmt.lower()
    if fmt == "table" and output == "-":
        from mlstix.findings.formats.table import print_table

        print_table(report, _load_kb(), _console.console)
    elif fmt == "table":
        from rich.console import Console

        from mlstix.findings.formats.table import print_table

        buffer = io.StringIO()
        print_table(report, _load_kb(), Console(file=buffer, width=140, color_system=None))
        write_output(output, buffer.getvalue())
    else:
        write_output(output, render(fmt, report, _load_kb))
    wrote(output, f" ({fmt})")
    ctx = click.get_current_context(silent=True)
    url = ctx.meta.get("mlstix.publish") if ctx is not None else None
    if url and ctx is not None:
        _publish(report, _load_kb(), url, ctx.meta.get("mlstix.publish_collection") or "findings")
    if report.errors:
        # an entry may name a whole file or one line of a log: count files, not entries
        files = len({e.path for e in report.errors})
        entries = len(report.errors)
        detail = (
            f"{entries} entries in the report's errors"
            if entries != files
            else ("listed in the report's errors")
        )
        _console.err_console.print(
            f"[red]{_files(files)} could not be scanned in full[/] ({detail}); exit 2. "
            f"{skip_hint}".rstrip(),
            highlight=False,
        )
        return 2
    if fail_on.lower() == "none":
        return 0
    return report.exit_code(Severity(fail_on.lower()))


def _not_an_input(output: Path, report: Report) -> None:
    """Refuse ``-o`` naming a file the command just read (``scan models m.pkl -o m.pkl``): the
    report would replace the very file it describes."""
    try:
        target = output.stat()
    except OSError:
        return  # not there yet (or unreadable: writing it will say so)
    if not stat.S_ISREG(target.st_mode):
        return
    for path in {*(s.path for s in report.scanned), *(e.path for e in report.errors)}:
        try:
            read = Path(path).stat()
        except (OSError, ValueError):  # a remote location, a member, a line reference
            continue
        if (read.st_dev, read.st_ino) == (target.st_dev, target.st_ino):
            raise OutputError(
                output,
                "it is one of the files read; the report would replace it",
                hint="write the report to another file",
            )


def _files(count: int) -> str:
    return f"{count} file{'s' * (count != 1)}"


def _publish(report: Report, kb: KnowledgeBase, url: str, collection: str) -> None:
    """Send the report's STIX rendering to a TAXII collection; raise when any object is refused."""
    from mlstix.taxii.publish import Credentials, PublishError, publish_bundle

    auth = Credentials(
        os.environ.get("MLSTIX_TAXII_USER"),
        os.environ.get("MLSTIX_TAXII_PASSWORD"),
        os.environ.get("MLSTIX_TAXII_API_KEY"),
    )
    try:
        result = publish_bundle(render("stix", report, kb), url, collection, auth)
    except PublishError as exc:  # its hint speaks of `publish`'s --to and --collection
        raise PublishError(
            str(exc),
            hint="the report was written; check --publish (a TAXII 2.1 discovery or API root URL), "
            "--publish-collection and the MLSTIX_TAXII_* credentials",
        ) from None
    if not result.ok:
        raise PublishError(
            f"{len(result.failures)} of {result.total} findings objects were refused by "
            f"{result.collection_url}"
        )
    _console.err_console.print(
        f"published {result.succeeded} object{'s' * (result.succeeded != 1)} to "
        f"{result.collection_url}",
        highlight=False,
    )
