"""Recorded races end to end, stepped by the test: simulator -> client -> server -> SQLite.

A 4-hour race cannot be played at 1x, and a fast free-running clock makes what the client sees
depend on the machine's load. So the test owns time: `GameTime` is the wall clock of a game
running at 1x, advanced by hand. The simulator's real `WeekendClock` reads it (so its ET moves
exactly with it) and the real `ClientApp` is ticked with it as `now` (so its schedule, backoff and
event-time guard see a game at 1x and a client ticking every `step` seconds). What the client
reads is therefore the same on every run, whatever the machine's load.

The server is `python -m server` (`LiveSessions`, SQLite) in its own process, so it works on
the other core while the simulator and the client work on this one: after each tick the test
waits until at most `WINDOW` messages are unacked (an ack means committed to SQLite), and at the
end until all are. The server's order of work is the stream's; only its wall-clock timers see
the race go by faster than real time (`max_rate` is raised, the lag is a fraction of a second,
far from its 2.5 s takeover and 10 s backfill delays). Until the server has confirmed the
session (a second reading 2 real seconds after the first), ticks are strictly acked and the
game runs at 1x, as it would for a client that was there when the race was loaded.

What is not 1x: the game's push websocket pushes every 100 ms of *real* time, so its rows
(virtual energy, compounds, penalty kinds) lag the REST answers by a few steps. Laps, pit stops
and the classification come from the REST answers and are not affected.

`recorded()` reads the truth from the reference DB, `stored()` reads what the server stored, and
`compare()` puts them side by side.
"""

from __future__ import annotations

import asyncio
import logging
import math
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from core_harness import ServerProcess, read_db

from client.app import ClientApp
from client.config import load
from server.roles import HISTORY
from server.store_rows import event_doc
from server.tracking import Tracker
from sim.script import SessionScript, Weekend
from sim.server import Simulator
from sim.timeline import WeekendClock

log = logging.getLogger(__name__)

Row = sqlite3.Row | dict  # a stored row (or a dict standing in for one in the self-check)

SERVER_SPEED = 1e6  # the server's arbiter accepts any ET rate: the test steps as fast as it can
WINDOW = 8  # messages the client may be ahead of the server's acks
ACK_TIMEOUT = 10.0  # wall seconds one tick may take to be acked before the test fails
GAME_EPOCH = 1000.0  # the game clock's reading at ET 0 (any positive number)


# --- the recorded truth ----------------------------------------------------------------------


def recorded_races(db: Path) -> list[tuple[str, str]]:
    """(session id, track) of every race in the reference DB, oldest first."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        return con.execute(
            "SELECT SessionId, TrackName FROM Sessions WHERE SessionType LIKE 'RACE%' "
            "ORDER BY Timestamp, SessionId"
        ).fetchall()


@dataclass
class RecordedCar:
    laps: list[tuple[int, float, float, float, float]]  # number, total, S1, S2, S3 (timed laps)
    pits: list[tuple]  # Lap, PitTime, StopTime, GarageInTime, GarageOutTime (-1: none)
    done: int  # CarStates.LapsCompleted
    finish: float | None  # ET the last completed lap ended (None: that lap has no time)


def recorded(db: Path, session_id: str) -> dict[str, RecordedCar]:
    """Per car key `"<API slot>-<vehicle file>"` (the hosted slot offset undone)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        cars = con.execute(
            "SELECT c.CarId, c.SlotId, c.Veh, s.LapsCompleted FROM Cars c "
            "JOIN CarStates s ON s.CarId = c.CarId WHERE c.SessionId = ?",
            (session_id,),
        ).fetchall()
        base = min(row[1] for row in cars)
        out = {}
        for car_id, slot, veh, done in cars:
            laps = con.execute(
                "SELECT LapNumber, TotalTime, Sector1, Sector2, Sector3 FROM Laps "
                "WHERE CarId = ? AND TotalTime > 0 ORDER BY LapNumber",
                (car_id,),
            ).fetchall()
            pits = con.execute(
                "SELECT Lap, PitTime, StopTime, GarageInTime, GarageOutTime FROM Pits "
                "WHERE CarId = ? ORDER BY PitId",
                (car_id,),
            ).fetchall()
            last = con.execute(
                "SELECT StartTime + TotalTime FROM Laps WHERE CarId = ? AND LapNumber = ? "
                "AND TotalTime > 0 AND StartTime > 0",
                (car_id, done),
            ).fetchone()
            out[f"{slot - base}-{veh}"] = RecordedCar(
                laps, pits, done, last[0] if last is not None else None
            )
    return out


def car_key(script_car) -> str:
    return f"{script_car.entry.slot_id}-{script_car.entry.vehicle_file}"


# --- what the server stored ------------------------------------------------------------------


@dataclass
class Stored:
    session_ids: list[str]
    laps: dict[tuple[str, int], Row]
    stops: dict[str, list[Row]]
    cars: dict[str, Row]
    replayed_order: list[str]  # the classification of a tracker restored from the stored events

    def order(self) -> list[str]:
        """The final order from the query tables: laps, then who completed them first (the
        stored end ET of that lap), then the grid."""

        def key(car: str) -> tuple:
            row = self.cars[car]
            line = self.laps.get((car, row["laps"]))
            end = line["end_et"] if line is not None and line["end_et"] is not None else 1e18
            grid = row["grid"] if row["grid"] and row["grid"] > 0 else 10_000
            return (-row["laps"], end, grid, row["slot"])

        return sorted(self.cars, key=key)


def stored(path: Path) -> Stored:
    conn = read_db(path)
    try:
        sids = [r["session_id"] for r in conn.execute("SELECT session_id FROM sessions")]
        sid = sids[0]
        laps = {
            (r["car"], r["lap"]): r
            for r in conn.execute("SELECT * FROM laps WHERE session_id = ?", (sid,))
        }
        stops: dict[str, list[sqlite3.Row]] = {}
        for r in conn.execute(
            "SELECT * FROM pit_stops WHERE session_id = ? ORDER BY car, stop", (sid,)
        ):
            stops.setdefault(r["car"], []).append(r)
        cars = {
            r["car"]: r for r in conn.execute("SELECT * FROM cars WHERE session_id = ?", (sid,))
        }
        (info,) = conn.execute(
            "SELECT session_type, track_length FROM sessions WHERE session_id = ?", (sid,)
        )
        events = [
            event_doc(r["et"], r["kind"], r["payload"])
            for r in conn.execute(
                "SELECT et, kind, payload FROM events WHERE session_id = ? ORDER BY seq", (sid,)
            )
        ]
    finally:
        conn.close()
    tracker = Tracker.restore(info["session_type"], info["track_length"], events)
    return Stored(sids, laps, stops, cars, tracker.classification())


# --- the comparison --------------------------------------------------------------------------

_LAP_COLUMNS = ("lap_time", "s1", "s2", "s3")
_STOP_TIMES = ("entry_et", "stop_et", "garage_in_et", "release_et", "garage_out_et", "exit_et")


def pit_found(pit: tuple, stops: list[sqlite3.Row], slack: float) -> bool:
    """A recorded pit row lies within a stored stop (its entry, stop or garage-in time between
    the stop's first and last time, `slack` either side); a row without times (the start from
    the garage, recorded as lap 0) is a stored stop on its lap (lap 1 for lap 0); a stored stop
    without times (recovered from the strategy list alone) answers a row of its lap. The same
    rule as `tests/tracking/test_tracking_recorded.py`, on the stored rows."""
    lap, entry, stop_et, garage_in, _ = (None if t is not None and t < 0 else t for t in pit)
    times = [t for t in (entry, stop_et, garage_in) if t is not None]
    for stop in stops:
        if not times:
            if stop["lap"] == max(lap, 1):
                return True
            continue
        seen = [stop[k] for k in _STOP_TIMES if stop[k] is not None]
        if not seen:
            if stop["lap"] == lap:
                return True
            continue
        first = min(seen)
        last = max(seen) if stop["closed"] else float("inf")
        if any(first - slack <= t <= last + slack for t in times):
            return True
    return False


def shown(total: float, s1: float, s2: float, s3: float) -> tuple[float, float, float, float]:
    """A recorded lap as the game's answers can show it: the API gives the lap time and the
    *cumulative* splits S1 and S1+S2, so a sector after a missing split cannot be known (the
    recording has it from elsewhere); -1 stands for "no time"."""
    c1 = s1 if s1 > 0 else -1.0
    c2 = s1 + s2 if s1 > 0 and s2 > 0 else -1.0
    return (
        total,
        c1,
        c2 - c1 if c2 > 0 else -1.0,
        total - c2 if c2 > 0 and s3 > 0 else -1.0,
    )


def _same(got: float, want: float) -> bool:
    if want <= 0:  # no time: neither may the store have one
        return got <= 0
    return abs(got - want) <= 0.01


@dataclass
class Comparison:
    track: str
    laps_recorded: int = 0
    laps_matched: int = 0
    pits_recorded: int = 0
    pits_found: int = 0
    order_equal: bool = False
    replay_equal: bool = False
    unmatched_laps: list = field(default_factory=list)
    missing_pits: list = field(default_factory=list)
    order: list = field(default_factory=list)  # (stored, recorded) pairs that differ

    def line(self) -> str:
        return (
            f"laps {self.laps_matched}/{self.laps_recorded} "
            f"({self.laps_matched / max(1, self.laps_recorded):.2%}) | "
            f"pit stops {self.pits_found}/{self.pits_recorded} | "
            f"classification equal: {self.order_equal} (events replayed: {self.replay_equal})"
        )


def compare(
    track: str, truth: dict[str, RecordedCar], got: Stored, script: SessionScript, slack: float
) -> Comparison:
    out = Comparison(track)
    for key, car in truth.items():
        for number, total, s1, s2, s3 in car.laps:
            out.laps_recorded += 1
            row = got.laps.get((key, number))
            if row is not None and all(
                _same(a, b)
                for a, b in zip(
                    (row[k] for k in _LAP_COLUMNS),
                    shown(total, s1, s2, s3),
                    strict=True,
                )
            ):
                out.laps_matched += 1
            else:
                have = None if row is None else tuple(row[k] for k in _LAP_COLUMNS)
                out.unmatched_laps.append((key, number, (total, s1, s2, s3), have))
        for pit in car.pits:
            out.pits_recorded += 1
            if pit_found(pit, got.stops.get(key, []), slack):
                out.pits_found += 1
            else:
                out.missing_pits.append((key, pit))
    # Recorded order: laps, then who completed them first, then the grid. A last lap the
    # recording has no time for ends where the replay puts it (the script's line ET).
    grid: dict[str, int] = {}
    for car in script.cars:
        key = car_key(car)
        grid[key] = car.grid_position if car.grid_position > 0 else 10_000
        if key in truth and truth[key].finish is None:
            truth[key].finish = car.laps[-1].end_et if car.laps else float("inf")
    want = sorted(truth, key=lambda k: (-truth[k].done, truth[k].finish, grid.get(k, 10_000), k))
    have = got.order()
    out.order_equal = have == want
    out.replay_equal = got.replayed_order == want
    out.order = [(a, b) for a, b in zip(have, want, strict=False) if a != b][:5]
    return out


# --- the lockstep run ------------------------------------------------------------------------


class GameTime:
    """The wall clock of a game at 1x, moved by hand (`WeekendClock(now=...)` reads it)."""

    def __init__(self, start: float = GAME_EPOCH) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@dataclass
class Played:
    script: SessionScript
    ticks: int
    wall: float
    backfills: int
    database: Path


class SteppedClient:
    """The real `ClientApp` (reader, normalize, slim, uplink) ticked by the test, not by a timer.

    It also plays the part of the client answering a backfill request: a plan that switches the
    lap history on makes it read `/rest/watch/standings/history` once and send it.
    """

    def __init__(self, tmp_path: Path, server_url: str, sim: Simulator, step: float) -> None:
        vp = sim.viewpoints[0]
        self.rest_url = vp.rest_url
        self.config = load(
            tmp_path / "client.toml",
            overrides={
                "server_url": server_url,
                "name": "truth",
                "game_url": vp.rest_url,
                "game_ws_url": vp.ws_url,
                "tick": step,
                "max_time_scale": 1.0,  # the client sees a game at 1x
                "key_file": "client.key",
            },
        )
        self.app = ClientApp(self.config)
        self.uplink = self.app.make_uplink()
        self.app.uplink = self.uplink
        self._task = asyncio.create_task(self.uplink.run(), name="truth-uplink")
        self._http = httpx.AsyncClient(base_url=self.rest_url, timeout=5.0)
        self._answered: dict | None = None
        self.backfills = 0

    async def tick(self, now: float, window: int = 0) -> None:
        """One client tick at game time `now`, then wait until the server acked all but
        `window` of the messages sent."""
        await self.app.step(now)
        await self._backfill()
        await self.settle(window)

    async def settle(self, window: int = 0) -> None:
        deadline = time.monotonic() + ACK_TIMEOUT
        spins = 0
        while self.uplink.status.pending > window:
            if self._task.done():
                raise AssertionError(f"the uplink ended: {self._task}")
            if time.monotonic() > deadline:
                raise AssertionError(f"not acked within {ACK_TIMEOUT} s: {self.uplink.status}")
            spins += 1
            await asyncio.sleep(0 if spins < 20 else 0.0005)

    async def _backfill(self) -> None:
        plan = self.uplink.plan
        if not plan.get("fetch", {}).get(HISTORY) or plan == self._answered:
            return
        self._answered = plan
        info = (await self._http.get("/rest/watch/sessionInfo")).json()
        history = (await self._http.get(HISTORY)).json()
        if isinstance(history, dict):
            self.uplink.publish_backfill(history, float(info["currentEventTime"]))
            self.backfills += 1
            log.info("backfill sent at ET %.1f", info["currentEventTime"])

    async def close(self) -> None:
        await self.uplink.close("race over")
        await asyncio.gather(self._task, return_exceptions=True)
        await self.app.reader.close()
        await self._http.aclose()


def game_ets(end: float, step: float) -> list[float]:
    """0, step, 2 step, ... up to the first multiple of `step` at or past `end` (the game's
    clock stops at the session's end; a partial last step would find nothing due yet)."""
    count = math.ceil(end / step - 1e-9)
    return [i * step for i in range(count + 1)]


async def has_session(url: str) -> bool:
    async with httpx.AsyncClient() as http:
        return bool((await http.get(f"{url}/status.json", timeout=5)).json()["sessions"])


async def play(script: SessionScript, tmp_path: Path, step: float, window: int = WINDOW) -> Played:
    """Play a session from ET 0 to its end, one client tick every `step` s of game time."""
    weekend = Weekend([script])
    game = GameTime()
    clock = WeekendClock(weekend, speed=1.0, start_et=0.0, now=game)
    started = time.perf_counter()
    server = ServerProcess(tmp_path, SERVER_SPEED)
    await server.start()
    try:
        async with Simulator(weekend, viewpoints=1, clock=clock, control_port=None) as sim:
            client = SteppedClient(tmp_path, server.url, sim, step)
            ets = game_ets(script.final_et(), step)
            confirmed = False
            try:
                for et in ets:
                    game.now = GAME_EPOCH + et
                    await client.tick(game.now, window if confirmed else 0)
                    if not confirmed:
                        confirmed = await has_session(server.url)
                        if not confirmed:
                            # The server creates a session only when a second reading confirms
                            # the first `confirm_after` real seconds later: until then, 1x.
                            await asyncio.sleep(step)
                await client.settle()
            finally:
                await client.close()
            backfills = client.backfills
    finally:
        server.terminate()
    wall = time.perf_counter() - started
    return Played(script, len(ets), wall, backfills, server.database)
