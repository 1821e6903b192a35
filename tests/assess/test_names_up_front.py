"""Region, subscription and project names that cannot be valid are refused before any call:
one line naming the setting, exit 2, no request to the endpoint, no report written.

The endpoint is a local server that records every request it gets; each refused case must leave
it untouched. ``AWS_REGION`` is read as the AWS CLI v2 and the other SDKs read it (first, then
``AWS_DEFAULT_REGION``); botocore itself reads only ``AWS_DEFAULT_REGION``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mlstix.assess._names import check_azure, check_gcp
from mlstix.cli.main import cli
from mlstix.errors import UsageError
from tests.assess.conftest import ACCESS_KEY
from tests.assess.http_support import QuietJsonHandler, serving

SUB = "00000000-1111-2222-3333-444444444444"


@contextmanager
def _recording() -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []

    class Handler(QuietJsonHandler):
        def _any(self) -> None:
            seen.append(f"{self.command} {self.path}")
            self._send(500, {})

        do_GET = do_POST = _any

    with serving(Handler) as url:
        yield url, seen


def _aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, url: str) -> None:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-secret")
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))


def _assess(tmp_path: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["assess", *args, "-o", str(tmp_path / "r.json")])


def _refused(result: Result, tmp_path: Path, seen: list[str], text: str) -> None:
    assert result.exit_code == 2, result.output
    assert text in result.output, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert seen == [], "a request was sent before the name was checked"
    assert not (tmp_path / "r.json").exists()


@pytest.mark.parametrize(
    ("variable", "value", "text"),
    [
        ("AWS_REGION", "us-east-1 ", "AWS_REGION is 'us-east-1 ', not a region name"),
        ("AWS_REGION", "eu_west_1", "AWS_REGION is 'eu_west_1', not a region name"),
        ("AWS_REGION", "", "AWS_REGION is set but empty"),
        ("AWS_REGION", "us-east-1\n", "AWS_REGION is 'us-east-1\\n', not a region name"),
        ("AWS_DEFAULT_REGION", "EU-WEST-1", "AWS_DEFAULT_REGION is 'EU-WEST-1'"),
    ],
)
def test_a_malformed_region_in_the_environment_is_refused_before_any_call(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, value: str, text: str
) -> None:
    pytest.importorskip("boto3", reason="boto3 (assess extra) is not installed")
    with _recording() as (url, seen):
        _aws_env(monkeypatch, tmp_path, url)
        monkeypatch.setenv(variable, value)
        result = _assess(tmp_path, "aws")
        _refused(result, tmp_path, seen, text)
        assert "fix or unset it, or pass --region" in result.output
        # --all-regions starts from the default region too
        _refused(_assess(tmp_path, "aws", "--all-regions"), tmp_path, seen, text)


def test_aws_region_wins_over_aws_default_region(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # the AWS CLI v2 order: a bad AWS_REGION is refused even when AWS_DEFAULT_REGION is good
    pytest.importorskip("boto3", reason="boto3 (assess extra) is not installed")
    with _recording() as (url, seen):
        _aws_env(monkeypatch, tmp_path, url)
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        monkeypatch.setenv("AWS_REGION", "us-east-1a")
        _refused(_assess(tmp_path, "aws"), tmp_path, seen, "AWS_REGION is 'us-east-1a'")


def test_a_malformed_region_in_the_profile_is_refused_before_any_call(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pytest.importorskip("boto3", reason="boto3 (assess extra) is not installed")
    with _recording() as (url, seen):
        _aws_env(monkeypatch, tmp_path, url)
        config = tmp_path / "config"
        config.write_text("[profile ml]\nregion = eu_west_1\n")
        monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
        result = _assess(tmp_path, "aws", "--profile", "ml")
        _refused(result, tmp_path, seen, "the region of profile 'ml' is 'eu_west_1'")


def test_an_explicit_region_is_used_and_a_bad_environment_value_then_does_not_matter(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # --region decides: the STS call goes out (to the recording server, which fails it)
    pytest.importorskip("boto3", reason="boto3 (assess extra) is not installed")
    with _recording() as (url, seen):
        _aws_env(monkeypatch, tmp_path, url)
        monkeypatch.setenv("AWS_REGION", "eu_west_1")
        result = _assess(tmp_path, "aws", "--region", "eu-west-1")
    assert result.exit_code == 2, result.output
    assert "AWS_REGION" not in result.output
    assert seen and all(s.startswith("POST /") for s in seen)  # sts:GetCallerIdentity


def test_aws_region_from_the_environment_is_honoured(aws: object, tmp_path: Path) -> None:
    # botocore reads only AWS_DEFAULT_REGION; AWS_REGION alone used to give "no AWS region"
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("AWS_DEFAULT_REGION")
        mp.setenv("AWS_REGION", "us-east-1")
        out = tmp_path / "r.json"
        result = CliRunner().invoke(cli, ["assess", "aws", "--format", "json", "-o", str(out)])
    assert result.exit_code == 1, result.output
    paths = [f["location"]["path"] for f in json.loads(out.read_text())["findings"]]
    assert any(":us-east-1:" in p for p in paths)  # the seeded account's us-east-1 resources
    assert not any("eu-west-1" in p for p in paths)  # and that region only


@pytest.mark.parametrize(
    ("args", "text"),
    [
        # a trailing newline passes a pattern anchored with $: the collector checks in full
        (["--subscription", f"{SUB}\n"], "is not an Azure subscription id (a GUID)"),
        (["--subscription", SUB, "--resource-group", "ml-rg\n"], "an Azure resource group name"),
    ],
)
def test_an_azure_name_that_cannot_be_valid_is_refused_before_any_call(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, args: list[str], text: str
) -> None:
    pytest.importorskip("azure.mgmt.core", reason="azure-mgmt-core (assess extra) is not installed")
    import azure.identity

    from tests.assess.azure_support import StaticToken

    monkeypatch.setattr(azure.identity, "DefaultAzureCredential", StaticToken)
    with _recording() as (url, seen):
        result = _assess(tmp_path, "azure", *args, "--arm-endpoint", url)
        _refused(result, tmp_path, seen, text)


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["--project", "ml-prod-4821\n"], "is not a Google Cloud project id"),
        (["--project", "ml-prod-4821", "--location", "us-central1\n"], "a Vertex AI region"),
    ],
)
def test_a_gcp_name_that_cannot_be_valid_is_refused_before_any_call(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, args: list[str], text: str
) -> None:
    pytest.importorskip("googleapiclient", reason="google-api-python-client is not installed")
    import google.auth

    from tests.assess.test_gcp import StaticCredentials

    monkeypatch.setattr(google.auth, "default", lambda **_: (StaticCredentials(), "p"))
    with _recording() as (url, seen):
        for api in ("AIPLATFORM", "NOTEBOOKS", "CLOUDRESOURCEMANAGER"):
            monkeypatch.setenv(f"CLOUDSDK_API_ENDPOINT_OVERRIDES_{api}", f"{url}/")
        monkeypatch.setenv("CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE", f"{url}/storage/v1/")
        result = _assess(tmp_path, "gcp", *args)
        _refused(result, tmp_path, seen, text)


@pytest.mark.parametrize(
    "subscription",
    ["", " " + SUB, SUB + " ", SUB.replace("-", ""), SUB[:-1] + "g", "{" + SUB + "}", SUB + "\n"],
)
def test_subscription_ids_that_cannot_be_valid(subscription: str) -> None:
    with pytest.raises(UsageError, match="not an Azure subscription id"):
        check_azure(subscription, ())


@pytest.mark.parametrize(
    "project",
    ["", "ml", "ML-prod-4821", "4821-ml-prod", "ml-prod-", "ml_prod_4821", "a" * 31, "p 1234"],
)
def test_project_ids_that_cannot_be_valid(project: str) -> None:
    with pytest.raises(UsageError, match="not a Google Cloud project id"):
        check_gcp(project, ("us-central1",))


def test_valid_names_pass() -> None:
    check_azure(SUB.upper(), ("ml-rg", "rg_(prod).eu"))
    check_gcp("ml-prod-4821", ("us-central1", "europe-west4"))
    check_gcp("example.com:ml-prod", ("asia-northeast1",))  # legacy domain-scoped project
