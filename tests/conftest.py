"""Shared fixtures: the repository root and the loaded knowledge base."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlstix.kb.graph import KnowledgeBase
from mlstix.kb.load import load_kb

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def kb() -> KnowledgeBase:
    return load_kb()
