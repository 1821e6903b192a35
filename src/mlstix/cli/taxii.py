"""``mlstix serve`` (the TAXII 2.1 server, ``serve adduser``, ``serve hash-password``) and
``mlstix publish`` (send a STIX bundle to any TAXII 2.1 server).

FastAPI, uvicorn, SQLAlchemy and httpx are imported inside the commands: ``pip install
'mlstix[serve]'`` brings them. Secrets stay out of the process list: passwords come from a
prompt, stdin (``--password-stdin``) or ``MLSTIX_TAXII_PASSWORD``; a database URL with a password
from ``MLSTIX_TAXII_DB``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from mlstix.cli._console import console, err_console
from mlstix.errors import UsageError

__all__ = ["publish", "serve"]


def _need_serve_extra() -> None:
    try:
        import fastapi  # noqa: F401
        import httptools  # noqa: F401
        import sqlalchemy  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise UsageError(
            f"the TAXII server needs {exc.name}", hint="pip install 'mlstix[serve]'"
        ) from None


def _config(config: Path | None, **overrides: Any) -> Any:
    from mlstix.taxii.config import load_config

    return load_config(config).with_overrides(**overrides)


_DB_HELP = (
    "sqlite:///PATH (default: a file in the user's data directory) or postgresql://...; "
    "env MLSTIX_TAXII_DB keeps a password out of the process list."
)


def _password(given: str | None, from_stdin: bool, *, confirm: bool = True) -> str:
    """The password from stdin, the option/environment, or a prompt on a terminal."""
    if from_stdin:
        if given is not None:
            raise UsageError("give --password-stdin or a password, not both")
        line = sys.stdin.readline()
        password = (line[:-1] if line.endswith("\n") else line).removesuffix("\r")
        try:
            password.encode("utf-8")
        except UnicodeEncodeError:  # stdin decodes bytes that are not UTF-8 as surrogates
            raise UsageError("the password read from stdin is not UTF-8 text") from None
        return password
    if given is not None:
        return given
    if not sys.stdin.isatty():
        raise UsageError(
            "no password: pass --password-stdin or set MLSTIX_TAXII_PASSWORD",
            hint='e.g. printf %s "$PW" | mlstix serve adduser NAME --password-stdin; publish '
            "reading the bundle from stdin takes MLSTIX_TAXII_PASSWORD",
        )
    value: str = click.prompt(
        "Password", hide_input=True, confirmation_prompt=confirm, err=True, show_default=False
    )
    return value


def _password_options(func: Any) -> Any:
    func = click.option(
        "--password-stdin",
        is_flag=True,
        help="Read the password from the first line of stdin.",
    )(func)
    return click.option(
        "--password",
        default=None,
        envvar="MLSTIX_TAXII_PASSWORD",
        show_envvar=True,
        hidden=True,  # visible in `ps`: kept for old scripts; prefer the environment or stdin
        help="Password (prompted on a terminal; or env MLSTIX_TAXII_PASSWORD).",
    )(func)


@click.group(invoke_without_command=True)
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65_535), default=None,
              help="Port (default 9000; 0 picks a free one).")  # fmt: skip
@click.option("--db", default=None, metavar="URL", envvar="MLSTIX_TAXII_DB", help=_DB_HELP)
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="TOML settings file.",
)
@click.option(
    "--public-url",
    default=None,
    metavar="URL",
    help="Base URL clients use (e.g. https://taxii.example.org behind a proxy); discovery "
    "links use it. Default: the address the server listens on.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="Server processes sharing the port (default 1).",
)
@click.option(
    "--api-docs/--no-api-docs",
    default=None,
    help="Serve /docs and /openapi.json, without authentication (default: no).",
)
@click.option("--certfile", type=click.Path(exists=True, dir_okay=False), help="TLS certificate.")
@click.option("--keyfile", type=click.Path(exists=True, dir_okay=False), help="TLS private key.")
@click.option(
    "--anonymous-kb/--no-anonymous-kb",
    default=None,
    help="Let anonymous clients read the knowledge-base collection (default: yes).",
)
@click.option(
    "--full-validation/--no-full-validation",
    default=None,
    help="Also run stix2-validator on every posted object (~3 ms each).",
)
@click.option(
    "--access-log/--no-access-log", default=True, help="Log every request (default: yes)."
)
@click.pass_context
def serve(
    ctx: click.Context,
    host: str | None,
    port: int | None,
    db: str | None,
    config_file: Path | None,
    public_url: str | None,
    workers: int | None,
    api_docs: bool | None,
    certfile: str | None,
    keyfile: str | None,
    anonymous_kb: bool | None,
    full_validation: bool | None,
    access_log: bool,
) -> None:
    """Run the TAXII 2.1 server: the knowledge base and a Findings collection.

    Users are created with `mlstix serve adduser`.
    """
    if ctx.invoked_subcommand is not None:
        return
    _need_serve_extra()
    cfg = _config(
        config_file,
        host=host,
        port=port,
        db=db,
        certfile=certfile,
        keyfile=keyfile,
        anonymous_kb_read=anonymous_kb,
        full_validation=full_validation,
        public_url=public_url,
        workers=workers,
        api_docs=api_docs,
    )
    if not cfg.host.strip():  # (uvicorn takes '' as every address, and links read http://:PORT)
        raise UsageError("the host is empty", hint="--host 127.0.0.1, or 0.0.0.0 for every address")
    if bool(cfg.certfile) != bool(cfg.keyfile):
        raise UsageError("TLS needs both --certfile and --keyfile")
    if cfg.certfile and cfg.keyfile:
        _check_tls_pair(cfg.certfile, cfg.keyfile)
    from mlstix.taxii._serve import run

    scheme = "https" if cfg.certfile else "http"
    if scheme == "http" and cfg.host not in ("127.0.0.1", "localhost", "::1"):
        err_console.print(
            "[yellow]warning:[/] serving on a network address without TLS: passwords and API "
            "keys travel in clear (use --certfile/--keyfile, or a TLS proxy in front)"
        )

    def ready(listening: str) -> None:
        # The socket's address: with --port 0, the port the system gave.
        where = cfg.public_url.rstrip("/") if cfg.public_url else listening
        also = f"listening on {listening}, " if cfg.public_url else ""
        processes = f"{cfg.workers} process{'es' * (cfg.workers > 1)}"
        err_console.print(
            f"TAXII 2.1 discovery at {escape(where)}/taxii2/ "
            f"({escape(also)}database {escape(_redact(cfg.db_url))}, {processes})",
            soft_wrap=True,
        )

    run(cfg, access_log=access_log, ready=ready)


def _finite(param: click.Parameter, value: float) -> float:
    if value != value:  # NaN passes every range check
        raise click.BadParameter("not a number", param=param)
    return value


def _redact(url: str) -> str:
    from sqlalchemy import make_url

    return make_url(url).render_as_string(hide_password=True)


@serve.command("adduser")
@click.argument("name")
@_password_options
@click.option("--api-key", is_flag=True, help="Also create an API key and print it once.")
@click.option("--read", "read_", multiple=True, metavar="COLLECTION", help="kb, findings or an id.")
@click.option("--write", multiple=True, metavar="COLLECTION", help="kb is read-only.")
@click.option("--db", default=None, metavar="URL", envvar="MLSTIX_TAXII_DB", help=_DB_HELP)
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="TOML settings file.",
)
def adduser(
    name: str,
    password: str | None,
    password_stdin: bool,
    api_key: bool,
    read_: tuple[str, ...],
    write: tuple[str, ...],
    db: str | None,
    config_file: Path | None,
) -> None:
    """Create or replace user NAME with read and write permissions per collection.

    The password is prompted for on a terminal; otherwise give --password-stdin or set
    MLSTIX_TAXII_PASSWORD.
    """
    _need_serve_extra()
    from mlstix.taxii.auth import hash_secret, new_api_key, save_user
    from mlstix.taxii.config import KB_COLLECTION_ID, resolve_collection
    from mlstix.taxii.store import Store

    if not name or ":" in name or len(name) > 200:
        raise UsageError(f"invalid user name {name!r}: 1-200 characters, no ':'")
    password = _password(password, password_stdin)
    if not password:
        raise UsageError("the password must not be empty")
    cfg = _config(config_file, db=db)
    store = Store(cfg.db_url)
    try:
        from mlstix.taxii.config import FINDINGS_COLLECTION_ID

        known = {KB_COLLECTION_ID, FINDINGS_COLLECTION_ID} | {c.id for c in store.collections()}
        reads = [resolve_collection(c) for c in read_]
        writes = [resolve_collection(c) for c in write]
        for given, cid in zip((*read_, *write), (*reads, *writes), strict=True):
            if cid not in known:
                raise UsageError(
                    f"unknown collection {given!r}", hint="use kb, findings or a collection id"
                )
        if KB_COLLECTION_ID in writes:
            raise UsageError("the knowledge-base collection is read-only: no --write kb")
        key = new_api_key() if api_key else None
        save_user(
            store.engine,
            name,
            password_hash=hash_secret(password),
            api_key=(key[1], key[2]) if key else None,
            read=reads,
            write=writes,
        )
    finally:
        store.close()
    console.print(f"user {escape(name)} saved (read: {len(reads)}, write: {len(writes)})")
    if key:
        console.print(f"API key (shown once, send as 'Authorization: Bearer KEY'): {key[0]}")


@serve.command("hash-password")
@_password_options
def hash_password(password: str | None, password_stdin: bool) -> None:
    """Print the salted hash of a password, for a [users.NAME] table of the config file.

    The password is prompted for on a terminal; otherwise give --password-stdin or set
    MLSTIX_TAXII_PASSWORD.
    """
    from mlstix.taxii.auth import hash_secret

    password = _password(password, password_stdin)
    if not password:
        raise UsageError("the password must not be empty")
    click.echo(hash_secret(password))


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--to", "url", required=True, help="TAXII 2.1 discovery or API root URL.")
@click.option("--collection", required=True, help="Collection id, alias or title.")
@click.option("--user", default=None, help="User for HTTP Basic.")
@click.option(
    "--password",
    default=None,
    envvar="MLSTIX_TAXII_PASSWORD",
    hidden=True,  # visible in `ps`: prefer the environment, stdin or the prompt
    help="Env MLSTIX_TAXII_PASSWORD.",
)
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of stdin (not with FILE '-'); otherwise "
    "MLSTIX_TAXII_PASSWORD, or a prompt on a terminal.",
)
@click.option("--api-key", default=None, envvar="MLSTIX_TAXII_API_KEY", help="Bearer API key.")
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=500, show_default=True,
              help="Objects sent in one envelope (one POST).")  # fmt: skip
@click.option("--timeout", type=click.FloatRange(0, 86_400, min_open=True), default=60.0,
              show_default=True, callback=lambda ctx, param, value: _finite(param, value),
              help="Seconds to wait for the server on each request.")  # fmt: skip
@click.option(
    "--cacert",
    type=click.Path(exists=True, dir_okay=False),
    help="CA certificate (PEM) to trust for an https server, e.g. a self-signed one.",
)
def publish(
    file: str,
    url: str,
    collection: str,
    user: str | None,
    password: str | None,
    password_stdin: bool,
    api_key: str | None,
    batch_size: int,
    timeout: float,
    cacert: str | None,
) -> None:
    """Send the objects of a STIX bundle FILE ('-' for stdin) to a TAXII 2.1 collection.

    Exits 0 when every object was stored, 1 when the server rejected some, 2 when publishing
    could not run.
    """
    from mlstix.taxii.publish import Credentials, PublishError, objects_of, publish_bundle

    if user and api_key:
        raise UsageError("give --user/--password or --api-key, not both")
    _check_url(url)
    if cacert:
        _check_cacert(cacert)
    if password_stdin and file == "-":
        raise UsageError("stdin carries the bundle: give the password in MLSTIX_TAXII_PASSWORD")
    if user and (password is None or password_stdin):
        password = _password(password, password_stdin, confirm=False)
    if file == "-":
        data = sys.stdin.buffer.read()
    else:
        try:
            data = Path(file).read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read {file}: {(exc.strerror or str(exc)).lower()}") from None
    try:
        objects = objects_of(data)
    except PublishError as exc:
        raise UsageError(f"{file}: {exc}", hint="give a STIX 2.1 bundle") from None
    except RecursionError:  # json's decoder recurses once per level
        raise UsageError(
            f"{file}: its JSON is nested too deeply", hint="give a STIX 2.1 bundle"
        ) from None
    auth = Credentials(user=user, password=password, api_key=api_key)
    result = publish_bundle(
        objects,
        url,
        collection,
        auth,
        batch_size=batch_size,
        timeout=timeout,
        verify=cacert or True,
    )
    posts = len(result.status_ids)
    console.print(
        f"published {result.succeeded} of {result.total} object{'s' * (result.total != 1)} to "
        f"{escape(result.collection_url)} ({posts} request{'s' * (posts != 1)})"
    )
    for oid, message in result.failures:
        err_console.print(f"[red]rejected[/] {escape(oid or '(no id)')}: {escape(message)}")
    if not result.ok:
        sys.exit(1)


def _check_tls_pair(certfile: str, keyfile: str) -> None:
    """Load the pair as the server will, before anything is announced (uvicorn's own error
    names neither file)."""
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        # an encrypted key would prompt on the terminal: refuse it instead
        context.load_cert_chain(certfile, keyfile, password=lambda: b"")
    except ssl.SSLError as exc:
        raise UsageError(
            f"cannot use --certfile {certfile} with --keyfile {keyfile}: "
            f"{exc.reason or 'not a PEM certificate and its private key'}",
            hint="give a PEM certificate and its unencrypted PEM private key",
        ) from None
    except OSError as exc:
        raise UsageError(f"cannot read the TLS certificate or key: {exc.strerror}") from None


def _check_url(url: str) -> None:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises on a port that is not a number
    except ValueError as exc:
        raise UsageError(f"--to {url!r} is not a URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"--to {url!r} is not an http(s) URL",
            hint="give the server's discovery URL, e.g. https://taxii.example.com/taxii2/",
        )


def _check_cacert(cacert: str) -> None:
    import ssl

    try:
        ssl.create_default_context(cafile=cacert)
    except (ssl.SSLError, ValueError) as exc:
        raise UsageError(
            f"--cacert {cacert}: not a PEM CA certificate ({getattr(exc, 'reason', None) or exc})"
        ) from None
    except OSError as exc:
        raise UsageError(f"--cacert {cacert}: {exc.strerror}") from None
