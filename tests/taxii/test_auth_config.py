"""Secrets are stored only as salted scrypt hashes; the configuration file is checked and its
users can log in; cursors and timestamps round-trip."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from sqlalchemy import select

from mlstix.errors import UsageError
from mlstix.taxii._query import QueryError, decode_cursor, encode_cursor
from mlstix.taxii._schema import users
from mlstix.taxii._time import format_us, parse_timestamp
from mlstix.taxii.auth import Authenticator, hash_secret, new_api_key, save_user, verify_secret
from mlstix.taxii.config import FINDINGS_COLLECTION_ID, KB_COLLECTION_ID, load_config
from mlstix.taxii.store import Store


def test_hash_is_salted_and_verifies() -> None:
    one, two = hash_secret("correct horse"), hash_secret("correct horse")
    assert one != two and "correct horse" not in one
    assert one.startswith("scrypt$")
    assert verify_secret("correct horse", one) and verify_secret("correct horse", two)
    assert not verify_secret("wrong horse", one)
    assert not verify_secret("correct horse", "scrypt$garbage")
    assert not verify_secret("correct horse", "md5$abc")


def test_database_holds_no_clear_secret(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    key, key_id, key_hash = new_api_key()
    save_user(
        store.engine,
        "alice",
        password_hash=hash_secret("pa55word"),
        api_key=(key_id, key_hash),
        read=[KB_COLLECTION_ID],
        write=[FINDINGS_COLLECTION_ID],
    )
    with store.engine.connect() as conn:
        row = conn.execute(select(users)).one()
    secret = key.split(".")[2]
    assert "pa55word" not in repr(tuple(row)) and secret not in repr(tuple(row))
    raw = (tmp_path / "db.sqlite3").read_bytes()
    assert b"pa55word" not in raw and secret.encode() not in raw
    auth = Authenticator(store.engine, anonymous_read=[KB_COLLECTION_ID])
    basic = "Basic " + base64.b64encode(b"alice:pa55word").decode()
    who = auth.authenticate(basic)
    assert who is not None and who.name == "alice"
    assert who.can_write(FINDINGS_COLLECTION_ID) and who.can_read(FINDINGS_COLLECTION_ID)
    assert not who.can_write(KB_COLLECTION_ID)
    assert auth.authenticate(f"Bearer {key}") == who
    assert auth.authenticate("Basic " + base64.b64encode(b"alice:nope").decode()) is None
    assert auth.authenticate("Basic !!!") is None
    assert auth.authenticate("Digest abc") is None
    assert auth.authenticate(None) == auth.anonymous
    # Replacing the user drops the old grants.
    save_user(
        store.engine, "alice", password_hash=hash_secret("new"), api_key=None, read=[], write=[]
    )
    fresh = Authenticator(store.engine, anonymous_read=[])
    who = fresh.authenticate("Basic " + base64.b64encode(b"alice:new").decode())
    assert who is not None and not who.can_read(FINDINGS_COLLECTION_ID)
    assert fresh.authenticate(f"Bearer {key}") is None
    store.close()


def test_config_file(tmp_path: Path) -> None:
    path = tmp_path / "taxii.toml"
    password_hash = hash_secret("from-config")
    path.write_text(
        'db = "postgresql://taxii@db/taxii"\nport = 9443\nanonymous_kb_read = false\n'
        f'[users.scanner]\npassword_hash = "{password_hash}"\nwrite = ["findings"]\n'
    )
    cfg = load_config(path)
    assert cfg.port == 9443 and cfg.anonymous_kb_read is False
    assert cfg.db_url == "postgresql+psycopg://taxii@db/taxii"
    assert cfg.users[0].write == (FINDINGS_COLLECTION_ID,)
    assert cfg.with_overrides(port=1, host=None).port == 1


def test_config_users_can_log_in(tmp_path: Path) -> None:
    from mlstix.taxii.auth import save_config_users
    from mlstix.taxii.config import ConfigUser

    store = Store(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    save_config_users(
        store.engine,
        [ConfigUser("scanner", password_hash=hash_secret("s"), write=(FINDINGS_COLLECTION_ID,))],
    )
    who = Authenticator(store.engine, []).authenticate(
        "Basic " + base64.b64encode(b"scanner:s").decode()
    )
    assert who is not None and who.can_write(FINDINGS_COLLECTION_ID)
    store.close()


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("port = 'nine'\n", "port must be an integer"),
        ("anonymous_kb_read = 1\n", "must be true or false"),
        ("colour = 'blue'\n", "unknown setting 'colour'"),
        ("port = \n", "not valid TOML"),
        ("[users.x]\nread = 'kb'\n", "users.x.read must be a list"),
        ("[users.x]\npassword = 'clear'\n", "unknown keys ['password']"),
        ("[users.x]\nwrite = ['findings']\n", "users.x.password_hash must be a string"),
    ],
)
def test_bad_config_names_the_problem(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(UsageError) as err:
        load_config(path)
    assert needle in str(err.value) and str(path) in str(err.value)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read the configuration"):
        load_config(tmp_path / "absent.toml")


def test_unsupported_database_url() -> None:
    from mlstix.taxii.config import ServerConfig

    with pytest.raises(UsageError, match="unsupported database URL"):
        _ = ServerConfig(db="mysql://x/y").db_url


def test_timestamps_and_cursor_round_trip() -> None:
    assert parse_timestamp("1970-01-01T00:00:01.5Z") == 1_500_000
    assert parse_timestamp("2026-02-01T00:00:00.123456789Z") == parse_timestamp(
        "2026-02-01T00:00:00.123456Z"
    )
    assert format_us(parse_timestamp("2026-02-01T10:20:30.000042Z")) == (
        "2026-02-01T10:20:30.000042Z"
    )
    for bad in ("2026-02-30T00:00:00Z", "2026-02-01 00:00:00Z", "2026-02-01T00:00:00+01:00"):
        with pytest.raises(ValueError):
            parse_timestamp(bad)
    key = (1_795_000_000_000_001, "indicator--00000000-0000-4000-8000-000000000001")
    assert decode_cursor(encode_cursor(key)) == key
    with pytest.raises(QueryError):
        decode_cursor(base64.urlsafe_b64encode(b'[2, 1, "x"]').decode())


def test_hash_password_command_feeds_the_config(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from mlstix.cli.main import cli
    from mlstix.taxii.app import create_app

    out = CliRunner().invoke(cli, ["serve", "hash-password", "--password-stdin"], input="s3cret\n")
    assert out.exit_code == 0, out.output
    hashed = out.output.strip().splitlines()[-1]
    assert hashed.startswith("scrypt$") and "s3cret" not in hashed
    config = tmp_path / "taxii.toml"
    config.write_text(
        f'db = "sqlite:///{tmp_path / "db.sqlite3"}"\nload_kb = false\n'
        f'[users.ci]\npassword_hash = "{hashed}"\nwrite = ["findings"]\n'
    )
    app = create_app(load_config(config))
    who = app.state.server.auth.authenticate("Basic " + base64.b64encode(b"ci:s3cret").decode())
    assert who is not None and who.can_write(FINDINGS_COLLECTION_ID)
    app.state.server.store.close()
