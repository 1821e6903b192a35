"""`mlstix publish` / publish_bundle against a live server, and the `mlstix serve` commands."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from taxii_support import FINDINGS, KB, TAXII, LiveServer, Users, indicator

from mlstix.cli.main import cli
from mlstix.taxii.auth import Authenticator
from mlstix.taxii.publish import Credentials, PublishError, publish_bundle
from mlstix.taxii.store import Store


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'taxii.sqlite3'}"


def _bundle(objects: list[dict[str, object]]) -> str:
    return json.dumps(
        {"type": "bundle", "id": "bundle--6f1e1c0a-0c47-4b0e-9a53-1b0b1f0e6c11", "objects": objects}
    )


def _stored_ids(server: LiveServer, users: Users) -> list[str]:
    url = f"{server.collection_url(FINDINGS)}objects/?match[version]=all&limit=1000"
    body = httpx.get(url, headers={"Accept": TAXII, **users.basic(users.reader)}).json()
    return [o["id"] for o in body["objects"]]


def test_publish_in_batches_from_the_discovery_url(live: tuple[LiveServer, Users]) -> None:
    server, users = live
    objects = [indicator(n) for n in range(7)]
    result = publish_bundle(
        _bundle(objects),
        f"{server.base}/taxii2/",
        "Findings",  # by title
        Credentials(user="writer", password="w-secret"),
        batch_size=3,
    )
    assert result.ok and (result.total, result.succeeded) == (7, 7)
    assert len(result.status_ids) == 3
    assert _stored_ids(server, users) == [o["id"] for o in objects]


def test_publish_reports_rejected_objects(live: tuple[LiveServer, Users]) -> None:
    server, users = live
    bad = indicator(3, pattern="[nonsense")
    result = publish_bundle(
        {"objects": [indicator(1), bad]},
        server.root,
        "findings",  # by alias
        Credentials(api_key=users.api_key),
    )
    assert not result.ok
    assert result.succeeded == 1
    assert [oid for oid, _ in result.failures] == [bad["id"]]


@pytest.mark.parametrize(
    ("collection", "creds", "needle"),
    [
        ("nope", Credentials(user="writer", password="w-secret"), "no collection 'nope'"),
        (KB, Credentials(user="writer", password="w-secret"), "not writable"),
        (FINDINGS, Credentials(user="writer", password="bad"), "401"),
        (FINDINGS, None, "no collection"),  # anonymous sees only the KB
    ],
)
def test_publish_errors(
    live: tuple[LiveServer, Users], collection: str, creds: Credentials | None, needle: str
) -> None:
    server, _ = live
    with pytest.raises(PublishError) as err:
        publish_bundle(_bundle([indicator(1)]), server.root, collection, creds)
    assert needle in str(err.value)


def test_publish_to_nothing_listening() -> None:
    with pytest.raises(PublishError, match=r"127\.0\.0\.1:9"):
        publish_bundle(_bundle([indicator(1)]), "http://127.0.0.1:9/taxii2/", "x", timeout=2)


def test_publish_command(live: tuple[LiveServer, Users], tmp_path: Path) -> None:
    server, users = live
    good = tmp_path / "bundle.json"
    good.write_text(_bundle([indicator(1), indicator(2)]))
    args = ["publish", str(good), "--to", server.root, "--collection", FINDINGS]
    result = CliRunner().invoke(cli, [*args, "--user", "writer", "--password", "w-secret"])
    assert result.exit_code == 0, result.output
    assert "published 2 of 2" in result.output
    mixed = tmp_path / "mixed.json"
    mixed.write_text(_bundle([indicator(3), {"type": "indicator", "id": "indicator--1"}]))
    result = CliRunner().invoke(
        cli,
        ["publish", str(mixed), "--to", server.root, "--collection", FINDINGS],
        env={"MLSTIX_TAXII_API_KEY": users.api_key},
    )
    assert result.exit_code == 1
    assert "published 1 of 2" in result.output and "indicator--1" in result.output
    assert len(_stored_ids(server, users)) == 3


@pytest.mark.parametrize(
    ("content", "needle"),
    [("{oops", "not JSON"), ('{"hello": 1}', "not a STIX bundle"), (None, "cannot read")],
)
def test_publish_command_bad_file(tmp_path: Path, content: str | None, needle: str) -> None:
    path = tmp_path / "in.json"
    if content is not None:
        path.write_text(content)
    result = CliRunner().invoke(
        cli, ["publish", str(path), "--to", "http://127.0.0.1:9/", "--collection", "x"]
    )
    assert result.exit_code == 2
    assert needle in result.output and "in.json" in result.output


def test_publish_command_refuses_two_kinds_of_credentials(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_text(_bundle([]))
    result = CliRunner().invoke(
        cli,
        [
            "publish",
            str(path),
            "--to",
            "http://x/",
            "--collection",
            "c",
            "--user",
            "u",
            "--password",
            "p",
            "--api-key",
            "k",
        ],
    )
    assert result.exit_code == 2 and "not both" in result.output


def test_adduser_then_login(db_url: str) -> None:
    runner = CliRunner()
    result = runner.invoke(
        cli,
        [
            "serve",
            "adduser",
            "carol",
            "--password",
            "c-pass",
            "--read",
            "kb",
            "--write",
            "findings",
            "--api-key",
            "--db",
            db_url,
        ],
    )
    assert result.exit_code == 0, result.output
    key = result.output.split("KEY'): ")[1].strip()
    store = Store(db_url)
    auth = Authenticator(store.engine, [])
    who = auth.authenticate("Basic " + base64.b64encode(b"carol:c-pass").decode())
    assert who is not None and who.can_write(FINDINGS) and who.can_read(KB)
    assert auth.authenticate(f"Bearer {key}") == who
    store.close()


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--write", "kb"], "read-only"),
        (["--read", "nonexistent"], "unknown collection 'nonexistent'"),
        (["--password", ""], "must not be empty"),
    ],
)
def test_adduser_bad_arguments(db_url: str, extra: list[str], needle: str) -> None:
    args = ["serve", "adduser", "dave", "--db", db_url]
    if "--password" not in extra:
        args += ["--password", "x"]
    result = CliRunner().invoke(cli, args + extra)
    assert result.exit_code == 2
    assert needle in result.output


def test_serve_needs_both_tls_files(tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    result = CliRunner().invoke(
        cli, ["serve", "--db", f"sqlite:///{tmp_path / 'db'}", "--certfile", str(cert)]
    )
    assert result.exit_code == 2 and "both --certfile and --keyfile" in result.output


def test_serve_rejects_a_bad_database_url() -> None:
    result = CliRunner().invoke(cli, ["serve", "--db", "mysql://x/y"])
    assert result.exit_code == 2 and "unsupported database URL" in result.output


def test_a_scan_report_in_stix_publishes_cleanly(
    live: tuple[LiveServer, Users], kb: object
) -> None:
    """What `mlstix scan ... --publish` sends: the STIX rendering of a report."""
    from mlstix.findings.formats import render
    from mlstix.findings.model import Finding, Location, Report, ScannedFile, Severity

    server, users = live
    report = Report.build(
        "models",
        [ScannedFile("model.pt", "pytorch-zip", "ab" * 32)],
        [
            Finding(
                rule_id="MLX-TEST",
                severity=Severity.CRITICAL,
                title="Unsafe pickle",
                message="imports os.system",
                location=Location("model.pt", member="archive/data.pkl"),
                vulnerability="insecure-model-serialization",
                courses_of_action=("implement-ml-model-verification-testing",),
            )
        ],
    )
    bundle = render("stix", report, kb)  # type: ignore[arg-type]
    result = publish_bundle(bundle, server.root, "findings", Credentials(api_key=users.api_key))
    assert result.failures == () and result.ok
    stored = set(_stored_ids(server, users))
    assert any(i.startswith("sighting--") for i in stored)
    assert stored == {o["id"] for o in json.loads(bundle)["objects"]}
