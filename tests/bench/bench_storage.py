"""Storage cost: database bytes per race-hour for 60 cars, and the commit latency of a batch.

A synthetic 60-car race is observed every `SPACING` s of ET (rendered by the simulator's own
renderers, normalized by the client's `normalize`), played through the tracker, and every
observation's events (+ query rows + the session's fed-state update) go through the real
`Store` into SQLite, as `LiveSessions` writes them. The file size (after a WAL checkpoint) is
extrapolated to one hour of race; commit latencies are the writer's own measurements.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "tests" / "tracking"))

from sim_observations import Observer, ets  # noqa: E402

from server.store import Store, session_insert  # noqa: E402
from server.store_rows import UPDATE_SESSION_FED  # noqa: E402
from server.tracking import Tracker  # noqa: E402
from sim.synthetic import generate_session  # noqa: E402

CARS = 60
DURATION = 1800.0  # ET seconds of race played
SPACING = 1.0  # ET seconds between observations (a client tick at 1x)


def _table_bytes(conn) -> dict[str, int]:
    try:
        rows = conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall()
    except Exception:  # dbstat not compiled in
        return {}
    return {name: size for name, size in rows}


async def play(path: Path) -> dict:
    script = generate_session(seed=21, cars=CARS, duration=DURATION + 300)
    observer = Observer(script, slow_every=10.0)
    times = ets(script.start_et, script.start_et + DURATION, SPACING)
    states = [(et, observer.state(et)) for et in times]  # rendering is not what we measure
    tracker = Tracker(script.session, script.track.length)
    sid = "bench-session"
    record = {
        "session_id": sid,
        "event_id": sid,
        "online": True,
        "server": "bench",
        "port": 1,
        "track": script.track.name,
        "session_type": script.session,
        "phase": None,
    }
    events_total = 0
    async with Store(path) as store:
        await store.write(session_insert(record, script.track.length, time.time()))
        started = time.perf_counter()
        track_cpu = 0.0
        pending = []
        for et, state in states:
            t0 = time.perf_counter()
            events = tracker.observe(state, et)
            statements = store.event_statements(sid, tracker, events)
            track_cpu += time.perf_counter() - t0
            statements.append((UPDATE_SESSION_FED, (et, time.time(), 5, sid)))
            events_total += len(events)
            pending.append(store.submit(statements))
            if len(pending) >= 4:  # a few observations in flight, like several clients
                await asyncio.gather(*pending)
                pending = []
        await asyncio.gather(*pending)
        wall = time.perf_counter() - started
        stats = store.stats
        await store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        sizes = _table_bytes(store.conn._conn)
    size = path.stat().st_size
    latencies = sorted(stats.latencies)
    return {
        "observations": len(states),
        "events": events_total,
        "laps": sum(len(c.laps) for c in tracker.cars.values()),
        "bytes": size,
        "tables": sizes,
        "commits": stats.commits,
        "p50": statistics.median(latencies),
        "p99": latencies[int(0.99 * (len(latencies) - 1))],
        "max": latencies[-1],
        "mean_batch": statistics.mean(stats.sizes),
        "wall": wall,
        "track_cpu": track_cpu,
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        result = asyncio.run(play(Path(folder) / "bench.db"))
    hours = DURATION / 3600.0
    print(f"{CARS} cars, {DURATION / 60:.0f} min of race, one observation per {SPACING:g} s ET")
    print(f"  observations          {result['observations']:>10}")
    print(f"  events                {result['events']:>10}  ({result['laps']} laps)")
    print(f"  database              {result['bytes'] / 1e6:>10.2f} MB")
    print(f"  per race-hour         {result['bytes'] / hours / 1e6:>10.2f} MB")
    print(f"  per 24 h race         {result['bytes'] / hours * 24 / 1e6:>10.1f} MB")
    for name, size in sorted(result["tables"].items(), key=lambda kv: -kv[1])[:8]:
        print(f"    {name:<26} {size / hours / 1e6:>8.2f} MB/h")
    print(f"  commits               {result['commits']:>10}  "
          f"(mean {result['mean_batch']:.0f} statements)")  # fmt: skip
    print(f"  commit latency p50    {result['p50'] * 1e3:>10.2f} ms")
    print(f"  commit latency p99    {result['p99'] * 1e3:>10.2f} ms")
    print(f"  commit latency max    {result['max'] * 1e3:>10.2f} ms")
    print(f"  tracker+rows CPU      {result['track_cpu'] / result['observations'] * 1e3:>10.3f}"
          " ms per observation")  # fmt: skip
    print(f"  wall                  {result['wall']:>10.1f} s "
          f"({result['observations'] / result['wall']:.0f} observations/s)")  # fmt: skip


if __name__ == "__main__":
    main()
