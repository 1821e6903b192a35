"""mlstix sign / mlstix verify with a private key: round trips, every failure the issue lists,
and the hashing settings upstream's command line hides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from integrity_helpers import flat, write_key


def test_sign_then_verify_succeeds_and_names_the_signer(run, model, keys):
    signed = run("sign", model, "--private-key", keys.private)
    assert signed.exit_code == 0, signed.output
    assert (model / "model.sig").is_file()
    assert "signed 4 files" in flat(signed.output)

    checked = run("verify", model, "--public-key", keys.public)
    assert checked.exit_code == 0, checked.output
    assert "ok: verified 4 files" in flat(checked.output)
    assert "public key sha256:" in flat(checked.output)


def test_signature_is_a_sigstore_bundle_with_an_in_toto_statement(run, model, keys):
    import base64

    run("sign", model, "--private-key", keys.private)
    bundle = json.loads((model / "model.sig").read_text())
    assert bundle["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    assert bundle["dsseEnvelope"]["payloadType"] == "application/vnd.in-toto+json"
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    assert statement["predicateType"] == "https://model_signing/signature/v1.0"
    names = {r["name"] for r in statement["predicate"]["resources"]}
    assert names == {
        "config.json",
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "tokenizer/vocab.txt",
    }  # the signature itself and .gitattributes are left out


def _tamper(path: Path, offset: int = 1000) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_one_flipped_byte_is_named_and_exits_1(run, model, keys):
    run("sign", model, "--private-key", keys.private)
    _tamper(model / "model-00001-of-00002.safetensors")
    result = run("verify", model, "--public-key", keys.public)
    assert result.exit_code == 1
    out = flat(result.output)
    assert "changed model-00001-of-00002.safetensors" in out
    assert "does not match its signature: 1 changed (model-00001-of-00002.safetensors)" in out


def test_added_and_removed_files_are_named(run, model, keys):
    run("sign", model, "--private-key", keys.private)
    (model / "tokenizer" / "vocab.txt").unlink()
    (model / "backdoor.pkl").write_bytes(b"\x80\x04evil")
    result = run("verify", model, "--public-key", keys.public, "--format", "json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["verified"] is False
    assert report["authenticated"] is True
    assert report["added"] == ["backdoor.pkl"]
    assert report["missing"] == ["tokenizer/vocab.txt"]
    assert report["changed"] == []
    assert "1 added (backdoor.pkl), 1 missing (tokenizer/vocab.txt)" in flat(result.stderr)


def test_signature_from_an_untrusted_key_exits_1(run, model, keys, other_keys):
    run("sign", model, "--private-key", other_keys.private)
    result = run("verify", model, "--public-key", keys.public)
    assert result.exit_code == 1
    out = flat(result.stderr)
    assert "is not trusted: the signature was made by a different key" in out
    assert str(keys.public) in out


def test_forged_statement_with_the_right_key_hint_fails(run, model, keys):
    """Editing the signed statement (here: a digest) breaks the DSSE signature."""
    import base64

    run("sign", model, "--private-key", keys.private)
    sig = model / "model.sig"
    bundle = json.loads(sig.read_text())
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    statement["predicate"]["resources"][0]["digest"] = "00" * 32
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    sig.write_text(json.dumps(bundle))
    result = run("verify", model, "--public-key", keys.public)
    assert result.exit_code == 1
    assert "does not verify with public key" in flat(result.stderr)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "is not valid JSON (truncated or garbage?)"),  # truncated
        (b"\x00\xff garbage \x13", "is not text"),
        (b"", "is empty"),
        (b"[1, 2]", "the JSON is not an object"),
        (b'{"mediaType": "text/plain"}', "mediaType is 'text/plain'"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (
            b'{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}',
            "verificationMaterial is missing",
        ),
    ],
)
def test_truncated_or_garbage_signature_exits_1(run, model, keys, content, expected):
    run("sign", model, "--private-key", keys.private)
    sig = model / "model.sig"
    if content is None:
        content = sig.read_bytes()[: len(sig.read_bytes()) // 2]
    sig.write_bytes(content)
    result = run("verify", model, "--public-key", keys.public)
    assert result.exit_code == 1
    assert expected in flat(result.stderr)
    assert str(sig) in flat(result.stderr)


def test_damaged_payload_base64_is_named(run, model, keys):
    run("sign", model, "--private-key", keys.private)
    sig = model / "model.sig"
    bundle = json.loads(sig.read_text())
    bundle["dsseEnvelope"]["payload"] = "not base64 at all!"
    sig.write_text(json.dumps(bundle))
    result = run("verify", model, "--public-key", keys.public)
    assert result.exit_code == 1
    assert "dsseEnvelope.payload is not valid base64" in flat(result.stderr)


def test_unsigned_model_exits_1(run, model, keys):
    result = run("verify", model, "--public-key", keys.public)
    assert result.exit_code == 1
    assert "is not signed: no signature at" in flat(result.stderr)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["sign"], "Missing argument 'MODEL_PATH'"),
        (["verify"], "Missing argument 'MODEL_PATH'"),
        (["sign", "{model}"], "no signing method given"),
        (["verify", "{model}"], "nothing to trust"),
        (["verify", "{model}", "--identity", "a@example.com"], "--identity-provider is missing"),
        (["sign", "{model}", "--private-key"], "requires an argument"),
        (["sign", "{model}", "--private-key", "{key}", "--sigstore"], "not both"),
        (["sign", "{model}", "--private-key", "{key}", "--shard-size", "1x"], "is not a size"),
        (
            [
                "sign",
                "{model}",
                "--private-key",
                "{key}",
                "--hash-algorithm",
                "blake3",
                "--shard-size",
                "1M",
            ],
            "--shard-size does not apply to blake3",
        ),
        (
            [
                "verify",
                "{model}",
                "--public-key",
                "{pub}",
                "--identity",
                "a",
                "--identity-provider",
                "b",
            ],
            "give one source of trust, not a public key and a Sigstore identity",
        ),
        (["sign", "{model}", "--private-key", "{key}", "--ignore-path", "../x"], "not inside"),
    ],
)
def test_usage_errors_exit_2(run, model, keys, args, expected):
    argv = [a.format(model=model, key=keys.private, pub=keys.public) for a in args]
    result = run(*argv)
    assert result.exit_code == 2
    assert expected in flat(result.output)
    assert not (model / "model.sig").exists()


def test_failed_signing_leaves_no_signature_file(run, model, tmp_path):
    rsa_key = tmp_path / "rsa.pem"
    rsa_key.write_bytes(
        rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    result = run("sign", model, "--private-key", rsa_key)
    assert result.exit_code == 2
    assert f"cannot use private key {rsa_key}" in flat(result.output)
    assert not list(model.glob("*.sig*")), "no (partial) signature may be left behind"


def test_encrypted_key_needs_its_password(run, model, tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "enc.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"s3cret"),
        )
    )
    denied = run("sign", model, "--private-key", path)
    assert denied.exit_code == 2
    assert "pass --password" in flat(denied.output)
    assert not (model / "model.sig").exists()
    assert run("sign", model, "--private-key", path, "--password", "s3cret").exit_code == 0
    from click.testing import CliRunner

    from mlstix.cli.main import cli

    via_env = CliRunner(env={"MLSTIX_KEY_PASSWORD": "s3cret"}).invoke(
        cli, ["sign", str(model), "--private-key", str(path)]
    )
    assert via_env.exit_code == 0, via_env.output


def test_existing_signature_survives_a_failed_resign(run, model, keys, tmp_path):
    run("sign", model, "--private-key", keys.private)
    before = (model / "model.sig").read_bytes()
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    assert run("sign", model, "--private-key", bad).exit_code == 2
    assert (model / "model.sig").read_bytes() == before


@pytest.mark.parametrize(
    "settings",
    [
        ["--hash-algorithm", "blake2b"],
        ["--hash-algorithm", "blake3"],
        ["--shard-size", "100000"],
        ["--hash-algorithm", "blake2b", "--shard-size", "64Ki", "--workers", "2"],
        ["--chunk-size", "4096", "--workers", "1"],
    ],
)
def test_hash_settings_round_trip_and_are_recorded(run, model, keys, settings):
    import base64

    assert run("sign", model, "--private-key", keys.private, *settings).exit_code == 0
    bundle = json.loads((model / "model.sig").read_text())
    serialization_args = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))[
        "predicate"
    ]["serialization"]
    if "--shard-size" in settings:
        assert serialization_args["method"] == "shards"
    if "blake3" in settings:
        assert serialization_args["hash_type"] == "blake3"
    assert run("verify", model, "--public-key", keys.public).exit_code == 0
    _tamper(model / "model-00002-of-00002.safetensors", offset=299_999)
    failed = run("verify", model, "--public-key", keys.public, "--format", "json")
    assert failed.exit_code == 1
    assert json.loads(failed.stdout)["changed"] == ["model-00002-of-00002.safetensors"]


def test_sharded_signature_names_a_file_that_changed_size(run, model, keys):
    run("sign", model, "--private-key", keys.private, "--shard-size", "100000")
    with (model / "model-00002-of-00002.safetensors").open("ab") as fh:
        fh.write(b"appended")
    result = run("verify", model, "--public-key", keys.public, "--format", "json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["changed"] == ["model-00002-of-00002.safetensors"]
    assert report["added"] == [] and report["missing"] == []


def test_ignored_paths_are_left_out_of_signing_and_verification(run, model, keys):
    (model / "notes.md").write_text("draft")
    assert (
        run("sign", model, "--private-key", keys.private, "--ignore-path", "notes.md").exit_code
        == 0
    )
    (model / "notes.md").write_text("edited after signing")
    assert run("verify", model, "--public-key", keys.public).exit_code == 0
    (model / "scratch.txt").write_text("new")
    ok = run("verify", model, "--public-key", keys.public, "--ignore-path", "scratch.txt")
    assert ok.exit_code == 0


def test_single_file_model_signature_goes_beside_it(run, tmp_path, keys):
    weights = tmp_path / "model.onnx"
    weights.write_bytes(b"onnx" * 1000)
    assert run("sign", weights, "--private-key", keys.private).exit_code == 0
    assert (tmp_path / "model.onnx.sig").is_file()
    assert run("verify", weights, "--public-key", keys.public).exit_code == 0
    _tamper(weights, 10)
    result = run("verify", weights, "--public-key", keys.public)
    assert result.exit_code == 1
    assert "1 changed (model.onnx)" in flat(result.stderr)


def test_signature_outside_the_model_and_p384_key(run, model, tmp_path):
    pair = write_key(tmp_path, "p384", ec.SECP384R1())
    out = tmp_path / "sigs" / "tiny.sig"
    refused = run("sign", model, "--private-key", pair.private, "--signature", out)
    assert refused.exit_code == 2  # the folder of --signature must exist: a typo is no new folder
    assert "sigs does not exist" in flat(refused.output)
    out.parent.mkdir()
    assert run("sign", model, "--private-key", pair.private, "--signature", out).exit_code == 0
    assert out.is_file() and not (model / "model.sig").exists()
    result = run("verify", model, "--public-key", pair.public, "--signature", out)
    assert result.exit_code == 0, result.output


def test_symlinks_are_refused_unless_allowed(run, model, keys):
    (model / "link.json").symlink_to(model / "config.json")
    refused = run("sign", model, "--private-key", keys.private)
    assert refused.exit_code == 2
    assert "symlink" in flat(refused.output)
    assert not (model / "model.sig").exists()
    assert run("sign", model, "--private-key", keys.private, "--allow-symlinks").exit_code == 0
    assert run("verify", model, "--public-key", keys.public).exit_code == 0


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda s: s.update(predicateType="https://slsa.dev/provenance/v1"), "predicateType is"),
        (lambda s: s["predicate"].pop("resources"), "lacks serialization or resources"),
        (lambda s: s.update(subject=[]), "the statement has no subject"),
        (
            lambda s: s["predicate"]["resources"][0].pop("digest"),
            "a resource lacks its name, algorithm or digest",
        ),
    ],
)
def test_statement_that_is_not_a_model_signature_is_named(run, model, keys, edit, expected):
    import base64

    run("sign", model, "--private-key", keys.private)
    sig = model / "model.sig"
    bundle = json.loads(sig.read_text())
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    edit(statement)
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    sig.write_text(json.dumps(bundle))
    result = run("verify", model, "--public-key", keys.public)
    assert result.exit_code == 1
    assert expected in flat(result.stderr)
