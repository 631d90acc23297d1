"""The dashboard in a real browser (Debian's chromium) while the simulator plays a race.

One live stack (simulator -> 2 real clients -> `python -m server`) serves every test here;
the restart test runs last because it kills the server. Screenshots go to tests/artifacts/web/.
"""

from __future__ import annotations

import contextlib
import math
import time
from html.parser import HTMLParser

import httpx
import pytest
from conftest import XSS_NAME, LiveStack, slug, wait_for

from web import format as fmt

try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
except ImportError:  # the `browser` fixture skips (or fails in CI) with the reason
    PlaywrightTimeout = TimeoutError

pytestmark = pytest.mark.timeout(120)

ROWS = "#standings-body [id^='car-']"
GAP_FIELDS = ("gap", "interval", "class_gap", "class_interval")
CSP = "default-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'"


class InlineCode(HTMLParser):
    """Markup a strict CSP refuses: inline scripts, <style>, style="", on*="", hx-on."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if (tag == "script" and "src" not in names) or tag == "style":
            self.found.append(f"<{tag}>")
        for name in names:
            if name == "style" or name.startswith(("on", "hx-on")):
                self.found.append(f"<{tag} {name}=...>")


def inline_code(html: str) -> list[str]:
    parser = InlineCode()
    parser.feed(html)
    return parser.found


class PageWatch:
    """What a page did behind our back: JS errors, dialogs, navigations."""

    def __init__(self, page) -> None:
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.navigations: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("dialog", self._dialog)
        page.on(
            "framenavigated",
            lambda frame: frame == page.main_frame and self.navigations.append(frame.url),
        )

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()


def open_page(browser, **options):
    context = browser.new_context(**{"viewport": {"width": 1280, "height": 900}, **options})
    page = context.new_page()
    page.set_default_timeout(15_000)
    return context, page, PageWatch(page)


@pytest.fixture
def desktop(browser):
    context, page, watch = open_page(browser)
    page.watch = watch
    try:
        yield page
    finally:
        context.close()


def open_session(page, live: LiveStack, suffix: str = "") -> str:
    """Go to the race's page (or a sub-page) and wait until its live content is there."""
    url = f"{live.url}/sessions/{live.session_id}{suffix}"
    response = page.goto(url)
    status = response.status if response is not None else None
    assert status == 200, f"{url}: HTTP {status}; server log:\n{live.server.tail(2000)}"
    return url


def wait_live(page, timeout: float = 15_000) -> None:
    """The connection indicator says the page's websocket is open."""
    try:
        page.wait_for_selector("#conn.conn-live", state="attached", timeout=timeout)
    except PlaywrightTimeout:
        conn = (
            page.eval_on_selector("#conn", "e => e.outerHTML")
            if page.query_selector("#conn")
            else "no #conn element"
        )
        raise AssertionError(f"{page.url}: the page never went live: {conn}") from None


def row_texts(page) -> dict[str, str]:
    return page.eval_on_selector_all(
        ROWS, "rows => Object.fromEntries(rows.map(r => [r.id, r.innerText]))"
    )


def wait_rows_change(page, before: dict[str, str], timeout: float) -> dict[str, str]:
    """Poll the DOM (no reload) until some standings row's text differs from `before`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = row_texts(page)
        if now and any(now.get(k) != v for k, v in before.items()):
            return now
        page.wait_for_timeout(250)
    raise AssertionError(f"no standings row changed within {timeout:.0f} s")


def live_pages(live: LiveStack, car_key: str) -> dict[str, str]:
    """Every live page of the race: name -> path."""
    base = f"/sessions/{live.session_id}"
    return {
        "sessions": "/",
        "session": base,
        "car": f"{base}/cars/{car_key}",
        "map": f"{base}/map",
        "feed": f"{base}/feed",
        "entries": f"{base}/entries",
    }


# --- tests --------------------------------------------------------------------------------------


def test_status_page_lists_the_feeding_clients_and_the_race(live: LiveStack, desktop):
    desktop.goto(f"{live.url}/status")
    text = desktop.locator("body").inner_text()
    assert "member 0" in text and "member 1" in text
    assert live.session_id[:8] in text


def test_standings_rows_change_without_a_reload(live: LiveStack, desktop):
    open_session(desktop, live)
    desktop.wait_for_selector(ROWS)
    wait_live(desktop)
    desktop.evaluate("window.__sameDocument = 42")
    navigations = len(desktop.watch.navigations)
    before = row_texts(desktop)
    assert len(before) == 14, f"expected 14 standings rows, got {len(before)}"
    after = wait_rows_change(desktop, before, timeout=15)
    changed = [k for k, v in before.items() if after.get(k) != v]
    assert changed
    assert desktop.evaluate("window.__sameDocument") == 42, "the page was reloaded"
    assert len(desktop.watch.navigations) == navigations, desktop.watch.navigations
    assert desktop.watch.errors == []


def test_html_in_a_driver_name_shows_as_text_on_every_page(live: LiveStack, desktop):
    key = live.xss_car_key()
    row = f"#car-{slug(key)}"
    open_session(desktop, live)
    desktop.wait_for_selector(row)
    wait_live(desktop)
    before = row_texts(desktop)
    wait_rows_change(desktop, before, timeout=15)  # live swaps are an injection path too
    assert XSS_NAME in desktop.locator(row).inner_text()
    for name, path in live_pages(live, key).items():
        desktop.goto(f"{live.url}{path}")
        wait_live(desktop)
        desktop.wait_for_timeout(700)
        if name in ("session", "car", "entries"):  # the pages that name every driver
            text = desktop.locator("body").inner_text()
            assert XSS_NAME in text, f"{path}: the driver's name is not shown as text"
        assert desktop.locator("img[src='x']").count() == 0, f"{path}: an <img> was injected"
    assert desktop.watch.dialogs == [], f"a dialog fired: {desktop.watch.dialogs}"
    assert desktop.watch.errors == []


def expected_race_gaps(standings: list[dict], track_length: float) -> dict[str, dict]:
    """The oracle: gaps and intervals (overall and in class) of a live race, from the game's
    own standings: time = difference of timeBehindLeader; laps = whole laps of distance
    between the two cars (lapsCompleted x track length + lapDistance)."""
    order = sorted(standings, key=lambda r: r["position"])

    def between(car: dict, ahead: dict | None) -> dict:
        if ahead is None or ahead is car:
            return {"laps": 0, "time": None}
        covered = (ahead["lapsCompleted"] - car["lapsCompleted"]) * track_length + (
            ahead["lapDistance"] - car["lapDistance"]
        )
        return {
            "laps": max(0, math.floor(covered / track_length)),
            "time": max(0.0, car["timeBehindLeader"] - ahead["timeBehindLeader"]),
        }

    out: dict[str, dict] = {}
    leaders: dict[str, dict] = {}
    previous: dict[str, dict] = {}
    for k, car in enumerate(order):
        cls = car["carClass"]
        out[f"{car['slotID']}-{car['vehicleFilename']}"] = {
            "gap": between(car, order[0]),
            "interval": between(car, order[k - 1] if k else None),
            "class_gap": between(car, leaders.setdefault(cls, car)),
            "class_interval": between(car, previous.get(cls)),
        }
        previous[cls] = car
    return out


def dom_rows(page) -> dict[str, dict]:
    """Each standings row's gap cells, best cell and the best cell's classes, by car key."""
    return page.eval_on_selector_all(
        ROWS,
        """rows => Object.fromEntries(rows.map(r => {
            const gaps = [...r.querySelectorAll('.gap')].map(c => c.textContent.trim());
            const times = [...r.querySelectorAll('.tm')];
            return [r.dataset.car, {gaps, best: times[0].textContent.trim(),
                                    bestClasses: [...times[0].classList],
                                    last: times[1].textContent.trim(),
                                    lastClasses: [...times[1].classList]}];
        }))""",
    )


def test_gaps_and_best_colours_are_right_for_a_known_lap(live: LiveStack, desktop):
    open_session(desktop, live)
    desktop.wait_for_selector(ROWS)
    wait_live(desktop)
    sid = live.session_id
    # a known moment: every car has a lap, then the game clock stops
    wait_for(
        lambda: all(c["lapsCompleted"] >= 2 for c in live.game("/rest/watch/standings")),
        40,
        "every car to complete two laps",
    )
    live.race.pause(True)
    try:
        standings = live.game("/rest/watch/standings")
        info = live.game("/rest/watch/sessionInfo")
        track_length, et = info["lapDistance"], info["currentEventTime"]
        laps = {f"{c['slotID']}-{c['vehicleFilename']}": c["lapsCompleted"] for c in standings}

        def settled():
            """The server has the frozen moment: its clock, and every lap in the database."""
            model = live.get_json(f"/sessions/{sid}.json")
            if model["header"]["elapsed"] != et:
                return None
            facts = live.tracker(sid)
            done = {key: car.laps_done for key, car in facts.cars.items()}
            if any(done.get(key) != n for key, n in laps.items()):
                return None
            return model, facts

        model, facts = wait_for(settled, 20, f"the server to catch up with ET {et}", step=0.3)
        # the page too: the hub renders at most every 0.5 s
        rendered = {r["key"]: [fmt.gap(r[f]) for f in GAP_FIELDS] for r in model["rows"]}
        with contextlib.suppress(AssertionError):  # if it never does, the asserts say how
            wait_for(
                lambda: all(
                    shown["gaps"] == rendered[key] for key, shown in dom_rows(desktop).items()
                ),
                10,
                "the page to show the frozen moment",
                step=0.3,
            )
        shown = dom_rows(desktop)
    finally:
        live.race.pause(False)

    rows = {r["key"]: r for r in model["rows"]}
    game_order = [f"{c['slotID']}-{c['vehicleFilename']}" for c in sorted(
        standings, key=lambda c: c["position"])]  # fmt: skip
    assert list(rows) == game_order, "the JSON twin's order is not the game's"
    assert list(shown) == game_order, "the page's order is not the game's"

    expected = expected_race_gaps(standings, track_length)
    problems = []
    for key, want in expected.items():
        for k, name in enumerate(GAP_FIELDS):
            got = rows[key][name]
            if (
                got is None
                or got["laps"] != want[name]["laps"]
                or (got["time"] is None) != (want[name]["time"] is None)
                or (
                    got["time"] is not None
                    and not math.isclose(got["time"], want[name]["time"], abs_tol=0.002)
                )
            ):
                problems.append(f"{key} {name}: json {got} != game {want[name]}")
            if shown[key]["gaps"][k] != fmt.gap(got):
                problems.append(f"{key} {name}: page {shown[key]['gaps'][k]!r} != {fmt.gap(got)!r}")
    assert not problems, "\n".join(problems)

    # bests: the tracker's facts, rebuilt from the server's database
    best_of_class: dict[str, tuple[float, str]] = {}
    for key, car in facts.cars.items():
        times = [lap.lap_time for lap in car.laps.values() if lap.valid and lap.lap_time > 0]
        if not times:
            continue
        assert shown[key]["best"] == fmt.lap_time(min(times)), f"{key}: best lap"
        held = best_of_class.get(car.car_class)
        if held is None or min(times) < held[0]:
            best_of_class[car.car_class] = (min(times), key)
    assert len(best_of_class) == 3, best_of_class
    holders = {key for _, key in best_of_class.values()}
    for key, row in shown.items():
        marked = "m-class" in row["bestClasses"]
        assert marked == (key in holders), (
            f"{key}: best {row['best']} classes {row['bestClasses']}; class bests {best_of_class}"
        )
        # the last lap: class best when it is the class best lap, never otherwise
        car = facts.cars[key]
        last = car.laps.get(car.laps_done)
        is_class_best = (
            last is not None
            and last.valid
            and any(last.lap_time == t and key == holder for t, holder in best_of_class.values())
        )
        assert row["last"] == fmt.lap_time(last.lap_time if last else None), f"{key}: last lap"
        assert ("m-class" in row["lastClasses"]) == is_class_best, (
            f"{key}: last {row['last']} classes {row['lastClasses']}; class bests {best_of_class}"
        )


def test_my_car_and_class_filter_hold_across_live_updates(live: LiveStack, desktop):
    """Choices made in the page survive the rows being swapped by the server, and a reload."""
    open_session(desktop, live)
    desktop.wait_for_selector(ROWS)
    wait_live(desktop)
    mine = desktop.eval_on_selector(
        f"{ROWS}[data-class='GT3']", "r => r.dataset.car"
    )  # the first GT3 row
    row = f"#car-{slug(mine)}"
    desktop.click(f"{row} .pick")
    desktop.select_option("#class-filter", "GT3")
    assert "mine" in desktop.get_attribute(row, "class")
    wait_rows_change(desktop, row_texts(desktop), timeout=15)
    desktop.wait_for_timeout(600)
    assert "mine" in desktop.get_attribute(row, "class"), "the highlight was lost on a swap"
    visible = desktop.eval_on_selector_all(
        ROWS, "rs => rs.filter(r => r.offsetParent !== null).map(r => r.dataset.class)"
    )
    assert visible and set(visible) == {"GT3"}, f"class filter lost on a swap: {visible}"
    desktop.reload()  # the choices live in this browser's localStorage
    desktop.wait_for_selector(ROWS, state="attached")
    assert "mine" in desktop.get_attribute(row, "class"), "the highlight was lost on a reload"
    assert desktop.input_value("#class-filter") == "GT3", "the class filter was lost on a reload"
    assert desktop.watch.errors == []


@pytest.mark.parametrize("scheme", ["dark", "light"])
def test_desktop_screenshots(live: LiveStack, browser, artifacts, scheme):
    context, page, watch = open_page(browser, color_scheme=scheme)
    try:
        open_session(page, live)
        page.wait_for_selector(ROWS)
        wait_live(page)
        page.screenshot(path=artifacts / f"session-desktop-{scheme}.png", full_page=True)
        background = "getComputedStyle(document.body).backgroundColor"
        assert page.get_attribute("html", "data-theme") == scheme
        before = page.evaluate(background)
        page.click("#theme-toggle")
        other = "light" if scheme == "dark" else "dark"
        page.wait_for_selector(f"html[data-theme='{other}']", state="attached")
        assert page.evaluate(background) != before, "the theme toggle changed no colour"
        best = "getComputedStyle(document.querySelector('.m-class')).color"
        colour = page.evaluate(best)
        page.click("#palette-toggle")
        page.wait_for_selector("html.palette-cb", state="attached")
        assert page.evaluate(best) != colour, "the colour-blind palette left class best as is"
        assert watch.errors == []
    finally:
        context.close()


def test_phone_standings_have_no_horizontal_overflow(live: LiveStack, browser, artifacts):
    context, page, watch = open_page(
        browser,
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        color_scheme="dark",
    )
    try:
        open_session(page, live)
        page.wait_for_selector(ROWS)
        wait_live(page)
        page.wait_for_timeout(500)
        page.screenshot(path=artifacts / "session-phone-390.png", full_page=True)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page is {width} px wide on a 390 px phone"
        # nor does the standings table scroll sideways inside its own box (hidden columns)
        clipped = page.eval_on_selector(
            "#standings-body",
            """body => { const out = [];
                for (let e = body; e && e !== document.body; e = e.parentElement)
                    if (e.scrollWidth > e.clientWidth + 1)
                        out.push(`${e.tagName}#${e.id}.${e.className}: `
                                 + `${e.scrollWidth} > ${e.clientWidth}`);
                return out; }""",
        )
        assert clipped == [], f"the condensed standings overflow sideways: {clipped}"
        assert watch.errors == []
    finally:
        context.close()


def test_every_page_works_under_the_strict_csp(live: LiveStack, browser, artifacts):
    """Issue 7's policy, added to every response here: no violation, the websocket goes live.
    Each page's screenshot is saved on the way (page-<name>.png) for a person to look at."""
    context, page, watch = open_page(browser)
    violations: list[str] = []
    page.on(
        "console",
        lambda msg: "Content Security Policy" in msg.text and violations.append(msg.text),
    )

    def with_csp(route) -> None:
        response = route.fetch()
        route.fulfill(
            response=response, headers={**response.headers, "content-security-policy": CSP}
        )

    context.route(f"{live.url}/**", with_csp)
    key = live.xss_car_key()
    try:
        for name, path in live_pages(live, key).items():
            page.goto(f"{live.url}{path}")
            wait_live(page)
            page.wait_for_timeout(300)
            page.screenshot(path=artifacts / f"page-{name}.png", full_page=True)
            html = httpx.get(f"{live.url}{path}", timeout=5).text
            inline = inline_code(html)
            assert not inline, f"{path}: CSP-breaking markup {inline[:3]}"
        assert violations == [], violations[:5]
        assert watch.errors == []
    finally:
        context.close()


@pytest.mark.parametrize("how", ["sigkill", "sigterm"])
def test_page_recovers_after_the_server_restarts(live: LiveStack, desktop, how):
    """A crash (SIGKILL) and an orderly restart (SIGTERM, as systemd does) alike."""
    open_session(desktop, live)
    desktop.wait_for_selector(ROWS)
    wait_live(desktop)
    desktop.evaluate("window.__sameDocument = 42")
    if how == "sigkill":
        live.server.kill()
    else:
        live.server.stop()
    desktop.wait_for_selector("#conn.conn-down", state="attached", timeout=10_000)
    live.server.start()
    wait_live(desktop, timeout=40_000)
    before = row_texts(desktop)
    wait_rows_change(desktop, before, timeout=30)
    assert desktop.evaluate("window.__sameDocument") == 42, "the page was reloaded"
    wait_for(live.live_race, 10, "the race on /status.json after the restart")
