"""What a new user meets first: wrong values, odd files and noisy libraries each give one
``error: ...`` line and exit 2, never a Python traceback (issue 11, section 1)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from mlstix.cli import main


def _run(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(main.cli, args)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_a_library_logging_a_traceback_does_not_reach_the_user(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """gcsfs logs the whole traceback of an unreachable endpoint (logger.exception) before it
    raises: with nothing configuring logging, Python's last-resort handler printed it."""

    @click.command("noisy")
    def noisy() -> None:
        try:
            raise ConnectionError("Cannot connect to host 127.0.0.1:9")
        except ConnectionError:
            logging.getLogger("gcsfs").exception("_request out of retries")
            logging.getLogger("gcsfs").warning("Could not determine bucket type")
        logging.getLogger("mlstix.test").warning("first line\nsecond line")
        from mlstix.errors import MlstixError

        raise MlstixError("gs://bucket: cannot list: Cannot connect to host 127.0.0.1:9")

    monkeypatch.setattr(logging, "lastResort", logging.lastResort)  # restored afterwards
    monkeypatch.setattr(logging.getLogger(), "handlers", [])  # as outside pytest: none
    monkeypatch.setitem(main._COMMANDS, "noisy", lambda: noisy)
    monkeypatch.setattr(main.cli, "commands", dict(main.cli.commands))
    code, output = _run(["noisy"])
    assert code == 2
    assert "Traceback" not in output
    assert "out of retries" not in output and "bucket type" not in output
    assert "warning: first line\n" in output and "second line" not in output
    last = output.rstrip().splitlines()[-1]
    assert last == "error: gs://bucket: cannot list: Cannot connect to host 127.0.0.1:9"


@pytest.mark.parametrize("port", ["99999999", "-1", "65536", "http"])
def test_serve_port_out_of_range_is_a_usage_error(port: str) -> None:
    """It used to start (uvicorn printed "running on http://127.0.0.1:99999999")."""
    code, output = _run(["serve", "--port", port])
    assert code == 2
    assert "Invalid value for '--port'" in output


@pytest.mark.parametrize("timeout", ["nan", "1e308", "0", "-5", "inf"])
def test_publish_timeout_must_be_a_sensible_number_of_seconds(tmp_path: Path, timeout: str) -> None:
    """nan and 1e308 reached socket.settimeout: a ValueError / OverflowError traceback."""
    bundle = tmp_path / "bundle.json"
    bundle.write_text('{"type": "bundle", "id": "bundle--x", "objects": []}')
    args = ["publish", str(bundle), "--to", "http://127.0.0.1:9/taxii2/", "--collection", "x"]
    code, output = _run([*args, "--timeout", timeout])
    assert code == 2
    assert "Invalid value for '--timeout'" in output


def test_detect_logs_jobs_is_bounded(tmp_path: Path) -> None:
    """-j 99999999999 went to DuckDB as its thread count: OutOfMemoryException traceback."""
    pytest.importorskip("duckdb")
    log = tmp_path / "events.jsonl"
    log.write_text('{"eventName": "CreateModel"}\n')
    code, output = _run(["detect", "logs", str(log), "-j", "99999999999"])
    assert code == 2
    assert "Invalid value for '--jobs'" in output


_KUBECONFIGS = {
    "garbage": bytes(range(128, 256)) * 4,
    "not-yaml": b"a: [unclosed\n  - x: {",
    "a-list": b"[]\n",
    "a-string": b"hello\n",
    "wrong-shapes": b"apiVersion: v1\nclusters: 5\ncontexts: [1]\ncurrent-context: x\n",
}


@pytest.mark.parametrize("kind", sorted(_KUBECONFIGS))
def test_assess_kubernetes_with_a_broken_kubeconfig_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """The kubernetes client raised YAMLError, UnicodeDecodeError or TypeError: a traceback
    and exit 1, which a CI gate reads as "findings"."""
    pytest.importorskip("kubernetes")
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)  # no in-cluster fallback
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_bytes(_KUBECONFIGS[kind])
    code, output = _run(["assess", "kubernetes", "--kubeconfig", str(kubeconfig)])
    assert code == 2
    assert "Traceback" not in output
    assert f"error: no Kubernetes credentials: tried the kubeconfig {kubeconfig} (" in output


def _deep(tmp_path: Path) -> str:
    path = tmp_path / "deep.json"
    path.write_text("[" * 5000 + "]" * 5000)
    return str(path)


@pytest.mark.parametrize(
    "args",
    [
        ["kb", "validate", "{deep}"],
        ["navigator", "--report", "{deep}"],
        ["benchmark", "assess", "{deep}"],
        ["benchmark", "assess", "--attest", "{deep}"],
        ["scan", "models", "{other}", "--policy", "{deep}"],
        ["publish", "{deep}", "--to", "http://127.0.0.1:9/taxii2/", "--collection", "x"],
    ],
    ids=lambda args: " ".join(a for a in args if not a.startswith("{")),
)
def test_input_nested_too_deeply_is_one_line(tmp_path: Path, args: list[str]) -> None:
    """json and yaml recurse once per level: a RecursionError traceback and exit 1."""
    other = tmp_path / "weights.bin"
    other.write_bytes(b"\0" * 64)
    argv = [a.format(deep=_deep(tmp_path), other=other) for a in args]
    code, output = _run(argv)
    assert code == 2
    assert "Traceback" not in output
    # the error names the file that is nested too deeply (json); libyaml (the attestation
    # and policy readers') has its own limit, and names the line
    assert ("deep.json" in output and "nested too deeply" in output) or (
        "not valid YAML: line 1, column 1001: exceeded maximum nesting depth" in output
    )


def test_hf_location_with_an_unreachable_endpoint_is_one_line(tmp_path: Path) -> None:
    """HfFileSystem.invalidate_cache resolves the repository (a request) and sat outside the
    listing's error handling: httpx ConnectError traceback, exit 1. A subprocess, because
    huggingface_hub reads HF_ENDPOINT when it is imported."""
    pytest.importorskip("huggingface_hub")
    env = {
        **os.environ,
        "HF_ENDPOINT": "http://127.0.0.1:9",
        "HF_HUB_OFFLINE": "0",
        "HF_HOME": str(tmp_path / "hf"),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "mlstix", "scan", "models", "hf://org/model"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    # the wording is the remote scanner's ("cannot list: ...", "cannot reach URL: ...")
    assert proc.stderr.startswith("error: hf://org/model: cannot ")
    assert len(proc.stderr.splitlines()) <= 2  # the error and its hint


def test_assess_azure_with_an_http_authority_host_is_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DefaultAzureCredential() raises ValueError for a non-https AZURE_AUTHORITY_HOST."""
    pytest.importorskip("azure.identity")
    for name, value in {
        "AZURE_CLIENT_ID": "00000000-0000-0000-0000-000000000001",
        "AZURE_TENANT_ID": "00000000-0000-0000-0000-000000000002",
        "AZURE_CLIENT_SECRET": "not-a-secret",
        "AZURE_AUTHORITY_HOST": "http://127.0.0.1:9",
    }.items():
        monkeypatch.setenv(name, value)
    subscription = "00000000-0000-0000-0000-000000000003"
    code, output = _run(["assess", "azure", "--subscription", subscription])
    assert code == 2
    assert "Traceback" not in output
    assert "error: no usable Azure credentials: 'http://127.0.0.1:9' is an invalid" in output


@pytest.mark.parametrize("fmt", ["table", "json", "sarif", "stix", "markdown", "html"])
def test_a_file_name_that_is_not_utf8_is_reported_in_every_format(tmp_path: Path, fmt: str) -> None:
    """A hostile repository can hold a file named with bytes that are not UTF-8: SARIF (URI
    quoting), STIX (uuid5 of the path) and HTML (the write) crashed with UnicodeEncodeError."""
    folder = tmp_path / "models"
    folder.mkdir()
    try:
        with open(os.path.join(os.fsencode(folder), b"m\xff.pt"), "wb") as handle:
            handle.write(b"\0" * 64)
    except OSError as exc:  # a file system that only takes UTF-8 names
        pytest.skip(f"cannot create a non-UTF-8 file name here: {exc}")
    out = tmp_path / f"report.{fmt}"
    args = ["scan", "models", str(folder), "--format", fmt, "-o", str(out), "--fail-on", "none"]
    code, output = _run(args)
    assert code == 0, output
    assert f"wrote {out}" in output
    text = out.read_text(encoding="utf-8")  # valid UTF-8 throughout
    assert "xff.pt" in text  # the byte shown as \xff (JSON-escaped, %5C in a URI), not dropped


def test_serve_port_out_of_range_in_the_config_file_is_a_usage_error(tmp_path: Path) -> None:
    """It used to start: uvicorn printed "running on http://127.0.0.1:99999999"."""
    pytest.importorskip("fastapi")
    config = tmp_path / "taxii.toml"
    config.write_text("port = 99999999\n")
    code, output = _run(["serve", "--config", str(config)])
    assert code == 2
    assert "error: setting port must be a TCP port (0-65535), not 99999999" in output


@pytest.mark.parametrize(
    "args", [["kb", "export"], ["benchmark", "export", "--format", "xlsx"]], ids=" ".join
)
def test_a_required_output_left_out_is_a_usage_error(args: list[str]) -> None:
    """click >= 8.3 takes an explicit default=None as a given value: `kb export` without -o
    reached Path(None), a TypeError traceback."""
    code, output = _run(args)
    assert code == 2
    assert "Missing option '--output'" in output


def test_no_required_option_has_an_explicit_default_of_none() -> None:
    """The same trap anywhere in the tree: a required option with default=None is optional."""

    def walk(command: click.Command, path: str) -> list[str]:
        bad = [
            f"{path} {p.opts[0]}"
            for p in command.params
            if isinstance(p, click.Option) and p.required and p.default is None
        ]
        if isinstance(command, click.Group):
            for name in command.list_commands(click.Context(command)):
                sub = command.get_command(click.Context(command), name)
                assert sub is not None
                bad += walk(sub, f"{path} {name}")
        return bad

    ctx = click.Context(main.cli)
    found = []
    for name in main.cli.list_commands(ctx):
        command = main.cli.get_command(ctx, name)
        assert command is not None
        found += walk(command, f"mlstix {name}")
    assert found == []


@pytest.mark.parametrize(
    "args",
    [
        ["kb", "list"],
        ["rules", "list"],
        ["scan", "models", "{model}", "--format", "table", "--fail-on", "none"],
        # written whole by the output helper, which said "cannot write standard output: broken
        # pipe" and exited 2 ("could not run") where the table exits 141
        ["scan", "models", "{model}", "--format", "json", "--fail-on", "none"],
        ["scan", "models", "{model}", "--format", "sarif", "-o", "/dev/stdout"],
        ["navigator"],
    ],
    ids=lambda args: " ".join(a for a in args[:4] if not a.startswith("{")),
)
def test_a_reader_that_leaves_gives_141_quietly_not_1(tmp_path: Path, args: list[str]) -> None:
    """rich's console exited 1 on a closed stdout: `mlstix scan ... | head` then looked like
    "findings" to a CI gate. The read end is closed before mlstix writes, so this is certain."""
    model = tmp_path / "weights.bin"
    model.write_bytes(b"\0" * 64)
    read, write = os.pipe()
    os.close(read)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "mlstix", *(a.format(model=model) for a in args)],
            stdout=write,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write)
    assert proc.returncode == 141, proc.stderr
    assert proc.stderr == ""


def test_ctrl_c_inside_a_duckdb_query_is_an_interrupt(monkeypatch: pytest.MonkeyPatch) -> None:
    """DuckDB handles SIGINT during a query and raises RuntimeError("Query interrupted"):
    `mlstix detect logs BIG` stopped with a traceback and exit 1 instead of 130."""

    @click.command("query")
    def query() -> None:
        raise RuntimeError("Query interrupted")

    @click.command("other")
    def other() -> None:
        raise RuntimeError("something else")

    def interrupted() -> None:  # the real one ends the process with os._exit(130)
        raise SystemExit(130)

    monkeypatch.setattr(main, "_interrupted", interrupted)
    monkeypatch.setitem(main._COMMANDS, "query", lambda: query)
    monkeypatch.setitem(main._COMMANDS, "other", lambda: other)
    monkeypatch.setattr(main.cli, "commands", dict(main.cli.commands))
    assert _run(["query"])[0] == 130
    with pytest.raises(RuntimeError, match="something else"):  # not disguised as Ctrl-C
        _run(["other"])


def test_running_out_of_memory_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """A MemoryError (a compression bomb under a memory limit) reached the user as a
    traceback."""

    @click.command("hungry")
    def hungry() -> None:
        raise MemoryError

    monkeypatch.setitem(main._COMMANDS, "hungry", lambda: hungry)
    monkeypatch.setattr(main.cli, "commands", dict(main.cli.commands))
    code, output = _run(["hungry"])
    assert code == 2
    assert "Traceback" not in output
    assert output.startswith("error: ran out of memory: an input is far larger than it looks")


def test_publish_counts_in_the_singular(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ "1 requests" read as a slip; the server side is tests/taxii/test_publish_cli.py."""
    pytest.importorskip("httpx")
    from mlstix.taxii import publish

    url = "http://127.0.0.1:9/mlstix/collections/c/objects/"

    def one(objects: list[object], *args: object, **kwargs: object) -> publish.PublishResult:
        return publish.PublishResult(url, len(objects), len(objects), (), ("status-1",))

    monkeypatch.setattr(publish, "publish_bundle", one)
    bundle = tmp_path / "bundle.json"
    indicator = {"type": "indicator", "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"}
    bundle.write_text(json.dumps({"type": "bundle", "id": "bundle--x", "objects": [indicator]}))
    args = ["publish", str(bundle), "--to", "http://127.0.0.1:9/taxii2/", "--collection", "c"]
    code, output = _run(args)
    assert code == 0, output
    assert f"published 1 of 1 object to {url} (1 request)\n" in output


def test_kb_validate_counts_one_file_in_the_singular(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.json"
    bundle.write_text('{"type": "bundle", "objects": [{"type": "indicator"}]}')
    code, output = _run(["kb", "validate", str(bundle)])
    assert code == 2
    assert "error: 1 of 1 file is not valid STIX 2.1" in output


def test_sign_a_model_holding_a_non_utf8_file_name_is_one_line(tmp_path: Path) -> None:
    """model_signing put the name in a protobuf string: UnicodeEncodeError traceback, exit 1."""
    pytest.importorskip("model_signing")
    pytest.importorskip("cryptography")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    folder = tmp_path / "model"
    folder.mkdir()
    try:
        with open(os.path.join(os.fsencode(folder), b"m\xff.pt"), "wb") as handle:
            handle.write(b"\0" * 64)
    except OSError as exc:
        pytest.skip(f"cannot create a non-UTF-8 file name here: {exc}")
    key = tmp_path / "key.pem"
    key.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    signature = tmp_path / "model.sig"
    args = ["sign", str(folder), "--private-key", str(key), "--signature", str(signature)]
    code, output = _run(args)
    assert code == 2
    assert f"the name of {folder}/m\\xff.pt is not UTF-8" in output
    assert not signature.exists()


def test_an_unsupported_location_scheme_is_named(tmp_path: Path) -> None:
    from mlstix.cli.main import cli

    result = CliRunner().invoke(cli, ["scan", "models", "http://127.0.0.1:9/model.pt"])
    assert result.exit_code == 2
    assert "http:// is not a location mlstix reads" in result.output
    assert "Traceback" not in result.output


def test_a_public_key_that_is_not_a_key_is_refused_before_scanning(tmp_path: Path) -> None:
    from mlstix.cli.main import cli

    key = tmp_path / "key.pem"
    key.write_text("garbage\n")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "w.safetensors").write_bytes(b"\x02\x00\x00\x00\x00\x00\x00\x00{}")
    out = tmp_path / "r.json"
    args = ["scan", "models", str(tmp_path / "models"), "--public-key", str(key), "-o", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and "not a PEM public key" in result.output
    assert not out.exists()


def test_duckdb_interrupt_exception_inside_a_query_is_an_interrupt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DuckDB may also raise InterruptException on SIGINT: that is Ctrl-C, not a damaged file
    to salvage line by line."""
    duckdb = pytest.importorskip("duckdb")
    from mlstix.detect.logs import _engine, detect_logs
    from mlstix.kb.load import load_kb

    def interrupted(*args: object, **kwargs: object) -> None:
        raise duckdb.InterruptException("INTERRUPT Error: Interrupted!")

    def no_salvage(*args: object, **kwargs: object) -> None:
        raise AssertionError("an interrupted query was taken for a damaged file")

    monkeypatch.setattr(_engine._Runner, "rows", interrupted)
    monkeypatch.setattr(_engine, "salvage", no_salvage)
    log = tmp_path / "trail.jsonl"
    event = {
        "eventVersion": "1.08",
        "eventSource": "s3.amazonaws.com",
        "eventName": "GetObject",
        "eventTime": "2026-11-30T10:00:00Z",
    }
    log.write_text(json.dumps(event) + "\n")
    with pytest.raises(KeyboardInterrupt):
        detect_logs(load_kb(), [log], jobs=1)


def test_assess_aws_with_an_unreachable_endpoint_says_so_quickly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It took 64 s of retries and blamed the credentials."""
    pytest.importorskip("boto3")
    import time

    from mlstix.cli.main import cli

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "example")
    out = tmp_path / "report.json"
    start = time.monotonic()
    result = CliRunner().invoke(cli, ["assess", "aws", "--region", "us-east-1", "-o", str(out)])
    assert result.exit_code == 2
    assert "cannot reach http://127.0.0.1:9" in result.output and "credentials" not in result.output
    assert time.monotonic() - start < 30 and not out.exists()
