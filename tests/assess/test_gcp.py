"""``mlstix assess gcp``: the Google API client (discovery, google-auth) against a replayed
Google API front end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mlstix.cli.main import cli

pytest.importorskip("googleapiclient", reason="google-api-python-client (assess extra) missing")

from tests.assess.gcp_support import LOC, PROJECT, TOKEN, google_server

AIP = f"//aiplatform.googleapis.com/{LOC}"
EXPECTED = {
    ("MLSTIX-GCP-VAI-001", f"{AIP}/endpoints/111"),
    ("MLSTIX-GCP-VAI-002", f"{AIP}/datasets/5"),
    ("MLSTIX-GCP-VAI-006", f"{AIP}/models/7"),
    (
        "MLSTIX-GCP-WB-001",
        f"//notebooks.googleapis.com/projects/{PROJECT}/locations/us-central1-a/instances/wb-open",
    ),
    (
        "MLSTIX-GCP-WB-002",
        f"//notebooks.googleapis.com/projects/{PROJECT}/locations/us-central1-a/instances/wb-open",
    ),
    (
        "MLSTIX-GCP-WB-003",
        f"//notebooks.googleapis.com/projects/{PROJECT}/locations/us-central1-a/instances/wb-open",
    ),
    (
        "MLSTIX-GCP-WB-004",
        f"//notebooks.googleapis.com/projects/{PROJECT}/locations/us-central1-a/instances/wb-open",
    ),
    ("MLSTIX-GCP-GCS-001", "//storage.googleapis.com/projects/_/buckets/ml-models-open"),
    ("MLSTIX-GCP-GCS-002", "//storage.googleapis.com/projects/_/buckets/ml-models-open"),
    ("MLSTIX-GCP-GCS-003", "//storage.googleapis.com/projects/_/buckets/ml-models-open"),
    ("MLSTIX-GCP-AUD-001", f"//cloudresourcemanager.googleapis.com/projects/{PROJECT}"),
    ("MLSTIX-GCP-CJ-001", f"{AIP}/customJobs/31"),
    ("MLSTIX-GCP-CJ-002", f"{AIP}/customJobs/31"),
    ("MLSTIX-GCP-CJ-001", f"{AIP}/pipelineJobs/retrain-open"),
    ("MLSTIX-GCP-CJ-002", f"{AIP}/pipelineJobs/retrain-open"),
    ("MLSTIX-GCP-CJ-003", f"{AIP}/pipelineJobs/retrain-open"),
}


class StaticCredentials:
    """google-auth credentials holding the replay token (google.oauth2.credentials)."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        from google.oauth2.credentials import Credentials

        return Credentials(token=TOKEN)


def _env(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    for api in ("AIPLATFORM", "NOTEBOOKS", "CLOUDRESOURCEMANAGER", "CLOUDKMS"):
        monkeypatch.setenv(f"CLOUDSDK_API_ENDPOINT_OVERRIDES_{api}", f"{url}/")
    monkeypatch.setenv("CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE", f"{url}/storage/v1/")


def _live(monkeypatch: pytest.MonkeyPatch, url: str) -> Any:
    from mlstix.assess import evaluate_inventory
    from mlstix.assess.gcp import GcpOptions, collect_gcp
    from mlstix.kb.load import load_kb

    _env(monkeypatch, url)
    inventory, _ = collect_gcp(GcpOptions(project=PROJECT, credentials=StaticCredentials()))
    return evaluate_inventory(inventory, load_kb())


def test_findings_on_the_open_resources_only(monkeypatch: pytest.MonkeyPatch) -> None:
    with google_server() as (url, replay):
        report = _live(monkeypatch, url)
    assert report.errors == ()
    found = {(f.rule_id, f.location.path) for f in report.findings}
    assert found == EXPECTED
    methods = {(m, p.split("?")[0]) for m, p in replay.requests if m != "GET"}
    assert methods == {("POST", f"/v1/projects/{PROJECT}:getIamPolicy")}
    assert any("pageToken=1" in p for _, p in replay.requests)
    f = next(f for f in report.findings if f.rule_id == "MLSTIX-GCP-VAI-001")
    assert f.evidence["account"] == PROJECT and f.evidence["region"] == "us-central1"
    assert not any("web-assets" in s.path for s in report.scanned)


def test_audit_configured_and_denied_listing(monkeypatch: pytest.MonkeyPatch) -> None:
    with google_server() as (url, replay):
        replay.audited = True
        replay.denied.add(f"/v1/{LOC}/customJobs")
        report = _live(monkeypatch, url)
    rules = {f.rule_id for f in report.findings}
    assert "MLSTIX-GCP-AUD-001" not in rules
    assert not any("/customJobs/" in f.location.path for f in report.findings)
    assert [e.path for e in report.errors] == [f"gcp://{PROJECT}/us-central1/customJobs"]
    assert report.errors[0].message.startswith("denied (403): grant aiplatform.customJobs.list (")


def test_fixture_fields_exist_in_the_discovery_documents() -> None:
    import importlib.resources

    from tests.assess import gcp_support

    docs = importlib.resources.files("googleapiclient") / "discovery_cache" / "documents"

    def schema(doc: str, name: str) -> set[str]:
        data = json.loads((docs / doc).read_text())
        return set(data["schemas"][name]["properties"])

    v = gcp_support.vertex()
    names = {
        "endpoints": "Endpoint",
        "models": "Model",
        "datasets": "Dataset",
        "metadataStores": "MetadataStore",
        "customJobs": "CustomJob",
        "pipelineJobs": "PipelineJob",
    }
    for key, name in names.items():
        fields = schema("aiplatform.v1.json", f"GoogleCloudAiplatformV1{name}")
        for item in v[key]:
            assert set(item) <= fields, (name, set(item) - fields)
    for item in gcp_support.workbench():
        assert set(item) <= schema("notebooks.v2.json", "Instance")
        assert set(item["gceSetup"]) <= schema("notebooks.v2.json", "GceSetup")
    for item in gcp_support.buckets():
        assert set(item) <= schema("storage.v1.json", "Bucket")
    for rotated in (True, False):
        key = gcp_support.crypto_key(rotated=rotated)
        assert set(key) <= schema("cloudkms.v1.json", "CryptoKey")
        assert set(key["primary"]) <= schema("cloudkms.v1.json", "CryptoKeyVersion")
        assert set(key["versionTemplate"]) <= schema("cloudkms.v1.json", "CryptoKeyVersionTemplate")


def test_cmek_key_rotation_is_read_and_judged(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.assess.gcp_support import CMEK

    for rotated in (True, False):
        with google_server() as (url, replay):
            replay.key_rotated = rotated
            report = _live(monkeypatch, url)
        assert report.errors == ()
        reads = [p for _m, p in replay.requests if p.split("?")[0] == f"/v1/{CMEK}"]
        assert len(reads) == 1  # named by many resources, read once
        found = [f for f in report.findings if f.rule_id == "MLSTIX-GCP-KMS-001"]
        if rotated:
            assert found == []
        else:
            assert [f.location.path for f in found] == [f"//cloudkms.googleapis.com/{CMEK}"]
            assert "no rotation_period" in found[0].message


def test_cli_snapshot_and_missing_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import google.auth

    with google_server() as (url, _):
        _env(monkeypatch, url)
        monkeypatch.setattr(google.auth, "default", lambda **_: (StaticCredentials(), PROJECT))
        out, snap = tmp_path / "r.json", tmp_path / "snap"
        result = CliRunner().invoke(
            cli,
            [
                "assess",
                "gcp",
                "--project",
                PROJECT,
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
    assert "gcp-secret-value-9" not in text and TOKEN not in text and TOKEN not in result.output
    assert {
        (f["rule_id"], f["location"]["path"]) for f in json.loads(out.read_text())["findings"]
    } == EXPECTED
    monkeypatch.undo()
    for name in ("GOOGLE_APPLICATION_CREDENTIALS", "CLOUDSDK_CONFIG", "GOOGLE_CLOUD_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "no-gcloud"))
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:9")
    result = CliRunner().invoke(cli, ["assess", "gcp", "--project", PROJECT])
    assert result.exit_code == 2
    assert "no Google application-default credentials: tried GOOGLE_APPLICATION_CREDENTIALS" in (
        result.output
    )
    assert "Traceback" not in result.output


def test_scan_artifacts_reports_the_pickle_on_the_vertex_endpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import google.auth

    with google_server() as (url, replay):
        _env(monkeypatch, url)
        monkeypatch.setattr(google.auth, "default", lambda **_: (StaticCredentials(), PROJECT))
        out = tmp_path / "r.json"
        result = CliRunner().invoke(
            cli,
            [
                "assess",
                "gcp",
                "--project",
                PROJECT,
                "--scan-artifacts",
                "--format",
                "json",
                "-o",
                str(out),
            ],
        )
    assert result.exit_code == 1, result.output
    report = json.loads(out.read_text())
    art = [f for f in report["findings"] if f["evidence"].get("artifact")]
    assert art and {f["location"]["path"] for f in art} == {f"{AIP}/endpoints/111"}
    assert {f["evidence"]["artifact"] for f in art} == {"gs://ml-models-open/fraud/7/model.pkl"}
    assert any(f["vulnerability"] == "insecure-model-serialization" for f in art)
    assert all(f["location"]["member"].startswith("model.pkl") for f in art)
    assert "unsafe name; not read" in result.output  # ../../escape.pkl stayed outside
    downloads = [p for m, p in replay.requests if "alt=media" in p]
    assert len(downloads) == 2 and all(m == "GET" for m, _ in replay.requests if "/o" in _)
