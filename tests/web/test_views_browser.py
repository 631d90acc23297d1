"""The car, map and feed pages in Debian's chromium while the simulator plays a race.

Uses the shared live stack of conftest.py (simulator -> 2 real clients -> `python -m server`).
Every test also fails on htmx errors in the console: a fragment htmx could not place (say a
`<tbody>` that does not parse outside a table) is an `htmx:oobErrorNoTarget`, not an exception.
Screenshots go to tests/artifacts/web/.
"""

from __future__ import annotations

import time
from urllib.parse import quote

import pytest
from conftest import XSS_NAME, LiveStack, wait_for

pytestmark = pytest.mark.timeout(120)


def open_view(browser, live: LiveStack, path: str, width: int = 1280, height: int = 900):
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(15_000)
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"error: {exc}"))
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    page.on(
        "console",
        lambda m: m.type == "error" and problems.append(f"console: {m.text}"),
    )
    response = page.goto(f"{live.url}/sessions/{live.session_id}{path}")
    assert response is not None and response.status == 200, path
    page.wait_for_selector("#conn.conn-live", state="attached")
    return context, page, problems


def test_map_dots_move_without_reload_and_the_followed_car_stays_marked(
    live: LiveStack, browser, artifacts
):
    key = live.xss_car_key()
    context, page, problems = open_view(browser, live, f"/map?car={quote(key)}")
    try:
        dot = f'#map-cars .car-dot[data-car="{key}"]'
        first = page.get_attribute(dot, "transform")
        moved = wait_for(
            lambda: page.get_attribute(dot, "transform") != first, 5, "the followed dot to move"
        )
        assert moved
        assert "sel" in (page.get_attribute(dot, "class") or "")  # re-marked after each swap
        info = page.inner_text("#map-info")
        assert XSS_NAME in info and page.locator("#map-info img").count() == 0
        assert page.locator("#map-track path.track-line").count() == 1
        page.screenshot(path=str(artifacts / "map-follow.png"))
        # clicking another dot follows it without a reload
        other_key = page.locator("#map-cars .car-dot:not(.sel)").first.get_attribute("data-car")
        other = page.locator(f'#map-cars .car-dot[data-car="{other_key}"]')
        other.dispatch_event("click")
        assert "sel" in (other.get_attribute("class") or "")
        assert "sel" not in (page.get_attribute(dot, "class") or "")
        assert page.evaluate("new URL(location.href).searchParams.get('car')") == other_key
        time.sleep(1.0)  # the next swaps keep the new choice
        assert "sel" in (other.get_attribute("class") or "")
        assert problems == []
    finally:
        context.close()


def test_car_page_appends_laps_live(live: LiveStack, browser, artifacts):
    key = live.xss_car_key()
    context, page, problems = open_view(browser, live, f"/cars/{quote(key)}")
    try:
        rows = "#car-laps tbody tr:not(.lap-missing)"
        before = page.locator(rows).count()
        wait_for(lambda: page.locator(rows).count() > before, 30, "a new lap row")
        assert XSS_NAME in page.inner_text("#car-laps")
        assert page.locator("#car-laps img").count() == 0
        assert page.locator("#car-summary").count() == 1
        page.screenshot(path=str(artifacts / "car-view.png"), full_page=True)
        assert problems == []
    finally:
        context.close()


def test_feed_filter_holds_across_live_updates_and_phone_pages_fit(
    live: LiveStack, browser, artifacts
):
    key = live.xss_car_key()
    context, page, problems = open_view(browser, live, f"/feed?car={quote(key)}")
    try:
        time.sleep(2.5)  # a few live updates of the unfiltered list
        shown = page.eval_on_selector_all(
            "#feed-list .fi",
            "els => els.filter(e => e.offsetParent !== null).map(e => e.dataset.car)",
        )
        assert shown and set(shown) <= {key, ""}, set(shown)
        assert problems == []
    finally:
        context.close()
    for path in (f"/cars/{quote(key)}", "/map", "/feed", "/entries"):
        context, page, problems = open_view(browser, live, path, width=390, height=844)
        try:
            width = page.evaluate("document.documentElement.scrollWidth")
            name = path.strip("/").split("/")[0]
            page.screenshot(path=str(artifacts / f"phone-{name}.png"))
            assert width <= 390, f"{path} overflows a 390 px phone ({width} px)"
            assert problems == []
        finally:
            context.close()
