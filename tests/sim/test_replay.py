"""Replay of the real recorded-sessions DB as race scripts (sim.replay).

Reads the reference DB beside the repository (../shared/data/recorded-sessions.db) with sqlite3
directly and compares every recorded value against the scripts; skips when it is absent.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections import defaultdict
from pathlib import Path

import pytest

from sim.replay import ReplayError, list_sessions, load_session, load_weekend
from sim.script import PHASE_CHECKERED, PHASE_GREEN, SessionScript

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
DB = SHARED / "data" / "recorded-sessions.db"
ALGARVE_RACE = "019d4a8b64b3704d95586c0be94e8a0d"

pytestmark = pytest.mark.skipif(
    not DB.is_file(), reason=f"reference DB {DB} not present (shared folder beside the repo)"
)


def _ro() -> sqlite3.Connection:
    db = sqlite3.connect(f"{DB.resolve().as_uri()}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    return db


@pytest.fixture(scope="module")
def raw() -> sqlite3.Connection:
    db = _ro()
    yield db
    db.close()


@pytest.fixture(scope="module")
def scripts() -> dict[str, SessionScript]:
    return {s["id"]: load_session(DB, s["id"]) for s in list_sessions(DB)}


def _car_of(raw: sqlite3.Connection, sid: str) -> dict[int, int]:
    """CarId -> index of the car in the script (ordered by SlotId like the loader)."""
    rows = raw.execute("SELECT CarId FROM Cars WHERE SessionId = ? ORDER BY SlotId", (sid,))
    return {r[0]: i for i, r in enumerate(rows)}


def _garage_between(car, a: float, b: float) -> bool:
    return any(
        v.garage_in_et is not None and a <= v.garage_in_et <= b + 1e-6 for v in car.pits
    ) or any(v.garage_out_et is not None and a <= v.garage_out_et <= b for v in car.pits)


def test_lists_every_session(raw):
    listed = list_sessions(DB)
    assert [s["id"] for s in listed] == [
        r[0] for r in raw.execute("SELECT SessionId FROM Sessions ORDER BY Timestamp")
    ]
    algarve = next(s for s in listed if s["id"] == ALGARVE_RACE)
    assert algarve == {
        "id": ALGARVE_RACE,
        "type": "RACE1",
        "track": "Algarve International Circuit",
        "length": 14400.0,
        "cars": 35,
        "laps": 3740,
    }


def test_recorded_lap_times_are_reported_verbatim(raw, scripts):
    checked = 0
    for sid, script in scripts.items():
        index = _car_of(raw, sid)
        for r in raw.execute("SELECT * FROM Laps WHERE SessionId = ?", (sid,)):
            car = script.cars[index[r["CarId"]]]
            lap = next(lap for lap in car.laps if lap.number == r["LapNumber"])
            if r["TotalTime"] > 0:
                assert lap.lap_time == r["TotalTime"]
            else:
                assert lap.lap_time == -1
            recorded = (r["Sector1"], r["Sector2"], r["Sector3"])
            assert lap.sector_times == tuple(s if s > 0 else -1.0 for s in recorded)
            assert lap.driver == r["Driver"]
            assert lap.fuel_end == r["Fuel"]
            if r["StartTime"] > 0 and not _is_after_hole(raw, r):
                assert lap.start_et == pytest.approx(r["StartTime"], abs=1e-6)
            checked += 1
    assert checked == raw.execute("SELECT COUNT(*) FROM Laps").fetchone()[0]


def _is_after_hole(raw: sqlite3.Connection, r: sqlite3.Row) -> bool:
    prev = raw.execute(
        "SELECT 1 FROM Laps WHERE CarId = ? AND LapNumber = ?", (r["CarId"], r["LapNumber"] - 1)
    ).fetchone()
    return prev is None


def test_lap_numbers_have_no_holes_and_holes_are_synthesized(raw, scripts):
    synthesized = 0
    for sid, script in scripts.items():
        index = _car_of(raw, sid)
        recorded = defaultdict(set)
        for r in raw.execute("SELECT CarId, LapNumber FROM Laps WHERE SessionId = ?", (sid,)):
            recorded[index[r[0]]].add(r[1])
        for i, car in enumerate(script.cars):
            numbers = [lap.number for lap in car.laps]
            if not numbers:
                assert not recorded[i]
                continue
            assert numbers == list(range(min(recorded[i]), max(recorded[i]) + 1))
            synthesized += len(numbers) - len(recorded[i])
    assert synthesized == 4  # the four holes of this DB


def test_laps_are_contiguous_and_positive(scripts):
    gaps = 0
    for script in scripts.values():
        for car in script.cars:
            for lap in car.laps:
                assert min(lap.sectors) > 0
            for a, b in zip(car.laps, car.laps[1:], strict=False):
                assert b.start_et >= a.end_et - 1e-6
                if not _garage_between(car, a.start_et, b.start_et):
                    assert b.start_et == a.end_et
                elif b.start_et != a.end_et:
                    gaps += 1
    assert gaps < 10  # recorded laps chain through garage stays almost always


def test_true_sectors_follow_recorded_ones_on_clean_laps(scripts):
    for script in scripts.values():
        for car in script.cars:
            for lap in car.laps:
                if lap.lap_time > 0 and min(lap.sector_times) > 0:
                    assert lap.duration == pytest.approx(lap.lap_time, abs=0.05)
                    assert lap.sectors[0] == lap.sector_times[0]


def test_one_pit_visit_per_recorded_row(raw, scripts):
    for sid, script in scripts.items():
        index = _car_of(raw, sid)
        counts = defaultdict(int)
        for r in raw.execute("SELECT CarId FROM Pits WHERE SessionId = ?", (sid,)):
            counts[index[r[0]]] += 1
        for i, car in enumerate(script.cars):
            assert len(car.pits) == counts[i], (sid, car.entry.car_number)


def test_pit_times_are_recorded_ones_in_legal_order(raw, scripts):
    for sid, script in scripts.items():
        index = _car_of(raw, sid)
        for r in raw.execute("SELECT * FROM Pits WHERE SessionId = ?", (sid,)):
            car = script.cars[index[r["CarId"]]]
            if r["PitTime"] >= 0:
                assert any(v.entry_et == r["PitTime"] for v in car.pits)
            if r["GarageInTime"] >= 0:
                assert any(v.garage_in_et == r["GarageInTime"] for v in car.pits)
        for car in script.cars:
            starts = [v.start_et for v in car.pits]
            assert starts == sorted(starts)
            by_number = {lap.number: lap for lap in car.laps}
            for v in car.pits:
                lane = [v.request_et, v.entry_et, v.stop_et, v.release_et, v.exit_et]
                present = [t for t in lane if t is not None]
                assert present == sorted(present), v
                if v.entry_et is not None:
                    assert v.request_et is not None and v.request_et <= v.entry_et
                if v.garage_in_et is not None and v.garage_out_et is not None:
                    assert v.garage_in_et <= v.garage_out_et
                if v.swap_et is not None:
                    assert v.driver_in is None or v.driver_in in {m.name for m in car.entry.members}
                in_lap = by_number.get(v.lap)
                if v.entry_et is not None and in_lap is not None:
                    assert in_lap.start_et - 1e-6 <= v.request_et <= v.entry_et <= in_lap.end_et
                    # The exit comes on the out-lap: the lap after the one the car left its
                    # box in (one recorded stop spans the line during the tracker's glitch).
                    left = max(t for t in (v.entry_et, v.stop_et, v.release_et) if t is not None)
                    lap_left = max(lap.number for lap in car.laps if lap.start_et <= left)
                    out_lap = by_number.get(lap_left + 1)
                    if v.exit_et is not None and out_lap is not None:
                        assert v.exit_et <= out_lap.end_et


def test_stuck_exiting_follows_final_pit_state(raw, scripts):
    for sid, script in scripts.items():
        index = _car_of(raw, sid)
        for r in raw.execute("SELECT CarId, PitState FROM CarStates WHERE SessionId = ?", (sid,)):
            car = script.cars[index[r[0]]]
            if car.pits:
                assert car.pits[-1].stuck_exiting == (r[1] == "EXITING")
                assert not any(v.stuck_exiting for v in car.pits[:-1])


def test_hosted_sessions_count_slots_from_zero(raw, scripts):
    for sid, script in scripts.items():
        slots = [r[0] for r in raw.execute("SELECT SlotId FROM Cars WHERE SessionId = ?", (sid,))]
        offset = min(slots)
        assert sorted(c.entry.slot_id for c in script.cars) == sorted(s - offset for s in slots)
        for car in script.cars:
            if offset > 0:
                assert car.entry.team_slot == car.entry.slot_id + offset
                assert car.entry.utid == car.entry.team_slot
            else:
                assert car.entry.team_slot is None
    sebring = next(s for s in scripts.values() if s.track.name == "Sebring School Circuit")
    assert min(c.entry.slot_id for c in sebring.cars) == 0
    assert min(c.entry.utid for c in sebring.cars) == 56


def test_entries_members_and_ids(raw, scripts):
    script = scripts[ALGARVE_RACE]
    car = next(c for c in script.cars if c.entry.car_number == "99")
    assert car.entry.car_class == "LMP2_ELMS"
    assert car.entry.vehicle_file
    names = {m.name for m in car.entry.members}
    assert {"Will Elliott", "Oliver Isaac"} <= names
    for member in car.entry.members:
        assert member.roles and set(member.roles) <= {"Driver", "Race Engineer", "Admin"}
    for c in script.cars:
        assert len(c.entry.car_id) == 40 and int(c.entry.car_id, 16) >= 0
        assert set(c.entry.steam_ids) == {m.name for m in c.entry.members}
        for lap in c.laps:
            assert lap.driver in c.entry.steam_ids
    again = load_session(DB, ALGARVE_RACE)
    assert [c.entry.car_id for c in again.cars] == [c.entry.car_id for c in script.cars]
    assert again.cars[0].entry.steam_ids == script.cars[0].entry.steam_ids
    # Members with both roles, as hosted sessions have them.
    hosted = next(s for s in scripts.values() if s.track.name == "Sebring School Circuit")
    assert hosted.cars[0].entry.members[0].roles == ("Driver", "Race Engineer")


def test_chat_ticks_are_exact_and_inside_the_session(raw, scripts):
    for sid, script in scripts.items():
        rows = raw.execute(
            "SELECT Timestamp, Nanoseconds, Message FROM Chats WHERE SessionId = ? "
            "ORDER BY Timestamp, Nanoseconds, ChatId",
            (sid,),
        ).fetchall()
        assert len(script.chat) == len(rows)
        for line, r in zip(script.chat, rows, strict=True):
            assert type(line.timestamp) is int
            assert line.timestamp == r[0] * 10**7 + r[1] // 100
            assert line.timestamp > 2**53
            assert line.message == r[2]
            assert 0.0 <= line.et <= script.final_et()
        ets = [line.et for line in script.chat]
        assert ets == sorted(ets)
    first = scripts["019d4a84efa6724abd27b24aa1eb1210"].chat[0]
    assert first.timestamp == 17730571110904992


def test_weekend_of_a_practice_plays_all_three_sessions():
    weekend = load_weekend(DB, "019d4a84efa6724abd27b24aa1eb1210")
    assert [s.session for s in weekend.sessions] == ["PRACTICE1", "QUALIFY1", "RACE1"]
    assert {s.track.name for s in weekend.sessions} == {"Sebring School Circuit"}
    race_only = load_weekend(DB, ALGARVE_RACE)
    assert [s.session for s in race_only.sessions] == ["RACE1"]


def test_session_fields_and_phases(raw, scripts):
    for sid, script in scripts.items():
        s = raw.execute("SELECT * FROM Sessions WHERE SessionId = ?", (sid,)).fetchone()
        assert script.session == s["SessionType"]
        assert script.max_time == s["MaxTime"]
        assert script.start_et == s["StartEventTime"]
        assert script.end_et == s["EndEventTime"]
        assert script.track.length == s["LapDistance"]
        assert script.server_port == s["ServerPort"]
        assert script.max_players == s["MaxPlayers"]
        ets = [p.et for p in script.phases]
        assert ets == sorted(ets)
        green = next(p.et for p in script.phases if p.phase == PHASE_GREEN)
        assert script.checkered_et() == pytest.approx(green + script.max_time)
        last_end = max(c.laps[-1].end_et for c in script.cars if c.laps)
        assert last_end <= script.final_et() <= last_end + 120
        # The flag falls MaxTime after green: no timed lap starts after it in practice and
        # qualifying; in a race none starts after the leader took it.
        flag = script.checkered_et()
        starts = [lap.start_et for c in script.cars for lap in c.laps if lap.lap_time > 0]
        if script.is_race:
            most = max(c.laps[-1].number for c in script.cars if c.laps)
            leaders = [c for c in script.cars if c.laps and c.laps[-1].number == most]
            winner = min(leaders, key=lambda c: c.laps[-1].end_et)
            assert winner.laps[-1].start_et < flag <= winner.laps[-1].end_et
            flag = winner.laps[-1].end_et  # the others finish after the winner took the flag
        assert max(starts) < flag
        state = raw.execute("SELECT * FROM SessionStates WHERE SessionId = ?", (sid,)).fetchone()
        assert script.phase_at(script.final_et()) == PHASE_CHECKERED == state["GamePhase"]
        assert script.sector_flags[-1].flags == (
            state["Sector1Flag"],
            state["Sector2Flag"],
            state["Sector3Flag"],
        )
        assert script.conditions[-1].ambient_temp == state["AmbientTemp"]
        assert script.num_red_lights == state["NumRedLights"]


def test_algarve_race_end_matches_car_states(raw, scripts):
    script = scripts[ALGARVE_RACE]
    assert len(script.cars) == 35
    index = _car_of(raw, ALGARVE_RACE)
    states = raw.execute("SELECT * FROM CarStates WHERE SessionId = ?", (ALGARVE_RACE,)).fetchall()
    for st in states:
        car = script.cars[index[st["CarId"]]]
        assert car.finish_status == st["FinishStatus"]
        assert car.count_lap_flag == st["CountLapFlag"]
        if car.laps:
            assert car.laps[-1].number == st["LapsCompleted"]
            if st["LapStartET"] > 0:
                assert car.laps[-1].end_et == pytest.approx(st["LapStartET"], abs=1e-6)
            if st["FinishStatus"] != "FSTAT_NONE":
                assert car.finish_et == car.laps[-1].end_et
        pending = [p for p in car.penalties if p.served_et is None]
        assert len(car.penalties) == st["TotalPenalties"]
        assert len(pending) == st["Penalties"]

    def final_order(c):
        laps = c.laps[-1].number if c.laps else 0
        return (-laps, c.laps[-1].end_et if c.laps else 0.0, c.entry.slot_id)

    ranked = sorted((c for c in script.cars if c.laps), key=final_order)
    expected = [st for st in sorted(states, key=lambda st: st["Position"]) if st["LapsCompleted"]]
    assert [c.entry.slot_id for c in ranked] == [
        script.cars[index[st["CarId"]]].entry.slot_id for st in expected
    ]
    winner = ranked[0]
    assert winner.entry.car_number == "99" and winner.laps[-1].number == 147
    assert sum(1 for v in winner.pits if v.stop_et is not None) == 4


def test_algarve_race_through_the_engine(raw, scripts):
    engine = pytest.importorskip("sim.engine")
    script = scripts[ALGARVE_RACE]
    live = engine.evaluate(script, script.final_et())
    index = _car_of(raw, ALGARVE_RACE)
    slot_of = {cid: script.cars[i].entry.slot_id for cid, i in index.items()}
    expected = [
        slot_of[r[0]]
        for r in raw.execute(
            "SELECT CarId FROM CarStates WHERE SessionId = ? ORDER BY Position", (ALGARVE_RACE,)
        )
    ]
    assert [c.slot_id for c in live.cars][:26] == expected[:26]  # every classified finisher
    mid = engine.evaluate(script, 7200.0)
    leader = mid.cars[0]
    assert leader.laps_completed > 60 and leader.last_lap_time > 0


def test_penalties_issued_and_served(raw, scripts):
    total = 0
    for sid, script in scripts.items():
        index = _car_of(raw, sid)
        for st in raw.execute("SELECT * FROM CarStates WHERE SessionId = ?", (sid,)):
            car = script.cars[index[st["CarId"]]]
            assert len(car.penalties) == st["TotalPenalties"]
            assert sum(p.served_et is None for p in car.penalties) == st["Penalties"]
            for p in car.penalties:
                assert p.kind in ("DT", "SG", "TIME")
                if p.served_et is not None:
                    assert p.served_et >= p.et
                    assert any(v.penalty_served == p.kind for v in car.pits)
            total += len(car.penalties)
    assert total == 13


def test_energy_and_garage_start(scripts):
    script = scripts[ALGARVE_RACE]
    for car in script.cars:
        if car.entry.car_class == "LMP2_ELMS":
            assert not car.entry.has_virtual_energy and car.start_ve is None
            assert all(lap.ve_end is None for lap in car.laps)
        if car.entry.has_virtual_energy:
            assert all(lap.ve_end is not None for lap in car.laps)
        assert 0.0 <= car.start_fuel <= 1.0
        assert not car.start_in_garage  # race cars start on the grid
    practice = scripts["019d4a84efa6724abd27b24aa1eb1210"]
    assert sum(c.start_in_garage for c in practice.cars if c.laps) == len(
        [c for c in practice.cars if c.laps]
    )


def test_loads_the_four_hour_race_fast():
    t0 = time.perf_counter()
    script = load_session(DB, ALGARVE_RACE)
    assert time.perf_counter() - t0 < 2.0
    assert sum(len(c.laps) for c in script.cars) >= 3740


def test_track_map_directory_is_used(tmp_path):
    tracks = pytest.importorskip("sim.tracks")
    drawn = tracks.procedural_track("Algarve International Circuit", 4635.31640625, seed=7)
    payload = [{"x": p.x, "y": p.y, "z": p.z, "type": p.type} for p in drawn.points]
    (tmp_path / "Algarve International Circuit.json").write_text(json.dumps(payload))
    script = load_session(DB, ALGARVE_RACE, track_maps=tmp_path)
    assert len(script.track.points) == len(drawn.points)
    assert script.track.points[0].x == pytest.approx(drawn.points[0].x)
    procedural = load_session(DB, ALGARVE_RACE, track_maps=tmp_path / "none")
    assert procedural.track.points[0].x != pytest.approx(drawn.points[0].x)


def test_unknown_session_names_valid_ids():
    with pytest.raises(ReplayError) as err:
        load_session(DB, "no-such-session")
    assert ALGARVE_RACE in str(err.value)
    with pytest.raises(ReplayError):
        load_weekend(DB, "no-such-session")


def test_bad_files_raise_replay_error(tmp_path):
    with pytest.raises(ReplayError, match="not found"):
        load_session(tmp_path / "missing.db", ALGARVE_RACE)
    text = tmp_path / "notes.db"
    text.write_text("this is not a database\n" * 100)
    with pytest.raises(ReplayError):
        list_sessions(text)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE Sessions (SessionId TEXT)")
    with pytest.raises(ReplayError, match="missing"):
        load_session(other, ALGARVE_RACE)
    assert issubclass(ReplayError, ValueError)
