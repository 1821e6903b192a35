"""A real browser for the explorer and report tests: Debian's Chromium driven by Playwright.

Chromium comes from ``MLSTIX_TEST_CHROMIUM`` (CI's ``.ci/run`` sets it), else /usr/bin/chromium;
without either the browser tests skip. Playwright never downloads a browser here: it is given the
executable. Every page runs offline: any request that is not ``file://`` is aborted and recorded,
and console errors, warnings and uncaught exceptions are recorded too; tests assert both are empty.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium() -> str | None:
    exe = os.environ.get("MLSTIX_TEST_CHROMIUM")
    if exe:
        return exe  # set but wrong must fail, not skip
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    exe = _chromium()
    if exe is None:
        pytest.skip("no Chromium: set MLSTIX_TEST_CHROMIUM or install chromium")
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Watched:
    page: Any
    problems: list[str] = field(default_factory=list)
    network: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        assert self.network == [], f"pages tried the network: {self.network}"
        assert self.problems == [], f"console errors: {self.problems}"


@pytest.fixture
def watched(browser: Any) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    w = Watched(page)

    def route(route: Any) -> None:
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            w.network.append(route.request.url)
            route.abort()

    context.route("**/*", route)
    page.on(
        "console",
        lambda m: (
            w.problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None
        ),
    )
    page.on("pageerror", lambda exc: w.problems.append(f"pageerror: {exc}"))
    yield w
    context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
