"""Find IaC files under the given paths, parse each with the right parser, gather resources.

Which parser reads a file is decided by its name and content: ``*.tf`` folders are Terraform
modules; a JSON file is a Terraform plan, an ARM template, a CloudFormation template or a
Kubernetes object by its keys; a YAML file is CloudFormation or Kubernetes by its keys. Files of
none of these kinds are not scanned. A file that cannot be read or parsed becomes a
:class:`~mlstix.findings.model.ScanError` with the parser's message, and the scan goes on.

Terraform folders that no other scanned folder calls as a module are root modules, evaluated
in this process by :mod:`._tfmodule` after all files are parsed; a module they call from outside
the scanned paths (``../modules/x``, ``.terraform/modules``) is read then, as Terraform reads it
(only its ``.tf``/``.tf.json`` files), and listed among the scanned files.

Bounds: files over :data:`MAX_FILE_BYTES` are refused, symlinks out of the scanned root are not
followed, YAML alias expansion is charged against a node budget, JSON and YAML documents nested
deeper than :data:`MAX_DEPTH` are errors. With ``jobs > 1`` files are parsed in worker processes
(resources and parsed modules are plain picklable values).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from mlstix.findings.model import ScanError, ScannedFile
from mlstix.scan.iac import _yaml
from mlstix.scan.iac._cfnnested import nested_stacks
from mlstix.scan.iac._tfk8s import manifests
from mlstix.scan.iac._tfmodule import Options, RootEvaluation
from mlstix.scan.iac._values import BudgetExceeded, walk_limited
from mlstix.scan.iac.arm import ArmParser, is_arm
from mlstix.scan.iac.cloudformation import CloudFormationParser, is_cloudformation
from mlstix.scan.iac.kubernetes import KubernetesParser, is_kubernetes
from mlstix.scan.iac.resource import Resource, TextParser
from mlstix.scan.iac.terraform import TerraformDir, is_tf_file, load_dir, local_source
from mlstix.scan.iac.tfplan import PlanParser, is_plan

__all__ = ["MAX_DEPTH", "MAX_FILE_BYTES", "Collection", "Options", "collect", "read_var_file"]

MAX_FILE_BYTES = 16 * 1024 * 1024
NODE_BUDGET = 2_000_000
MAX_DEPTH = 128  # nesting of a JSON or YAML document (CRD schemas reach ~50, templates ~20)
_SKIP_DIRS = frozenset({".git", ".terraform", "node_modules", ".venv", "__pycache__"})
_YAML_SUFFIXES = frozenset({".yaml", ".yml", ".template"})
_CFN_HINT = re.compile(r"^(AWSTemplateFormatVersion|Resources)\s*:", re.M)
_K8S_HINT = re.compile(r"^kind\s*:", re.M)
_K8S_API = re.compile(r"^apiVersion\s*:", re.M)
# a JSON file is parsed only when it looks like one of our formats (so tsconfig.json with
# comments, package.json and the like are not scanned, rather than reported as unparseable)
_JSON_HINT = re.compile(
    r'"(AWSTemplateFormatVersion|Resources|format_version|apiVersion)"\s*:|deploymentTemplate\.json'
)


@dataclass(frozen=True)
class Collection:
    resources: tuple[Resource, ...]
    scanned: tuple[ScannedFile, ...]
    errors: tuple[ScanError, ...]


@dataclass(frozen=True)
class _Unit:
    kind: str  # "tf" or "file"
    path: Path
    shown: str
    files: tuple[Path, ...] = ()
    display: tuple[tuple[Path, str], ...] = ()
    parameters: tuple[tuple[str, str], ...] = ()  # CloudFormation --parameter values


@dataclass(frozen=True)
class _Done:
    unit: _Unit
    resources: tuple[Resource, ...] = ()
    kind: str | None = None
    error: str | None = None
    tfdir: TerraformDir | None = None
    sha256: str | None = None


def _parsers(parameters: tuple[tuple[str, str], ...] = ()) -> dict[str, TextParser]:
    return {
        "plan": PlanParser(),
        "arm": ArmParser(dict(parameters)),
        "cfn": CloudFormationParser(dict(parameters)),
        "k8s": KubernetesParser(),
    }


def _classify(doc: Any) -> str | None:
    if is_plan(doc):
        return "plan"
    if is_arm(doc):
        return "arm"
    if is_cloudformation(doc):
        return "cfn"
    if is_kubernetes(doc):
        return "k8s"
    return None


def _parse_file(unit: _Unit) -> _Done:
    path = unit.path
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return _Done(unit, error=f"file larger than {MAX_FILE_BYTES} bytes, not scanned")
        raw = path.read_bytes()
        text = raw.decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        return _Done(unit, error=f"cannot read: {exc}")
    which: str | None = None
    try:
        doc: Any
        if path.suffix == ".json" or (path.suffix == ".template" and text.lstrip()[:1] == "{"):
            if not _JSON_HINT.search(text):
                return _Done(unit)
            try:
                doc = json.loads(text)
            except json.JSONDecodeError as exc:
                return _Done(unit, error=f"JSON syntax error: {exc}")
            except RecursionError:
                return _Done(unit, error=f"JSON nested deeper than {MAX_DEPTH} levels")
            walk_limited(doc, [NODE_BUDGET], MAX_DEPTH)
            which = _classify(doc)
        else:
            if _CFN_HINT.search(text):
                doc, which = _yaml.load_cfn(text), None
                which = "cfn" if is_cloudformation(doc) else None
            elif _K8S_HINT.search(text) and _K8S_API.search(text):
                docs = [d for d in _yaml.load_all(text) if d is not None]
                which = "k8s" if any(is_kubernetes(d) for d in docs) else None
                doc = docs
            else:
                return _Done(unit)
            walk_limited(doc, [NODE_BUDGET], MAX_DEPTH)
        if which is None:
            return _Done(unit)
        parsed = _parsers(unit.parameters)[which].parse(doc, text, unit.shown)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).split("\n", 1)[0]
        if "{{" in text:
            return _Done(unit, error=f"looks like an unrendered template (Helm?): {problem}{at}")
        return _Done(unit, error=f"YAML syntax error{at}: {problem}")
    except (BudgetExceeded, RecursionError, ValueError, TypeError, AttributeError) as exc:
        return _Done(unit, error=f"cannot interpret {which or 'file'}: {exc}")
    return _Done(unit, parsed.resources, parsed.kind, sha256=hashlib.sha256(raw).hexdigest())


def _parse_child(
    path: Path, shown: str, parameters: tuple[tuple[str, str], ...]
) -> tuple[Resource, ...] | str:
    """A nested stack's template read with the parameter values its parent passes."""
    d = _parse_file(_Unit("file", path, shown, parameters=parameters))
    return d.error if d.error is not None else d.resources


def _run(unit: _Unit) -> _Done:
    if unit.kind == "tf":
        return _Done(unit, tfdir=load_dir(unit.path, list(unit.files), dict(unit.display)))
    return _parse_file(unit)


def _excluded(path: Path, root: Path, patterns: Sequence[str]) -> bool:
    try:
        rel = path.relative_to(root).as_posix()
    except ValueError:
        rel = path.as_posix()
    return any(
        fnmatch.fnmatch(rel, p)
        or fnmatch.fnmatch(path.name, p)
        or rel.startswith(p.rstrip("/") + "/")
        for p in patterns
    )


def _units(
    paths: Sequence[Path], exclude: Sequence[str] = ()
) -> tuple[list[_Unit], list[ScanError], dict[Path, Path]]:
    """Units of work; also the root each Terraform folder was found under."""
    units: list[_Unit] = []
    errors: list[ScanError] = []
    tf: dict[Path, list[tuple[Path, str]]] = {}
    roots: dict[Path, Path] = {}

    def add_file(path: Path, shown: str, root: Path) -> None:
        if is_tf_file(path.name):
            tf.setdefault(path.parent.resolve(), []).append((path, shown))
            roots.setdefault(path.parent.resolve(), root)
        elif path.suffix in _YAML_SUFFIXES or path.suffix == ".json":
            units.append(_Unit("file", path, shown))

    for given in paths:
        if not given.exists():
            errors.append(ScanError(str(given), "no such file or directory"))
            continue
        if given.is_file():
            add_file(given, str(given), given.parent.resolve())
            continue
        root = given.resolve()
        for folder, dirnames, filenames in os.walk(given):
            dirnames[:] = sorted(
                d
                for d in dirnames
                if d not in _SKIP_DIRS and not _excluded(Path(folder) / d, given, exclude)
            )
            for name in sorted(filenames):
                path = Path(folder) / name
                if _excluded(path, given, exclude):
                    continue
                if path.is_symlink():
                    try:
                        path.resolve().relative_to(root)
                    except ValueError:
                        errors.append(ScanError(str(path), "symlink leaves the scanned root"))
                        continue
                add_file(path, str(path), root)
    for tf_folder, files in sorted(tf.items()):
        shown = os.path.commonpath([s for _, s in files]) if len(files) > 1 else files[0][1]
        units.append(
            _Unit(
                "tf", tf_folder, shown, tuple(p for p, _ in files), tuple((p, s) for p, s in files)
            )
        )
    return units, errors, roots


def read_var_file(path: Path) -> dict[str, Any]:
    """A ``--var-file``: HCL or JSON variable assignments; raises ``ValueError`` when unreadable."""
    from mlstix.scan.iac.terraform import _tfvars

    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ValueError("no such file") from None
    except IsADirectoryError:
        raise ValueError("is a folder, not a file") from None
    except OSError as exc:
        raise ValueError(f"cannot read it: {(exc.strerror or str(exc)).lower()}") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return _tfvars(text, path.name.endswith(".json"))


class _Dirs:
    """Parsed Terraform folders; folders outside the scan (called modules) load on demand."""

    def __init__(self, dirs: dict[Path, TerraformDir]) -> None:
        self.dirs = dirs
        self.extra: list[TerraformDir] = []

    def __call__(self, folder: Path, shown: str) -> TerraformDir | None:
        if folder in self.dirs:
            return self.dirs[folder]
        if not folder.is_dir():
            return None
        try:
            files = sorted(
                p for p in folder.iterdir() if p.name.endswith((".tf", ".tf.json")) and p.is_file()
            )
        except OSError:
            return None
        found = load_dir(folder, files, {p: str(Path(shown) / p.name) for p in files})
        self.dirs[folder] = found
        self.extra.append(found)
        return found


def collect(
    paths: Sequence[Path],
    jobs: int = 1,
    exclude: Sequence[str] = (),
    options: Options | None = None,
) -> Collection:
    """Parse every IaC file under ``paths``; ``exclude`` holds glob patterns (relative to the
    given folder, or a file name) of files and folders to leave out; ``options`` carries
    Terraform variable values given on the command line."""
    options = options or Options()
    units, errors, _roots = _units(paths, exclude)
    if options.parameters:
        units = [replace(u, parameters=options.parameters) for u in units]
    done: Iterable[_Done]
    if jobs > 1 and len(units) > 8:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            done = list(pool.map(_run, units, chunksize=max(1, len(units) // (jobs * 8))))
    else:
        done = [_run(u) for u in units]
    resources: list[Resource] = []
    scanned: list[ScannedFile] = []
    dirs: dict[Path, TerraformDir] = {}
    children, nested, nest_errors = nested_stacks(
        {
            d.unit.path.resolve(): (d.unit.shown, d.resources)
            for d in done
            if d.kind == CloudFormationParser.kind
        },
        _parse_child,
    )
    resources.extend(nested)
    errors.extend(ScanError(p, m) for p, m in nest_errors)
    for d in done:
        if d.tfdir is not None:
            dirs[d.unit.path] = d.tfdir
        elif d.error is not None:
            errors.append(ScanError(d.unit.shown, d.error))
        elif d.kind is not None:
            if d.kind != CloudFormationParser.kind or d.unit.path.resolve() not in children:
                resources.extend(d.resources)  # a nested stack's child is read through it
            if d.kind == PlanParser.kind:  # the Kubernetes objects a plan applies
                resources.extend(manifests(list(d.resources)))
            scanned.append(ScannedFile(d.unit.shown, d.kind, d.sha256))
    called = {
        target
        for tfdir in dirs.values()
        for call in tfdir.modules
        if (target := local_source(tfdir.path, call)) is not None
    }
    loader = _Dirs(dict(dirs))
    tf_errors: list[tuple[str, str]] = []
    for folder, tfdir in sorted(dirs.items()):
        if folder in called:
            continue  # evaluated through the module call, with its arguments
        run = RootEvaluation(loader, f"terraform:{folder}")
        evaluated = run.run(tfdir, options)
        resources.extend(evaluated)
        resources.extend(manifests(evaluated))
        tf_errors.extend(run.errors)
    for tfdir in (*(dirs[f] for f in sorted(dirs)), *loader.extra):
        errors.extend(ScanError(p, m) for p, m in tfdir.errors)
        scanned.extend(ScannedFile(f, "terraform", sha) for f, sha in tfdir.files)
    errors.extend(ScanError(p, m) for p, m in tf_errors)
    return Collection(tuple(resources), tuple(scanned), tuple(errors))
