"""``mlstix assess azure``: the Azure SDK pipeline (azure-core, azure-mgmt-core) against a
replayed Azure Resource Manager whose bodies follow the published REST API examples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mlstix.cli.main import cli

pytest.importorskip("azure.mgmt.core", reason="azure-mgmt-core (assess extra) is not installed")
pytest.importorskip("azure.identity", reason="azure-identity (assess extra) is not installed")

from tests.assess.azure_support import ML, SUB, TOKEN, StaticToken, arm_server


def _template(replay: Any) -> dict[str, Any]:
    """The same resources as an ARM template (what scan iac reads)."""
    resources = []
    for items in replay.estate.values():
        for body in items:
            rtype = body.get("type")
            if "/providers/microsoft.insights/diagnosticSettings/" in body.get("id", ""):
                # an extension resource: its scope is the workspace it belongs to
                ws = body["id"].split("/workspaces/", 1)[1].split("/", 1)[0]
                scope = f"[resourceId('Microsoft.MachineLearningServices/workspaces', '{ws}')]"
                resources.append(
                    {
                        "type": "Microsoft.Insights/diagnosticSettings",
                        "apiVersion": "2021-05-01-preview",
                        "scope": scope,
                        "name": body["name"],
                        "properties": body["properties"],
                    }
                )
                continue
            if not rtype:
                continue
            parts = body["id"].split("/providers/", 1)[1].split("/")
            names = parts[2::2]
            res = {k: v for k, v in body.items() if k not in ("id", "systemData")}
            res["name"] = "/".join(names)
            res["apiVersion"] = "2024-04-01"
            resources.append(res)
    return {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "resources": resources,
    }


def _live(url: str, **kw: Any) -> Any:
    from mlstix.assess import evaluate_inventory
    from mlstix.assess.azure import AzureOptions, collect_azure
    from mlstix.kb.load import load_kb

    inventory, _ = collect_azure(
        AzureOptions(subscription=SUB, endpoint=url, credential=StaticToken(), **kw)
    )
    return inventory, evaluate_inventory(inventory, load_kb())


def test_live_finds_what_scan_iac_finds_diagnostics_included(tmp_path: Path) -> None:
    with arm_server() as (url, replay):
        _, report = _live(url)
    assert report.errors == ()
    assert {m for m, _ in replay.requests} == {"GET"}
    assert any("$skipToken=1" in p for _, p in replay.requests)  # nextLink followed
    template = tmp_path / "estate.json"
    template.write_text(json.dumps(_template(replay)))
    out = tmp_path / "iac.json"
    CliRunner().invoke(
        cli, ["scan", "iac", str(template), "--cloud", "azure", "--format", "json", "-o", str(out)]
    )
    iac = json.loads(out.read_text())
    expected = {(f["rule_id"], f["location"]["resource"]) for f in iac["findings"]}
    live = {(f.rule_id, f.location.resource) for f in report.findings}
    from mlstix.assess._rules import live_registry

    live_only = set(live_registry().rules)
    assert expected and {f for f in live if f[0] not in live_only} == expected
    assert not [
        r for r in live if "wslocked" in str(r[1]) and not r[0].startswith("MLSTIX-AZ-ML-003")
    ]
    diag = [f for f in report.findings if f.rule_id == "MLSTIX-AZ-DIAG-001"]
    assert [f.location.path for f in diag] == [f"{ML}/workspaces/wsopen"]
    # the open compute instance (public IP, sshPublicAccess Enabled); the locked one is quiet
    ssh = [f for f in report.findings if f.rule_id == "MLSTIX-AZ-CMP-001"]
    assert [f.location.path for f in ssh] == [f"{ML}/workspaces/wsopen/computes/ci-wsopen"]
    assert "sshSettings.sshPublicAccess is Enabled" in ssh[0].message
    f = next(f for f in report.findings if f.rule_id == "MLSTIX-AZ-ML-001")
    assert f.location.path == f"{ML}/workspaces/wsopen"
    assert f.evidence["account"] == SUB and f.evidence["region"] == "eastus2"


def test_denied_list_is_an_error_naming_the_permission() -> None:
    with arm_server() as (url, replay):
        replay.denied.add(f"{ML}/workspaces/wsopen/computes")
        _, report = _live(url)
    assert [(e.path, e.message) for e in report.errors] == [
        (
            f"azure:{ML}/workspaces/wsopen/computes",
            "GET was denied (AuthorizationFailed): grant "
            "Microsoft.MachineLearningServices/workspaces/computes/read (the Reader role has "
            "it; docs/assess.md)",
        )
    ]
    assert any(f.rule_id == "MLSTIX-AZ-ML-001" for f in report.findings)


def test_cli_snapshot_keeps_secrets_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import azure.identity

    monkeypatch.setattr(azure.identity, "DefaultAzureCredential", StaticToken)
    with arm_server() as (url, _):
        out, snap = tmp_path / "r.json", tmp_path / "snap"
        result = CliRunner().invoke(
            cli,
            [
                "assess",
                "azure",
                "--subscription",
                SUB,
                "--arm-endpoint",
                url,
                "--snapshot-out",
                str(snap),
                "--format",
                "json",
                "-o",
                str(out),
            ],
        )
    assert result.exit_code == 1, result.output
    text = (snap / "snapshot.json").read_text()
    assert "azure-secret-value-1" not in text and TOKEN not in text and TOKEN not in result.output
    assert '"MODEL_NAME": "fraud"' in text
    offline = CliRunner().invoke(
        cli, ["assess", "snapshot", str(snap), "--format", "json", "-o", str(tmp_path / "o.json")]
    )
    assert offline.exit_code == 1
    assert (
        json.loads((tmp_path / "o.json").read_text())["findings"]
        == json.loads(out.read_text())["findings"]
    )


def test_bad_token_plain_http_and_missing_credentials_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Wrong(StaticToken):
        def get_token(self, *scopes: str, **kwargs: Any) -> Any:
            from azure.core.credentials import AccessToken

            return AccessToken("not-the-token", 2**40)

    import azure.identity

    with arm_server() as (url, _):
        monkeypatch.setattr(azure.identity, "DefaultAzureCredential", Wrong)
        result = CliRunner().invoke(
            cli, ["assess", "azure", "--subscription", SUB, "--arm-endpoint", url]
        )
    assert result.exit_code == 2 and "rejected the token (401)" in result.output
    result = CliRunner().invoke(
        cli, ["assess", "azure", "--subscription", SUB, "--arm-endpoint", "http://arm.example.com"]
    )
    assert result.exit_code == 2 and "must be https" in result.output
    monkeypatch.undo()
    for name in (
        "AZURE_CLIENT_ID",
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_USERNAME",
        "IDENTITY_ENDPOINT",
        "MSI_ENDPOINT",
        "AZURE_FEDERATED_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AZURE_CONFIG_DIR", str(tmp_path / "no-az"))
    monkeypatch.setenv("PATH", str(tmp_path))  # no az, pwsh or azd on PATH
    with arm_server() as (url, _):
        result = CliRunner().invoke(
            cli, ["assess", "azure", "--subscription", SUB, "--arm-endpoint", url]
        )
    assert result.exit_code == 2
    assert "no usable Azure credentials" in result.output
    assert "DefaultAzureCredential tried EnvironmentCredential" in result.output
    assert "Traceback" not in result.output


def _safetensors() -> bytes:
    """A valid one-tensor safetensors file (8-byte header length, JSON header, data)."""
    import struct

    header = json.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header + b"\x00\x00\x80\x3f"


def test_scan_artifacts_reports_the_pickle_on_the_azure_endpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import azure.identity

    from tests.assess.aws_support import pickle_payload

    monkeypatch.setattr(azure.identity, "DefaultAzureCredential", StaticToken)
    with arm_server() as (url, replay):
        base = "azureml-blobstore/LocalUpload"
        replay.blobs = {
            f"{base}/wsopen/fraud/model.pkl": pickle_payload(),
            f"{base}/wsopen/fraud/conda.yaml": b"dependencies: [scikit-learn]",
            f"{base}/wslocked/fraud/model.safetensors": _safetensors(),
        }
        monkeypatch.setenv(
            "AZURE_STORAGE_CONNECTION_STRING",
            f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
            f"BlobEndpoint={url}/devstoreaccount1;",
        )
        out = tmp_path / "r.json"
        result = CliRunner().invoke(
            cli,
            [
                "assess",
                "azure",
                "--subscription",
                SUB,
                "--arm-endpoint",
                url,
                "--scan-artifacts",
                "--format",
                "json",
                "-o",
                str(out),
            ],
        )
    report = json.loads(out.read_text())
    assert report["errors"] == [], report["errors"]
    assert result.exit_code == 1, result.output
    art = [f for f in report["findings"] if f["evidence"].get("artifact")]
    endpoint = f"{ML}/workspaces/wsopen/onlineEndpoints/ep-wsopen"
    pickles = [f for f in art if f["rule_id"] == "models/pickle-dangerous-import"]
    assert pickles and {f["location"]["path"] for f in pickles} == {endpoint}
    assert {f["evidence"]["artifact"] for f in pickles} == {
        f"azureml:{ML}/workspaces/wsopen/models/fraud/versions/3/model.pkl"
    }
    # whatever else the model scanner says (an unsigned model) lands on the serving endpoint too
    assert {f["location"]["path"] for f in art} <= {
        endpoint,
        f"{ML}/workspaces/wslocked/onlineEndpoints/ep-wslocked",
    }
    assert {m for m, _ in replay.requests} == {"GET"}


def test_workspace_cmk_rotation_is_read_and_judged() -> None:
    from tests.assess.azure_support import RG, _key

    kid = f"{RG}/providers/Microsoft.KeyVault/vaults/kv-wslocked/keys/cmk"
    for rotated in (True, False):
        with arm_server() as (url, replay):
            replay.estate[kid] = [_key("kv-wslocked", "cmk", rotated=rotated)]
            _, report = _live(url)
        assert report.errors == ()
        assert [p for _m, p in replay.requests if p.split("?")[0] == kid]  # read
        found = [f for f in report.findings if f.rule_id == "MLSTIX-AZ-KV-002"]
        if rotated:
            assert found == []
        else:
            assert [f.location.path for f in found] == [kid]
            assert "no automatic rotation policy" in found[0].message
