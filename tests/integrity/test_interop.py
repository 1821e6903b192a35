"""Signatures interoperate both ways with the upstream `model_signing` command (subprocess)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from integrity_helpers import certificate_signing_args, flat

UPSTREAM = Path(sys.executable).with_name("model_signing")
if not UPSTREAM.exists():  # pragma: no cover - the sign extra always installs it
    UPSTREAM = Path(shutil.which("model_signing") or "model_signing")


def upstream(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(UPSTREAM), *(str(a) for a in args)], capture_output=True, text=True, timeout=120
    )


def test_mlstix_key_signature_verifies_with_model_signing(run, model, keys):
    assert run("sign", model, "--private-key", keys.private).exit_code == 0
    done = upstream(
        "verify", "key", model, "--signature", model / "model.sig", "--public_key", keys.public
    )
    assert done.returncode == 0, done.stderr
    assert "Verification succeeded" in done.stdout


def test_model_signing_key_signature_verifies_with_mlstix(run, model, keys):
    done = upstream(
        "sign", "key", model, "--signature", model / "model.sig", "--private_key", keys.private
    )
    assert done.returncode == 0, done.stderr
    result = run("verify", model, "--public-key", keys.public)
    assert result.exit_code == 0, result.output
    (model / "tokenizer" / "vocab.txt").write_text("changed")
    result = run("verify", model, "--public-key", keys.public)
    assert result.exit_code == 1
    assert "1 changed (tokenizer/vocab.txt)" in flat(result.stderr)


def test_upstream_rejects_a_tampered_model_signed_by_mlstix(run, model, keys):
    run("sign", model, "--private-key", keys.private)
    (model / "extra.bin").write_bytes(b"x")
    done = upstream(
        "verify", "key", model, "--signature", model / "model.sig", "--public_key", keys.public
    )
    assert done.returncode == 1
    assert "extra.bin" in done.stderr


def test_certificate_signatures_interoperate_both_ways(run, model, pki, tmp_path):
    assert run("sign", model, *certificate_signing_args(pki)).exit_code == 0
    done = upstream(
        "verify",
        "certificate",
        model,
        "--signature",
        model / "model.sig",
        "--certificate_chain",
        pki.root,
    )
    assert done.returncode == 0, done.stderr

    other = tmp_path / "upstream.sig"
    done = upstream(
        "sign",
        "certificate",
        model,
        "--signature",
        other,
        "--private_key",
        pki.leaf_key,
        "--signing_certificate",
        pki.leaf_cert,
        "--certificate_chain",
        pki.intermediate,
    )
    assert done.returncode == 0, done.stderr
    result = run("verify", model, "--signature", other, "--certificate-chain", pki.root)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("ignored", ["notes.md", "drafts"])
def test_ignored_paths_agree_with_upstream(run, model, keys, ignored):
    (model / "drafts").mkdir()
    (model / "drafts" / "a.txt").write_text("a")
    (model / "notes.md").write_text("n")
    run("sign", model, "--private-key", keys.private, "--ignore-path", ignored)
    (model / ignored).touch()
    done = upstream(
        "verify", "key", model, "--signature", model / "model.sig", "--public_key", keys.public
    )
    assert done.returncode == 0, done.stderr
