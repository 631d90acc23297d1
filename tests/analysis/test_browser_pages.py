"""The analysis pages of a finished session in a real browser (Debian's chromium, never a
downloaded one): no console or CSP errors, the charts are drawn (every series has a visible
line), no horizontal overflow of the page at phone width (wide tables scroll in their box), and
screenshots are kept as test artifacts."""

from __future__ import annotations

import os
from pathlib import Path

from analysis_harness import SEBRING

ARTIFACTS = (
    Path(os.environ.get("LMUST_TEST_ARTIFACTS", Path(__file__).resolve().parents[1] / "artifacts"))
    / "analysis"
)




def test_results_charts_and_best_laps_in_the_browser(site, browser):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    sid = site.sessions["sebring"].session_id
    pages = {
        "results": f"/sessions/{sid}/results",
        "charts": f"/sessions/{sid}/charts",
        "best-laps": f"/tracks/{SEBRING}/best-laps?sort=possible",
    }
    for width in (1280, 390):
        page = browser.new_page(viewport={"width": width, "height": 900})
        problems: list[str] = []
        page.on("console", lambda m, out=problems: m.type == "error" and out.append(m.text))
        page.on("pageerror", lambda e, out=problems: out.append(str(e)))
        for name, path in pages.items():
            answer = page.goto(site.url + path)
            assert answer is not None and answer.status == 200, name
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{name} at {width} px overflows by {overflow} px"
            if name == "charts":
                drawn = page.evaluate(
                    """() => [...document.querySelectorAll('svg.chart g.series polyline')]
                        .map(p => [Number(p.parentNode.dataset.points),
                                   p.getBBox().width + p.getBBox().height,
                                   getComputedStyle(p).stroke])"""
                )
                assert len(drawn) == 14 * 3 + 5  # 14 cars in 3 charts, 5 conditions series
                lines = [(size, stroke) for points, size, stroke in drawn if points > 1]
                assert len(lines) >= 12 * 3 + 5  # two cars never completed a lap
                assert all(size > 0 for size, _ in lines)
                assert all(stroke not in ("none", "") for _, stroke in lines)
            if name == "results":
                rows = page.locator("table.results tbody tr").count()
                assert rows == 14
        assert problems == [], problems
        page.close()
