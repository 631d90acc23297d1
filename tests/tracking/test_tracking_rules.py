"""Each tricky rule with a small hand-made sequence of observations (no simulator)."""

from __future__ import annotations

from typing import Any

import pytest

from server.tracking.tracker import Tracker

KEY = "0-CAR_A"


def car(**fields: Any) -> dict[str, Any]:
    """A standings row (with its websocket row) as the normalized state holds it."""
    row = {
        "slotID": 0,
        "vehicleFilename": "CAR_A",
        "vehicleName": "Car A #1:LM",
        "fullTeamName": "Team A",
        "carNumber": "1",
        "carClass": "GT3",
        "driverName": "Ann Ames",
        "position": 1,
        "lapsCompleted": 3,
        "lapStartET": 290.0,
        "lastLapTime": 95.0,
        "lastSectorTime1": 30.0,
        "lastSectorTime2": 62.0,
        "countLapFlag": "COUNT_LAP_AND_TIME",
        "pitState": "NONE",
        "pitting": False,
        "pitstops": 0,
        "inGarageStall": False,
        "penalties": 0,
        "finishStatus": "FSTAT_NONE",
        "fuelFraction": 0.5,
        "veFraction": 0.6,
        "player": False,
        "sector": "SECTOR2",
        "ws": {"compoundNames": ["Medium"] * 4, "penalties": {"DT": 0, "SG": 0, "TIME": 0}},
    }
    ws = fields.pop("ws", None)
    row.update(fields)
    if ws is not None:
        row["ws"] = {**row["ws"], **ws}
    return row


def state(*rows: dict[str, Any], **extra: Any) -> dict[str, Any]:
    session = {"gamePhase": 5, "sectorFlag": ["UNKNOWN"] * 3, "ambientTemp": 20.0}
    session.update(extra.pop("session", {}))
    cars = {f"{r['slotID']}-{r['vehicleFilename']}": r for r in rows}
    return {"session": session, "cars": cars, **extra}


def play(steps: list[tuple[float, dict[str, Any]]], tracker: Tracker | None = None):
    """Feed (et, state-or-row) steps; returns the tracker and all events."""
    tracker = tracker or Tracker("RACE1", 4000.0)
    events = []
    for et, doc in steps:
        events += tracker.observe(doc if "cars" in doc else state(doc), et)
    return tracker, events


def kinds(events, *wanted: str) -> list[str]:
    return [e.kind for e in events if e.kind in wanted]


PIT_KINDS = ("pit_entered", "pit_stopped", "pit_released", "pit_exited", "garage_in", "garage_out")


def test_stuck_exiting_closes_the_stop_and_opens_nothing():
    tracker, events = play(
        [
            (300, car()),
            (310, car(pitState="ENTERING", pitting=True)),
            (320, car(pitState="STOPPED", pitting=True, pitstops=1)),
            (345, car(pitState="EXITING", pitting=True, pitstops=1)),
            (352, car(pitState="EXITING", pitting=False, pitstops=1)),  # on track, stuck
            (400, car(pitState="EXITING", pitting=False, pitstops=1, lapsCompleted=4)),
            (500, car(pitState="EXITING", pitting=False, pitstops=1, lapsCompleted=5)),
            (560, car(pitState="ENTERING", pitting=True, pitstops=1, lapsCompleted=5)),
        ]
    )
    assert kinds(events, *PIT_KINDS) == [
        "pit_entered", "pit_stopped", "pit_released", "pit_exited", "pit_entered"
    ]  # fmt: skip
    first, second = tracker.pit_stops(KEY)
    assert (first.entry_et, first.stop_et, first.release_et, first.exit_et) == (310, 320, 345, 352)
    assert first.stationary_time == 25.0 and not first.drive_through
    assert (second.lap, second.entry_et, second.closed) == (6, 560, False)


def test_a_stuck_pitting_flag_closes_the_stop_on_a_later_lap_past_sector_one():
    stuck = {"pitState": "EXITING", "pitting": True, "pitstops": 1}
    _tracker, events = play(
        [
            (300, car()),
            (310, car(pitState="STOPPED", pitting=True, pitstops=1)),
            (330, car(**stuck, sector="SECTOR1")),
            (340, car(**stuck, sector="SECTOR2")),  # the lap it left on: still in the lane
            (390, car(**stuck, lapsCompleted=4, lapStartET=385.0, sector="SECTOR1")),
            (420, car(**stuck, lapsCompleted=4, lapStartET=385.0, sector="SECTOR2")),
        ]
    )
    exited = [e for e in events if e.kind == "pit_exited"]
    assert len(exited) == 1 and exited[0].et == 420 and exited[0].estimated


def test_drive_through_and_a_second_visit_in_the_same_lap():
    tracker, events = play(
        [
            (300, car()),
            (310, car(pitState="ENTERING", pitting=True, penalties=1, ws={"penalties": {"DT": 1}})),
            (330, car(pitState="ENTERING", pitting=True)),
            (340, car(pitState="NONE", pitting=False)),
            (350, car(pitState="ENTERING", pitting=True)),
            (360, car(pitState="STOPPED", pitting=True, pitstops=1)),
        ]
    )
    first, second = tracker.pit_stops(KEY)
    assert first.drive_through and first.stop_et is None and first.exit_et == 340
    assert first.penalty_served == "DT"
    assert (first.lap, second.lap) == (4, 4)
    assert second.stop_et == 360 and not second.drive_through
    added = [e for e in events if e.kind == "penalty_added"]
    assert [(e.added, e.pending) for e in added] == [("DT", 1)]


def test_a_stop_after_the_line_belongs_to_the_entry_lap():
    tracker, _ = play(
        [
            (300, car()),
            (380, car(pitState="ENTERING", pitting=True)),
            (386, car(pitState="ENTERING", pitting=True, lapsCompleted=4, lapStartET=385.0)),
            (390, car(pitState="STOPPED", pitting=True, lapsCompleted=4, lapStartET=385.0)),
        ]
    )
    (stop,) = tracker.pit_stops(KEY)
    assert (stop.lap, stop.stop_lap, stop.stop_after_line) == (4, 5, True)
    lap4 = tracker.cars[KEY].laps[4]
    assert lap4.pit and lap4.end_et == 385.0


def test_a_missed_stationary_phase_is_inferred_and_timed_by_the_strategy():
    strategy = {
        "Team A": {
            "name": "Team A",
            "stops": {
                "0": {"lap": 0, "time": 0.0, "tyres": {"fl": {"compound": "Medium"}}},
                "4": {
                    "lap": 4,
                    "time": 22.5,
                    "ve": 1.0,
                    "driverSwap": False,
                    "penalty": False,
                    "tyres": {
                        w: {"changed": True, "compound": "Soft", "new": True}
                        for w in ("fl", "fr", "rl", "rr")
                    },
                },
            },
        }
    }
    tracker, events = play(
        [
            (300, car()),
            (310, car(pitState="ENTERING", pitting=True)),
            (345, car(pitState="EXITING", pitting=True, pitstops=1)),  # STOPPED never seen
            (360, car(pitState="NONE", pitting=False, pitstops=1)),
            (370, state(car(pitstops=1), strategy={"Team A": {"name": "Team A", "stops": {}}})),
            (380, state(car(pitstops=1), strategy=strategy)),
        ]
    )
    (stop,) = tracker.pit_stops(KEY)
    assert stop.stop_estimated and stop.release_et == 345 and stop.exit_et == 360
    serviced = [e for e in events if e.kind == "pit_serviced"]
    assert len(serviced) == 1 and serviced[0].et == 380  # resolved late, after closing
    assert stop.stop_et == pytest.approx(345 - 22.5)
    assert stop.stationary_time == 22.5
    assert stop.compounds == ("Soft",) * 4 and stop.tyres_changed == (True,) * 4


def test_strategy_placeholders_and_the_second_entry_of_a_lap():
    entry = {"lap": 4, "time": 10.0, "tyres": {"fl": {"compound": "Hard"}}}
    stops = {"4": {**entry, "tyres": {"fl": {"compound": "N/A"}}}, "4#2": {**entry, "time": 11.0}}
    tracker, _events = play(
        [
            (300, car()),
            (310, car(pitState="STOPPED", pitting=True, pitstops=1)),
            (320, car(pitState="NONE", pitting=False, pitstops=1)),
            (330, car(pitState="STOPPED", pitting=True, pitstops=2)),
            (340, car(pitState="NONE", pitting=False, pitstops=2)),
            (350, state(car(pitstops=2), strategy={"a": {"name": "Team A", "stops": stops}})),
        ]
    )
    first, second = tracker.pit_stops(KEY)
    assert first.strategy_key == "4#2" and first.service_time == 11.0
    assert second.strategy_key is None  # the placeholder describes no stop


def test_first_sight_in_the_lane_in_the_box_in_the_garage_and_leaving():
    rows = [
        car(slotID=0, vehicleFilename="A", pitState="ENTERING", pitting=True),
        car(slotID=1, vehicleFilename="B", pitState="STOPPED", pitting=True),
        car(slotID=2, vehicleFilename="C", pitState="EXITING", pitting=True, inGarageStall=True),
        car(slotID=3, vehicleFilename="D", pitState="EXITING", pitting=True, pitstops=2),
        car(slotID=4, vehicleFilename="E", pitState="EXITING", pitting=False),
    ]
    tracker, events = play([(500, state(*rows))])
    pit = [e for e in events if e.kind in PIT_KINDS]
    by_car = {
        key: [(e.kind, getattr(e, "estimated", None)) for e in pit if e.car == key]
        for key in ("0-A", "1-B", "2-C", "3-D", "4-E")
    }
    assert by_car == {
        "0-A": [("pit_entered", False)],
        "1-B": [("pit_entered", True), ("pit_stopped", False)],
        "2-C": [("garage_in", None)],
        "3-D": [("pit_entered", True), ("pit_released", None)],
        "4-E": [],  # stuck EXITING: on track
    }
    assert tracker.cars["2-C"].in_garage


def test_missing_sector_counts_the_others_and_invalid_laps_count_nothing():
    tracker, _ = play(
        [
            (300, car(lapsCompleted=1, lastLapTime=96.0, lastSectorTime1=31.0, lastSectorTime2=-1)),
            (
                400,
                car(lapsCompleted=2, lapStartET=390.0, lastLapTime=-1.0, lastSectorTime1=29.0),
            ),
            (
                500,
                car(
                    lapsCompleted=3,
                    lapStartET=485.0,
                    lastLapTime=95.0,
                    lastSectorTime1=30.5,
                    lastSectorTime2=62.0,
                    countLapFlag="COUNT_LAP_ONLY",
                ),
            ),
        ]
    )
    laps = tracker.cars[KEY].laps
    assert laps[1].sector_times == (31.0, -1.0, -1.0) and laps[1].valid
    assert laps[2].sector_times == (29.0, 33.0, -1.0) and not laps[2].valid
    assert not laps[3].valid  # the game does not count its time
    best = tracker.bests.by_car[KEY]
    assert best.lap[0] == 96.0 and best.s1[0] == 31.0 and best.s2 is None and best.s3 is None


def test_swap_lap_belongs_to_the_driver_who_crossed_the_line():
    tracker, events = play(
        [
            (300, car(lapsCompleted=3)),
            (320, car(pitState="STOPPED", pitting=True, pitstops=1)),
            (325, car(pitState="STOPPED", pitting=True, pitstops=1, driverName="Bo Berg")),
            (350, car(pitState="EXITING", pitting=True, pitstops=1, driverName="Bo Berg")),
            (
                390,
                car(
                    lapsCompleted=4,
                    lapStartET=388.0,
                    lastLapTime=98.0,
                    lastSectorTime1=29.0,
                    lastSectorTime2=60.0,
                    driverName="Bo Berg",
                    pitting=False,
                    pitstops=1,
                ),
            ),
        ]
    )
    swap = next(e for e in events if e.kind == "driver_swap")
    assert (swap.driver_out, swap.driver_in, swap.stop, swap.lap) == ("Ann Ames", "Bo Berg", 1, 4)
    lap4 = tracker.cars[KEY].laps[4]
    assert lap4.driver == "Bo Berg"
    assert tracker.bests.by_driver[(KEY, "Bo Berg")].s1[0] == 29.0
    assert tracker.bests.by_driver[(KEY, "Ann Ames")].lap[0] == 95.0  # lap 3, seen late
    first, second = tracker.stints(KEY)
    assert (first.driver, first.end_et, first.ended_by) == ("Ann Ames", 325, "swap")
    assert (second.driver, second.start_et, second.first_lap) == ("Bo Berg", 325, 4)


def test_player_fuel_waits_for_the_usage_of_the_laps_own_driver():
    usage = {"Ann Ames": {"4": {"lap": 4, "fuel": 0.42, "ve": 0.5, "tyres": [90.0] * 4}}}
    tracker, events = play(
        [
            (300, car(player=True, fuelFraction=1.0)),
            (390, car(player=True, fuelFraction=1.0, lapsCompleted=4, lapStartET=388.0)),
            (391, car(player=True, fuelFraction=1.0, lapsCompleted=4, driverName="Bo Berg")),
            (392, state(car(player=True, lapsCompleted=4, driverName="Bo Berg"), usage=usage)),
        ]
    )
    lap4 = tracker.cars[KEY].laps[4]
    assert lap4.fuel == 0.42 and lap4.tyre_wear == (90.0,) * 4
    updates = [e for e in events if e.kind == "lap_updated"]
    assert [(e.lap, e.et) for e in updates] == [(4, 392)]


def test_session_phases_flags_and_conditions():
    def at(phase: int, flags: list[str], air: float) -> dict[str, Any]:
        return state(car(), session={"gamePhase": phase, "sectorFlag": flags, "ambientTemp": air})

    green, yellow = ["UNKNOWN"] * 3, ["UNKNOWN", "YELLOW", "UNKNOWN"]
    steps = [(et, at(5, green, 20.0)) for et in range(100, 200)]
    steps += [(200, at(5, yellow, 20.0)), (230, at(5, green, 20.0)), (240, at(6, green, 20.0))]
    steps += [(300, at(5, green, 20.0)), (301, at(5, green, 21.0)), (302, at(8, green, 21.0))]
    tracker, _events = play(steps)
    feed = [(item.kind, item.text) for item in tracker.feed if item.car is None]
    assert feed == [
        ("phase", "Green flag"),
        ("yellow", "Yellow flag in sector 2"),
        ("yellow", "Sector 2 clear"),
        ("phase", "Full-course yellow"),
        ("fcy", "Full-course yellow"),
        ("phase", "Green flag"),
        ("fcy", "Full-course yellow ends"),
        ("phase", "Checkered flag"),
    ]
    samples = [s.et for s in tracker.conditions]
    # first, every 60 s, the phase changes, and the air temperature moving 1 °C
    assert samples == [100, 160, 230, 240, 300, 301, 302]


def test_finish_retirement_and_duplicate_or_older_observations():
    tracker, events = play(
        [
            (300, state(car(), car(slotID=1, vehicleFilename="B"))),
            (310, state(car(finishStatus="FSTAT_FINISHED"), car(slotID=1, vehicleFilename="B"))),
            (310, state(car(lapsCompleted=9), car(slotID=1, vehicleFilename="B"))),  # same ET
            (305, state(car(lapsCompleted=9), car(slotID=1, vehicleFilename="B"))),  # older
            (320, state(car(), car(slotID=1, vehicleFilename="B", finishStatus="FSTAT_DNF"))),
        ]
    )
    feed = [(item.kind, item.car) for item in tracker.feed if item.kind in ("finish", "dnf")]
    assert feed == [("finish", KEY), ("dnf", "1-B")]
    assert tracker.cars[KEY].laps_done == 3
    assert kinds(events, "lap_completed") == ["lap_completed", "lap_completed"]  # seen late


def test_lap_count_jump_marks_missing_laps_and_keeps_the_last():
    tracker, _events = play(
        [
            (300, car(lapsCompleted=0, lastLapTime=0.0, lapStartET=100.0)),
            (900, car(lapsCompleted=6, lapStartET=880.0, lastLapTime=97.0)),
        ]
    )
    assert tracker.missing_laps() == {KEY: [1, 2, 3, 4, 5]}
    lap6 = tracker.cars[KEY].laps[6]
    assert (lap6.source, lap6.lap_time, lap6.end_et, lap6.position) == ("late", 97.0, 880.0, None)
    history = {
        "0": [
            {"totalLaps": n, "lapTime": 96.0 + n / 10, "sectorTime1": 30.0, "sectorTime2": 62.0,
             "driverName": "Ann Ames", "position": 2, "pitting": n == 3}
            for n in range(1, 7)
        ] + [{"totalLaps": 6, "lapTime": -1.0}]
    }  # fmt: skip
    filled = tracker.backfill(history, 901)
    assert [e.lap for e in filled if e.kind == "lap_completed"] == [5, 4, 3, 2, 1]
    assert [(e.lap, e.changes) for e in filled if e.kind == "lap_updated"] == [(6, {"position": 2})]
    laps = tracker.cars[KEY].laps
    # line ETs chain back from the late lap 6 (880 - 97 s)
    assert laps[3].pit and laps[5].end_et == pytest.approx(783.0)
    assert laps[5].start_et == pytest.approx(783.0 - 96.5)
    assert laps[1].start_et == pytest.approx(783.0 - 96.5 - 96.4 - 96.3 - 96.2 - 96.1)
    assert tracker.backfill(history, 902) == []


def test_a_stop_only_the_strategy_knows_is_recovered():
    tyres = {w: {"changed": True, "compound": "Wet"} for w in ("fl", "fr", "rl", "rr")}
    stops = {
        "0": {"lap": 0, "time": 0.0, "tyres": tyres},
        "5": {"lap": 5, "time": 31.0, "driverSwap": True, "tyres": tyres},
    }
    strategy = {"Team A": {"name": "Team A", "stops": stops}}
    tracker, events = play([(900, state(car(lapsCompleted=9, pitstops=1), strategy=strategy))])
    (stop,) = tracker.pit_stops(KEY)
    assert (stop.number, stop.lap, stop.recovered, stop.closed) == (1, 5, True, True)
    assert stop.service_time == 31.0 and stop.compounds == ("Wet",) * 4
    assert kinds(events, "pit_stop_recovered", "pit_serviced") == [
        "pit_stop_recovered",
        "pit_serviced",
    ]
    # seen again: nothing new
    assert play([(901, state(car(lapsCompleted=9), strategy=strategy))], tracker)[1] == []


def test_a_brief_release_during_a_swap_resumes_the_same_stop():
    box = {"pitting": True, "pitstops": 1}
    tracker, _events = play(
        [
            (300, car()),
            (310, car(pitState="STOPPED", **box)),
            (318, car(pitState="NONE", **box)),  # the game flips STOPPED off during the swap
            (320, car(pitState="STOPPED", **box, driverName="Bo Berg")),
            (340, car(pitState="EXITING", **box, driverName="Bo Berg")),
            (360, car(pitState="NONE", pitting=False, pitstops=1, driverName="Bo Berg")),
        ]
    )
    (stop,) = tracker.pit_stops(KEY)
    assert (stop.stop_et, stop.release_et, stop.exit_et) == (310, 340, 360)
    assert stop.stationary_time == 30.0
    assert [s["driver_in"] for s in stop.swaps] == ["Bo Berg"]
    assert tracker.stints(KEY)[0].stops == 1


def test_feed_lines_for_pits_swaps_and_penalties():
    bo = {"driverName": "Bo Berg"}
    sg = {"penalties": {"DT": 0, "SG": 1, "TIME": 0}}
    tracker, _ = play(
        [
            (300, car()),
            (301, car(penalties=1, ws=sg)),
            (310, car(pitState="ENTERING", pitting=True, penalties=1, ws=sg)),
            (320, car(pitState="STOPPED", pitting=True, pitstops=1, penalties=1, ws=sg, **bo)),
            (330, car(pitState="EXITING", pitting=True, pitstops=1, **bo)),  # served: 1 -> 0
            (340, car(pitstops=1, **bo)),
        ]
    )
    lines = [(item.et, item.kind, item.text) for item in tracker.feed if item.car == KEY]
    assert lines == [
        (300, "class_best", "#1 Team A fastest GT3 lap 1:35.000 (Ann Ames, lap 3)"),
        (300, "personal_best", "#1 Team A personal best 1:35.000 (Ann Ames)"),
        (301, "penalty", "#1 Team A stop-and-go (1 pending)"),
        (310, "pit_in", "#1 Team A into the pits (lap 4)"),
        (320, "swap", "#1 Team A driver change: Ann Ames -> Bo Berg"),
        (330, "penalty_served", "#1 Team A served stop-and-go"),
        (340, "pit_out", "#1 Team A out of the pits"),
    ]
