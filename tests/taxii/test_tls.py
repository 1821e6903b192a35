"""`mlstix serve --certfile --keyfile` serves TAXII over TLS (a self-signed certificate made
here; the client trusts exactly that certificate)."""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from taxii_support import TAXII, indicator

from mlstix.cli.main import cli

x509 = pytest.importorskip("cryptography.x509")


def _self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_serve_over_tls(tmp_path: Path) -> None:
    from test_crash import _free_port

    cert, key = _self_signed(tmp_path)
    config = tmp_path / "taxii.toml"
    config.write_text("load_kb = false\n")
    port = _free_port()
    db = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    added = CliRunner().invoke(
        cli, ["serve", "adduser", "w", "--password", "pw", "--write", "findings", "--db", db]
    )
    assert added.exit_code == 0, added.output
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from mlstix.cli.main import main; main()",
            "serve",
            "--db",
            f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "--port",
            str(port),
            "--config",
            str(config),
            "--certfile",
            str(cert),
            "--keyfile",
            str(key),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    context = ssl.create_default_context(cafile=str(cert))
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                resp = httpx.get(
                    f"https://127.0.0.1:{port}/taxii2/", headers={"Accept": TAXII}, verify=context
                )
                break
            except httpx.ConnectError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.2)
        assert resp.status_code == 200
        assert resp.json()["api_roots"] == [f"https://127.0.0.1:{port}/mlstix/"]
        with pytest.raises(httpx.TransportError):  # plain HTTP is refused
            httpx.get(f"http://127.0.0.1:{port}/taxii2/", headers={"Accept": TAXII})
        # `mlstix publish --cacert` trusts the self-signed certificate; without it, no.
        bundle = tmp_path / "bundle.json"
        bundle.write_text(json.dumps({"type": "bundle", "objects": [indicator(1)]}))
        args = [
            "publish",
            str(bundle),
            "--to",
            f"https://127.0.0.1:{port}/taxii2/",
            "--collection",
            "findings",
            "--user",
            "w",
            "--password",
            "pw",
        ]
        untrusted = CliRunner().invoke(cli, args)
        assert untrusted.exit_code == 2 and "CERTIFICATE_VERIFY_FAILED" in untrusted.output
        trusted = CliRunner().invoke(cli, [*args, "--cacert", str(cert)])
        assert trusted.exit_code == 0, trusted.output
        assert "published 1 of 1" in trusted.output
    finally:
        proc.terminate()
        proc.wait(timeout=30)
