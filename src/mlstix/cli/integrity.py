"""``mlstix sign``, ``mlstix verify`` and ``mlstix bom``: model signing and the ML-BOM.

Thin: options are parsed here and handed to :mod:`mlstix.integrity`. ``verify`` exits 0 when the
model is verified, 1 when it is not (tampered, untrusted, unreadable signature), 2 on bad
arguments; ``sign`` and ``bom`` exit 0 or 2. Sigstore keyless signing needs the network.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.markup import escape

from mlstix.cli._console import console, err_console, utf8
from mlstix.cli._params import AliasedOption, ExistingPath, utf8_names
from mlstix.cli._remote import ModelLocation, local_model
from mlstix.cli._report import output_option, wrote
from mlstix.errors import UsageError

__all__ = ["bom", "sign", "verify"]

_SIZE = re.compile(r"^\s*(\d+)\s*([kmgt]i?)?b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
_UNITS |= {"ki": 1 << 10, "mi": 1 << 20, "gi": 1 << 30, "ti": 1 << 40}


class _Size(click.ParamType[int, Any]):
    """A byte count: ``1000000``, ``500M``, ``1G`` (decimal) or ``64Mi``, ``1Gi`` (binary)."""

    name = "SIZE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        match = _SIZE.match(str(value))
        if not match:
            self.fail(f"{value!r} is not a size (e.g. 1000000, 500M, 1G, 64Mi)", param, ctx)
        size = int(match.group(1)) * _UNITS[(match.group(2) or "").lower()]
        if size <= 0:
            self.fail("must be greater than 0", param, ctx)
        return size


F = TypeVar("F", bound=Callable[..., Any])

_PATH = click.Path(path_type=Path)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' * (count != 1)}"


def _check_signature_path(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value is not None:
        from mlstix._io import check_output_path

        check_output_path(value)
    return value


_EXISTING = ExistingPath(dir_okay=False)


def _jobs_option() -> Callable[[F], F]:
    return click.option(
        "--jobs",
        "-j",
        "--workers",
        "workers",
        cls=AliasedOption,
        hidden_aliases=("--workers",),
        type=click.IntRange(min=0),
        default=0,
        show_default="cores + 4",
        callback=lambda ctx, param, value: value or None,  # 0: the default, as in `scan -j 0`
        help="Files (or shards) hashed in parallel (0: the default, cores + 4).",
    )


def _exclude_option(help_text: str) -> Callable[[F], F]:
    return click.option(
        "--exclude",
        "--ignore-path",
        "ignore_paths",
        cls=AliasedOption,
        hidden_aliases=("--ignore-path",),
        multiple=True,
        metavar="PATH",
        help=help_text,
    )


def _hash_options(func: Any) -> Any:
    options = [
        click.option(
            "--hash-algorithm",
            type=click.Choice(["sha256", "blake2b", "blake3"], case_sensitive=False),
            default="sha256",
            show_default=True,
            help="Digest of every file (or shard). blake3 hashes each file on all cores.",
        ),
        click.option(
            "--shard-size",
            type=_Size(),
            default=None,
            help="Hash fixed-size shards of every file in parallel (e.g. 1G); default: whole "
            "files. Not with blake3, which is parallel already.",
        ),
        _jobs_option(),
        click.option(
            "--chunk-size",
            type=_Size(),
            default="1Mi",
            show_default=True,
            help="Read size per call while hashing.",
        ),
        _exclude_option(
            "A file or folder of the model to leave out (relative to the model; repeat)."
        ),
        click.option(
            "--ignore-git-paths/--no-ignore-git-paths",
            default=True,
            show_default=True,
            help="Leave out .git, .gitattributes, .github and .gitignore.",
        ),
        click.option("--allow-symlinks", is_flag=True, help="Follow symbolic links in the model."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.command()
@click.argument("model_path", type=ExistingPath())
@click.option(
    "--signature",
    type=_PATH,
    default=None,
    callback=_check_signature_path,
    help="Where to write the signature [default: MODEL/model.sig, or FILE.sig for one file].",
)
@click.option("--private-key", type=_EXISTING, help="PEM elliptic-curve private key to sign with.")
@click.option(
    "--password",
    default=None,
    envvar="MLSTIX_KEY_PASSWORD",
    help="Password of an encrypted private key (or set MLSTIX_KEY_PASSWORD).",
)
@click.option(
    "--signing-certificate",
    type=_EXISTING,
    help="Certificate of --private-key: sign with the certificate method.",
)
@click.option(
    "--certificate-chain",
    type=_EXISTING,
    multiple=True,
    help="Intermediate (or root) certificates (PEM) to embed; needed with "
    "--signing-certificate (repeat).",
)
@click.option("--sigstore", is_flag=True, help="Sigstore keyless signing (needs the network).")
@click.option("--identity-token", default=None, help="Sigstore: an OIDC token to sign with.")
@click.option("--oidc-issuer", default=None, help="Sigstore: the OIDC issuer to get a token from.")
@click.option(
    "--trust-config", type=_EXISTING, help="Sigstore: a ClientTrustConfig JSON (private instance)."
)
@click.option("--use-staging", is_flag=True, help="Sigstore: use the staging instance.")
@_hash_options
def sign(
    model_path: Path,
    signature: Path | None,
    private_key: Path | None,
    password: str | None,
    signing_certificate: Path | None,
    certificate_chain: tuple[Path, ...],
    sigstore: bool,
    identity_token: str | None,
    oidc_issuer: str | None,
    trust_config: Path | None,
    use_staging: bool,
    **hashing: Any,
) -> None:
    """Sign MODEL_PATH (a folder or a file) in the OpenSSF model-signing format.

    Choose one method: --private-key (key), --private-key with --signing-certificate
    (certificate chain), or --sigstore (keyless, needs the network). The signature is a
    Sigstore bundle that `model_signing verify` also reads (with the default sha256, unsharded
    settings, which are the only ones its command line offers).
    """
    from mlstix.integrity.sign import (
        CertificateSigner,
        KeySigner,
        Signer,
        SigstoreSigner,
        sign_model,
    )

    if sigstore and private_key:
        raise UsageError("choose one signing method: --private-key or --sigstore, not both")
    if not sigstore and private_key is None:
        raise UsageError(
            "no signing method given",
            hint="pass --private-key KEY (with --signing-certificate CERT for the certificate "
            "method) or --sigstore",
        )
    if signing_certificate is None and certificate_chain:
        raise UsageError("--certificate-chain needs --signing-certificate")
    if not sigstore and (identity_token or oidc_issuer or trust_config or use_staging):
        raise UsageError(
            "--identity-token, --oidc-issuer, --trust-config and --use-staging apply to --sigstore"
        )
    method: Signer
    if private_key is not None and signing_certificate is not None:
        method = CertificateSigner(private_key, signing_certificate, certificate_chain)
    elif private_key is not None:
        method = KeySigner(private_key, password)
    else:
        method = SigstoreSigner(
            identity_token=identity_token,
            oidc_issuer=oidc_issuer,
            trust_config=trust_config,
            use_staging=use_staging,
        )
    utf8_names(model_path)
    result = sign_model(model_path, method, signature_path=signature, options=_options(**hashing))
    console.print(
        f"signed {_plural(result.files, 'file')} of {escape(utf8(str(model_path)))} "
        f"({result.method}); signature: {escape(utf8(str(result.signature_path)))}"
    )


def _options(**hashing: Any) -> Any:
    from mlstix.integrity.hashing import HashOptions

    algorithm = hashing["hash_algorithm"]
    if algorithm == "blake3" and hashing["shard_size"] is not None:
        raise UsageError(
            "--shard-size does not apply to blake3, which hashes each file on all cores",
            hint="drop --shard-size, or choose sha256 or blake2b",
        )
    return HashOptions(
        algorithm=algorithm,
        shard_size=hashing["shard_size"],
        workers=hashing["workers"],
        chunk_size=hashing["chunk_size"],
        ignore_paths=tuple(hashing["ignore_paths"]),
        ignore_git_paths=hashing["ignore_git_paths"],
        allow_symlinks=hashing["allow_symlinks"],
    )


@click.command()
@click.argument("model_path", type=ModelLocation())
@click.option(
    "--signature",
    type=_EXISTING,
    default=None,
    help="The signature to check [default: MODEL/model.sig, MODEL.sig, or FILE.sig].",
)
@click.option("--public-key", type=_EXISTING, help="Trust signatures of this PEM public key.")
@click.option(
    "--certificate-chain",
    type=_EXISTING,
    multiple=True,
    help="Trust signing certificates chaining to these PEM certificates (repeat).",
)
@click.option(
    "--sigstore",
    is_flag=True,
    help="Sigstore keyless signature (implied by --identity/--identity-provider).",
)
@click.option("--identity", default=None, help="Sigstore: the signer's expected identity.")
@click.option(
    "--identity-provider", default=None, help="Sigstore: the identity's expected OIDC issuer."
)
@click.option(
    "--trust-config",
    type=_EXISTING,
    help="Sigstore: a ClientTrustConfig JSON, to verify offline or against a private instance.",
)
@click.option(
    "--policy", type=_EXISTING, help="A YAML policy: which signers are trusted for which models."
)
@_exclude_option("Leave a file or folder of the model out of the comparison (repeat).")
@_jobs_option()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"], case_sensitive=False),
    default="text",
    show_default=True,
    help="json prints the result for machines.",
)
def verify(
    model_path: Path | str,
    signature: Path | None,
    public_key: Path | None,
    certificate_chain: tuple[Path, ...],
    sigstore: bool,
    identity: str | None,
    identity_provider: str | None,
    trust_config: Path | None,
    policy: Path | None,
    ignore_paths: tuple[str, ...],
    workers: int | None,
    fmt: str,
) -> None:
    """Verify MODEL_PATH against its signature; name every changed, added and missing file.

    Trust one of: --public-key, --certificate-chain, --identity with --identity-provider
    (Sigstore; offline with --trust-config, otherwise the public-good trust root is fetched),
    or --policy. The hash algorithm and sharding are read from the signature.
    Exit 0 verified, 1 not verified, 2 bad arguments.
    """
    from mlstix.integrity.errors import SignatureError
    from mlstix.integrity.verify import check_signature

    if sigstore and not (identity and identity_provider):
        raise UsageError(
            "--sigstore verification needs --identity and --identity-provider",
            hint="e.g. --identity release@example.com --identity-provider "
            "https://accounts.google.com",
        )
    if not any((public_key, certificate_chain, identity, identity_provider, policy)):
        raise UsageError(
            "nothing to trust: give --public-key, --certificate-chain, "
            "--identity with --identity-provider, or --policy"
        )
    with local_model(model_path) as local:  # s3://, gs://, az://, hf://: a temporary copy
        utf8_names(local)
        result = check_signature(
            local,
            signature,
            public_key=public_key,
            certificate_chain=certificate_chain,
            identity=identity,
            identity_provider=identity_provider,
            trust_config=trust_config,
            policy=_load_policy(policy) if policy else None,
            ignore_paths=ignore_paths,
            workers=workers,
        )
    if fmt == "json":
        click.echo(json.dumps(result.as_dict(), indent=2))
    else:
        for label, names in (
            ("changed", result.changed),
            ("added", result.added),
            ("missing", result.missing),
        ):
            for name in names:
                console.print(f"{label:>8}  {escape(utf8(name))}")
        if result.verified:
            console.print(f"[green]ok:[/] {escape(utf8(result.message))}")
    if not result.verified:
        raise SignatureError(f"verification failed: {result.message}")


def _load_policy(path: Path) -> Any:
    from mlstix.integrity.policy import load_policy  # YAML and pydantic: only when asked

    return load_policy(path)


@click.command()
@click.argument("model_path", type=ModelLocation())
@output_option("Write the BOM to FILE ('-' for stdout, the default).")
@click.option(
    "--signature",
    type=_EXISTING,
    default=None,
    help="The model's signature to reference [default: the one found beside the model].",
)
def bom(model_path: Path | str, output: str, signature: Path | None) -> None:
    """Write a CycloneDX 1.6 JSON ML-BOM of MODEL_PATH: every file's hash, the model card,
    the frameworks it declares and its signature; validated against the CycloneDX schema."""
    from mlstix._io import write_output
    from mlstix.integrity.bom import build_bom

    exclude = () if output == "-" else (Path(output),)
    with local_model(model_path) as local:  # s3://, gs://, az://, hf://: a temporary copy
        utf8_names(local, "describe")
        document = build_bom(local, signature_path=signature, exclude=exclude)
    for warning in document.warnings:
        err_console.print(f"[yellow]warning:[/] {escape(warning)}")
    write_output(output, document.text)
    signed = f", signature {document.signature}" if document.signature else ", no signature"
    wrote(output, f": {_plural(document.files, 'file')}{signed}")
