"""Reads pinned to the listed version: an object replaced between two range reads of one scan
is either read at the listed version to the end (a versioned S3 bucket, a Hub commit) or is an
error naming the change, never a mix of two objects. Each store is the real client against
its local server: S3 (moto, versioned and not), Cloud Storage (gcp-storage-emulator), Azure
Blob Storage (Azurite), the Hugging Face Hub (the local Hub)."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from mlstix.scan.models import Limits
from mlstix.scan.remote._fs import filesystem, parse
from mlstix.scan.remote._listing import RemoteObject, list_under
from mlstix.scan.remote._reader import RangeFile, RemoteReadError
from mlstix.scan.remote._work import Work, scan_object

from . import hub, registry, servers

SIZE = 3 << 20  # past the size fetched whole: the first read is the head and the tail
MIDDLE = SIZE // 2
OLD = b"A" * SIZE
NEW = b"B" * SIZE  # the same size: only the version says it changed


def _listed(root: str, name: str) -> RemoteObject:
    loc = parse(root)
    return next(o for o in list_under(root, loc.path) if o.path.endswith(name))


def _read_twice(obj: RemoteObject, overwrite: Callable[[], object]) -> tuple[RangeFile, Any]:
    """Prefetch (the first read), let the writer replace the object, read the middle."""
    reader = RangeFile(filesystem(obj.location), obj.path, obj.size, version=obj.version,
                       identity=obj.identity)  # fmt: skip
    reader.prefetch()
    overwrite()
    reader.seek(MIDDLE)
    try:
        return reader, reader.read(4096)
    except RemoteReadError as exc:
        return reader, exc


# -- S3 ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def s3() -> Iterator[Any]:
    pytest.importorskip("s3fs", reason="mlstix[remote] is not installed")
    pytest.importorskip("moto.server", reason="moto[server] is not installed")
    with servers.moto_s3() as endpoint, pytest.MonkeyPatch.context() as mp:
        for k, v in {**servers.S3_ENV, "AWS_ENDPOINT_URL": endpoint}.items():
            mp.setenv(k, v)
        import s3fs

        s3fs.S3FileSystem.clear_instance_cache()
        client = servers.s3_client(endpoint)
        client.create_bucket(Bucket="plain")
        client.create_bucket(Bucket="versioned")
        client.put_bucket_versioning(
            Bucket="versioned", VersioningConfiguration={"Status": "Enabled"}
        )
        yield client
        s3fs.S3FileSystem.clear_instance_cache()


def test_s3_object_replaced_between_reads_is_an_error(s3: Any) -> None:
    s3.put_object(Bucket="plain", Key="m/a.bin", Body=OLD)
    obj = _listed("s3://plain/m", "a.bin")
    assert obj.version.startswith('etag:"') and " modified:" in obj.version
    _, got = _read_twice(obj, lambda: s3.put_object(Bucket="plain", Key="m/a.bin", Body=NEW))
    assert isinstance(got, RemoteReadError), got[:8]
    assert "changed while it was read" in str(got) and obj.version[5:39] in str(got)


def test_s3_object_rewritten_with_the_same_etag_is_an_error(s3: Any) -> None:
    """What an MD5 collision allows (same ETag, other bytes) is caught by the listed time."""
    s3.put_object(Bucket="plain", Key="m/same.bin", Body=OLD)
    obj = _listed("s3://plain/m", "same.bin")
    time.sleep(1.1)  # S3 compares times to the second
    _, got = _read_twice(obj, lambda: s3.put_object(Bucket="plain", Key="m/same.bin", Body=OLD))
    assert isinstance(got, RemoteReadError), got[:8]
    assert "changed while it was read" in str(got)


def test_s3_versioned_bucket_reads_the_listed_version_to_the_end(s3: Any) -> None:
    first = s3.put_object(Bucket="versioned", Key="m/a.bin", Body=OLD)["VersionId"]
    obj = _listed("s3://versioned/m", "a.bin")
    put = lambda: s3.put_object(Bucket="versioned", Key="m/a.bin", Body=NEW)  # noqa: E731
    reader, got = _read_twice(obj, put)
    assert got == OLD[MIDDLE : MIDDLE + 4096]  # the listed bytes, not the new object's
    assert reader.version == f"versionId:{first}"


def test_s3_versioned_bucket_object_replaced_before_its_first_read(s3: Any) -> None:
    hostile = registry.hostile()["evil_last_member.pt"]
    first = s3.put_object(Bucket="versioned", Key="m/evil.pt", Body=hostile)["VersionId"]
    obj = _listed("s3://versioned/m", "evil.pt")
    s3.put_object(Bucket="versioned", Key="m/evil.pt", Body=b"\0" * len(hostile))
    res = scan_object(obj, Work((), Limits()))  # the listed version, found among the versions
    assert res.result.error is None and res.version == f"versionId:{first}"
    assert any(h.evidence.get("import") == "os.system" for h in res.result.hits)


def test_s3_scan_names_the_version_and_a_swap_after_listing_is_an_error(s3: Any) -> None:
    hostile = registry.hostile()["evil_last_member.pt"]
    s3.put_object(Bucket="plain", Key="m/evil.pt", Body=hostile)
    obj = _listed("s3://plain/m", "evil.pt")
    res = scan_object(obj, Work((), Limits()))
    assert res.result.error is None and res.version == obj.version
    assert any(h.evidence.get("import") == "os.system" for h in res.result.hits)
    # a same-size benign object put after listing: the listed one is gone, so is the scan
    s3.put_object(Bucket="plain", Key="m/evil.pt", Body=b"\0" * len(hostile))
    res = scan_object(obj, Work((), Limits()))
    assert res.result.error is not None and "changed while it was read" in res.result.error
    assert [h.rule_id for h in res.result.hits] == ["models/unreadable"]


def test_s3_report_entry_names_the_version(s3: Any) -> None:
    from click.testing import CliRunner

    from mlstix.cli.main import cli

    s3.put_object(Bucket="versioned", Key="r/plain.pkl", Body=registry.PAYLOAD)
    run = CliRunner().invoke(cli, ["scan", "models", "s3://versioned/r", "--format", "json"])
    assert run.exit_code == 1, run.stderr
    (entry,) = json.loads(run.stdout)["scanned"]
    head = s3.head_object(Bucket="versioned", Key="r/plain.pkl")
    assert entry["version"] == f"versionId:{head['VersionId']}"


# -- Cloud Storage -------------------------------------------------------------------------------


@pytest.fixture
def gcs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    pytest.importorskip("gcsfs", reason="mlstix[remote] is not installed")
    pytest.importorskip("gcp_storage_emulator", reason="gcp-storage-emulator (dev) is missing")
    import gcsfs
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    with servers.gcs_emulator() as host:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", host)
        monkeypatch.setenv("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
        gcsfs.GCSFileSystem.clear_instance_cache()
        client = storage.Client(project="test", credentials=AnonymousCredentials(),
                                client_options={"api_endpoint": host})  # fmt: skip
        yield client.create_bucket("models")
        gcsfs.GCSFileSystem.clear_instance_cache()


def test_gcs_reads_name_the_listed_generation(gcs: Any) -> None:
    gcs.blob("m/a.bin").upload_from_string(OLD)
    obj = _listed("gs://models/m", "a.bin")
    assert obj.version == f"generation:{gcs.get_blob('m/a.bin').generation}"
    res = scan_object(obj, Work((), Limits()))
    assert res.version == obj.version and res.fetched < SIZE // 10


class _Generations(BaseHTTPRequestHandler):
    """Cloud Storage's media download as the JSON API documents it (objects.get with
    ``alt=media``): ``generation`` selects that generation, 404 once it was replaced in a
    bucket without versioning; responses carry ``x-goog-generation``. (The emulator ignores
    the parameter, so it cannot show a replaced object.)"""

    current = ("1", OLD)

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        gen, data = self.current
        asked = parse_qs(urlsplit(self.path).query).get("generation", [gen])[0]
        if asked != gen:
            body = b'{"error": {"code": 404, "message": "No such object"}}'
            self.send_response(404)
            self.send_header("Content-Type", "application/json")
        else:
            first, last = re.fullmatch(r"bytes=(\d+)-(\d+)", self.headers["Range"]).groups()
            body = data[int(first) : int(last) + 1]
            self.send_response(206)
            self.send_header("x-goog-generation", gen)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_gcs_object_replaced_between_reads_is_an_error() -> None:
    gcsfs = pytest.importorskip("gcsfs", reason="mlstix[remote] is not installed")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Generations)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        fs = gcsfs.GCSFileSystem(endpoint_url=f"http://127.0.0.1:{server.server_address[1]}",
                                 token="anon", skip_instance_cache=True)  # fmt: skip
        reader = RangeFile(fs, "models/m/a.bin", SIZE, version="generation:1")
        reader.prefetch()
        assert reader.read(4) == b"AAAA"

        def replace() -> None:
            _Generations.current = ("2", NEW)

        reader.seek(MIDDLE)
        replace()
        with pytest.raises(RemoteReadError, match=r"changed while it was read.*generation 1"):
            reader.read(4096)
    finally:
        server.shutdown()
        server.server_close()


# -- Azure Blob Storage --------------------------------------------------------------------------


@pytest.fixture
def azure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    pytest.importorskip("adlfs", reason="mlstix[remote] is not installed")
    if servers.azurite_command() is None:
        pytest.skip("Azurite is not installed (make test-deps installs it into .cache/npm)")
    import adlfs
    from azure.storage.blob import BlobServiceClient

    with servers.azurite(tmp_path / "azurite") as conn:
        monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", conn)
        adlfs.AzureBlobFileSystem.clear_instance_cache()
        yield BlobServiceClient.from_connection_string(conn).create_container("models")
        adlfs.AzureBlobFileSystem.clear_instance_cache()


def test_azure_blob_replaced_between_reads_is_an_error(azure: Any) -> None:
    azure.upload_blob("m/a.bin", OLD)
    obj = _listed("az://models/m", "a.bin")
    assert obj.version.startswith('etag:"')
    _, got = _read_twice(obj, lambda: azure.upload_blob("m/a.bin", NEW, overwrite=True))
    assert isinstance(got, RemoteReadError), got[:8]
    assert "changed while it was read" in str(got)


# -- Hugging Face Hub ----------------------------------------------------------------------------


@pytest.fixture
def hf(monkeypatch: pytest.MonkeyPatch) -> Iterator[hub.Repo]:
    pytest.importorskip("huggingface_hub", reason="mlstix[remote] is not installed")
    from huggingface_hub import HfFileSystem, constants

    repo = hub.Repo({"a.bin": OLD})
    with hub.hub({"acme/demo": repo}) as url:
        monkeypatch.setattr(constants, "ENDPOINT", url)  # HF_ENDPOINT is read at import
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE",
                            url + "/{repo_id}/resolve/{revision}/{filename}")  # fmt: skip
        HfFileSystem.clear_instance_cache()
        yield repo
        HfFileSystem.clear_instance_cache()


def test_hub_reads_stay_on_the_commit_of_the_first_read(hf: hub.Repo) -> None:
    obj = _listed("hf://acme/demo", "a.bin")
    listed_commit = hf.sha
    reader, got = _read_twice(obj, lambda: hf.commit({"a.bin": NEW}))
    assert got == OLD[MIDDLE : MIDDLE + 4096]
    assert reader.version == f"commit:{listed_commit}"
    resolves = [r for r in hf.requests if r.startswith("GET") and "/resolve/" in r]
    assert resolves and all(f"/resolve/{listed_commit}/" in r for r in resolves)


def test_hub_commit_after_listing_is_an_error(hf: hub.Repo) -> None:
    obj = _listed("hf://acme/demo", "a.bin")
    hf.commit({"a.bin": NEW})
    res = scan_object(obj, Work((), Limits()))
    assert res.result.error is not None and "changed since it was listed" in res.result.error
    assert not [r for r in hf.requests if r.startswith("GET") and "/resolve/" in r]


def test_a_copy_for_hashing_is_of_the_listed_version(s3: Any, tmp_path: Path) -> None:
    """verify and bom hash a local copy: it is the listed object, or the copy fails."""
    from mlstix.scan.remote._download import _copy
    from mlstix.scan.remote._fs import RemoteError

    s3.put_object(Bucket="plain", Key="c/model.bin", Body=OLD)
    obj = _listed("s3://plain/c", "model.bin")
    fs = filesystem(obj.location)
    _copy(fs, obj, tmp_path / "a")
    assert (tmp_path / "a").read_bytes() == OLD
    s3.put_object(Bucket="plain", Key="c/model.bin", Body=NEW)
    with pytest.raises(RemoteError, match=r"s3://plain/c/model\.bin: cannot fetch: changed while"):
        _copy(fs, obj, tmp_path / "b")
