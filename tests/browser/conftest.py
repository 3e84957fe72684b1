"""Headless Chromium (Debian's package) driven by Playwright against a live server.

Browser tests skip when /usr/bin/chromium is missing, unless CONCORD_REQUIRE_BROWSER=1 (CI), where
its absence fails them. Playwright never downloads a browser of its own here.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.support.databases import fresh_database
from tests.support.live_server import LiveServer, live_server

CHROMIUM = os.environ.get("CONCORD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test under tests/browser `browser` (a conftest's `pytestmark` marks nothing)."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        message = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CONCORD_REQUIRE_BROWSER") == "1":
            pytest.fail(message + " (CONCORD_REQUIRE_BROWSER=1)")
        pytest.skip(message)
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def browser_engine(tmp_path: Path) -> Iterator[Engine]:
    """A fresh SQLite database for the live server (browser tests run on the embedded default)."""
    with fresh_database("sqlite", tmp_path) as engine:
        yield engine


@pytest.fixture
def server(browser_engine: Engine, tmp_path: Path) -> Iterator[LiveServer]:
    with live_server(browser_engine, tmp_path / "data") as running:
        yield running


@pytest.fixture
def page(browser: object, server: LiveServer, tmp_path: Path) -> Iterator[object]:
    context = browser.new_context(base_url=server.base_url, viewport={"width": 1400, "height": 900})  # type: ignore[attr-defined]
    context.set_default_timeout(10_000)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    # JavaScript errors fail the test; a 4xx answer the test provoked is only logged by Chromium.
    opened.on("console", lambda msg: errors.append(msg.text)
              if msg.type == "error" and not msg.text.startswith("Failed to load resource") else None)
    yield opened
    context.close()
    assert not errors, f"the page logged errors: {errors}"


def login(page: object, email: str, password: str) -> None:
    page.goto("/login")  # type: ignore[attr-defined]
    page.fill("input[name=email]", email)  # type: ignore[attr-defined]
    page.fill("input[name=password]", password)  # type: ignore[attr-defined]
    page.press("input[name=password]", "Enter")  # type: ignore[attr-defined]
    page.wait_for_url(lambda url: "/login" not in url)  # type: ignore[attr-defined]
