"""The results and charts views are live: the hub (web.live) renders them once per change and
pushes only the parts that changed, while a recorded race goes on."""

from __future__ import annotations

import asyncio
import re

from analysis_harness import SEBRING, race

from server.tracking import Tracker
from web.live import Hub, Viewer, topic_key
from web.render import fragments
from web.views.model import SessionInput

SID = "live-session"
POINTS = re.compile(r'data-series="([^"]*)" data-points="(\d+)"')


def test_charts_and_results_update_live_while_the_race_goes_on(sebring):
    item = race(SEBRING)
    script = item.played.script
    current: dict[str, Tracker] = {}

    def upto(et: float) -> Tracker:
        events = [e for e in item.events if e.et <= et]
        return Tracker.restore(script.session, script.track.length, events)

    def source(key, now):
        meta = {"session_id": SID, "track": SEBRING, "session_type": "RACE1", "closed": False}
        return SessionInput(meta, current["tracker"], None, None, None, now)

    async def scenario() -> list[str]:
        hub = Hub(source, fragments, interval=0.05)
        current["tracker"] = upto(900.0)
        leader = current["tracker"].classification()[0]
        received: list[str] = []

        async def send(text: str) -> None:
            received.append(text)

        viewers = {}
        for view, car in (("charts", leader), ("results", None)):
            viewer = Viewer(send)
            hub.subscribe(topic_key(view, SID, car), viewer)
            viewers[view] = asyncio.create_task(viewer.run())
        await asyncio.sleep(0.1)
        first = len(received)
        current["tracker"] = upto(1800.0)
        hub.session_changed(SID)
        await asyncio.sleep(0.3)
        for task in viewers.values():
            task.cancel()
        await asyncio.gather(*viewers.values(), return_exceptions=True)
        return [*received[:first], "--", *received[first:]]

    messages = asyncio.run(scenario())
    cut = messages.index("--")
    before, after = "".join(messages[:cut]), "".join(messages[cut + 1 :])
    # the full refresh held every part; the update only what changed, with more laps drawn
    for element in ('id="chart-lap-chart"', 'id="chart-wetness"', 'id="results-head"'):
        assert element in before
    assert 'id="chart-lap-chart"' in after and 'id="results-GT3"' in after
    assert 'id="results-head"' not in after  # unchanged: not sent again
    early = {k: int(n) for k, n in POINTS.findall(before.split('id="chart-gap-chart"')[0])}
    late = {k: int(n) for k, n in POINTS.findall(after.split('id="chart-gap-chart"')[0])}
    assert set(early) == set(late) and sum(late.values()) > sum(early.values())
