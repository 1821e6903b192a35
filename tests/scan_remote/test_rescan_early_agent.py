"""``scan models`` on a remote location forks its agent first, before it reads its arguments
further: a bad argument found after that is still one error line and exit 2, Ctrl-C is exit 130
within a second, and in every case no process of the command outlives it. The changed objects'
bytes are read by the agent for the worker that analyses them, and only theirs."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from . import registry, servers

pytest.importorskip("s3fs", reason="mlstix[remote] is not installed")
pytest.importorskip("moto.server", reason="moto[server] is not installed")


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with servers.moto_s3() as url:
        client = servers.s3_client(url)
        client.create_bucket(Bucket="early")
        files = {f"m/{i}/model.safetensors": registry.safetensors(2, 1 << 12, b"%d" % i)
                 for i in range(3)}  # fmt: skip
        files["m/1/training_args.bin"] = registry.PAYLOAD
        servers.put_all(client, "early", files)
        yield url


def _start(env_endpoint: str, *args: str) -> subprocess.Popen[str]:
    env = servers.child_env(**{**servers.S3_ENV, "AWS_ENDPOINT_URL": env_endpoint})
    return subprocess.Popen(
        [sys.executable, "-m", "mlstix", "scan", "models", "s3://early/m", *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip


def _left(session: int) -> list[int]:
    """Processes still in the command's session (its agent, its workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[3]) == session and fields[0] != "Z":  # field 6: session id
                found.append(int(entry.name))
    return found


def _finish(proc: subprocess.Popen[str], timeout: float = 60) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
        deadline = time.monotonic() + 5
        while _left(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _left(proc.pid), "a process of the command outlived it"
    finally:  # what a failed test leaves is ended here, not left running
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
    return proc.returncode, out, err


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--max-bytes-per-file", "lots"], "--max-bytes-per-file 'lots': not a size"),
     (["--identity", "a@b.c", "--identity-provider", "https://issuer"], "mlstix verify URL"),
     (["--policy", "/nonexistent/policy.yaml"], "policy.yaml")],
    ids=["bad-size", "signatures", "missing-policy"],
)  # fmt: skip
def test_a_bad_argument_after_the_fork_is_one_line_and_exit_2(
    endpoint: str, tmp_path: Path, args: list[str], message: str
) -> None:
    report = tmp_path / "report.json"
    code, out, err = _finish(_start(endpoint, *args, "--format", "json", "-o", str(report)))
    assert code == 2 and out == "" and not report.exists()
    assert err.count("error:") == 1 and message in err, err
    assert "Traceback" not in err


@contextlib.contextmanager
def _silent_endpoint() -> Iterator[str]:
    """An endpoint that accepts connections and never answers: the listing waits on it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                held.append(server.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        server.close()


def test_ctrl_c_while_the_agent_lists_is_exit_130_and_ends_the_agent() -> None:
    with _silent_endpoint() as silent:
        proc = _start(silent, "--format", "json")
        time.sleep(3)  # the agent has forked and waits on the endpoint
        assert proc.poll() is None and len(_left(proc.pid)) >= 2, "no agent was forked"
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the terminal's process group
        start = time.monotonic()
        code, out, err = _finish(proc, timeout=10)
    assert code == 130 and out == ""
    assert time.monotonic() - start < 3
    assert "Traceback" not in err


def test_the_rescan_reads_only_the_changed_object(endpoint: str, tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    code, out, _ = _finish(_start(endpoint, "--state", str(state), "--format", "json"))
    first = {s["path"]: s["bytes_fetched"] for s in json.loads(out)["scanned"]}
    assert code == 1 and len(first) == 4 and all(first.values())
    changed = "s3://early/m/2/model.safetensors"
    servers.s3_client(endpoint).put_object(
        Bucket="early", Key="m/2/model.safetensors", Body=registry.safetensors(2, 1 << 12, b"x")
    )
    code, out, err = _finish(_start(endpoint, "--state", str(state), "--format", "json"))
    doc = json.loads(out)
    again = {s["path"]: s["bytes_fetched"] for s in doc["scanned"]}
    assert code == 1 and "for 1 of 4 objects; 3 unchanged" in err, err
    assert again == {**dict.fromkeys(first, 0), changed: first[changed]}  # same-size object
    found = {f["location"]["path"] for f in doc["findings"] if f["severity"] == "critical"}
    assert found == {"s3://early/m/1/training_args.bin"}


@pytest.mark.parametrize(
    "value",
    ["2026-12-01T19:49:20.000Z", "2026-02-28T23:59:59.123456Z", "2026-12-01T19:49:20Z",
     "Tue, 01 Dec 2026 19:49:20 GMT", "1764618560", "2026-12-01T19:49:20+01:00"],
)  # fmt: skip
def test_listing_times_are_read_as_botocore_reads_them(value: str) -> None:
    from botocore.utils import parse_timestamp

    from mlstix.scan.remote._fs import iso_timestamp

    ours, theirs = iso_timestamp(value), parse_timestamp(value)
    assert ours == theirs and ours.utcoffset() == theirs.utcoffset()
    assert str(ours) == str(theirs) and ours.isoformat() == theirs.isoformat()


def test_a_listing_names_every_object_as_s3fs_does(
    endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import s3fs

    from mlstix.scan.remote._fs import parse
    from mlstix.scan.remote._listing import _identity, list_location

    for key, value in {**servers.S3_ENV, "AWS_ENDPOINT_URL": endpoint}.items():
        monkeypatch.setenv(key, value)
    s3fs.S3FileSystem.clear_instance_cache()
    try:
        ours = {o.path: (o.identity, o.version) for o in list_location(parse("s3://early/m"))}
        plain = s3fs.S3FileSystem(skip_instance_cache=True).find("early/m", detail=True)
        assert plain and {p: _identity(i) for p, i in plain.items()} == {
            p: ident for p, (ident, _) in ours.items()}  # fmt: skip
        assert all(" modified:" in version for _, version in ours.values())
    finally:
        s3fs.S3FileSystem.clear_instance_cache()


def test_the_s3_stack_takes_the_standard_ssl_context_without_pyopenssl(endpoint: str) -> None:
    """botocore's SSL context is the standard library's, as with pyOpenSSL imported; s3fs
    lists without httpx; both stay importable afterwards (hidden only while s3fs is imported)."""
    code = (
        "import ssl, sys\n"
        "from mlstix.scan.remote._fs import filesystem, lean_imports, parse\n"
        "lean_imports()  # as the agent does\n"
        "filesystem(parse('s3://early/m'))\n"
        "import botocore.httpsession as h\n"
        "print(h.SSLContext is ssl.SSLContext, 'cryptography' in sys.modules)\n"
        "import urllib3.contrib.pyopenssl as p\n"
        "print(p.orig_util_SSLContext is ssl.SSLContext)\n"
        "import aiobotocore._httpx as a\n"
        "print(a.httpx is None, type(filesystem(parse('s3://early/m')).ls('early/m')).__name__)\n"
        "import importlib.util\n"
        "for m in ('httpx2', 'httpx'):\n"
        "    if importlib.util.find_spec(m):\n"
        "        importlib.import_module(m)\n"
    )
    env = servers.child_env(**{**servers.S3_ENV, "AWS_ENDPOINT_URL": endpoint})
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "False", "True", "True", "list"]


def test_in_process_the_command_leaves_the_collector_and_no_child(
    endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run in this process (as a host application or a test runner would), a remote scan that
    stops on a bad argument restores the cyclic collector it paused and leaves no agent."""
    import gc
    import multiprocessing

    from click.testing import CliRunner

    from mlstix.cli.main import cli

    for key, value in {**servers.S3_ENV, "AWS_ENDPOINT_URL": endpoint}.items():
        monkeypatch.setenv(key, value)
    assert gc.isenabled()
    result = CliRunner().invoke(
        cli, ["scan", "models", "s3://early/m", "--max-bytes-per-file", "lots"]
    )
    assert result.exit_code == 2 and "not a size" in result.output
    assert gc.isenabled() and not multiprocessing.active_children()


def test_a_library_that_needs_a_hidden_module_is_imported_with_it() -> None:
    code = (
        "from mlstix.scan.remote import _fs\n"
        "_fs.lean_imports()\n"
        "_fs._UNUSED_BY_S3 = ('aiohttp',)  # as if s3fs needed it: it does\n"
        "_fs._import('s3fs')\n"
        "import s3fs, sys\n"
        "print(sys.modules['aiohttp'] is not None)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    assert proc.returncode == 0 and proc.stdout.split() == ["True"], proc.stderr


def test_outside_the_agent_the_s3_stack_is_imported_whole(endpoint: str) -> None:
    """A process that did not ask for lean imports (a host application, the command itself
    when it lists after all) imports s3fs as it is: nothing is hidden from its other threads."""
    import importlib.util

    if importlib.util.find_spec("OpenSSL") is None:
        pytest.skip("pyOpenSSL is not installed: botocore does not import its urllib3 module")
    code = (
        "import sys\n"
        "from mlstix.scan.remote._fs import filesystem, parse\n"
        "filesystem(parse('s3://early/m'))\n"
        "print('urllib3.contrib.pyopenssl' in sys.modules)\n"
    )
    env = servers.child_env(**{**servers.S3_ENV, "AWS_ENDPOINT_URL": endpoint})
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    assert proc.returncode == 0 and proc.stdout.split() == ["True"], proc.stderr
