"""Fixtures for the integrity tests; everything is generated here, nothing is downloaded."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from integrity_helpers import KeyPair, Pki, make_model, write_key, write_pki

from mlstix.cli.main import cli


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return make_model(tmp_path)


@pytest.fixture
def keys(tmp_path: Path) -> KeyPair:
    return write_key(tmp_path, "signer")


@pytest.fixture
def other_keys(tmp_path: Path) -> KeyPair:
    return write_key(tmp_path, "stranger")


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return write_pki(tmp_path / "pki")


@pytest.fixture
def run() -> Callable[..., Result]:
    runner = CliRunner()

    def invoke(*args: object) -> Result:
        return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)

    return invoke
