"""Seeded synthetic race scripts: entry lists, laps, pit stops, weather, chat.

Everything comes from one `random.Random(seed)`, so the same arguments always give the same
script (tests, demos and bug reports can name a seed). The model is simple but shaped like the
game's data: class pace from the track length, per-driver pace, tyre wear, fuel load, slower
first laps, in-laps and out-laps carrying the pit-lane time in the sectors where the pit lane is,
full-course yellows, rain, penalties served at the next visit, driver swaps, DNFs and the
game's quirks (invalid laps, a missing sector now and then, pit state stuck in EXITING).

Conventions the engine relies on (see `sim.script`):
- A lap's `driver`, `compounds`, `fuel_end`, `ve_end` and `tyre_wear_end` are the values at the
  line when the lap ended (after a swap/refuel done before the line).
- Every car stops at the track's `pit_box` fraction; past 1.0 the stop happens after the line,
  in the out-lap, and the visit's `lap` stays the entry lap.
- Within a lap the car runs at constant speed through each sector, so entry/exit times are
  placed with that model.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import random
import uuid
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sim import names
from sim.script import (
    CAR_CLASSES,
    PHASE_CHECKERED,
    PHASE_COUNTDOWN,
    PHASE_FCY,
    PHASE_FORMATION,
    PHASE_GREEN,
    PHASE_GRID,
    PHASE_STARTING,
    CarScript,
    ChatLine,
    Conditions,
    Entry,
    Lap,
    Member,
    Penalty,
    PhaseChange,
    PitVisit,
    SectorFlags,
    SessionScript,
    Track,
    Tyres,
    Weekend,
)
from sim.tracks import catalogue_track

log = logging.getLogger(__name__)

HYPER_SPEED = 56.0  # m/s: a Hyper lap is length / 56
CLASS_PACE = {
    "Hyper": 1.0,
    "LMP2": 1.04,
    "LMP2_ELMS": 1.045,
    "LMP3": 1.09,
    "GTE": 1.10,
    "GT3": 1.11,
}
DEFAULT_MIX = {"Hyper": 0.3, "LMP2": 0.25, "LMP2_ELMS": 0.2, "LMP3": 0.15, "GTE": 0.15, "GT3": 0.3}
DEFAULT_CLASSES = ("Hyper", "LMP2", "LMP3", "GT3")
VE_CLASSES = frozenset({"Hyper", "GT3"})  # cars with a virtual-energy allowance
PIT_SPEED = 60.0 / 3.6  # pit-lane limiter, m/s
FCY_SLOWDOWN = 0.6  # extra seconds per second of a lap spent under full-course yellow
INVALID_RATE = 0.03
MISSING_SECTOR_RATE = 0.005
WEAR_PER_LAP = {"Soft": 1.5, "Medium": 1.1, "Hard": 0.8, "Wet": 1.2}  # % per 5 km
WEATHER_STEP = 300.0


# --- entries -------------------------------------------------------------------------------


@dataclass
class _Pace:
    """How fast a car and each of its drivers are, relative to the class pace."""

    car: float
    drivers: dict[str, float]


def _class_counts(rng: random.Random, cars: int, classes: Sequence[str]) -> list[str]:
    classes = list(classes)[: max(1, cars)]
    weights = [DEFAULT_MIX.get(c, 0.2) for c in classes]
    total = sum(weights)
    raw = [cars * w / total for w in weights]
    counts = [max(1, int(r)) for r in raw]
    while sum(counts) > cars:
        counts[counts.index(max(counts))] -= 1
    order = sorted(range(len(classes)), key=lambda i: raw[i] - int(raw[i]), reverse=True)
    k = 0
    while sum(counts) < cars:
        counts[order[k % len(order)]] += 1
        k += 1
    out = [c for c, n in zip(classes, counts, strict=True) for _ in range(n)]
    rng.shuffle(out)
    return out


def _weighted(rng: random.Random, pairs: Sequence[tuple]) -> object:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def _person(rng: random.Random, used: set[str]) -> str:
    while True:
        name = f"{rng.choice(names.FIRST_NAMES)} {rng.choice(names.SURNAMES)}"
        if name not in used:
            used.add(name)
            return name


def _team_code(team: str) -> str:
    letters = "".join(ch for ch in team.upper() if "A" <= ch <= "Z")
    return (letters or "TEAM")[:4]


def build_entries(
    rng: random.Random, cars: int, classes: Sequence[str] | None, online: bool
) -> tuple[list[Entry], dict[int, _Pace]]:
    """The entry list (slot order) and each car's pace."""
    if cars < 1:
        raise ValueError("a session needs at least one car")
    wanted = tuple(classes) if classes else DEFAULT_CLASSES
    for c in wanted:
        if c not in CAR_CLASSES:
            raise ValueError(f"unknown car class {c!r}; expected one of {CAR_CLASSES}")
    car_classes = _class_counts(rng, cars, wanted)
    pool = list(range(1, 100)) if cars <= 99 else list(range(1, 1000))
    numbers = rng.sample(pool, cars)
    teams = list(names.TEAMS)
    rng.shuffle(teams)
    used_names: set[str] = set()
    html_slot = rng.randrange(cars)
    entries: list[Entry] = []
    paces: dict[int, _Pace] = {}
    for slot, (car_class, num) in enumerate(zip(car_classes, numbers, strict=True)):
        number = f"{num:02d}" if num < 10 and rng.random() < 0.6 else str(num)
        model, brand = rng.choice(names.MODELS[car_class])
        label = "Hypercar" if car_class == "Hyper" else car_class.split("_")[0]
        team = teams.pop() if teams and rng.random() < 0.85 else f"{brand} {label} #{number}"
        year = rng.choice((2024, 2025))
        yy = year % 100
        if rng.random() < 0.5:
            vehicle_file = f"397_{yy}_{model}"
        else:
            vehicle_file = f"{num}_{yy}_{_team_code(team)}{rng.getrandbits(32):08X}"
        short = " ".join(team.split(" - ")[0].split()[:2])
        vehicle_name = f"{short} {year} #{number}:{names.SERIES[car_class]}"
        count = _weighted(rng, ((1, 20), (2, 30), (3, 35), (4, 15))) if online else 1
        members: list[Member] = []
        for k in range(int(count)):
            name = _person(rng, used_names)
            roles = ("Driver",) if k == 0 else _weighted(rng, names.ROLE_SETS)
            if k == 0 and online and rng.random() < 0.3:
                roles = _weighted(rng, ((("Race Engineer", "Driver"), 2), (("Owner", "Driver"), 1)))
            badge = _weighted(rng, names.BADGES) if online else "none"
            nationality = "" if rng.random() < 0.05 else rng.choice(names.NATIONALITIES)
            members.append(Member(name, str(badge), nationality, tuple(roles)))
        if slot == html_slot:
            first = members[0]
            members[0] = Member(names.HTML_DRIVER, first.badge, first.nationality, first.roles)
        drivers = [m.name for m in members if "Driver" in m.roles]
        human = online or slot == 0
        steam = {d: (76561197960265728 + rng.randrange(10**9)) if human else 0 for d in drivers}
        entries.append(
            Entry(
                slot_id=slot,
                vehicle_file=vehicle_file,
                vehicle_name=vehicle_name,
                team_name=team,
                car_class=car_class,
                car_number=number,
                car_id=f"{rng.getrandbits(160):040x}",
                team_id=str(uuid.UUID(int=rng.getrandbits(128), version=4))
                if online
                else str(rng.randrange(1, 10**6)),
                members=members,
                upgrade_pack="0" * 32 if rng.random() < 0.7 else f"{rng.getrandbits(128):032x}",
                has_virtual_energy=car_class in VE_CLASSES,
                steam_ids=steam,
            )
        )
        driver_pace = {
            d: (rng.uniform(0.0, 0.004) if i == 0 else rng.uniform(0.002, 0.02))
            for i, d in enumerate(drivers)
        }
        paces[slot] = _Pace(
            car=max(-0.012, min(0.025, rng.gauss(0.004, 0.007))), drivers=driver_pace
        )
    return entries, paces


def _copy_entries(entries: list[Entry]) -> list[Entry]:
    return [
        dataclasses.replace(e, members=list(e.members), steam_ids=dict(e.steam_ids))
        for e in entries
    ]


# --- conditions ----------------------------------------------------------------------------


@dataclass
class _Weather:
    samples: list[Conditions]
    ets: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.ets = [c.et for c in self.samples]

    def at(self, et: float) -> Conditions:
        return self.samples[max(0, bisect_right(self.ets, et) - 1)]


def _sun(time_of_day: float) -> float:
    """0 at night, 1 at noon."""
    return max(0.0, math.sin(math.pi * (time_of_day - 6 * 3600) / (12 * 3600)))


def _weather(rng: random.Random, until: float, tod_start: float) -> _Weather:
    step = min(WEATHER_STEP, max(30.0, until / 10))
    base = rng.uniform(14.0, 28.0)
    rain_chance = 0.4 if until > 6 * 3600 else 0.15
    rain: tuple[float, float, float] | None = None
    if rng.random() < rain_chance:
        start = rng.uniform(0.15, 0.75) * until
        rain = (start, start + max(600.0, rng.uniform(0.05, 0.25) * until), rng.uniform(0.2, 0.9))
    cloud = rng.uniform(0.0, 0.5)
    wind = rng.uniform(0.0, 6.0)
    wind_angle = rng.uniform(0, 2 * math.pi)
    heat = rng.uniform(8.0, 16.0)
    wet = 0.0
    samples = []
    et = 0.0
    while et <= until + step:
        tod = (tod_start + et) % 86400
        raining = 0.0
        if rain and rain[0] <= et <= rain[1]:
            ramp = min(1.0, (et - rain[0]) / 600.0, (rain[1] - et) / 600.0 + 0.2)
            raining = rain[2] * max(0.1, ramp)
        cloud = min(1.0, max(0.0, cloud + rng.gauss(0, 0.05)))
        dark = max(cloud * 0.6, min(1.0, raining * 1.2))
        ambient = base + 5.0 * math.sin(2 * math.pi * (tod - 9 * 3600) / 86400) + rng.gauss(0, 0.2)
        track_temp = ambient + _sun(tod) * (1.0 - dark) * heat - 4.0 * wet
        if raining > 0:
            wet = min(1.0, wet + raining * step / 900.0)
        else:
            wet = max(0.0, wet - step / 1800.0 * (0.5 + _sun(tod)))
        spread = 0.1 * wet
        wind = min(12.0, max(0.0, wind + rng.gauss(0, 0.4)))
        wind_angle += rng.gauss(0, 0.05)
        samples.append(
            Conditions(
                et=et,
                ambient_temp=round(ambient, 2),
                track_temp=round(track_temp, 2),
                raining=round(raining, 3),
                dark_cloud=round(dark, 3),
                wetness_avg=round(wet, 3),
                wetness_min=round(max(0.0, wet - spread), 3),
                wetness_max=round(min(1.0, wet + spread), 3),
                wind_speed=round(wind, 2),
                wind_dir=(round(math.cos(wind_angle), 4), round(math.sin(wind_angle), 4)),
            )
        )
        et += step
    return _Weather(samples)


def _weather_nodes(rng: random.Random, weather: _Weather, max_time: float) -> list[dict]:
    """Forecast nodes shaped like GetGameState's `closeestWeatherNode` (all ints)."""
    count = max(1, min(5, int(max_time // 3600) + 1))
    span = max_time / count
    nodes = []
    for k in range(count):
        cond = weather.at(k * span)
        nodes.append(
            {
                "Duration": int(span),
                "Humidity": int(min(100, 50 + 40 * cond.dark_cloud + rng.randint(0, 10))),
                "RainChance": round(100 * min(1.0, cond.raining + 0.3 * cond.dark_cloud)),
                "Sky": int(min(4, round(cond.dark_cloud * 4))),
                "StartTime": int(k * span),
                "Temperature": round(cond.ambient_temp),
                "WindDirection": rng.randint(0, 7),
                "WindSpeed": round(cond.wind_speed),
            }
        )
    return nodes


def _dry_compound(rng: random.Random, track_temp: float) -> str:
    if track_temp > 36:
        return "Hard" if rng.random() < 0.7 else "Medium"
    if track_temp < 22:
        return "Soft" if rng.random() < 0.6 else "Medium"
    return _weighted(rng, (("Medium", 7), ("Hard", 2), ("Soft", 1)))  # type: ignore[return-value]


def _compound_for(rng: random.Random, cond: Conditions) -> str:
    if cond.wetness_avg > 0.3 or cond.raining > 0.4:
        return "Wet"
    return _dry_compound(rng, cond.track_temp)


# --- session context -----------------------------------------------------------------------


@dataclass
class _Session:
    """What every car of a session shares: track, clocks, yellows, weather."""

    rng: random.Random
    kind: str
    track: Track
    max_time: float
    start_et: float
    weather: _Weather
    fcy: list[tuple[float, float]]
    sector_weights: tuple[float, float, float]

    @property
    def is_race(self) -> bool:
        return self.kind.startswith("RACE")

    def fcy_overlap(self, start: float, end: float) -> float:
        return sum(max(0.0, min(end, b) - max(start, a)) for a, b in self.fcy)

    def lane(self, fraction: float) -> float:
        """Seconds to drive `fraction` of a lap at the pit-lane limit."""
        return fraction * self.track.length / PIT_SPEED


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


class _Car:
    """One car's lap-by-lap state while its laps are generated."""

    def __init__(self, ses: _Session, entry: Entry, pace: _Pace, rng: random.Random) -> None:
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
        compound = _compound_for(rng, cond)
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
        compound = _compound_for(rng, cond)
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
            compound = _compound_for(rng, ses.weather.at(t))
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


# --- the session ---------------------------------------------------------------------------


def _fcy_periods(rng: random.Random, start: float, max_time: float) -> list[tuple[float, float]]:
    span = max_time - start
    if span < 1500:
        return []
    hours = span / 3600
    count = (
        (1 if rng.random() < 0.5 else 0)
        if hours < 2
        else rng.randint(1, max(1, round(hours / 3) + 1))
    )
    periods: list[tuple[float, float]] = []
    for _ in range(count):
        a = rng.uniform(start + 600, max_time - 900)
        b = a + rng.uniform(90.0, 300.0)
        if all(b < p[0] - 60 or a > p[1] + 60 for p in periods):
            periods.append((a, b))
    return sorted(periods)


def _phases(ses: _Session) -> list[PhaseChange]:
    start = ses.start_et
    if ses.is_race:
        out = [
            PhaseChange(0.0, PHASE_STARTING),
            PhaseChange(round(start * 0.15, 3), PHASE_GRID),
            PhaseChange(round(start * 0.35, 3), PHASE_FORMATION),
            PhaseChange(round(start - 10.0, 3), PHASE_COUNTDOWN),
            PhaseChange(start, PHASE_GREEN),
        ]
        for a, b in ses.fcy:
            out += [PhaseChange(a, PHASE_FCY), PhaseChange(b, PHASE_GREEN)]
    else:
        out = [PhaseChange(0.0, PHASE_STARTING), PhaseChange(start, PHASE_GREEN)]
    out.append(PhaseChange(ses.max_time, PHASE_CHECKERED))
    return out


def _sector_flags(ses: _Session) -> list[SectorFlags]:
    """UNKNOWN while green, a local yellow now and then, all YELLOW under FCY, RED or YELLOW at
    the end (the states real finished sessions show)."""
    rng = ses.rng
    locals_: list[tuple[float, float, int]] = []
    for _ in range(int((ses.max_time - ses.start_et) // 1200)):
        a = rng.uniform(ses.start_et + 60, ses.max_time - 60)
        locals_.append((a, a + rng.uniform(15.0, 90.0), rng.randrange(3)))
    end_flag = "RED" if rng.random() < 0.8 else "YELLOW"
    points = {0.0, ses.max_time}
    for a, b in ses.fcy:
        points |= {a, b}
    for a, b, _ in locals_:
        points |= {a, b}
    out: list[SectorFlags] = []
    for et in sorted(points):
        if et >= ses.max_time:
            flags = (end_flag,) * 3
        elif any(a <= et < b for a, b in ses.fcy):
            flags = ("YELLOW",) * 3
        else:
            flags = tuple(
                "YELLOW" if any(a <= et < b and s == i for a, b, s in locals_) else "UNKNOWN"
                for i in range(3)
            )
        if not out or out[-1].flags != flags:
            out.append(SectorFlags(et, flags))  # type: ignore[arg-type]
    return out


def _chat(ses: _Session, entries: list[Entry], until: float, seed: int) -> list[ChatLine]:
    rng = ses.rng
    wall = datetime(2025, 1, 1, 18, 0, tzinfo=UTC) + timedelta(days=seed % 700)
    wall_ticks = int(wall.timestamp()) * 10_000_000
    count = max(2, int(until / (240.0 if ses.is_race else 150.0)))
    ets = sorted(rng.uniform(1.0, until) for _ in range(count))
    lines = []
    for et in ets:
        member = rng.choice(rng.choice(entries).members)
        parts = member.name.split()
        who = f"{parts[0][0]} {parts[-1]}" if len(parts) > 1 else member.name
        text = rng.choice(names.CHAT_LINES)
        ticks = wall_ticks + round(et * 10_000_000) + rng.randrange(10_000)
        lines.append(ChatLine(et=et, message=f"{who[:15]}: {text}", timestamp=ticks))
    return lines


def _positions(cars: list[CarScript], timed: bool) -> None:
    """Overall position at each line crossing: laps then time (races), best lap (timed)."""
    if not timed:
        by_number: dict[int, list[tuple[float, int, Lap]]] = {}
        for car in cars:
            for lap in car.laps:
                by_number.setdefault(lap.number, []).append((lap.end_et, car.entry.slot_id, lap))
        for crossings in by_number.values():
            crossings.sort(key=lambda c: (c[0], c[1]))
            for pos, (_, _, lap) in enumerate(crossings, start=1):
                lap.position = pos
        return
    events = sorted(
        ((lap.end_et, car.entry.slot_id, lap) for car in cars for lap in car.laps),
        key=lambda e: (e[0], e[1]),
    )
    best: dict[int, float] = {}
    slots = sorted(car.entry.slot_id for car in cars)
    for _, slot, lap in events:
        if lap.lap_time > 0 and lap.lap_time < best.get(slot, math.inf):
            best[slot] = lap.lap_time
        mine = best.get(slot, math.inf)
        if mine < math.inf:
            ahead = sum(1 for s, b in best.items() if b < mine or (b == mine and s < slot))
        else:
            ahead = len(best) + sum(1 for s in slots if s < slot and s not in best)
        lap.position = ahead + 1


def _default_grid(rng: random.Random, cars: list[_Car]) -> list[int]:
    order = {c: i for i, c in enumerate(CAR_CLASSES)}
    keyed = [
        (order[c.entry.car_class], c.base * (1 + rng.gauss(0, 0.004)), c.entry.slot_id)
        for c in cars
    ]
    return [k[2] for k in sorted(keyed)]


def _finish_race(ses: _Session, cars: list[_Car]) -> None:
    """The leader takes the flag at its first crossing after max_time; everyone else at theirs."""
    running = [c for c in cars if not c.done]
    for car in running:
        while not car.done and car.t <= ses.max_time:
            car.race_lap()
    running = [c for c in running if not c.done]
    if not running:
        return

    def standing(car: _Car) -> tuple[int, float]:
        done = [lap for lap in car.script.laps if lap.end_et <= ses.max_time]
        return (-len(done), done[-1].end_et if done else math.inf)

    leader = min(running, key=lambda c: (*standing(c), c.entry.slot_id))
    flag = next(lap.end_et for lap in leader.script.laps if lap.end_et > ses.max_time)
    for car in running:
        while not car.done and car.t < flag:
            car.race_lap()
        if car.done:
            continue
        car.script.finish_status = "FSTAT_FINISHED"
        car.script.finish_et = car.script.laps[-1].end_et


def _issue_penalties(ses: _Session, car: _Car) -> None:
    rng = ses.rng
    hours = (ses.max_time - ses.start_et) / 3600
    count = sum(1 for _ in range(max(1, int(hours * 4))) if rng.random() < 0.05)
    for _ in range(count):
        et = rng.uniform(ses.start_et + 120, ses.max_time - 300)
        kind = str(_weighted(rng, (("DT", 5), ("SG", 2), ("TIME", 3))))
        car.script.penalties.append(Penalty(et=round(et, 3), kind=kind))
    car.script.penalties.sort(key=lambda p: p.et)


def _build_session(
    rng: random.Random,
    *,
    seed: int,
    session: str,
    entries: list[Entry],
    paces: dict[int, _Pace],
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
    weather = _weather(rng, max_time + 1800.0, tod)
    bias = [w * (1 + rng.uniform(-0.08, 0.08)) for w in _sector_shares(track)]
    total = sum(bias)
    ses = _Session(
        rng=rng,
        kind=session,
        track=track,
        max_time=max_time,
        start_et=float(start_et),
        weather=weather,
        fcy=_fcy_periods(rng, start_et, max_time) if is_race else [],
        sector_weights=(bias[0] / total, bias[1] / total, bias[2] / total),
    )
    cars = [_Car(ses, e, paces[e.slot_id], rng) for e in entries]
    if is_race:
        order = list(grid) if grid is not None else _default_grid(rng, cars)
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
            _issue_penalties(ses, car)
            if slot in dnf_slots:
                car.retire_et = rng.uniform(start_et + 0.1 * (max_time - start_et), max_time * 0.9)
            if rng.random() < 0.03 * max(1.0, (max_time - start_et) / 21600):
                car.repair_et = rng.uniform(start_et + 600, max_time * 0.8)
        _finish_race(ses, cars)
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
    _positions(scripts, timed=not is_race)
    script = SessionScript(
        session=session,
        track=track,
        cars=scripts,
        max_time=max_time,
        start_et=float(start_et),
        end_et=max_time,
        phases=_phases(ses),
        conditions=weather.samples,
        sector_flags=_sector_flags(ses),
        online=online,
        server_name=rng.choice(names.SERVER_NAMES),
        server_port=rng.choice((54290, 36116, 30476, 64297)),
        max_players=max(len(entries), 20) + rng.randint(0, 20),
        num_red_lights=rng.choice((4, 5)),
        time_of_day_start=tod,
        weather_nodes=_weather_nodes(rng, weather, max_time),
    )
    script.chat = _chat(ses, entries, script.final_et(), seed)
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
            entries=_copy_entries(entries),
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
    return Weekend(sessions=sessions)
