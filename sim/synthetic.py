"""Seeded synthetic race scripts: the public entry point of the synthetic generator.

Everything comes from one `random.Random(seed)`, so the same arguments always give the same
script (tests, demos and bug reports can name a seed). The model is simple but shaped like the
game's data: class pace from the track length, per-driver pace, tyre wear, fuel load, slower
first laps, in-laps and out-laps carrying the pit-lane time in the sectors where the pit lane is,
full-course yellows, rain, penalties served at the next visit, driver swaps, DNFs and the
game's quirks (invalid laps, a missing sector now and then, pit state stuck in EXITING).

This module assembles a session from the parts, in the order the random draws must happen:
- `sim.synthetic_entries`: the entry list and each car's pace;
- `sim.synthetic_weather`: the weather timeline, forecast nodes and tyre compounds;
- `sim.synthetic_session`: the context the cars of a session share;
- `sim.synthetic_car`: one car's laps, stints, pit visits and penalties;
- `sim.synthetic_order`: the grid, the finish and positions over all cars;
- `sim.synthetic_flags`: phases, full-course yellows, sector flags and chat.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from sim import names, synthetic_flags
from sim.script import CarScript, Entry, SessionScript, Track, Weekend
from sim.synthetic_car import Car, issue_penalties
from sim.synthetic_entries import Pace, build_entries, copy_entries
from sim.synthetic_order import default_grid, finish_race, positions
from sim.synthetic_session import Session
from sim.synthetic_weather import weather_nodes, weather_timeline
from sim.tracks import catalogue_track

__all__ = ["build_entries", "generate_session", "generate_weekend", "qualifying_order"]


# --- the session ---------------------------------------------------------------------------


def _build_session(
    rng: random.Random,
    *,
    seed: int,
    session: str,
    entries: list[Entry],
    paces: dict[int, Pace],
    track: Track,
    duration: float,
    online: bool,
    start_et: float | None,
    grid: list[int] | None,
) -> SessionScript:
    is_race = session.startswith("RACE")
    if start_et is None:
        start_et = float(rng.choice((63, 93, rng.randint(60, 95)))) if is_race else 30.0
    max_time = float(duration)
    if max_time <= start_et + 60:
        raise ValueError(f"duration {duration} s leaves no time after the start at {start_et} s")
    if is_race:
        tod = 16 * 3600.0 if max_time >= 20 * 3600 else rng.choice((11, 12, 13, 14, 15)) * 3600.0
    else:
        tod = rng.randrange(9 * 4, 17 * 4) * 900.0
    weather = weather_timeline(rng, max_time + 1800.0, tod)
    bias = [w * (1 + rng.uniform(-0.08, 0.08)) for w in _sector_shares(track)]
    total = sum(bias)
    ses = Session(
        rng=rng,
        kind=session,
        track=track,
        max_time=max_time,
        start_et=float(start_et),
        weather=weather,
        fcy=synthetic_flags.fcy_periods(rng, start_et, max_time) if is_race else [],
        sector_weights=(bias[0] / total, bias[1] / total, bias[2] / total),
    )
    cars = [Car(ses, e, paces[e.slot_id], rng) for e in entries]
    if is_race:
        order = list(grid) if grid is not None else default_grid(rng, cars)
        if sorted(order) != sorted(e.slot_id for e in entries):
            raise ValueError("grid must list every slot id exactly once")
        by_slot = {c.entry.slot_id: c for c in cars}
        race_laps = (max_time - start_et) / min(c.base for c in cars)
        dnf_count = 0
        if max_time - start_et >= 3 * 3600:
            dnf_count = rng.randint(1, max(1, len(cars) // 12))
        dnf_slots = set(rng.sample(order, min(dnf_count, len(order))))
        for rank, slot in enumerate(order, start=1):
            car = by_slot[slot]
            car.script.grid_position = rank
            car.t = start_et + 0.45 * (rank - 1)
            car.fuel = min(1.0, car.fuel_per_lap * (race_laps + 3))
            car.script.start_fuel = round(car.fuel, 4)
            car.no_pit_after = max_time - 1.5 * car.base
            issue_penalties(ses, car)
            if slot in dnf_slots:
                car.retire_et = rng.uniform(start_et + 0.1 * (max_time - start_et), max_time * 0.9)
            if rng.random() < 0.03 * max(1.0, (max_time - start_et) / 21600):
                car.repair_et = rng.uniform(start_et + 600, max_time * 0.8)
        finish_race(ses, cars)
    else:
        for car in cars:
            car.runs(qualifying=session.startswith("QUALIFY"))
    for car in cars:
        car.script.reindex()
        car.script.pits.sort(key=lambda v: v.start_et)
        for pen in car.script.penalties:
            if pen.served_et is not None and math.isinf(pen.served_et):
                pen.served_et = None  # claimed for a visit that never happened
    scripts = [c.script for c in cars]
    positions(scripts, timed=not is_race)
    script = SessionScript(
        session=session,
        track=track,
        cars=scripts,
        max_time=max_time,
        start_et=float(start_et),
        end_et=max_time,
        phases=synthetic_flags.phases(ses),
        conditions=weather.samples,
        sector_flags=synthetic_flags.sector_flags(ses),
        online=online,
        server_name=rng.choice(names.SERVER_NAMES),
        server_port=rng.choice((54290, 36116, 30476, 64297)),
        max_players=max(len(entries), 20) + rng.randint(0, 20),
        num_red_lights=rng.choice((4, 5)),
        time_of_day_start=tod,
        weather_nodes=weather_nodes(rng, weather, max_time),
    )
    script.chat = synthetic_flags.chat(ses, entries, script.final_et(), seed)
    return script


def _sector_shares(track: Track) -> tuple[float, float, float]:
    e1, e2 = track.sector_ends
    return e1, e2 - e1, 1.0 - e2


# --- public API ----------------------------------------------------------------------------


def generate_session(
    *,
    seed: int,
    session: str = "RACE1",
    cars: int = 20,
    duration: float = 3600,
    classes: Sequence[str] | None = None,
    track: str | None = None,
    online: bool = True,
    start_et: float | None = None,
    grid: list[int] | None = None,
) -> SessionScript:
    """One session's script, the same for the same arguments.

    `grid` lists slot ids from pole backwards (races only); by default cars line up by class
    and pace. `track` is a catalogue name (see `sim.tracks.TRACK_CATALOGUE`) or None (random).
    """
    rng = random.Random(seed)
    circuit = catalogue_track(track, rng)
    entries, paces = build_entries(rng, cars, classes, online)
    return _build_session(
        rng,
        seed=seed,
        session=session,
        entries=entries,
        paces=paces,
        track=circuit,
        duration=duration,
        online=online,
        start_et=start_et,
        grid=grid,
    )


def qualifying_order(script: SessionScript) -> list[int]:
    """Slot ids by best valid lap; cars without a time at the back in slot order."""

    def best(car: CarScript) -> float:
        times = [lap.lap_time for lap in car.laps if lap.lap_time > 0]
        return min(times) if times else math.inf

    return [c.entry.slot_id for c in sorted(script.cars, key=lambda c: (best(c), c.entry.slot_id))]


def generate_weekend(
    *,
    seed: int,
    cars: int,
    race_duration: float,
    classes: Sequence[str] | None = None,
    track: str | None = None,
    online: bool = True,
    practice_duration: float = 1800,
    qualifying_duration: float = 900,
) -> Weekend:
    """Practice, qualifying and race on one track with one entry list; qualifying sets the grid."""
    rng = random.Random(seed)
    circuit = catalogue_track(track, rng)
    entries, paces = build_entries(rng, cars, classes, online)
    sessions = []
    grid: list[int] | None = None
    for name, duration in (
        ("PRACTICE1", practice_duration),
        ("QUALIFY1", qualifying_duration),
        ("RACE1", race_duration),
    ):
        script = _build_session(
            random.Random(rng.getrandbits(64)),
            seed=seed,
            session=name,
            entries=copy_entries(entries),
            paces=paces,
            track=circuit,
            duration=duration,
            online=online,
            start_et=None,
            grid=grid,
        )
        if name == "QUALIFY1":
            grid = qualifying_order(script)
        sessions.append(script)
    for later in sessions[1:]:  # one game server hosts the whole weekend
        later.server_name = sessions[0].server_name
        later.server_port = sessions[0].server_port
        later.max_players = sessions[0].max_players
    return Weekend(sessions=sessions)
