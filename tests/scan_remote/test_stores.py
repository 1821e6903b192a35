"""Cloud Storage (gcsfs against the gcp-storage-emulator's JSON API), Azure Blob Storage (adlfs
against Azurite) and the Hugging Face Hub (HfFileSystem against a local Hub): the same scan,
the same findings, range reads, each store's identity, and the incremental state.

Each test runs the command in a child process, as a user does: these libraries read their
endpoint settings (``STORAGE_EMULATOR_HOST``, ``AZURE_STORAGE_CONNECTION_STRING``,
``HF_ENDPOINT``) when they are imported or first used.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from . import hub, registry, servers

Put = Callable[[str, bytes], None]


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlstix", "scan", "models", *args, "--format", "json"],
        env=servers.child_env(**env), capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


def _files() -> dict[str, bytes]:
    hostile = registry.hostile()
    return {
        "shard.safetensors": registry.benign()["model-00001-of-00002.safetensors"],
        "weights.pt": registry.benign()["weights.pt"],
        "team/evil_last_member.pt": hostile["evil_last_member.pt"],
        "team/polyglot.pkl": hostile["polyglot.pkl"],
    }


def _check_first_scan(proc: subprocess.CompletedProcess[str], root: str) -> dict[str, Any]:
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    data = json.loads(proc.stdout)
    critical = {f["location"]["path"] for f in data["findings"] if f["severity"] == "critical"}
    assert critical == {f"{root}/team/evil_last_member.pt", f"{root}/team/polyglot.pkl"}
    fetched = {s["path"]: s["bytes_fetched"] for s in data["scanned"]}
    assert set(fetched) == {f"{root}/{n}" for n in _files()}
    assert fetched[f"{root}/shard.safetensors"] < 200_000  # of 4 MiB: header and tail
    assert fetched[f"{root}/team/evil_last_member.pt"] < 300_000  # of 3 MiB, payload last
    return data


def _rescan(env: dict[str, str], root: str, put: Put, state: Path) -> None:
    first = _cli(env, root, "--state", str(state))
    _check_first_scan(first, root)
    put("weights.pt", registry.torch_zip(registry.PAYLOAD, 1 << 16))
    again = _cli(env, root, "--state", str(state))
    assert again.returncode == 1, again.stderr
    assert "for 1 of 4 objects; 3 unchanged" in again.stderr
    data = json.loads(again.stdout)
    critical = {f["location"]["path"] for f in data["findings"] if f["severity"] == "critical"}
    assert f"{root}/weights.pt" in critical and len(data["scanned"]) == 4


# -- Cloud Storage -----------------------------------------------------------------------------


@pytest.fixture
def gcs() -> Iterator[tuple[dict[str, str], Put]]:
    pytest.importorskip("gcsfs", reason="mlstix[remote] is not installed")
    pytest.importorskip("gcp_storage_emulator", reason="gcp-storage-emulator (dev) is missing")
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    with servers.gcs_emulator() as host:
        client = storage.Client(project="test", credentials=AnonymousCredentials(),
                                client_options={"api_endpoint": host})  # fmt: skip
        bucket = client.create_bucket("models")

        def put(name: str, data: bytes) -> None:
            bucket.blob(f"reg/{name}").upload_from_string(data)

        for name, data in _files().items():
            put(name, data)
        yield {"STORAGE_EMULATOR_HOST": host}, put


def test_gcs(gcs: tuple[dict[str, str], Put], tmp_path: Path) -> None:
    env, put = gcs
    _rescan(env, "gs://models/reg", put, tmp_path / "state.db")


def test_gcs_missing_bucket_exit_2(gcs: tuple[dict[str, str], Put]) -> None:
    proc = _cli(gcs[0], "gs://no-such-bucket/x")
    assert proc.returncode == 2 and proc.stdout == ""
    assert "gs://no-such-bucket/x" in proc.stderr and "Traceback" not in proc.stderr


# -- Azure Blob Storage ------------------------------------------------------------------------


@pytest.fixture
def azure(tmp_path: Path) -> Iterator[tuple[dict[str, str], Put]]:
    pytest.importorskip("adlfs", reason="mlstix[remote] is not installed")
    if servers.azurite_command() is None:
        pytest.skip("Azurite is not installed (make test-deps installs it into .cache/npm)")
    from azure.storage.blob import BlobServiceClient

    with servers.azurite(tmp_path / "azurite") as conn:
        container = BlobServiceClient.from_connection_string(conn).create_container("models")

        def put(name: str, data: bytes) -> None:
            container.upload_blob(f"reg/{name}", data, overwrite=True)

        for name, data in _files().items():
            put(name, data)
        yield {"AZURE_STORAGE_CONNECTION_STRING": conn}, put


def test_azure(azure: tuple[dict[str, str], Put], tmp_path: Path) -> None:
    env, put = azure
    _rescan(env, "az://models/reg", put, tmp_path / "state.db")


def test_azure_without_an_account_exit_2() -> None:
    proc = _cli({}, "az://models/reg")
    assert proc.returncode == 2 and proc.stdout == ""
    assert "no Azure storage account given" in proc.stderr
    assert "AZURE_STORAGE_CONNECTION_STRING" in proc.stderr


# -- Hugging Face Hub --------------------------------------------------------------------------


@pytest.fixture
def hf() -> Iterator[tuple[dict[str, str], Put, hub.Repo]]:
    pytest.importorskip("huggingface_hub", reason="mlstix[remote] is not installed")
    repo = hub.Repo(dict(_files()))

    def put(name: str, data: bytes) -> None:
        repo.files[name] = data

    with hub.hub({"acme/demo": repo}) as url:
        yield (
            {"HF_ENDPOINT": url, "HF_HUB_OFFLINE": "0", "HF_HUB_DISABLE_TELEMETRY": "1"},
            put,
            repo,
        )


def test_hugging_face_hub(hf: tuple[dict[str, str], Put, hub.Repo], tmp_path: Path) -> None:
    env, put, repo = hf
    _rescan(env, "hf://acme/demo", put, tmp_path / "state.db")
    ranges = [r for r in repo.requests if r.startswith("GET") and "/resolve/" in r]
    assert ranges and all(not r.endswith(" None") for r in ranges)  # every read is by range
    assert all(f"/resolve/{repo.sha}/" in r for r in ranges)  # at the commit, not the branch


def test_hugging_face_revision_and_missing_repo(hf: tuple[dict[str, str], Put, hub.Repo]) -> None:
    env, _, repo = hf
    proc = _cli(env, "hf://acme/demo@v1.0/team")
    data = json.loads(proc.stdout)
    assert {s["path"] for s in data["scanned"]} == {
        "hf://acme/demo@v1.0/team/evil_last_member.pt",
        "hf://acme/demo@v1.0/team/polyglot.pkl",
    }
    assert any("/resolve/v1.0/team/" in r for r in repo.requests)
    missing = _cli(env, "hf://acme/nothing")
    assert missing.returncode == 2 and missing.stdout == ""
    assert "hf://acme/nothing" in missing.stderr and "Traceback" not in missing.stderr
