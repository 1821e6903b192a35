"""Wrong arguments, unreachable servers and missing credentials, for every command; and a guard
that every command of the tree is in this sweep.

Servers are always 127.0.0.1 on a closed port (port 1), never the internet; credentials are
emptied (HOME points at an empty folder, the metadata services are turned off or pointed at
the closed port) so that nothing of the machine running the tests is found.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from mlstix.cli.main import _COMMANDS
from tests.cli_hardening import test_inputs, test_outputs, test_signals
from tests.cli_hardening.conftest import IAC, Material, assert_clean, invoke

CLOSED = "http://127.0.0.1:1"
AZURITE_KEY = (  # the storage emulator's published well-known development key
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


@pytest.fixture(scope="module")
def no_credentials(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str | None]:
    home = tmp_path_factory.mktemp("home")
    return {
        "HOME": str(home),
        "AWS_PROFILE": None,
        "AWS_ACCESS_KEY_ID": None,
        "AWS_SECRET_ACCESS_KEY": None,
        "AWS_SESSION_TOKEN": None,
        "AWS_CONFIG_FILE": str(home / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": None,
        "AWS_WEB_IDENTITY_TOKEN_FILE": None,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AZURE_CLIENT_ID": None,
        "AZURE_TENANT_ID": None,
        "AZURE_CLIENT_SECRET": None,
        "IDENTITY_ENDPOINT": None,
        "MSI_ENDPOINT": None,
        "GOOGLE_APPLICATION_CREDENTIALS": None,
        "CLOUDSDK_CONFIG": str(home / "gcloud"),
        "GCE_METADATA_HOST": "127.0.0.1:1",
        "GCE_METADATA_IP": "127.0.0.1:1",
        "NO_GCE_CHECK": "True",
        "KUBECONFIG": str(home / "kubeconfig"),
        "KUBERNETES_SERVICE_HOST": None,
    }


UNREACHABLE_AWS: dict[str, str | None] = {
    "AWS_ENDPOINT_URL": CLOSED,
    "AWS_ACCESS_KEY_ID": "AKIAEXAMPLEEXAMPLE00",
    "AWS_SECRET_ACCESS_KEY": "example-secret",
    "AWS_MAX_ATTEMPTS": "1",
}


@pytest.fixture(scope="module")
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.fixture(scope="module")
def kubeconfig(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("kube") / "config"
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters: [{{name: c, cluster: {{server: '{CLOSED}'}}}}]\n"
        "users: [{name: u, user: {token: example}}]\n"
        "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
        "current-context: x\n"
    )
    return path


# name -> (arguments, extra environment, a word the error line must hold); in the arguments
# {model} {key} {sig} {bundle} {work} {port} {kube} are filled in when the case runs
ArgCase = tuple[list[str], dict[str, str | None], str]
_AZ = (
    f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AZURITE_KEY};"
    f"BlobEndpoint={CLOSED}/devstoreaccount1;"
)
_SUB = "00000000-0000-0000-0000-000000000000"
CASES: dict[str, ArgCase] = {
    "kb show unknown key": (["kb", "show", "no-such-object"], {}, "no-such-object"),
    "kb show --cloud bad": (["kb", "show", "x", "--cloud", "ibm"], {}, "--cloud"),
    "kb list --type bad": (["kb", "list", "--type", "dragon"], {}, "--type"),
    "kb graph --format bad": (["kb", "graph", "--format", "png"], {}, "--format"),
    "kb check extra argument": (["kb", "check", "extra"], {}, "extra"),
    "kb build --out a file": (["kb", "build", "--out", "{key}"], {}, "signer.pem"),
    "kb site --out missing parent": (["kb", "site", "--out", "{work}/a/b"], {}, "/a"),
    "kb export unknown suffix": (["kb", "export", "-o", "{work}/x.txt"], {}, "x.txt"),
    "kb validate no files": (["kb", "validate"], {}, "FILES"),
    "rules list extra argument": (["rules", "list", "extra"], {}, "extra"),
    "rules show unknown": (["rules", "show", "NO-SUCH-RULE"], {}, "NO-SUCH-RULE"),
    "benchmark show unknown": (["benchmark", "show", "X-99"], {}, "X-99"),
    "benchmark list --level 3": (["benchmark", "list", "--level", "3"], {}, "--level"),
    "benchmark export no format": (["benchmark", "export", "-o", "-"], {}, "--format"),
    "benchmark assess nothing": (["benchmark", "assess"], {}, "nothing to assess"),
    "demo extra argument": (["demo", "now"], {}, "now"),
    "scan models --jobs -1": (["scan", "models", "{model}", "-j", "-1"], {}, "--jobs"),
    "scan models --fail-on bad": (["scan", "models", "{model}", "--fail-on", "x"], {},
                                  "--fail-on"),
    "scan models http URL": (["scan", "models", f"{CLOSED}/m.pkl"], {}, "http://"),
    "scan models s3 unreachable": (["scan", "models", "s3://bucket/p"], UNREACHABLE_AWS,
                                   "127.0.0.1:1"),
    "scan models hf unreachable": (["scan", "models", "hf://org/model"],
                                   {"HF_ENDPOINT": CLOSED}, "127.0.0.1:1"),
    "scan models gs unreachable": (["scan", "models", "gs://bucket/p"],
                                   {"STORAGE_EMULATOR_HOST": CLOSED}, "127.0.0.1:1"),
    "scan models az unreachable": (["scan", "models", "az://container/p"],
                                   {"AZURE_STORAGE_CONNECTION_STRING": _AZ}, "127.0.0.1:1"),
    "scan models az malformed connection string": (
        ["scan", "models", "az://container/p"],
        {"AZURE_STORAGE_CONNECTION_STRING": "garbage"}, "AZURE_STORAGE_CONNECTION_STRING"),
    "scan models --publish unreachable": (
        ["scan", "models", "-j", "1", "{model}", "--publish", f"{CLOSED}/taxii2/",
         "-o", "{work}/published.json"], {}, "127.0.0.1:1"),
    "scan iac --var without =": (["scan", "iac", str(IAC), "--var", "region"], {}, "--var"),
    "scan iac --rule unknown": (["scan", "iac", str(IAC), "--rule", "NOPE-1"], {}, "NOPE-1"),
    "sign no method": (["sign", "{model}"], {}, "--private-key"),
    "sign --shard-size bad": (["sign", "{model}", "--private-key", "{key}", "--shard-size",
                               "lots"], {}, "--shard-size"),
    "verify no trust": (["verify", "{model}", "--signature", "{sig}"], {}, "--public-key"),
    "bom missing model": (["bom", "{work}/none"], {}, "none"),
    "navigator --domain bad": (["navigator", "--domain", "d3fend"], {}, "--domain"),
    "serve unsupported db": (["serve", "--db", "mysql://x/y", "--port", "0"], {}, "mysql"),
    "serve db not SQLite": (["serve", "--db", "sqlite:///{work}/garbage.db", "--port", "0"],
                            {}, "garbage.db"),
    "serve db empty file": (["serve", "--db", "sqlite:///{work}/empty.db", "--port", "0"],
                            {}, "empty.db"),
    "serve PostgreSQL unreachable": (["serve", "--db", "postgresql://u:pw@127.0.0.1:1/db",
                                      "--port", "0"], {}, "cannot open the database"),
    "serve empty host": (["serve", "--host", "", "--port", "0", "--db", "sqlite:///{work}/t.db"],
                         {}, "host is empty"),
    "serve port in use": (["serve", "--db", "sqlite:///{work}/t.db", "--port", "{port}"], {},
                          "{port}"),
    "serve adduser no password": (["serve", "adduser", "bob", "--db", "sqlite:///{work}/t.db"],
                                  {}, "password"),
    "serve hash-password empty": (["serve", "hash-password", "--password-stdin"], {},
                                  "password"),
    "publish unreachable": (["publish", "{bundle}", "--to", f"{CLOSED}/taxii2/",
                             "--collection", "findings"], {}, "127.0.0.1:1"),
    "publish not http": (["publish", "{bundle}", "--to", "ftp://x/", "--collection", "findings"],
                         {}, "ftp://x/"),
    "assess aws unreachable": (["assess", "aws", "--region", "us-east-1"], UNREACHABLE_AWS,
                               "127.0.0.1:1"),
    "assess aws no credentials": (["assess", "aws", "--region", "us-east-1"], {},
                                  "credentials"),
    "assess aws unknown profile": (["assess", "aws", "--profile", "nobody"], {}, "nobody"),
    "assess aws bad region": (["assess", "aws", "--region", "mars-1"], UNREACHABLE_AWS,
                              "mars-1"),
    "assess azure no credentials": (["assess", "azure", "--subscription", _SUB,
                                     "--arm-endpoint", CLOSED], {}, "credentials"),
    "assess azure bad subscription": (["assess", "azure", "--subscription", "x"], {},
                                      "--subscription"),
    "assess gcp no credentials": (["assess", "gcp", "--project", "my-project-123"], {},
                                  "credentials"),
    "assess kubernetes unreachable": (["assess", "kubernetes", "--kubeconfig", "{kube}"], {},
                                      "connection refused"),
    "assess kubernetes no kubeconfig": (["assess", "kubernetes"], {}, "Kubernetes"),
    "assess snapshot missing": (["assess", "snapshot", "{work}/none"], {}, "none"),
    "detect logs --since bad": (["detect", "logs", "{bundle}", "--since", "soon"], {}, "soon"),
    "detect export --target bad": (["detect", "export", "-t", "qradar", "-o", "{work}/e"], {},
                                   "--target"),
    "detect inference --client-key bad": (["detect", "inference", "{bundle}", "--client-key",
                                           "who"], {}, "who"),
    "detect inference --window 5": (["detect", "inference", "{bundle}", "--window", "5"], {},
                                    "--window"),
    "unknown command": (["scna"], {}, "scna"),
    "unknown option": (["scan", "models", "{model}", "--fast"], {}, "--fast"),
}  # fmt: skip


@pytest.fixture(scope="module")
def fill(
    good: Material, busy_port: int, kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    work = tmp_path_factory.mktemp("args")
    (work / "garbage.db").write_bytes(b"\x00\xff" * 2048)
    (work / "empty.db").write_bytes(b"")
    return {
        "{model}": str(good.model),
        "{key}": str(good.key),
        "{sig}": str(good.signature),
        "{bundle}": str(good.bundle),
        "{work}": str(work),
        "{port}": str(busy_port),
        "{kube}": str(kubeconfig),
    }


def _filled(text: str, fill: dict[str, str]) -> str:
    for mark, value in fill.items():
        text = text.replace(mark, value)
    return text


@pytest.mark.parametrize("name", sorted(CASES))
def test_wrong_argument(
    name: str, fill: dict[str, str], no_credentials: dict[str, str | None]
) -> None:
    args, env, needle = CASES[name]
    # `serve --port 0` that wrongly took its database would serve: the alarm ends it
    outcome = invoke([_filled(a, fill) for a in args], env={**no_credentials, **env}, alarm=60)
    assert_clean(outcome, {2})
    assert outcome.error_lines, outcome.err
    assert _filled(needle, fill).lower() in outcome.err.lower(), outcome.err
    if name == "scan models --publish unreachable":  # the report was written all the same
        assert Path(fill["{work}"], "published.json").is_file()


# --- every command of the tree is in the sweep --------------------------------------------------


def _leaves(command: click.Command, path: tuple[str, ...]) -> Iterator[str]:
    if isinstance(command, click.Group):
        if command.invoke_without_command:  # `serve` runs by itself too
            yield " ".join(path)
        for name, sub in command.commands.items():
            yield from _leaves(sub, (*path, name))
    else:
        yield " ".join(path)


def test_every_command_is_swept() -> None:
    """A new command (or sub-command) fails this until it has cases here."""
    from mlstix.cli.main import cli

    ctx = click.Context(cli)
    commands = {
        leaf for name in _COMMANDS for leaf in _leaves(cli.get_command(ctx, name) or cli, (name,))
    }
    names = [
        *test_inputs.SLOTS,
        *test_outputs.WRITERS,
        *test_outputs.FOLDER_WRITERS,
        *test_outputs._LIMITED,
        *test_signals.FIFO_CASES,
        *test_signals.PIPE_CASES,
        *CASES,
    ]
    swept = {c for c in commands for n in names if n == c or n.startswith(f"{c} ")}
    assert sorted(commands - swept) == []
