"""A recorded race played back and read through the simulated game API gives the recorded race.

The other replay tests compare the script with the database; this one closes the loop the way a
client sees it: every recorded race of the reference database is played by a real `Simulator`
on real sockets, and what `/rest/watch/standings/history` and `/rest/watch/standings` answer is
compared with the database rows directly (laps with times, their sectors, pit stops).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import defaultdict

import httpx
import orjson
import pytest

from sim.replay import load_weekend
from sim.server import Simulator


def recorded_races(db) -> list[str]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        rows = con.execute("SELECT SessionId FROM Sessions WHERE SessionType LIKE 'RACE%'")
        return [r[0] for r in rows]


def recorded_cars(db, session_id: str) -> dict[int, dict]:
    """API slot id -> recorded laps and pit rows of that car (hosted slot offsets undone)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        cars = con.execute(
            "SELECT CarId, SlotId, Veh FROM Cars WHERE SessionId = ?", (session_id,)
        ).fetchall()
        base = min(slot for _, slot, _ in cars)
        out: dict[int, dict] = {}
        for car_id, slot, veh in cars:
            laps = con.execute(
                "SELECT LapNumber, TotalTime, Sector1, Sector2 FROM Laps "
                "WHERE SessionId = ? AND CarId = ? AND TotalTime > 0",
                (session_id, car_id),
            ).fetchall()
            pits = con.execute(
                "SELECT PitTime, StopTime, ReleaseTime, ExitTime FROM Pits "
                "WHERE SessionId = ? AND CarId = ? ORDER BY PitId",
                (session_id, car_id),
            ).fetchall()
            out[slot - base] = {"veh": veh, "laps": laps, "pits": pits}
    return out


def midpoint(start: float, *later: float) -> float:
    """A moment safely inside [start, next event) for a state that begins at `start`."""
    nxt = [t for t in later if t is not None and t > start]
    return start + min(0.5, (min(nxt) - start) / 2) if nxt else start + 0.5


async def read_back(weekend, index: int, moments: list[float]) -> tuple[dict, list[dict]]:
    """History at the end of the race, and the standings at each moment."""
    script = weekend.sessions[index]
    async with (
        Simulator(weekend, viewpoints=1, start_session=index, control_port=None) as sim,
        httpx.AsyncClient(base_url=sim.viewpoints[0].rest_url, timeout=10) as http,
    ):
        snapshots = []
        for et in moments:
            sim.jump(index, et)
            snapshots.append(orjson.loads((await http.get("/rest/watch/standings")).content))
        sim.jump(index, script.final_et())
        history = orjson.loads((await http.get("/rest/watch/standings/history")).content)
        final = orjson.loads((await http.get("/rest/watch/standings")).content)
    return history, [*snapshots, final]


@pytest.mark.slow
def test_every_recorded_race_reads_back_through_the_api(recorded_db):
    races = recorded_races(recorded_db)
    assert len(races) == 3
    compared_laps = compared_stops = 0
    for session_id in races:
        weekend = load_weekend(recorded_db, session_id)
        index = len(weekend.sessions) - 1
        cars = recorded_cars(recorded_db, session_id)
        # the pit lane as the API shows it: ENTERING after PitTime, STOPPED after StopTime
        probes: list[tuple[float, int, set[str]]] = []
        for slot, car in cars.items():
            for pit, stop, release, exit_ in car["pits"]:
                pit, stop, release, exit_ = (
                    None if t is None or t < 0 else t for t in (pit, stop, release, exit_)
                )
                if stop is not None:
                    probes.append((midpoint(stop, release, exit_), slot, {"STOPPED"}))
                if pit is not None:
                    probes.append((midpoint(pit, stop, release, exit_), slot, {"ENTERING"}))
        probes.sort()
        history, snapshots = asyncio.run(read_back(weekend, index, [p[0] for p in probes]))

        for (et, slot, states), rows in zip(probes, snapshots, strict=False):
            row = next(r for r in rows if r["slotID"] == slot)
            assert row["pitState"] in states, (session_id, slot, et, row["pitState"])
            assert row["pitting"], (session_id, slot, et)
            compared_stops += "STOPPED" in states

        final = {row["slotID"]: row for row in snapshots[-1]}
        for slot, car in cars.items():
            # the last row of a car's history is the lap in progress; the others are done laps
            api_laps = {lap["totalLaps"]: lap for lap in history.get(str(slot), [])[:-1]}
            for number, total, s1, s2 in car["laps"]:
                lap = api_laps.get(number)
                assert lap is not None, (session_id, slot, number)
                assert lap["lapTime"] == total, (session_id, slot, number)
                assert lap["sectorTime1"] == (s1 if s1 > 0 else -1.0)
                want_s2 = s1 + s2 if s1 > 0 and s2 > 0 else -1.0
                assert lap["sectorTime2"] == pytest.approx(want_s2, abs=1e-9)
                compared_laps += 1
            stops = sum(1 for _, stop, _, _ in car["pits"] if stop is not None and stop >= 0)
            assert final[slot]["pitstops"] == stops, (session_id, slot)
            assert final[slot]["vehicleFilename"] == car["veh"]
    # every recorded race lap with a time (Sebring 515 + Monza 219 + Algarve 3551)
    assert compared_laps == 4285
    assert compared_stops > 100


def test_lap_counts_per_car_match_the_recording(recorded_db):
    """The standings' lap counter at the end equals the recorded final state of every car."""
    session_id = "019d4a8b64b3704d95586c0be94e8a0d"
    with sqlite3.connect(f"file:{recorded_db}?mode=ro", uri=True) as con:
        rows = con.execute(
            "SELECT c.SlotId, s.LapsCompleted, s.FinishStatus FROM Cars c "
            "JOIN CarStates s ON s.CarId = c.CarId WHERE c.SessionId = ?",
            (session_id,),
        ).fetchall()
    want = defaultdict(tuple, {slot: (laps, status) for slot, laps, status in rows})
    weekend = load_weekend(recorded_db, session_id)
    _, snapshots = asyncio.run(read_back(weekend, 0, []))
    got = {r["slotID"]: (r["lapsCompleted"], r["finishStatus"]) for r in snapshots[-1]}
    assert got == dict(want)
