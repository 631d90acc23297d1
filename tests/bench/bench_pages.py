"""Page cost of a long race: results, car, best-laps and chart pages of the recorded 4-hour,
35-car Algarve race, each under 200 ms of server time (issue 6).

The race is played from the reference DB through the simulator's answers and the client's
`Slimmer` into a tracker (one observation every 3 s of ET, as the end-to-end truth test steps
it), stored through the real `Store` as the server stores a finished session, and served by the
real app (`create_app` + the analysis routes) under uvicorn on a free port. Figures:

- restore: reading the events back and `Tracker.restore` (what the first view of a finished
  session costs; later views use the cached tracker);
- server time per page: the view's build + render in the server process, from the analysis
  routes' `Server-Timing` header, and the in-process build + render of the car page (its route
  has no header); over `REPEAT` warm requests, median and max;
- wall time per request over HTTP on localhost (includes the HTTP round trip).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "tests" / "analysis"))

import httpx  # noqa: E402
from analysis_harness import (  # noqa: E402
    RECORDED_DB,
    Race,
    ServerThread,
    store_race,
)
from recorded_play import play_recorded, recorded_race_ids  # noqa: E402

from server.config import ServerConfig  # noqa: E402
from server.store import Store  # noqa: E402
from server.tracking import Tracker  # noqa: E402
from web import render  # noqa: E402
from web.history import TrackerCache, stored_input  # noqa: E402

TRACK = "Algarve International Circuit"
STEP = 3.0
REPEAT = 15
BUDGET_MS = 200.0
SESSION = "4a" * 16
TIMING = re.compile(r"app;dur=([0-9.]+)")


def _stats(values: list[float]) -> str:
    return f"median {statistics.median(values):7.1f} ms  max {max(values):7.1f} ms"


async def _restore_ms(path: Path) -> tuple[float, int]:
    async with Store(path) as store:
        started = time.perf_counter()
        inp = await stored_input(store, SESSION, time.time(), TrackerCache())
        elapsed = (time.perf_counter() - started) * 1000
        events = len(await store.events(SESSION))
    assert inp is not None and inp.tracker is not None
    return elapsed, events


async def _car_render_ms(path: Path, car: str) -> list[float]:
    async with Store(path) as store:
        inp = await stored_input(store, SESSION, time.time(), TrackerCache())
    out = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        module = render.view_module("car")
        render.page("car", module.build(inp, car=car))
        out.append((time.perf_counter() - started) * 1000)
    return out


def main() -> None:
    if not RECORDED_DB.exists():
        print(f"skipped: reference data absent ({RECORDED_DB})")
        return
    started = time.perf_counter()
    played = play_recorded(RECORDED_DB, recorded_race_ids(RECORDED_DB)[TRACK], STEP)
    tracker = Tracker.restore(played.script.session, played.script.track.length, played.events)
    race = Race(played, played.events, tracker)
    laps = sum(len(c.laps) for c in tracker.cars.values())
    print(
        f"{TRACK} {played.script.session}: {len(tracker.cars)} cars, {laps} laps, "
        f"{len(played.events)} events ({played.states} observations played in "
        f"{time.perf_counter() - started:.1f} s)"
    )
    data = Path(tempfile.mkdtemp(prefix="bench-pages-"))
    try:
        _serve_and_measure(race, data)
    finally:
        shutil.rmtree(data, ignore_errors=True)


def _serve_and_measure(race: Race, data: Path) -> None:
    tracker = race.tracker
    config = ServerConfig(host="127.0.0.1", port=0, data_dir=data, max_drive_time=7200.0)

    async def fill() -> None:
        async with Store(config.database) as store:
            await store_race(store, SESSION, race, time.time() - 20000, True)

    asyncio.run(fill())
    restore, events = asyncio.run(_restore_ms(config.database))
    print(f"restore from the store: {restore:.0f} ms ({events} events)")
    winner = tracker.classification()[0]
    pages = {
        "results": f"/sessions/{SESSION}/results",
        "results.json": f"/sessions/{SESSION}/results.json",
        "charts": f"/sessions/{SESSION}/charts",
        "charts.json": f"/sessions/{SESSION}/charts.json",
        "best-laps": f"/tracks/{TRACK}/best-laps",
        "best-laps.json": f"/tracks/{TRACK}/best-laps.json",
        "laps.csv": f"/sessions/{SESSION}/laps.csv",
        "car": f"/sessions/{SESSION}/cars/{winner}",
    }
    failed = []
    with ServerThread(config) as server, httpx.Client(base_url=server.url, timeout=60) as http:
        cold = time.perf_counter()
        first = http.get(pages["results"])
        first.raise_for_status()
        print(f"first results page (restore + render, cold): "
              f"{(time.perf_counter() - cold) * 1000:.0f} ms wall")  # fmt: skip
        print(f"\n{'page':16s} {'bytes':>9s}  server time (build + render)      wall per request")
        for name, path in pages.items():
            server_ms, wall_ms = [], []
            size = 0
            for _ in range(REPEAT):
                t0 = time.perf_counter()
                answer = http.get(path)
                wall_ms.append((time.perf_counter() - t0) * 1000)
                answer.raise_for_status()
                size = len(answer.content)
                found = TIMING.search(answer.headers.get("server-timing", ""))
                if found:
                    server_ms.append(float(found.group(1)))
            if not server_ms:
                server_ms = asyncio.run(_car_render_ms(config.database, winner))
            verdict = "ok" if statistics.median(server_ms) < BUDGET_MS else "OVER BUDGET"
            if verdict != "ok":
                failed.append(name)
            print(f"{name:16s} {size:9d}  {_stats(server_ms)}  {_stats(wall_ms)}  {verdict}")
    print(f"\nbudget {BUDGET_MS:.0f} ms of server time per page: "
          f"{'all within' if not failed else 'over: ' + ', '.join(failed)}")  # fmt: skip


if __name__ == "__main__":
    main()
