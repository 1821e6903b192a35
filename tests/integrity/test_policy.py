"""--policy: which keys, chains and identities are trusted for which models."""

from __future__ import annotations

import json

import pytest
from integrity_helpers import flat, write_key

from mlstix.errors import UsageError
from mlstix.integrity.policy import load_policy


def _policy(tmp_path, text: str):
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return path


def test_key_trusted_for_the_model_verifies(run, model, keys, tmp_path):
    run("sign", model, "--private-key", keys.private)
    policy = _policy(
        tmp_path,
        f"version: 1\nrules:\n  - models: ['*/tiny-bert']\n    keys: [{keys.public.name}]\n",
    )
    result = run("verify", model, "--policy", policy, "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["trusted_by"].startswith(f"public key {keys.public}")


def test_first_matching_rule_decides(run, model, keys, other_keys, tmp_path):
    run("sign", model, "--private-key", keys.private)
    policy = _policy(
        tmp_path,
        "version: 1\nrules:\n"
        f"  - models: ['tiny-*']\n    keys: [{other_keys.public.name}]\n"
        f"  - models: ['*']\n    keys: [{keys.public.name}]\n",
    )
    result = run("verify", model, "--policy", policy)
    assert result.exit_code == 1
    assert "the signature was made by a different key" in flat(result.stderr)


def test_any_of_several_trusted_signers_is_enough(run, model, keys, other_keys, pki, tmp_path):
    run("sign", model, "--private-key", keys.private)
    policy = _policy(
        tmp_path,
        "version: 1\nrules:\n  - models: ['tiny-bert']\n"
        f"    keys: [{other_keys.public.name}, {keys.public.name}]\n"
        f"    certificate_chains: [{pki.root}]\n"
        "    identities: [{identity: a@example.com, issuer: https://issuer.example}]\n",
    )
    assert run("verify", model, "--policy", policy).exit_code == 0


def test_model_no_rule_covers_is_not_trusted(run, model, keys, tmp_path):
    run("sign", model, "--private-key", keys.private)
    policy = _policy(
        tmp_path, f"version: 1\nrules:\n  - models: ['prod/*']\n    keys: [{keys.public.name}]\n"
    )
    result = run("verify", model, "--policy", policy)
    assert result.exit_code == 1
    assert f"policy {policy} has no rule for {model}: no signer is trusted" in flat(result.stderr)


def test_all_rejections_are_listed(run, model, keys, tmp_path):
    stranger = write_key(tmp_path, "third")
    run("sign", model, "--private-key", keys.private)
    policy = _policy(
        tmp_path,
        f"version: 1\nrules:\n  - models: ['*']\n    keys: [{stranger.public.name}]\n"
        f"    certificate_chains: [pki.pem]\n",
    )
    (tmp_path / "pki.pem").write_text("x")
    result = run("verify", model, "--policy", policy)
    assert result.exit_code == 1
    out = flat(result.stderr)
    assert "different key" in out
    assert "was made with a private key but certificate chain" in out


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("version: 1\nrules: [", "is not valid YAML"),
        ("- 1\n- 2\n", "is invalid: expected a mapping with version and rules"),
        ("version: 1\nrules:\n  - models: [a]\n    since: 2026-02-30\n", "line 4, column 12"),
        ("version: !!int one\n", "line 1, column 10: 'one' is not a valid int"),
        ("version: 1\nrules: []\n", "rules: List should have at least 1 item"),
        (
            "version: 2\nrules:\n  - models: ['*']\n    keys: [k.pub]\n",
            "version 2 is not supported",
        ),
        ("version: 1\nrules:\n  - models: ['*']\n", "rules.0 trusts nothing"),
        ("version: 1\nrules:\n  - models: ['*']\n    key: [k.pub]\n", "rules.0.key: Extra inputs"),
        (
            "version: 1\nrules:\n  - models: ['*']\n    identities: [{identity: a}]\n",
            "rules.0.identities.0.issuer: Field required",
        ),
    ],
)
def test_malformed_policy_names_the_field_and_exits_2(run, model, keys, tmp_path, text, expected):
    run("sign", model, "--private-key", keys.private)
    policy = _policy(tmp_path, text)
    with pytest.raises(UsageError, match="policy file"):
        load_policy(policy)
    result = run("verify", model, "--policy", policy)
    assert result.exit_code == 2
    assert expected in flat(result.output)


def test_policy_key_that_does_not_exist_is_a_usage_error(run, model, keys, tmp_path):
    run("sign", model, "--private-key", keys.private)
    policy = _policy(tmp_path, "version: 1\nrules:\n  - models: ['*']\n    keys: [gone.pub]\n")
    result = run("verify", model, "--policy", policy)
    assert result.exit_code == 2
    assert f"public key {tmp_path / 'gone.pub'} does not exist" in flat(result.output)
