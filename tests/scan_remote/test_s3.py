"""S3 through s3fs against moto in server mode: range reads, ETags, listing pages over
thousands of keys, the incremental state, and every way the command can fail to run."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlstix.findings.model import Report
from mlstix.kb.graph import KnowledgeBase
from mlstix.scan.models import ScanOptions, ScanPolicy
from mlstix.scan.remote import RemoteOptions, RemoteStats, scan_remote
from mlstix.scan.remote._fs import parse
from mlstix.scan.remote._listing import list_under, split

from . import registry, servers

pytest.importorskip("s3fs", reason="mlstix[remote] is not installed")
pytest.importorskip("moto.server", reason="moto[server] is not installed")

BULK = 4200  # more than four pages of ListObjectsV2 (1000 keys each)


@pytest.fixture(scope="module")
def s3() -> Iterator[tuple[str, Any]]:
    with servers.moto_s3() as endpoint, pytest.MonkeyPatch.context() as mp:
        for k, v in {**servers.S3_ENV, "AWS_ENDPOINT_URL": endpoint}.items():
            mp.setenv(k, v)
        import s3fs

        s3fs.S3FileSystem.clear_instance_cache()
        client = servers.s3_client(endpoint)
        client.create_bucket(Bucket="models")
        files = {f"registry/team-a/{n}": d for n, d in registry.benign().items()}
        files |= {f"registry/team-b/{n}": d for n, d in registry.hostile().items()}
        servers.put_all(client, "models", files)
        client.create_bucket(Bucket="bulk")
        servers.put_direct("bulk", {f"many/{i:05d}.json": b"{}" for i in range(BULK)})
        client.put_object(Bucket="bulk", Key="many/model.pt", Body=registry.hostile()["plain.pkl"])
        yield endpoint, client
        s3fs.S3FileSystem.clear_instance_cache()


def _scan(kb: KnowledgeBase, *urls: str, **remote: Any) -> tuple[Report, RemoteStats]:
    stats = RemoteStats()
    opts = ScanOptions(hash_files=False, policy=remote.pop("policy", ScanPolicy()))
    report = scan_remote(list(urls), kb, opts, RemoteOptions(in_flight=4, **remote), stats=stats)
    return report, stats


def _cli(
    endpoint: str, *args: str, drop: tuple[str, ...] = (), **env: str
) -> subprocess.CompletedProcess[str]:
    child = servers.child_env(**{**servers.S3_ENV, "AWS_ENDPOINT_URL": endpoint, **env})
    for name in drop:
        child.pop(name)
    return subprocess.run(
        [sys.executable, "-m", "mlstix", "scan", "models", *args],
        env=child, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _run(*args: str) -> tuple[int, str, str]:
    """The command in this process (the module's environment points at moto)."""
    from click.testing import CliRunner

    from mlstix.cli.main import cli

    result = CliRunner().invoke(cli, ["scan", "models", *args])
    return result.exit_code, result.stdout, result.stderr


def _system(report: Report) -> set[str]:
    return {
        f.location.path.rsplit("/", 1)[1]
        for f in report.findings
        if f.evidence.get("import") == "os.system"
    }


def test_every_payload_found_with_a_fraction_of_the_bytes(s3: tuple[str, Any], kb: Any) -> None:
    report, stats = _scan(kb, "s3://models/registry")
    assert _system(report) == set(registry.hostile())
    assert {s.path.rsplit("/", 1)[1] for s in report.scanned} >= set(registry.benign()) - {
        "config.json"
    }
    # the one hostile file with unindexed tensor bytes is also malformed: an error entry
    assert {e.path for e in report.errors} == {
        "s3://models/registry/team-b/zip_after_tensors.safetensors"
    }
    assert stats.objects == len(registry.benign()) + len(registry.hostile())
    # safetensors and zip checkpoints: header, tail and code members only. The pickle view of
    # a GGUF file ("G" is BINFLOAT) stops at its first byte that is no opcode, so the file is
    # not fetched whole for it.
    ranged = {u: n for u, n in stats.per_object.items()
              if "/team-a/" in u and u.endswith((".safetensors", ".pt"))}  # fmt: skip
    sizes = {f"s3://models/registry/team-a/{n}": len(d) for n, d in registry.benign().items()}
    assert sum(ranged.values()) * 20 < sum(sizes[u] for u in ranged)
    gguf = "s3://models/registry/team-a/model.gguf"
    assert stats.per_object[gguf] * 10 < sizes[gguf]
    for s in report.scanned:  # per object, what was fetched, and never more than its size x2
        assert s.bytes_fetched is not None and s.bytes_fetched > 0
    shard = next(s for s in report.scanned if s.path.endswith("00001-of-00002.safetensors"))
    assert shard.bytes_fetched is not None and shard.bytes_fetched < 200_000


def test_etags_are_the_identity(s3: tuple[str, Any]) -> None:
    files, prefixes = split(parse("s3://models/registry/team-a"))
    assert not prefixes
    body = registry.benign()["config.json"]
    conf = next(o for o in files if o.path.endswith("config.json"))
    assert hashlib.md5(body).hexdigest() in conf.identity


def test_listing_pages_through_thousands_of_keys(s3: tuple[str, Any], kb: Any) -> None:
    objs = list_under("s3://bulk", "bulk/many")
    assert len(objs) == BULK + 1
    report, stats = _scan(kb, "s3://bulk", policy=ScanPolicy(ignore_paths=("many/0*",)))
    assert stats.objects == 1
    assert _system(report) == {"model.pt"}


def test_cli_rescan_analyses_only_what_changed(s3: tuple[str, Any], tmp_path: Path) -> None:
    client = s3[1]
    client.create_bucket(Bucket="nightly")
    files = {f"m/{i}/model.safetensors": registry.safetensors(1, 1 << 16, b"%d" % i)
             for i in range(10)}  # fmt: skip
    servers.put_all(client, "nightly", files)
    state = tmp_path / "state.db"
    code, _, err = _run("s3://nightly/m", "--state", str(state), "--format", "json")
    assert code == 0, err
    assert "for 10 of 10 objects; 0 unchanged" in err
    client.put_object(Bucket="nightly", Key="m/7/model.safetensors",
                      Body=registry.torch_zip(registry.PAYLOAD, 1 << 16))  # fmt: skip
    client.delete_object(Bucket="nightly", Key="m/3/model.safetensors")
    code, out, err = _run("s3://nightly/m", "--state", str(state), "--format", "json")
    assert code == 1, err
    assert "for 1 of 9 objects; 8 unchanged" in err
    data = json.loads(out)
    assert len(data["scanned"]) == 9  # the report covers the whole prefix
    assert {f["location"]["path"] for f in data["findings"] if f["severity"] == "critical"} == {
        "s3://nightly/m/7/model.safetensors"
    }
    fetched = {s["path"]: s["bytes_fetched"] for s in data["scanned"]}
    assert fetched.pop("s3://nightly/m/7/model.safetensors") > 0
    assert set(fetched.values()) == {0}
    import sqlite3

    with sqlite3.connect(state) as db:
        urls = {u for (u,) in db.execute("select url from mlstix_remote_scan_state")}
    assert "s3://nightly/m/3/model.safetensors" not in urls and len(urls) == 9


def test_cli_missing_credentials_is_one_line_exit_2(s3: tuple[str, Any]) -> None:
    proc = _cli(s3[0], "s3://models/x", drop=("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"))
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "s3://models/x: cannot list: NoCredentialsError" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_unreachable_endpoint_is_exit_2(tmp_path: Path) -> None:
    port = servers.free_port()
    out = tmp_path / "report.json"
    proc = _cli(f"http://127.0.0.1:{port}", "s3://models/registry", "-o", str(out),
                AWS_MAX_ATTEMPTS="1")  # fmt: skip
    assert proc.returncode == 2
    assert f"s3://models/registry: cannot reach http://127.0.0.1:{port}: connection refused" in (
        proc.stderr
    )
    assert "Traceback" not in proc.stderr and not out.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["s3://models/nothing-here"], "s3://models/nothing-here: no such object or prefix"),
        (["s3://no-such-bucket/x"], "no such object or prefix"),
        (["s3://models/registry", "--max-bytes-per-file", "lots"], "not a size"),
        (["s3://"], "names no bucket"),
        (["hf://just-an-org"], "hf://ORG/MODEL"),
        (["s3://models/registry", "--public-key", __file__], "mlstix verify URL"),
        ([__file__, "--state", "x.db"], "apply to remote locations"),
        (["s3://models/registry", "--executor", "ray"], "--ray-address"),
    ],
)
def test_cli_bad_arguments_exit_2(
    s3: tuple[str, Any], monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    code, out, err = _run(*args)
    assert code == 2, err
    assert message in err
    assert out == ""


def test_cli_byte_cap_lists_errors_and_exits_2(s3: tuple[str, Any]) -> None:
    code, out, _ = _run("s3://models/registry/team-b", "--max-bytes-per-file", "64KiB",
                        "--format", "json")  # fmt: skip
    assert code == 2
    data = json.loads(out)
    capped = {e["path"] for e in data["errors"] if "--max-bytes-per-file" in e["message"]}
    assert "s3://models/registry/team-b/evil_last_member.pt" in capped
    assert "s3://models/registry/team-b/plain.pkl" not in capped  # 37 bytes fit


def test_cli_without_the_ray_extra_names_it(s3: tuple[str, Any], tmp_path: Path) -> None:
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "ray.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'ray'\", name='ray')\n"
    )
    proc = _cli(s3[0], "s3://models/registry", "--executor", "ray", PYTHONPATH=str(blocker),
                RAY_ADDRESS="127.0.0.1:1")  # fmt: skip
    assert proc.returncode == 2
    assert "pip install 'mlstix[ray]'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_without_the_remote_extra_names_it(s3: tuple[str, Any], tmp_path: Path) -> None:
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "s3fs.py").write_text(
        "raise ModuleNotFoundError(\"No module named 's3fs'\", name='s3fs')\n"
    )
    proc = _cli(s3[0], "s3://models/registry", PYTHONPATH=str(blocker))
    assert proc.returncode == 2
    assert "pip install 'mlstix[remote]'" in proc.stderr
    assert "Traceback" not in proc.stderr


# -- verify and bom on remote models (a temporary local copy: hashing reads every byte) ---------


def _cli_in(*args: str) -> tuple[int, str, str]:
    from click.testing import CliRunner

    from mlstix.cli.main import cli

    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_verify_and_bom_of_a_remote_model(s3: tuple[str, Any], tmp_path: Path) -> None:
    pytest.importorskip("model_signing", reason="mlstix[sign] is not installed")
    from tests.keys import write_key

    client = s3[1]
    model = tmp_path / "demo"
    model.mkdir()
    for name, data in registry.benign().items():
        (model / name).write_bytes(data)
    keys = write_key(tmp_path, "release")
    code, _, err = _cli_in("sign", str(model), "--private-key", str(keys.private))
    assert code == 0, err
    servers.put_all(client, "models", {f"signed/demo/{p.name}": p.read_bytes()
                                       for p in model.iterdir()})  # fmt: skip
    url = "s3://models/signed/demo"
    code, out, err = _cli_in("verify", url, "--public-key", str(keys.public), "--format", "json")
    assert code == 0, err
    assert json.loads(out)["verified"] is True

    remote_bom = _cli_in("bom", url)
    local_bom = _cli_in("bom", str(model))
    assert remote_bom[0] == local_bom[0] == 0
    hashes = [{c["name"]: c.get("hashes") for c in json.loads(b[1])["components"]}
              for b in (remote_bom, local_bom)]  # fmt: skip
    assert hashes[0] == hashes[1]

    client.put_object(Bucket="models", Key="signed/demo/config.json", Body=b'{"x": 1}')
    code, out, err = _cli_in("verify", url, "--public-key", str(keys.public), "--format", "json")
    assert code == 1
    assert "config.json" in json.loads(out)["changed"]


def test_object_names_that_leave_the_copy_are_refused() -> None:
    from mlstix.scan.remote._download import _safe_relative
    from mlstix.scan.remote._fs import RemoteError
    from mlstix.scan.remote._listing import RemoteObject

    for key in ("m/../../etc/x", "m/..", "m//abs"):
        obj = RemoteObject(f"s3://b/{key}", "s3://b/m", f"b/{key}", 1, "1")
        if key == "m//abs":
            assert _safe_relative(obj) == "abs"  # an empty segment stays inside
            continue
        with pytest.raises(RemoteError, match="leaves the model folder"):
            _safe_relative(obj)


def test_one_object_and_a_local_folder_in_one_report(s3: tuple[str, Any], tmp_path: Path) -> None:
    local = tmp_path / "local"
    local.mkdir()
    (local / "model.pkl").write_bytes(registry.PAYLOAD)
    code, out, err = _run("s3://models/registry/team-b/plain.pkl", str(local), "--format", "json")
    assert code == 1, err
    data = json.loads(out)
    assert {s["path"] for s in data["scanned"]} == {
        "s3://models/registry/team-b/plain.pkl",
        str(local / "model.pkl"),
    }
    remote = next(s for s in data["scanned"] if s["path"].startswith("s3://"))
    assert remote["bytes_fetched"] == len(registry.hostile()["plain.pkl"])
    assert "bytes_fetched" not in next(s for s in data["scanned"] if s is not remote)
    assert len({f["location"]["path"] for f in data["findings"]
                if f["severity"] == "critical"}) == 2  # fmt: skip


def test_object_gone_after_listing_is_an_error_entry(s3: tuple[str, Any]) -> None:
    from mlstix.scan.models import Limits
    from mlstix.scan.remote._listing import RemoteObject
    from mlstix.scan.remote._work import Work, scan_object

    gone = RemoteObject("s3://models/registry/gone.pt", "s3://models/registry",
                        "models/registry/gone.pt", 5 << 20, "1")  # fmt: skip
    res = scan_object(gone, Work((), Limits()))
    assert res.result.error is not None and res.result.error.startswith("cannot read: not found")
    assert [h.rule_id for h in res.result.hits] == ["models/unreadable"]  # named like a model
