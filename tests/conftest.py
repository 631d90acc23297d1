"""Fixtures shared by every suite."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = (REPO / ".." / "shared").resolve()
RECORDED_DB = SHARED / "data" / "recorded-sessions.db"
CAPTURES = SHARED / "reference" / "lmu-captures"

# The browser tests drive Debian's chromium; playwright never downloads one.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # A response fulfilled by Playwright's router (the CSP test adds a header that way) loses
    # its loopback address space, and Chromium's local network access check then blocks the
    # page's websocket to 127.0.0.1; a page loaded straight from the server is not affected.
    "--disable-features=LocalNetworkAccessChecks",
]
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture
def recorded_db() -> Path:
    """The real recorded-sessions database beside the repo (reference data, never copied)."""
    if not RECORDED_DB.exists():
        pytest.skip(f"reference data absent: {RECORDED_DB} (../shared is not beside the repo)")
    return RECORDED_DB


@pytest.fixture
def captures() -> Path:
    """Real captured LMU responses beside the repo (reference data, never copied)."""
    if not CAPTURES.exists():
        pytest.skip(f"reference captures absent: {CAPTURES} (../shared is not beside the repo)")
    return CAPTURES


def _no_browser(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: browser tests must run, not skip)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless chromium (Debian's) per test module.

    Module scope on purpose: sync Playwright runs an event loop in the main thread while it is
    open, and later modules' `asyncio.run` would fail inside it."""
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _no_browser("the playwright package is not installed (pip install -e '.[dev]')")
    if not CHROMIUM.exists():
        _no_browser(f"{CHROMIUM} is absent (apt-get install chromium)")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
