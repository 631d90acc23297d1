"""The race engine: a script and an event time in, the live session (`SessionLive`) out.

`evaluate(script, et)` is pure: no clock, no I/O, no randomness, so the simulator can start at
any ET, run at any speed and serve several viewpoints from one script. Per-script arrays are
built once (`Engine(script)`) and cached; the cache notices scripts that grew (more laps, pits,
penalties, chat...) and rebuilds. Call `invalidate(script)` after editing values in place.

Conventions the engine settles (the contract leaves them open):
- `stint` counts driver stints: 1 at the start, +1 at each driver swap.
- Before its first lap a car has `lap_start_et` 0.0 (or its garage-out ET) and a negative
  `time_into_lap` (time until it reaches the line), as the game shows before a start.
- A car in its garage stall reports pit state EXITING with `pitting` true (seen in captures).
- `completed_laps`/`completed_pits` are list slices of the script's lists (cheap, O(k)).
- Timed sessions report `time_behind_*` 0.0 for cars without a time.
"""

from __future__ import annotations

import bisect
import logging
import math
import weakref

from sim.engine_car import CarIndex
from sim.engine_motion import world
from sim.engine_order import (
    assign_positions,
    blue_flags,
    race_gaps,
    race_key,
    timed_gaps,
    timed_key,
)
from sim.script import (
    PHASE_CHECKERED,
    PHASE_FCY,
    ChatLine,
    Conditions,
    SessionScript,
)
from sim.snapshot import SessionLive

log = logging.getLogger(__name__)

DEFAULT_CONDITIONS = Conditions(
    et=0.0,
    ambient_temp=22.0,
    track_temp=28.0,
    raining=0.0,
    dark_cloud=0.0,
    wetness_avg=0.0,
    wetness_min=0.0,
    wetness_max=0.0,
)
NO_FLAGS = ("UNKNOWN", "UNKNOWN", "UNKNOWN")
DAWN = 6.5 * 3600  # headlights off from
DUSK = 19.75 * 3600  # headlights on from


class Engine:
    """One script's precomputed lookups; `evaluate(et)` gives the session at that ET."""

    def __init__(self, script: SessionScript) -> None:
        self.script = script
        self.cars = [CarIndex(car, script) for car in script.cars]
        self.phase_ets = [p.et for p in script.phases]
        self.cond_ets = [c.et for c in script.conditions]
        self.flag_ets = [f.et for f in script.sector_flags]
        self.chat_ets = [c.et for c in script.chat]
        self.checkered = script.checkered_et()
        self.fingerprint = fingerprint(script)

    def phase(self, et: float) -> int:
        idx = bisect.bisect_right(self.phase_ets, et) - 1
        return self.script.phases[idx].phase if idx >= 0 else 0

    def conditions(self, et: float) -> Conditions:
        samples = self.script.conditions
        if not samples:
            return DEFAULT_CONDITIONS
        idx = bisect.bisect_right(self.cond_ets, et) - 1
        if idx < 0:
            return samples[0]
        if idx >= len(samples) - 1:
            return samples[-1]
        return _blend(samples[idx], samples[idx + 1], et)

    def sector_flags(self, et: float) -> tuple[str, str, str]:
        idx = bisect.bisect_right(self.flag_ets, et) - 1
        return self.script.sector_flags[idx].flags if idx >= 0 else NO_FLAGS

    def chat(self, et: float) -> list[ChatLine]:
        return self.script.chat[: bisect.bisect_right(self.chat_ets, et)]

    def evaluate(self, et: float) -> SessionLive:
        script = self.script
        track = script.track
        phase = self.phase(et)
        finished = phase == PHASE_CHECKERED or (self.checkered is not None and et >= self.checkered)
        started = et >= script.start_et
        rows = []
        for idx in self.cars:
            car, where = idx.live(et, started)
            rows.append((idx, car, where))
        if script.is_race:
            rows.sort(key=lambda r: race_key(r[0], r[1], r[2], started))
        else:
            rows.sort(key=lambda r: timed_key(r[0], r[1]))
        cars = [r[1] for r in rows]
        assign_positions(cars)
        if script.is_race:
            race_gaps(rows, et, track.length)
            if started and not finished:
                blue_flags(rows, track.length)
        else:
            timed_gaps(cars)
        flags = self.sector_flags(et)
        tod = (script.time_of_day_start + et * script.time_of_day_rate) % 86400.0
        night = tod < DAWN or tod >= DUSK
        fcy = phase == PHASE_FCY
        for _idx, car, where in rows:
            x, y, z, vx, vy, vz = world(track, where.distance, where.speed, car.pitting)
            car.x, car.y, car.z, car.vx, car.vy, car.vz = x, y, z, vx, vy, vz
            car.under_yellow = fcy or flags[car.sector - 1] == "YELLOW"
            car.headlights = night and not where.in_garage
        return SessionLive(
            script=script,
            et=et,
            phase=phase,
            time_remaining=self.time_remaining(et, finished),
            race_completion=self.completion(et, finished),
            sector_flags=flags,
            conditions=self.conditions(et),
            time_of_day=tod,
            cars=cars,
            chat=self.chat(et),
            finished=finished,
        )

    def time_remaining(self, et: float, finished: bool) -> float:
        """timeRemainingInGamePhase: the full length before green, counting down to 0."""
        script = self.script
        if finished:
            return 0.0
        if et < script.start_et:
            return script.max_time
        return max(0.0, script.max_time - (et - script.start_et))

    def completion(self, et: float, finished: bool) -> float:
        """raceCompletion.timeCompletion: -1 before green, elapsed fraction, 1 at checkered."""
        script = self.script
        if finished:
            return 1.0
        if et < script.start_et or script.max_time <= 0:
            return -1.0
        return min(1.0, (et - script.start_et) / script.max_time)


def fingerprint(script: SessionScript) -> tuple:
    """Cheap summary that changes when a script grows (replays append as they go)."""
    return (
        len(script.cars),
        len(script.phases),
        len(script.conditions),
        len(script.sector_flags),
        len(script.chat),
        tuple((len(c.laps), len(c.pits), len(c.penalties), c.finish_et) for c in script.cars),
    )


_ENGINES: dict[int, tuple[weakref.ref, Engine]] = {}


def engine_for(script: SessionScript) -> Engine:
    """The cached engine of `script` (built on first use, rebuilt when the script grew)."""
    key = id(script)
    hit = _ENGINES.get(key)
    if hit is not None and hit[0]() is script and hit[1].fingerprint == fingerprint(script):
        return hit[1]
    if hit is None or hit[0]() is not script:
        weakref.finalize(script, _ENGINES.pop, key, None)
    engine = Engine(script)
    _ENGINES[key] = (weakref.ref(script), engine)
    log.debug("built engine for %s (%d cars)", script.session, len(script.cars))
    return engine


def invalidate(script: SessionScript) -> None:
    """Forget the cached arrays of `script` (after editing laps or pits in place)."""
    _ENGINES.pop(id(script), None)


def evaluate(script: SessionScript, et: float) -> SessionLive:
    """The session described by `script` as it stands at event time `et`."""
    return engine_for(script).evaluate(et)


def _blend(a: Conditions, b: Conditions, et: float) -> Conditions:
    span = b.et - a.et
    w = 0.0 if span <= 0 else min(1.0, max(0.0, (et - a.et) / span))

    def mix(u: float, v: float) -> float:
        return u + (v - u) * w

    wx, wz = mix(a.wind_dir[0], b.wind_dir[0]), mix(a.wind_dir[1], b.wind_dir[1])
    norm = math.hypot(wx, wz) or 1.0
    return Conditions(
        et=et,
        ambient_temp=mix(a.ambient_temp, b.ambient_temp),
        track_temp=mix(a.track_temp, b.track_temp),
        raining=mix(a.raining, b.raining),
        dark_cloud=mix(a.dark_cloud, b.dark_cloud),
        wetness_avg=mix(a.wetness_avg, b.wetness_avg),
        wetness_min=mix(a.wetness_min, b.wetness_min),
        wetness_max=mix(a.wetness_max, b.wetness_max),
        wind_speed=mix(a.wind_speed, b.wind_speed),
        wind_dir=(wx / norm, wz / norm),
    )
