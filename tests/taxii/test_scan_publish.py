"""`mlstix scan ... --publish URL`: a scan's findings reach a TAXII collection."""

from __future__ import annotations

from pathlib import Path

import httpx
from click.testing import CliRunner
from taxii_support import FINDINGS, TAXII, LiveServer, Users

from mlstix.cli.main import cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _scan(server: LiveServer, env: dict[str, str], *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        cli,
        [
            "scan",
            "iac",
            str(EXAMPLES / "iac"),
            "--format",
            "json",
            "-o",
            "-",
            "--publish",
            f"{server.base}/taxii2/",
            *extra,
        ],
        env=env,
    )
    return result.exit_code, result.output


def test_scan_publishes_its_findings(live: tuple[LiveServer, Users]) -> None:
    server, users = live
    code, out = _scan(server, {"MLSTIX_TAXII_API_KEY": users.api_key})
    assert code == 1, out  # the examples have high findings; publishing does not change that
    assert "published" in out
    page = httpx.get(
        server.collection_url(FINDINGS) + "objects/?match[type]=sighting",
        headers={"Accept": TAXII, **Users.basic(users.reader)},
    )
    assert page.status_code == 200
    sightings = page.json()["objects"]
    assert len(sightings) >= 5
    assert all(o["type"] == "sighting" for o in sightings)


def test_scan_publish_without_write_permission_exits_2(live: tuple[LiveServer, Users]) -> None:
    server, users = live
    code, out = _scan(
        server, {"MLSTIX_TAXII_USER": users.reader[0], "MLSTIX_TAXII_PASSWORD": users.reader[1]}
    )
    assert code == 2
    assert "error: collection 'Findings' is not writable for you" in out
