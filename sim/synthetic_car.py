"""One synthetic car: its laps, stints, fuel and tyres, pit visits, penalties and retirement.

`Car` drives lap by lap (`race_lap` in races, `runs` in practice and qualifying) and writes a
`CarScript`; `issue_penalties` hands it the penalties it serves at later visits.

Conventions the engine relies on (see `sim.script`):
- A lap's `driver`, `compounds`, `fuel_end`, `ve_end` and `tyre_wear_end` are the values at the
  line when the lap ended (after a swap/refuel done before the line).
- Every car stops at the track's `pit_box` fraction; past 1.0 the stop happens after the line,
  in the out-lap, and the visit's `lap` stays the entry lap.
- Within a lap the car runs at constant speed through each sector, so entry/exit times are
  placed with that model.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from sim.script import CarScript, Entry, Lap, Penalty, PitVisit, Tyres
from sim.synthetic_entries import Pace, weighted
from sim.synthetic_session import Session
from sim.synthetic_weather import compound_for

HYPER_SPEED = 56.0  # m/s: a Hyper lap is length / 56
CLASS_PACE = {
    "Hyper": 1.0,
    "LMP2": 1.04,
    "LMP2_ELMS": 1.045,
    "LMP3": 1.09,
    "GTE": 1.10,
    "GT3": 1.11,
}
FCY_SLOWDOWN = 0.6  # extra seconds per second of a lap spent under full-course yellow
INVALID_RATE = 0.03
MISSING_SECTOR_RATE = 0.005
WEAR_PER_LAP = {"Soft": 1.5, "Medium": 1.1, "Hard": 0.8, "Wet": 1.2}  # % per 5 km


def _time_to(sectors: Sequence[float], ends: tuple[float, float], fraction: float) -> float:
    """Seconds from the line to `fraction` of the lap, at constant speed within each sector."""
    bounds = (0.0, ends[0], ends[1], 1.0)
    elapsed = 0.0
    for i in range(3):
        if fraction <= bounds[i + 1]:
            return elapsed + sectors[i] * (fraction - bounds[i]) / (bounds[i + 1] - bounds[i])
        elapsed += sectors[i]
    return elapsed


def _report(rng: random.Random, sectors: tuple[float, float, float], valid: bool) -> tuple:
    """What the game reports for a lap: -1 when invalid, rarely one sector missing."""
    if not valid or rng.random() < INVALID_RATE:
        return -1.0, (-1.0, -1.0, -1.0)
    lap_time = sectors[0] + sectors[1] + sectors[2]
    if rng.random() < MISSING_SECTOR_RATE:
        missing = rng.randrange(3)
        reported = tuple(-1.0 if i == missing else s for i, s in enumerate(sectors))
        return lap_time, reported
    return lap_time, sectors


@dataclass
class _Service:
    """What happens at one pit visit."""

    kind: str  # "stop", "repair", "DT", "SG"
    seconds: float = 0.0
    refuel: bool = False
    tyres: tuple[bool, bool, bool, bool] = (False, False, False, False)
    compound: str = "Medium"
    driver_in: str | None = None
    penalty: Penalty | None = None


class Car:
    """One car's lap-by-lap state while its laps are generated."""

    def __init__(self, ses: Session, entry: Entry, pace: Pace, rng: random.Random) -> None:
        self.ses = ses
        self.rng = rng
        self.entry = entry
        self.pace = pace
        self.drivers = [m.name for m in entry.members if "Driver" in m.roles]
        self.driver_idx = 0
        self.stints_with_driver = 0
        self.stints_target = rng.choice((1, 2, 2, 3))
        track = ses.track
        self.base = track.length / HYPER_SPEED * CLASS_PACE[entry.car_class] * (1 + pace.car)
        stint_laps = max(3.0, rng.uniform(38, 52) * 60 / self.base)
        self.fuel_per_lap = 1.0 / (stint_laps + rng.uniform(0.3, 0.8))
        self.ve_per_lap = (
            1.0 / (stint_laps * rng.uniform(0.92, 1.08) + 0.5) if entry.has_virtual_energy else None
        )
        self.wear_rate = track.length / 5000.0 * rng.uniform(0.9, 1.1)
        cond = ses.weather.at(ses.start_et)
        compound = compound_for(rng, cond)
        self.compounds: Tyres = (compound,) * 4  # type: ignore[assignment]
        self.wear = [100.0, 100.0, 100.0, 100.0]
        self.fuel = 1.0
        self.ve: float | None = 1.0 if entry.has_virtual_energy else None
        self.script = CarScript(
            entry=entry,
            first_driver=self.drivers[0],
            start_compounds=self.compounds,
            start_ve=self.ve,
        )
        self.t = 0.0
        self.done = False
        self.out_lap: tuple[PitVisit, _Service] | None = None
        self.retire_et: float | None = None
        self.repair_et: float | None = None
        self.no_pit_after = math.inf

    # -- helpers -----------------------------------------------------------------------------

    @property
    def driver(self) -> str:
        return self.drivers[self.driver_idx]

    @property
    def number(self) -> int:
        return len(self.script.laps)

    def pace_sectors(self, t: float, extra: float = 0.0) -> tuple[float, float, float]:
        """True sector times of a normal lap starting at `t`."""
        rng, ses = self.rng, self.ses
        cond = ses.weather.at(t)
        wet_tyres = self.compounds[0] == "Wet"
        w = cond.wetness_avg
        factor = 1.0 + self.pace.drivers.get(self.driver, 0.0)
        factor += 0.018 * self.fuel + 0.05 * (1.0 - sum(self.wear) / 400.0)
        factor += (0.07 * w + (0.03 if w < 0.1 else 0.0)) if wet_tyres else 0.3 * w
        factor += rng.gauss(0.0, 0.003) + extra
        lap = self.base * factor
        if rng.random() < 0.015:
            lap += rng.uniform(1.5, 8.0)  # a lock-up, a spin, traffic
        slow = ses.fcy_overlap(t, t + lap) * FCY_SLOWDOWN
        lap += slow
        weights = ses.sector_weights
        return (
            lap * weights[0] * (1 + rng.gauss(0, 0.006)),
            lap * weights[1] * (1 + rng.gauss(0, 0.006)),
            lap * weights[2] * (1 + rng.gauss(0, 0.006)),
        )

    def _wear_lap(self, share: float = 1.0) -> None:
        rate = WEAR_PER_LAP[self.compounds[0]] * self.wear_rate * share
        self.wear = [
            max(5.0, w - rate * k) for w, k in zip(self.wear, (1.1, 1.1, 0.95, 0.95), strict=True)
        ]

    def _drain(self, share: float = 1.0) -> None:
        self.fuel = max(0.0, self.fuel - self.fuel_per_lap * share)
        if self.ve is not None and self.ve_per_lap is not None:
            self.ve = max(0.0, self.ve - self.ve_per_lap * share)

    def _add_lap(self, start: float, sectors: tuple[float, float, float], valid: bool) -> Lap:
        lap_time, reported = _report(self.rng, sectors, valid)
        lap = Lap(
            number=self.number + 1,
            start_et=start,
            sectors=sectors,
            lap_time=lap_time,
            sector_times=reported,
            driver=self.driver,
            fuel_end=round(self.fuel, 4),
            ve_end=None if self.ve is None else round(self.ve, 4),
            compounds=self.compounds,
            tyre_wear_end=tuple(round(w, 2) for w in self.wear),  # type: ignore[arg-type]
        )
        self.script.laps.append(lap)
        self.t = lap.end_et
        return lap

    def _apply_service(self, visit: PitVisit, svc: _Service, at: float) -> None:
        """Fuel, tyres, driver and penalty take effect at `at` (the stop)."""
        if svc.refuel:
            self.fuel = 1.0
            visit.fuel_after = 1.0
            if self.ve is not None:
                self.ve = 1.0
                visit.ve_after = 1.0
        if any(svc.tyres):
            compounds = list(self.compounds)
            for i, changed in enumerate(svc.tyres):
                if changed:
                    compounds[i] = svc.compound
                    self.wear[i] = 100.0
            self.compounds = tuple(compounds)  # type: ignore[assignment]
            visit.tyres_changed = svc.tyres
            visit.compounds_after = self.compounds
        if svc.driver_in is not None:
            visit.swap_et = at + min(2.0, svc.seconds / 2)
            visit.driver_in = svc.driver_in
            self.driver_idx = self.drivers.index(svc.driver_in)
        if svc.penalty is not None:
            visit.penalty_served = svc.penalty.kind
            svc.penalty.served_et = at + svc.seconds if svc.kind != "DT" else at

    # -- race laps ---------------------------------------------------------------------------

    def _pending_penalty(self, t: float, kinds: tuple[str, ...]) -> Penalty | None:
        for pen in self.script.penalties:
            if pen.served_et is None and pen.et <= t and pen.kind in kinds:
                return pen
        return None

    def _plan_service(self, t: float) -> _Service | None:
        """Whether the lap starting at `t` ends in the pits, and what happens there."""
        rng = self.rng
        laps_left = self.fuel / self.fuel_per_lap
        if self.ve is not None and self.ve_per_lap:
            laps_left = min(laps_left, self.ve / self.ve_per_lap)
        if t >= self.no_pit_after:
            return None
        needed = (self.ses.max_time - t) / self.base + 3
        if laps_left < 2.05 and laps_left < needed:
            return self._regular_service(t, repair=False)
        if self.repair_et is not None and t >= self.repair_et:
            self.repair_et = None
            return self._regular_service(t, repair=True)
        pen = self._pending_penalty(t - self.base * rng.uniform(0.5, 2.5), ("DT", "SG"))
        if pen is not None:
            pen.served_et = math.inf  # claimed: set for real when the visit happens
            return _Service(
                kind=pen.kind,
                seconds=rng.uniform(10.0, 11.5) if pen.kind == "SG" else 0.0,
                penalty=pen,
            )
        return None

    def _regular_service(self, t: float, repair: bool) -> _Service:
        rng = self.rng
        cond = self.ses.weather.at(t)
        seconds = (1.0 - self.fuel) * rng.uniform(24.0, 32.0)
        compound = compound_for(rng, cond)
        roll = rng.random()
        if compound != self.compounds[0] or roll < 0.8:
            tyres = (True, True, True, True)
        elif roll < 0.88:
            tyres = (False, False, True, True)
        else:
            tyres = (False, False, False, False)
        if any(tyres):
            seconds = max(seconds, rng.uniform(14.0, 20.0)) + rng.uniform(2.0, 6.0)
        driver_in = None
        self.stints_with_driver += 1
        if len(self.drivers) > 1 and self.stints_with_driver >= self.stints_target:
            driver_in = self.drivers[(self.driver_idx + 1) % len(self.drivers)]
            self.stints_with_driver = 0
            self.stints_target = rng.choice((1, 2, 2, 3))
            seconds += rng.uniform(5.0, 9.0)
        pen = self._pending_penalty(t, ("TIME", "SG"))
        if pen is not None:
            pen.served_et = math.inf
            seconds += rng.uniform(5.0, 30.0) if pen.kind == "TIME" else 10.0
        seconds = min(60.0, max(20.0, seconds))
        if repair:
            seconds += rng.uniform(150.0, 480.0)
        return _Service(
            kind="repair" if repair else "stop",
            seconds=seconds,
            refuel=True,
            tyres=tyres,
            compound=compound,
            driver_in=driver_in,
            penalty=pen,
        )

    def _visit_stop(self, visit: PitVisit, svc: _Service, arrive: float) -> float:
        """Stamp the stationary part of a visit from `arrive`; returns the release time."""
        if svc.kind == "DT":
            self._apply_service(visit, svc, arrive)
            return arrive
        release = arrive + svc.seconds
        if svc.kind == "repair":
            visit.garage_in_et, visit.garage_out_et = arrive, release
        else:
            visit.stop_et, visit.release_et = arrive, release
        self._apply_service(visit, svc, arrive)
        return release

    def race_lap(self) -> None:
        """Drive one more race lap (or retire)."""
        ses, rng, track = self.ses, self.rng, self.ses.track
        t = self.t
        ends = track.sector_ends
        if self.retire_et is not None and self.out_lap is None and t + self.base > self.retire_et:
            when = max(self.retire_et, t + 1.0)
            self.script.pits.append(PitVisit(lap=self.number + 1, garage_in_et=when))
            self.script.finish_status = "FSTAT_DNF"
            self.script.finish_et = when
            self.done = True
            return
        first = self.number == 0
        pace = self.pace_sectors(t, extra=rng.uniform(0.04, 0.08) if first else 0.0)
        sectors = list(pace)
        out_lap = self.out_lap
        self.out_lap = None
        if out_lap is not None:
            visit, svc = out_lap
            box = track.pit_box - 1.0  # > 0: the box is past the line, the stop happens now
            if box > 0:
                release = self._visit_stop(visit, svc, t + ses.lane(box))
                visit.exit_et = release + ses.lane(track.pit_exit - box)
            else:
                visit.exit_et = t + ses.lane(track.pit_exit)
            sectors[0] = (visit.exit_et - t) + pace[0] * (ends[0] - track.pit_exit) / ends[0]
        # The lap's consumption; a stop before the line refills after most of it is used.
        self._drain()
        self._wear_lap()
        svc = None if first or out_lap is not None else self._plan_service(t)
        if svc is not None:
            entry = t + _time_to(pace, ends, track.pit_entry)
            visit = PitVisit(lap=self.number + 1, entry_et=entry)
            if svc.kind in ("stop", "repair") and rng.random() < 0.85:
                visit.request_et = max(t + 0.5, entry - rng.uniform(4.0, 25.0))
            visit.stuck_exiting = rng.random() < 0.35
            box = track.pit_box
            if box < 1.0:
                release = self._visit_stop(visit, svc, entry + ses.lane(box - track.pit_entry))
                line = release + ses.lane(1.0 - box)
                self._drain(0.02)
            else:
                line = entry + ses.lane(1.0 - track.pit_entry)
            sectors[2] = line - (t + sectors[0] + sectors[1])
            self.script.pits.append(visit)
            self.out_lap = (visit, svc)
        self._add_lap(t, (sectors[0], sectors[1], sectors[2]), valid=True)

    # -- practice and qualifying runs --------------------------------------------------------

    def runs(self, qualifying: bool) -> None:
        """Garage, out-lap, a few flying laps, back to the garage, until the flag."""
        ses, rng, track = self.ses, self.rng, self.ses.track
        ends = track.sector_ends
        self.script.start_in_garage = True
        wait_first = rng.uniform(0, 180) if qualifying else rng.expovariate(1 / 300.0)
        t = ses.start_et + wait_first
        visit: PitVisit | None = None
        while t < ses.max_time and not self.done:
            flying = rng.randint(1, 3) if qualifying else rng.randint(2, 6)
            self.fuel = min(1.0, self.fuel_per_lap * (flying + 2.2))
            if self.ve is not None and self.ve_per_lap:
                self.ve = min(1.0, self.ve_per_lap * (flying + 2.2))
            if visit is None:
                self.script.start_fuel = round(self.fuel, 4)
                self.script.start_ve = None if self.ve is None else round(self.ve, 4)
            compound = compound_for(rng, ses.weather.at(t))
            if qualifying and compound != "Wet":
                compound = "Soft"
            self.compounds = (compound,) * 4  # type: ignore[assignment]
            self.wear = [100.0] * 4
            if visit is None:
                self.script.start_compounds = self.compounds
            else:
                visit.fuel_after = round(self.fuel, 4)
                visit.ve_after = None if self.ve is None else round(self.ve, 4)
                visit.tyres_changed = (True, True, True, True)
                visit.compounds_after = self.compounds
            extra = -0.012 if qualifying else 0.0
            pace = self.pace_sectors(t, extra)
            lane = ses.lane(track.pit_exit + 1.0 - track.pit_box)
            if visit is not None:
                visit.exit_et = t + lane
            s1 = lane + pace[0] * (ends[0] - track.pit_exit) / ends[0]
            self._drain()
            self._wear_lap()
            lap = self._add_lap(t, (s1, pace[1], pace[2]), valid=False)
            for _ in range(flying):
                if lap.end_et >= ses.max_time:
                    break
                sectors = self.pace_sectors(lap.end_et, extra)
                self._drain()
                self._wear_lap()
                lap = self._add_lap(lap.end_et, sectors, valid=True)
            if lap.end_et >= ses.max_time:
                self.script.finish_status = "FSTAT_FINISHED"
                self.script.finish_et = lap.end_et
                return
            start = lap.end_et
            pace = self.pace_sectors(start, extra)
            entry = start + _time_to(pace, ends, track.pit_entry)
            garage_in = entry + ses.lane(track.pit_box - track.pit_entry)
            visit = PitVisit(lap=self.number + 1, entry_et=entry, garage_in_et=garage_in)
            if rng.random() < 0.5:
                visit.request_et = max(start + 0.5, entry - rng.uniform(3.0, 20.0))
            visit.stuck_exiting = rng.random() < 0.2
            self.script.pits.append(visit)
            stay = rng.uniform(60.0, 240.0) if qualifying else rng.uniform(60.0, 600.0)
            leave = garage_in + stay
            if leave >= ses.max_time or (qualifying and rng.random() < 0.25):
                return
            visit.garage_out_et = leave
            if len(self.drivers) > 1 and rng.random() < 0.4:
                nxt = self.drivers[(self.driver_idx + 1) % len(self.drivers)]
                visit.swap_et = garage_in + min(5.0, stay / 2)
                visit.driver_in = nxt
                self.driver_idx = self.drivers.index(nxt)
            t = leave


def issue_penalties(ses: Session, car: Car) -> None:
    rng = ses.rng
    hours = (ses.max_time - ses.start_et) / 3600
    count = sum(1 for _ in range(max(1, int(hours * 4))) if rng.random() < 0.05)
    for _ in range(count):
        et = rng.uniform(ses.start_et + 120, ses.max_time - 300)
        kind = str(weighted(rng, (("DT", 5), ("SG", 2), ("TIME", 3))))
        car.script.penalties.append(Penalty(et=round(et, 3), kind=kind))
    car.script.penalties.sort(key=lambda p: p.et)
