# mypy: disable-error-code="import-untyped"
"""Reading the kubeconfig of ``mlstix assess kubernetes``: once, with PyYAML's C loader.

The ``kubernetes`` client reads a kubeconfig with ``yaml.safe_load`` (PyYAML's pure-Python
loader) and mlstix needs it twice (the client, the context's name): a 21 MB kubeconfig of 12,000
clusters took 2 x 19 CPU-s. Here a single kubeconfig file is parsed once with ``yaml.CSafeLoader``
where PyYAML was built with libyaml (5.8 CPU-s; the pure-Python loader otherwise) and handed to
the client's own ``KubeConfigLoader``, with the file's folder as the base of relative paths (a
``certificate-authority: ca.crt`` next to the file), as the client's file loader does. Several
files in ``KUBECONFIG`` are left to the client, which merges them. A file larger than
:data:`MAX_BYTES` is refused in one line before it is read: real kubeconfigs are kilobytes, a few
megabytes with hundreds of clusters.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mlstix.errors import MlstixError

__all__ = ["MAX_BYTES", "KubeconfigTooLarge", "files", "loader"]

MAX_BYTES = 32 << 20


class KubeconfigTooLarge(MlstixError):
    hint = "check that KUBECONFIG or --kubeconfig names the kubeconfig intended"


def files(explicit: str | None) -> list[Path]:
    """The kubeconfig files the client would read: ``--kubeconfig``, else every path in
    ``KUBECONFIG``, else ``~/.kube/config``."""
    if explicit is not None:
        return [Path(explicit)]
    env = os.environ.get("KUBECONFIG", "")
    named = [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    return named or [Path("~/.kube/config").expanduser()]


def _check_size(path: Path) -> None:
    try:
        size = path.stat().st_size
    except OSError:
        return  # missing or unreadable: the client says so in its own words
    if size > MAX_BYTES:
        raise KubeconfigTooLarge(
            f"the kubeconfig {path} is {size} bytes, more than any kubeconfig "
            f"({MAX_BYTES >> 20} MiB); not read"
        )


def loader(explicit: str | None, context: str | None) -> Any:
    """The client's ``KubeConfigLoader`` for a single kubeconfig file, parsed once with the C
    loader; ``None`` where the client must read the files itself (several files in
    ``KUBECONFIG``, or none there). Raises what the client raises for a file that is not a
    kubeconfig (``ConfigException``, ``YAMLError``, ``TypeError``...), or
    :class:`KubeconfigTooLarge`."""
    paths = files(explicit)
    for path in paths:
        _check_size(path)
    if len(paths) != 1 or not paths[0].is_file():
        return None
    import yaml
    from kubernetes.config.config_exception import ConfigException
    from kubernetes.config.kube_config import KubeConfigLoader

    path = paths[0]
    load = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open("rb") as stream:
        parsed = yaml.load(stream, Loader=load)  # noqa: S506 (a safe loader, C or Python)
    if parsed is None:
        raise ConfigException("Invalid kube-config file. No configuration found.")
    if not isinstance(parsed, dict):  # a list or a scalar: YAML, but not a kubeconfig
        raise TypeError(f"a kubeconfig is a YAML mapping, not a {type(parsed).__name__}")
    return KubeConfigLoader(
        config_dict=parsed,
        active_context=context,
        config_base_path=str(path.resolve().parent),
    )
