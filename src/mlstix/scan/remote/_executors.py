"""Where the per-object work runs: ``local`` (listing in threads, analysis in the model
scanner's isolated worker processes, each file's crash or stall costing only that file) or
``ray`` (listing split by prefix and analysis as Ray tasks on an existing cluster, results
streamed back to the driver). Both run the same functions: :func:`._listing.list_under` and
:func:`._work.scan_object`.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

from mlstix._timeouts import forwarded
from mlstix.errors import MlstixError, UsageError
from mlstix.scan.remote._fs import Location, RemoteError, reachable
from mlstix.scan.remote._listing import RemoteObject, list_location, list_under, split
from mlstix.scan.remote._work import ObjectResult, Work, failed, scan_object

__all__ = ["Executor", "LocalExecutor", "RayExecutor", "scan_capped"]

# Endpoint settings (never credentials) that Ray workers get from the driver, so both sides
# read the same store. Credentials come from each worker's own environment (its pod's identity).
_ENDPOINT_VARS = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_DEFAULT_REGION", "AWS_REGION",
                  "STORAGE_EMULATOR_HOST", "HF_ENDPOINT", "AZURE_STORAGE_ACCOUNT_NAME")  # fmt: skip

_RAY_WAIT = "RAY_gcs_server_port_wait_time_s"  # attempts of Ray's GCS client, ~40 s each


class Executor(Protocol):
    def list_location(self, loc: Location) -> list[RemoteObject]: ...

    def scan(self, objs: list[RemoteObject], work: Work) -> Iterator[ObjectResult]: ...

    def close(self) -> None: ...


class LocalExecutor:
    """``jobs`` objects in flight, each analysed in an isolated worker process (or in this
    process when ``isolate`` is false)."""

    def __init__(self, jobs: int, *, isolate: bool = True) -> None:
        self.jobs = jobs
        self.isolate = isolate

    def list_location(self, loc: Location) -> list[RemoteObject]:
        return list_location(loc)

    def scan(self, objs: list[RemoteObject], work: Work) -> Iterator[ObjectResult]:
        func = functools.partial(scan_object, work=work)
        if not self.isolate:
            for obj in objs:
                yield func(obj)
            return
        from mlstix.scan.models._pool import run_isolated

        yield from run_isolated(
            objs,
            func,
            failed,
            jobs=self.jobs,
            timeout=work.limits.timeout,
            memory=work.limits.max_memory,
        )

    def close(self) -> None:
        pass


def _probe(address: str) -> None:
    """A cluster address that accepts no TCP connection fails here, within the connect
    timeout, instead of in ``ray.init``, which waits minutes for it ("auto" and "local" name
    this machine's cluster, which Ray finds, or not, at once)."""
    target = address.removeprefix("ray://")
    if ":" not in target:
        return
    try:
        reachable(target, "--ray-address: cannot connect to the Ray cluster at", "RAY_ADDRESS")
    except RemoteError as exc:
        raise MlstixError(str(exc), hint="start one with `ray start --head`, or point at a "
                          "KubeRay head service (ray://HEAD:10001)") from None  # fmt: skip


def scan_capped(obj: RemoteObject, work: Work) -> ObjectResult:
    """A Ray task's analysis of one object, with the local executor's limits: it runs in a
    forked child whose address space may grow by the analysis cap (``Limits.max_memory``,
    ``RLIMIT_AS``) and which is killed past the deadline, so a hostile file costs its own
    child, never the Ray worker or its node; a child that dies is the object's error entry.

    Ray's ``memory=`` task resource is not used: it only reserves scheduling capacity, and a
    reservation of the cap (8 GiB) leaves a smaller node's tasks unschedulable for ever."""
    from mlstix.scan.models._pool import run_isolated

    memory = work.limits.max_memory
    if memory > 0:  # the child starts with the worker's mappings: Ray maps its object store
        memory += _address_space()  # into every worker (7.2 GiB of 23 GiB RAM, measured)
    results = run_isolated(
        [obj],
        functools.partial(scan_object, work=work),
        failed,
        jobs=1,
        timeout=work.limits.timeout,
        memory=memory,
    )
    return next(iter(results))


def _address_space() -> int:
    """This process's virtual address space in bytes (Linux), 0 where it cannot be read."""
    try:
        status = Path("/proc/self/status").read_text(encoding="ascii", errors="replace")
        for line in status.splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) << 10
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise MlstixError(
            "--executor ray needs the Python package 'ray', which is not installed",
            hint="pip install 'mlstix[ray]'",
        ) from None
    return ray


class RayExecutor:
    """Tasks on the Ray cluster at ``address`` (``--ray-address`` or ``RAY_ADDRESS``), at most
    ``in_flight`` at once; the driver (this process) keeps the report and the state."""

    def __init__(self, address: str | None, in_flight: int) -> None:
        address = address or os.environ.get("RAY_ADDRESS")
        if not address:
            raise UsageError(
                "--executor ray needs a cluster: give --ray-address ADDRESS or set RAY_ADDRESS "
                "(for example ray://head:10001 or auto)"
            )
        ray = _ray()
        _probe(address)
        env = {k: os.environ[k] for k in _ENDPOINT_VARS if k in os.environ}
        env.update(forwarded())  # the workers wait for a silent endpoint as this process does
        # one attempt of Ray's GCS client (about 40 s) for an endpoint that accepts TCP but is
        # no Ray cluster, not Ray's default of 20; a value the user set is kept
        user_set = _RAY_WAIT in os.environ
        os.environ.setdefault(_RAY_WAIT, "1")
        try:
            ray.init(
                address=address,
                runtime_env={"env_vars": env} if env else None,
                logging_level="ERROR",
                log_to_driver=False,
                configure_logging=False,
            )
        except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
            raise MlstixError(
                f"--ray-address {address}: cannot connect to the Ray cluster: "
                f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}",
                hint="start one with `ray start --head`, or point at a KubeRay head service",
            ) from None
        finally:
            if not user_set:
                os.environ.pop(_RAY_WAIT, None)
        self.ray = ray
        self.in_flight = max(1, in_flight)
        self._list = ray.remote(max_retries=2)(list_under)
        self._scan = ray.remote(max_retries=1, num_cpus=1)(scan_capped)

    def _stream(
        self, items: list[Any], submit: Callable[[Any], Any], on_error: Callable[[Any, str], Any]
    ) -> Iterator[Any]:
        ray = self.ray
        queue = list(reversed(items))
        pending: dict[Any, Any] = {}
        while queue or pending:
            while queue and len(pending) < self.in_flight:
                item = queue.pop()
                pending[submit(item)] = item
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                item = pending.pop(ref)
                try:
                    yield ray.get(ref)
                except ray.exceptions.RayTaskError as exc:
                    cause = exc.cause if isinstance(exc.cause, BaseException) else exc
                    if isinstance(cause, MlstixError):
                        raise cause from None
                    yield on_error(item, f"the Ray task failed: {type(cause).__name__}: {cause}")
                except ray.exceptions.RayError as exc:
                    yield on_error(item, f"the Ray task failed: {type(exc).__name__}")

    def list_location(self, loc: Location) -> list[RemoteObject]:
        """The first level here; each sub-prefix listed by a Ray task."""

        def listing_failed(prefix: str, why: str) -> list[RemoteObject]:
            raise MlstixError(f"{loc.url}: cannot list {prefix}: {why}")

        files, prefixes = split(loc)
        stream = self._stream(prefixes, lambda p: self._list.remote(loc.url, p), listing_failed)
        for batch in stream:
            files.extend(batch)
        return files

    def scan(self, objs: list[RemoteObject], work: Work) -> Iterator[ObjectResult]:
        work_ref = self.ray.put(work)
        yield from self._stream(objs, lambda o: self._scan.remote(o, work_ref), failed)

    def close(self) -> None:
        self.ray.shutdown()
