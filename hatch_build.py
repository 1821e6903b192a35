"""Build hook: compiles mlstix's optional C accelerators.

Every ``src/mlstix/**/_k*.c`` file is one extension module of the same name beside it (for
example ``src/mlstix/detect/inference/_kernel.c`` becomes ``mlstix.detect.inference._kernel``).
Each is an accelerator only: the package imports it when present and otherwise takes the NumPy
path it replaces, which tests compare it with. So a machine without a C compiler still
installs mlstix; the build says so on stderr.

- A wheel gets the compiled modules (and is tagged for this platform).
- An editable install (``pip install -e .``, which ``make`` uses) compiles them in place, next
  to their sources, where the editable path finds them.
- ``MLSTIX_NO_KERNEL=1`` skips compiling (the pure path is then the only one).
- ``python hatch_build.py`` compiles them in place with the running interpreter, for work on
  a kernel without reinstalling.

The compiler and flags are the interpreter's own (``sysconfig``), with ``-O2`` and
``-ffp-contract=off`` (no fused multiply-add, so a kernel's arithmetic is the one its source
spells, on every machine).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
PACKAGE = ROOT / "src" / "mlstix"


def sources() -> list[Path]:
    """The accelerators' C sources, in a stable order."""
    return sorted(PACKAGE.rglob("_k*.c"))


def module_name(source: Path) -> str:
    """``src/mlstix/a/_kx.c`` -> ``mlstix.a._kx``."""
    relative = source.relative_to(PACKAGE.parent).with_suffix("")
    return ".".join(relative.parts)


def compile_one(source: Path, target: Path) -> str | None:
    """Compile ``source`` into the shared library ``target``; None, or why it failed."""
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    include = sysconfig.get_paths()["include"]
    command = [
        *shlex.split(cc),
        "-shared",
        "-fPIC",
        "-O2",
        "-ffp-contract=off",
        "-fno-strict-aliasing",
        "-Wall",
        "-Werror=implicit-function-declaration",
        f"-I{include}",
        str(source),
        "-o",
        str(target),
    ]
    if sys.platform == "darwin":
        command[1:1] = ["-undefined", "dynamic_lookup"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{command[0]}: {exc}"
    if done.returncode == 0:
        return None
    lines = (done.stderr or done.stdout).strip().splitlines()
    errors = [line for line in lines if "error" in line]
    return (errors or lines or [f"exit {done.returncode}"])[0]


def build(into: Path | None) -> dict[str, Path]:
    """Compile every accelerator; ``into`` a folder (wheel) or None (in place). Returns the
    compiled files by their path inside the wheel. Failures are said on stderr, not raised."""
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    built: dict[str, Path] = {}
    if os.environ.get("MLSTIX_NO_KERNEL"):
        print("mlstix: MLSTIX_NO_KERNEL is set; the C accelerators are not built", file=sys.stderr)
        return built
    for source in sources():
        name = module_name(source)
        inside = name.replace(".", "/") + suffix
        target = (into / inside) if into is not None else source.with_name(source.stem + suffix)
        target.parent.mkdir(parents=True, exist_ok=True)
        why = compile_one(source, target)
        if why is None:
            built[inside] = target
        else:
            print(
                f"mlstix: could not compile {name} ({why}); the NumPy path is used instead",
                file=sys.stderr,
            )
    return built


try:
    from hatchling.builders.hooks.plugin.interface import BuildHookInterface
except ImportError:  # run as a script, without hatchling
    BuildHookInterface = object  # type: ignore[assignment,misc]


class KernelBuildHook(BuildHookInterface):  # type: ignore[misc,valid-type]
    """Hatchling's custom build hook (``[tool.hatch.build.targets.wheel.hooks.custom]``)."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "editable":
            build(None)
            return
        self._work = tempfile.TemporaryDirectory(prefix="mlstix-kernel-")
        built = build(Path(self._work.name))
        if built:
            build_data["pure_python"] = False
            build_data["infer_tag"] = True
            force = build_data.setdefault("force_include", {})
            for inside, path in built.items():
                force[str(path)] = inside

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        work = getattr(self, "_work", None)
        if work is not None:
            work.cleanup()


if __name__ == "__main__":
    done = build(None)
    for inside in done:
        print(f"built {inside}")
    sys.exit(0 if len(done) == len(sources()) else 1)
