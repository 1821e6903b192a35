"""``mlstix kb``: build, check, validate and read the knowledge base."""

from __future__ import annotations

import os
from pathlib import Path

import click
from rich.markdown import Markdown
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from mlstix._io import write_output
from mlstix.cli._console import console, err_console, utf8
from mlstix.cli._params import ExistingPath
from mlstix.errors import MlstixError, UsageError
from mlstix.kb.load import load_kb
from mlstix.kb.model import Cloud, CourseOfAction

__all__ = ["kb"]

_KINDS = ("attack-pattern", "vulnerability", "course-of-action")
_WIDE = 120  # below this many columns, `kb list` prints one narrow table per type
# relationship type -> how `kb show` reads it from the target's side
_PASSIVE = {"targets": "targeted by", "mitigates": "mitigated by", "uses": "used by"}


def find_checkout(start: Path | None = None) -> Path | None:
    """The mlstix repository root containing ``start`` (default: the working folder), if any."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file() and (folder / "src/mlstix/kb/data").is_dir():
            return folder
    return None


@click.group()
def kb() -> None:
    """The knowledge base: build, check, validate, list and show."""


@kb.command()
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help="Folder to write into (default: the repository root, when run inside the checkout).",
)
@click.option(
    "--record-release",
    "release",
    metavar="LABEL",
    help="After building, record the objects as published in LABEL (the data folder's "
    "released.json), which later builds check modified against.",
)
def build(out: Path | None, release: str | None) -> None:
    """Compile the YAML into stix/*.json, relationship-diagram.md and docs/reference/.

    An object whose content changed since the release recorded in the data folder's
    released.json, without a later modified, fails the build: STIX consumers keep one version
    per id and modified, so the change would never reach them.
    """
    from mlstix._io import prepare_out_dir
    from mlstix.kb.build import record_release, write_tree
    from mlstix.kb.compile import BUNDLE_FILES
    from mlstix.kb.validate import validate_path

    if release is not None and not release.strip():
        raise UsageError("--record-release needs a non-empty label")
    if release is not None and not release.isprintable():  # it is printed in later errors
        raise UsageError(f"--record-release {release!r}: a label is one line of printable text")
    if release is not None:
        from mlstix.kb.load import active_data_dir

        data = active_data_dir()
        if not os.access(data, os.W_OK):  # known before anything is built or written
            raise MlstixError(
                f"cannot record the release: the data folder {utf8(str(data))} is not writable",
                hint="record it in a writable checkout or set MLSTIX_KB_DATA to a copy",
            )
    if out is None:
        out = find_checkout()
        if out is None:
            raise UsageError(
                "not inside an mlstix checkout, so there is no default output folder",
                hint="pass --out DIR",
            )
    knowledge = load_kb()
    prepare_out_dir(out)
    written = write_tree(knowledge, out)
    bad = 0
    for name in BUNDLE_FILES:
        for problem in validate_path(out / "stix" / name):
            err_console.print(f"stix/{name}: {escape(str(problem))}")
            bad += 1
    console.print(
        f"wrote {len(written)} files to {escape(utf8(str(out)))}: "
        f"{len(knowledge.objects)} objects, "
        f"{sum(1 for r in knowledge.relationships if r.type != 'related-to')} relationships, "
        f"{sum(1 for r in knowledge.relationships if r.type == 'related-to')} MITRE mappings",
        soft_wrap=True,
    )
    if bad:
        raise MlstixError(f"stix2-validator reported {bad} problems in the generated bundles")
    if release is not None:
        label = release.strip()
        recorded = record_release(knowledge, label)
        console.print(f"recorded release {escape(label)} in {escape(utf8(str(recorded)))}")


@kb.command()
def check() -> None:
    """Load and check the authored YAML without writing anything."""
    from mlstix.kb.controls import load_benchmark

    knowledge = load_kb()
    controls = len(load_benchmark(knowledge).controls)
    console.print(
        f"ok: {len(knowledge.attack_patterns)} attack patterns, "
        f"{len(knowledge.vulnerabilities)} vulnerabilities, "
        f"{len(knowledge.courses_of_action)} courses of action, "
        f"{len(knowledge.relationships)} relationships, {len(knowledge.mitre)} MITRE objects, "
        f"{controls} benchmark controls",
        soft_wrap=True,
    )


@kb.command()
@click.argument("files", nargs=-1, required=True, type=ExistingPath(dir_okay=False))
@click.option("--lax", is_flag=True, help="Report best-practice findings as warnings, not errors.")
def validate(files: tuple[Path, ...], lax: bool) -> None:
    """Validate STIX 2.1 FILES (strict, refs enforced, with mlstix's extension schema).

    Exit codes: 0 every file is valid; 2 some file is not valid STIX 2.1 or cannot be read.
    """
    from mlstix.findings._abrupt import abrupt_ctrl_c
    from mlstix.kb.validate import validate_path

    failed = 0
    for path in files:
        with abrupt_ctrl_c():  # stix2-validator and json.loads: long calls into C
            problems = validate_path(path, strict=not lax)
        errors = [p for p in problems if p.severity == "error"]
        if errors:
            failed += 1
        status = "[red]invalid[/]" if errors else "[green]valid[/]"
        console.print(f"{escape(utf8(str(path)))}: {status}", soft_wrap=True)
        for p in problems:
            console.print(f"  {escape(str(p))}", soft_wrap=True)
    if failed:
        many = "files are" if len(files) != 1 else "file is"
        raise MlstixError(f"{failed} of {len(files)} {many} not valid STIX 2.1", hint="")


@kb.command(name="list")
@click.option(
    "--type",
    "kind",
    type=click.Choice(_KINDS, case_sensitive=False),
    help="Only objects of this type.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"], case_sensitive=False),
    default="table",
    show_default=True,
    help="table for people, json for machines.",
)
def list_(kind: str | None, fmt: str) -> None:
    """List the objects of the knowledge base."""
    from mlstix.kb.render.markdown import category_title

    knowledge = load_kb()
    if fmt == "json":
        import json

        rows = [
            {
                "key": obj.key,
                "type": obj.kind,
                "category": category_title(obj),
                "name": obj.name,
                "id": obj.id,
            }
            for obj in knowledge.objects
            if kind is None or obj.kind == kind
        ]
        write_output("-", json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
        return
    chosen = [obj for obj in knowledge.objects if kind is None or obj.kind == kind]
    if console.width < _WIDE:  # one table per type, no category: keys stay whole at 80 columns
        for each in _KINDS:
            of_kind = [obj for obj in chosen if obj.kind == each]
            if not of_kind:
                continue
            table = Table(title=f"{each}s", title_justify="left", box=None, padding=(0, 2, 0, 0))
            table.add_column("key", no_wrap=True)
            table.add_column("name")
            for obj in of_kind:
                table.add_row(obj.key, escape(obj.name))
            console.print(table)
        return
    table = Table(show_lines=False)
    table.add_column("key", no_wrap=True)
    table.add_column("type", no_wrap=True)
    table.add_column("category")
    table.add_column("name")
    for obj in chosen:
        table.add_row(obj.key, obj.kind, category_title(obj), escape(obj.name))
    console.print(table)


@kb.command()
@click.argument("key")
@click.option(
    "--cloud",
    type=click.Choice([c.value for c in Cloud], case_sensitive=False),
    help="For a course of action: only this cloud's guidance.",
)
def show(key: str, cloud: str | None) -> None:
    """Show one object as a readable page."""
    from mlstix.kb.compile import note_content
    from mlstix.kb.render.markdown import category_title

    knowledge = load_kb()
    if key not in knowledge:
        close = [o.key for o in knowledge.objects if key.lower() in o.key]
        hint = f"did you mean: {', '.join(close)}" if close else "see `mlstix kb list`"
        raise UsageError(f"no knowledge-base object with key {key!r}", hint=hint)
    obj = knowledge.get(key)
    if cloud is not None and not isinstance(obj, CourseOfAction):
        raise UsageError(f"--cloud applies to courses of action; {key!r} is a {obj.kind}")
    if console.is_terminal:
        header = f"[bold]{escape(obj.name)}[/]\n{obj.kind} · {category_title(obj)} · {obj.id}"
        console.print(Panel(header, expand=False))
    else:
        write_output("-", f"# {obj.name}\n\n{obj.kind} · {category_title(obj)} · {obj.id}\n\n")
    if cloud is not None:
        assert isinstance(obj, CourseOfAction)
        c = Cloud(cloud)
        _page(f"## On {c.title}\n\n{note_content(obj, c)}")
        return
    body = [obj.summary, "## Description", obj.description, "## Example", obj.example]
    body += [
        "## Verification" if isinstance(obj, CourseOfAction) else "## Detection",
        obj.detection,
    ]
    if isinstance(obj, CourseOfAction):
        for c in Cloud:
            body += [f"## On {c.title}", note_content(obj, c)]
        rec = obj.platform_recommendation
        body += [f"## Platform recommendation: {rec.title}", rec.description]
    rels = []
    for r in knowledge.edges_from(key):
        if r.type != "related-to":
            rels.append(f"- **{r.type}** {knowledge.get(r.target).name}")
        else:
            m = knowledge.mitre_object(r.target)
            rels.append(f"- **related to** {m.external_id} {m.name} ({m.source})")
    for r in knowledge.edges_to(key):
        rels.append(f"- **{_PASSIVE.get(r.type, r.type + ' by')}** {knowledge.get(r.source).name}")
    if rels:
        body += ["## Relationships", "\n".join(rels)]
    _page("\n\n".join(body))


def _page(markdown: str) -> None:
    """Markdown rendered for a terminal; piped, the Markdown source itself, so that nothing (a
    URL, a command) is hard-wrapped for the program that reads it."""
    if console.is_terminal:
        console.print(Markdown(markdown))
    else:
        write_output("-", markdown.rstrip("\n") + "\n")


@kb.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["mermaid", "dot"], case_sensitive=False),
    default="mermaid",
    show_default=True,
    help="mermaid (renders on GitHub) or dot (Graphviz: pipe to `dot -Tsvg`).",
)
def graph(fmt: str) -> None:
    """Print the relationship graph as Mermaid or Graphviz DOT."""
    from mlstix.kb.render.diagram import dot, mermaid

    knowledge = load_kb()
    write_output("-", mermaid(knowledge) if fmt == "mermaid" else dot(knowledge))
