"""Seeing the knowledge base and the findings: ``mlstix kb site``, ``mlstix kb export`` and
``mlstix navigator``.

``cli/main.py`` attaches ``site`` and ``export`` to the ``kb`` group and ``navigator`` to the
root. The generators live in ``mlstix.kb.render`` and are imported inside the
commands, so ``mlstix --help`` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.markup import escape

from mlstix._io import prepare_out_dir, write_output
from mlstix.cli._console import console, utf8
from mlstix.cli._params import missing_path
from mlstix.cli._report import output_option, wrote
from mlstix.errors import MlstixError, UsageError
from mlstix.kb.load import load_kb

__all__ = ["export", "navigator", "site"]

_SUFFIXES = {".zip": "csv", ".xlsx": "xlsx"}


@click.command()
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder to write the site into (new, empty, or a site written before).",
)
def site(out: Path) -> None:
    """Write the offline HTML explorer: a page per object, search, and the graph.

    Open OUT/index.html in a browser; it works from disk with no network.
    """
    from mlstix.kb.render.site import write_site

    knowledge = load_kb()
    prepare_out_dir(out)
    files = write_site(knowledge, out)
    index = (out / "index.html").resolve()
    console.print(
        f"wrote {len(files)} files to {escape(utf8(str(out)))}; open {escape(index.as_uri())}",
        soft_wrap=True,
    )


@click.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(sorted(set(_SUFFIXES.values()))),
    help="csv (a zip of one CSV file per sheet) or xlsx. Default: from the --output suffix.",
)
@output_option(
    "File to write (.zip for csv, .xlsx); '-' for stdout when it is not a terminal.",
    default=None,
    required=True,
)
def export(fmt: str | None, output: str) -> None:
    """Export the knowledge base as spreadsheets: a sheet per object type and relationships."""
    from mlstix.kb.render.export import EXPORTERS, SHEETS

    if fmt is None:
        fmt = _SUFFIXES.get(Path(output).suffix.lower())
        if fmt is None:
            raise UsageError(
                f"cannot tell the format from {output!r}",
                hint="pass --format csv or --format xlsx, or name the file *.zip or *.xlsx",
            )
    if output == "-" and sys.stdout.isatty():
        raise UsageError(f"refusing to write a binary {fmt} file to a terminal", hint="use -o FILE")
    data = EXPORTERS[fmt](load_kb())
    write_output(output, data)
    wrote(output, f" ({fmt}): sheets {', '.join(SHEETS)}")


# as `benchmark assess`: no scan report is near this, and parsing one costs ~8x its size
_MAX_REPORT = 256 * 1024 * 1024


def _read(source: str) -> tuple[bytes, str]:
    if source == "-":
        data, name = sys.stdin.buffer.read(_MAX_REPORT + 1), "<stdin>"
    else:
        data, name = _read_file(source), Path(source).name
    if len(data) > _MAX_REPORT:
        raise UsageError(
            f"{'standard input' if source == '-' else source} is larger than "
            f"{_MAX_REPORT // (1024 * 1024)} MiB: not a scan report",
            hint="pass a report written by `mlstix scan ... --format json`",
        )
    return data, name


def _read_file(source: str) -> bytes:
    path = Path(source)
    try:
        with path.open("rb") as handle:
            return handle.read(_MAX_REPORT + 1)
    except FileNotFoundError:
        raise missing_path(source) from None
    except OSError as exc:
        if isinstance(exc, IsADirectoryError):
            raise UsageError(f"{source}: is a folder, not a file") from None
        reason = (exc.strerror or str(exc)).lower()
        raise UsageError(f"cannot read the report {source}: {reason}") from None


@click.command()
@click.option(
    "--report",
    metavar="SCAN.json",
    help="A JSON scan report ('-' for stdin): layer the techniques its findings expose. "
    "Without it: the techniques the knowledge base covers.",
)
@click.option(
    "--domain",
    type=click.Choice(["atlas", "attack"]),
    default="atlas",
    show_default=True,
    help="atlas: MITRE ATLAS (ATLAS Navigator, domain atlas-atlas); "
    "attack: ATT&CK Enterprise (ATT&CK Navigator).",
)
@output_option("Write the layer to FILE ('-' for stdout, the default).")
def navigator(report: str | None, domain: str, output: str) -> None:
    """Write an ATT&CK/ATLAS Navigator layer (layer format 4.5)."""
    from mlstix.findings.navigator import findings_layer
    from mlstix.findings.read import read_report
    from mlstix.kb.render.layer_schema import validate_layer
    from mlstix.kb.render.navigator import DOMAINS, coverage_layer, dumps

    knowledge = load_kb()
    dom = DOMAINS[domain]
    if report is None:
        layer = coverage_layer(knowledge, dom)
    else:
        text, name = _read(report)
        layer = findings_layer(knowledge, read_report(text, name), dom, source=name)
    problems = validate_layer(layer)
    if problems:  # a bug of ours, never the user's input
        raise MlstixError("the generated layer is malformed: " + "; ".join(problems))
    write_output(output, dumps(layer))
    scored = sum(1 for t in layer["techniques"] if "score" in t)
    wrote(output, f": {scored} technique{'s' * (scored != 1)} ({dom.layer_domain})")
