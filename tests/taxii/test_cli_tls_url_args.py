"""Wrong TLS files and URLs are refused before anything runs: one line naming the option and
the file, exit 2 (a bad pair was announced as served and then failed inside uvicorn with
'[SSL] PEM lib', naming no file; a bad --to was found only after the bundle was read)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from test_tls import _self_signed

from mlstix.cli.main import cli


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def _serve(tmp_path: Path, cert: Path, key: Path) -> tuple[int, str]:
    db = f"sqlite:///{tmp_path / 'db'}"
    return _run("serve", "--db", db, "--port", "0", "--certfile", str(cert), "--keyfile", str(key))


def test_serve_refuses_files_that_are_not_a_certificate_and_its_key(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not pem\n")
    code, out = _serve(tmp_path, junk, junk)
    assert code == 2 and f"--certfile {junk} with --keyfile {junk}" in out
    assert "discovery at" not in out and "Traceback" not in out


def test_serve_refuses_a_key_of_another_certificate(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    cert, _ = _self_signed(tmp_path / "a")
    _, other_key = _self_signed(tmp_path / "b")
    code, out = _serve(tmp_path, cert, other_key)
    assert code == 2 and "cannot use --certfile" in out and "discovery at" not in out


def test_serve_refuses_an_encrypted_key_without_prompting(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    cert, key_path = _self_signed(tmp_path)
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    code, out = _serve(tmp_path, cert, key_path)
    assert code == 2 and "unencrypted" in out


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("notaurl", "is not an http(s) URL"),
        ("ftp://example.com/taxii2/", "is not an http(s) URL"),
        ("http://example.com:port/", "is not a URL"),
    ],
)
def test_publish_checks_the_url_before_reading_the_bundle(
    tmp_path: Path, url: str, says: str
) -> None:
    code, out = _run("publish", "--to", url, "--collection", "c", str(tmp_path / "missing.json"))
    assert code == 2 and says in out and "cannot read" not in out


def test_publish_names_a_cacert_that_is_not_a_certificate(tmp_path: Path) -> None:
    junk = tmp_path / "ca.pem"
    junk.write_text("junk\n")
    bundle = tmp_path / "b.json"
    bundle.write_text('{"type": "bundle", "id": "bundle--1", "objects": []}')
    code, out = _run(
        "publish", "--to", "https://127.0.0.1:9/taxii2/", "--collection", "c",
        "--cacert", str(junk), str(bundle),
    )  # fmt: skip
    assert code == 2 and f"--cacert {junk}: not a PEM CA certificate" in out
    assert "--to" not in out
