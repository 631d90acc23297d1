"""One car of a script at one ET: laps, timing, pit state, energy, motion.

`CarIndex` holds per-car arrays built once per script (lap starts and ends, best-lap prefixes,
timing points, step functions), so `CarIndex.live(et)` is a few bisects. Positions, gaps and
flags need the whole field and are filled in by `sim.engine_order`.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

from sim.engine_motion import lap_position, stop_knots
from sim.engine_series import Steps, lap_stepped, sector_stepped, service_et
from sim.script import CarScript, Lap, PitVisit, SessionScript, Tyres
from sim.snapshot import CarLive

CONTIGUOUS = 0.5  # s: a gap between two laps longer than this means the car was off track
PENALTY_KINDS = ("DT", "SG", "TIME")
PIT_LANE_SPEED = 60 / 3.6  # m/s, the pit-lane speed limit
GRID_SPACING = 8.0  # m between grid slots
COOLDOWN_PACE = 0.5  # fraction of racing speed on the lap after the flag


@dataclass(slots=True)
class Where:
    """Where the car is, before world coordinates: what `place_car` needs."""

    distance: float  # metres along the lap
    speed: float
    in_garage: bool
    progress: float  # metres since the start, for ordering


class CarIndex:
    """Per-car lookups precomputed from a `CarScript`."""

    def __init__(self, car: CarScript, session: SessionScript) -> None:
        self.car = car
        self.session = session
        self.length = session.track.length
        laps = car.laps
        self.laps = laps
        self.starts = [lap.start_et for lap in laps]
        self.ends = [lap.end_et for lap in laps]
        self.numbers = [lap.number for lap in laps]
        self.grid_rank = car.grid_position if car.grid_position > 0 else 10_000 + car.entry.slot_id
        self._build_bests(laps)
        self._build_points(laps)
        self._build_pits(car.pits)
        self._build_series(car)
        self.knots = stop_knots(laps, car.pits, session.track)

    # -- precomputation -------------------------------------------------------------------------

    def _build_bests(self, laps: list[Lap]) -> None:
        """Prefix arrays: after m completed laps, index m-1 gives the best so far."""
        self.best_idx: list[int] = []
        self.last_valid_idx: list[int] = []
        self.best_s1: list[float] = []
        self.best_s2: list[float] = []
        best = last = -1
        b1 = b2 = math.inf
        for j, lap in enumerate(laps):
            if lap.lap_time > 0:
                last = j
                if best < 0 or lap.lap_time < laps[best].lap_time:
                    best = j
            s1, s2 = lap.sector_times[0], lap.sector_times[1]
            if s1 > 0:
                b1 = min(b1, s1)
            if s2 > 0:
                b2 = min(b2, s2)
            self.best_idx.append(best)
            self.last_valid_idx.append(last)
            self.best_s1.append(b1)
            self.best_s2.append(b2)

    def _build_points(self, laps: list[Lap]) -> None:
        """ETs at which the car passed its timing points (line, S1 end, S2 end, line, ...).

        Point 3*(n-1) is the line at the start of lap n, +1 the end of S1, +2 the end of S2.
        Points skipped by missing laps count as passed when the car is next seen.
        """
        self.p0 = 3 * (laps[0].number - 1) if laps else 0
        ets: list[float] = []
        expected = laps[0].number if laps else 1
        for lap in laps:
            while expected < lap.number:
                ets.extend((lap.start_et,) * 3)
                expected += 1
            s1 = lap.start_et + lap.sectors[0]
            if not ets:
                ets.append(lap.start_et)
            ets.extend((s1, s1 + lap.sectors[1], lap.end_et))
            expected = lap.number + 1
        self.point_ets = ets

    def _build_pits(self, pits: list[PitVisit]) -> None:
        self.pits = sorted(pits, key=lambda v: v.start_et)
        self.pit_starts = [v.start_et for v in self.pits]
        self.stop_ets = sorted(v.stop_et for v in self.pits if v.stop_et is not None)
        self.garage = sorted(
            (v.garage_in_et, v.garage_out_et if v.garage_out_et is not None else math.inf)
            for v in self.pits
            if v.garage_in_et is not None
        )
        self.garage_ins = [g[0] for g in self.garage]

    def _build_series(self, car: CarScript) -> None:
        laps = car.laps
        served = [(service_et(v), v) for v in self.pits]
        served = [(et, v) for et, v in served if et is not None]
        fuel_services = [
            (et, _const((v.fuel_after,))) for et, v in served if v.fuel_after is not None
        ]
        self.fuel = sector_stepped(
            laps, (car.start_fuel,), lambda lap: (lap.fuel_end,), fuel_services
        )
        self.ve: Steps | None = None
        if car.entry.has_virtual_energy and car.start_ve is not None:
            ve_services = [
                (et, _const((v.ve_after,))) for et, v in served if v.ve_after is not None
            ]
            start_ve = car.start_ve
            self.ve = sector_stepped(
                laps,
                (start_ve,),
                lambda lap: (lap.ve_end if lap.ve_end is not None else start_ve,),
                ve_services,
            )
        wear_services = [(et, _fresh(v.tyres_changed)) for et, v in served if any(v.tyres_changed)]
        self.wear = sector_stepped(laps, (100.0,) * 4, lambda lap: lap.tyre_wear_end, wear_services)
        self.compounds: Steps[Tyres] = lap_stepped(
            laps,
            car.start_compounds,
            lambda lap: lap.compounds,
            [(et, v.compounds_after) for et, v in served if v.compounds_after is not None],
        )
        self.drivers = self._driver_steps(car)

    def _driver_steps(self, car: CarScript) -> Steps[str]:
        """Driver from scripted swaps; without any, from the laps' drivers."""
        first = car.first_driver or (car.laps[0].driver if car.laps else "")
        swaps = sorted(
            (v.swap_et, v.driver_in) for v in self.pits if v.swap_et is not None and v.driver_in
        )
        if not swaps:
            prev = first
            for lap in car.laps:
                if lap.driver and lap.driver != prev:
                    swaps.append((lap.start_et, lap.driver))
                    prev = lap.driver
        return Steps([-math.inf, *(s[0] for s in swaps)], [first, *(s[1] for s in swaps)])

    # -- evaluation -----------------------------------------------------------------------------

    def point_at(self, et: float) -> tuple[int, float]:
        """(index, ET) of the most recent timing point passed; (-1, nan) before the first."""
        idx = bisect.bisect_right(self.point_ets, et) - 1
        if idx < 0:
            return -1, math.nan
        return self.p0 + idx, self.point_ets[idx]

    def passed(self, point: int, et: float) -> float | None:
        """ET at which the car passed `point`, if it has by `et`."""
        idx = point - self.p0
        if idx < 0 or idx >= len(self.point_ets):
            return None
        t = self.point_ets[idx]
        return t if t <= et else None

    def in_garage_visit(self, et: float) -> bool:
        k = bisect.bisect_right(self.garage_ins, et) - 1
        return k >= 0 and et < self.garage[k][1]

    def pit_state(self, et: float) -> tuple[str, bool, PitVisit | None]:
        """(pit state, pitting, current visit) from the last visit begun by `et`."""
        k = bisect.bisect_right(self.pit_starts, et) - 1
        if k < 0:
            return "NONE", False, None
        v = self.pits[k]
        state, pitting = "NONE", False
        if v.request_et is not None and v.request_et <= et:
            state = "REQUEST"
        if v.entry_et is not None and v.entry_et <= et:
            state, pitting = "ENTERING", True
        if v.stop_et is not None and v.stop_et <= et:
            state, pitting = "STOPPED", True
        if v.release_et is not None and v.release_et <= et:
            state, pitting = "EXITING", True
        if v.exit_et is not None and v.exit_et <= et:
            state, pitting = ("EXITING" if v.stuck_exiting else "NONE"), False
        if v.garage_in_et is not None and v.garage_in_et <= et < (v.garage_out_et or math.inf):
            # The game shows cars in their garage stall as EXITING and pitting.
            state, pitting = "EXITING", True
        return state, pitting, v

    def live(self, et: float, race_started: bool) -> tuple[CarLive, Where]:
        """The car at `et`, without position, gaps or flags (see `sim.engine_order`)."""
        car, laps, length = self.car, self.laps, self.length
        k = bisect.bisect_right(self.starts, et)  # laps started
        on_lap = k > 0 and et < self.ends[k - 1]
        done = k - 1 if on_lap else k  # laps completed (as list count)
        sector, cur_s1, cur_s2 = 1, -1.0, -1.0
        if on_lap:
            lap = laps[k - 1]
            lap_start = lap.start_et
            into = et - lap_start
            laps_completed = lap.number - 1
            s1, s2 = lap.sectors[0], lap.sectors[0] + lap.sectors[1]
            if into >= s1:
                sector, cur_s1 = 2, s1
                if into >= s2:
                    sector, cur_s2 = 3, s2
            distance, speed = lap_position(lap, self.knots.get(k - 1), et, self.session.track)
            in_garage = self.in_garage_visit(et)
            if in_garage:
                speed = 0.0
            progress = laps_completed * length + distance
        elif done > 0:
            last = laps[done - 1]
            laps_completed = last.number
            lap_start = last.end_et
            into = et - lap_start
            distance, speed, in_garage = self._off_lap(done, et)
            progress = laps_completed * length + (distance if not in_garage else 0.0)
        else:
            laps_completed = 0
            lap_start = self._first_lap_start()
            into = et - laps[0].start_et if laps else et - lap_start
            distance, speed, in_garage = self._before_first(et, race_started)
            progress = -length
        completed = laps[:done]
        last_time = last_s1 = last_s2 = -1.0
        best_time = best_s1 = best_s2 = bs1 = bs2 = -1.0
        estimate = laps[0].duration if laps else length / 50.0
        if done:
            last = laps[done - 1]
            last_time, last_s1, last_s2 = _reported(last)
            b = self.best_idx[done - 1]
            if b >= 0:
                best_time, best_s1, best_s2 = _reported(laps[b])
            if self.best_s1[done - 1] < math.inf:
                bs1 = self.best_s1[done - 1]
                if self.best_s2[done - 1] < math.inf:
                    bs2 = bs1 + self.best_s2[done - 1]
            lv = self.last_valid_idx[done - 1]
            estimate = laps[lv].lap_time if lv >= 0 else last.duration
        state, pitting, _visit = self.pit_state(et)
        if in_garage:
            state, pitting = "EXITING", True
        pending = {kind: 0 for kind in PENALTY_KINDS}
        count = 0
        for pen in car.penalties:
            if pen.et <= et and (pen.served_et is None or pen.served_et > et):
                pending[pen.kind] = pending.get(pen.kind, 0) + 1
                count += 1
        finished = car.finish_et is not None and car.finish_et <= et
        ve = self.ve.at(et)[0] if self.ve is not None else None
        n_drivers = bisect.bisect_right(self.drivers.ets, et)
        visits_begun = bisect.bisect_right(self.pit_starts, et)
        live = CarLive(
            script=car,
            slot_id=car.entry.slot_id,
            driver=self.drivers.values[n_drivers - 1],
            position=0,
            class_position=0,
            laps_completed=laps_completed,
            lap_start_et=lap_start,
            time_into_lap=into,
            lap_distance=distance,
            sector=sector,
            current_s1=cur_s1,
            current_s2=cur_s2,
            last_lap_time=last_time,
            last_s1=last_s1,
            last_s2=last_s2,
            best_lap_time=best_time,
            best_lap_s1=best_s1,
            best_lap_s2=best_s2,
            best_sector1=bs1,
            best_sector2=bs2,
            estimated_lap_time=estimate,
            pit_state=state,
            pitting=pitting,
            in_garage=in_garage,
            pitstops=bisect.bisect_right(self.stop_ets, et),
            penalties=count,
            penalty_kinds=pending,
            finish_status=car.finish_status if finished else "FSTAT_NONE",
            count_lap_flag=car.count_lap_flag,
            fuel=self.fuel.at(et)[0],
            virtual_energy=ve,
            compounds=self.compounds.at(et),
            tyre_wear=self.wear.at(et),  # type: ignore[arg-type]
            laps_behind_leader=0,
            laps_behind_next=0,
            laps_behind_class_leader=0,
            time_behind_leader=0.0,
            time_behind_next=0.0,
            time_behind_class_leader=0.0,
            speed=speed,
            x=0.0,
            y=0.0,
            z=0.0,
            vx=0.0,
            vy=0.0,
            vz=0.0,
            under_yellow=False,
            flag="GREEN",
            headlights=False,
            stint=n_drivers,
            completed_laps=completed,
            completed_pits=self.pits[:visits_begun],
            total_race_time=(completed[-1].end_et - laps[0].start_et) if completed else 0.0,
        )
        return live, Where(distance, speed, in_garage, progress)

    def _first_lap_start(self) -> float:
        """lapStartET before the first lap: garage out if the car came out of it, else ET 0."""
        first = self.starts[0] if self.starts else math.inf
        outs = [g[1] for g in self.garage if g[1] <= first and math.isfinite(g[1])]
        return outs[-1] if outs else 0.0

    def _box_distance(self) -> float:
        return (self.session.track.pit_box % 1.0) * self.length

    def _before_first(self, et: float, race_started: bool) -> tuple[float, float, bool]:
        """Before its first lap a race car waits on the grid, anyone else in the garage."""
        if self.session.is_race and not self.car.start_in_garage and not self.in_garage_visit(et):
            slot = max(0, min(self.grid_rank, 200) - 1)
            return (self.length - 10.0 - GRID_SPACING * slot) % self.length, 0.0, False
        return self._box_distance(), 0.0, True

    def _off_lap(self, done: int, et: float) -> tuple[float, float, bool]:
        """After lap `done` ended and before the next begins."""
        last = self.laps[done - 1]
        if self.in_garage_visit(et):
            return self._box_distance(), 0.0, True
        nxt = self.starts[done] if done < len(self.starts) else math.inf
        if nxt - last.end_et <= CONTIGUOUS:  # a hair between two laps: at the line
            return 0.0, self.length / max(last.duration, 1.0), False
        car = self.car
        if (
            done == len(self.laps)
            and car.finish_et is not None
            and car.finish_status
            in (
                "FSTAT_FINISHED",
                "FSTAT_CHECKERED",
            )
        ):
            # Cool-down lap at reduced pace until the pit entry, then the garage.
            speed = COOLDOWN_PACE * self.length / max(last.duration, 1.0)
            dist = (et - last.end_et) * speed
            if dist < self.session.track.pit_entry * self.length:
                return dist, speed, False
        state, pitting, visit = self.pit_state(et)
        if pitting and visit is not None and visit.entry_et is not None:
            # In the pit lane between two laps (e.g. on its way to the garage): not in the stall.
            return self._pit_lane(visit, et, state)
        return self._box_distance(), 0.0, True

    def _pit_lane(self, visit: PitVisit, et: float, state: str) -> tuple[float, float, bool]:
        """Driving down the pit lane at the speed limit from the entry towards the box."""
        track = self.session.track
        if state == "STOPPED":
            return self._box_distance(), 0.0, False
        entry = track.pit_entry * self.length
        box = track.pit_box * self.length
        box = box if box >= entry else box + self.length
        driven = min(box, entry + (et - (visit.entry_et or et)) * PIT_LANE_SPEED)
        return driven % self.length, PIT_LANE_SPEED, False


def _reported(lap: Lap) -> tuple[float, float, float]:
    """Reported lap time and cumulative splits (-1 where missing)."""
    s1, s2 = lap.sector_times[0], lap.sector_times[1]
    c1 = s1 if s1 > 0 else -1.0
    c2 = s1 + s2 if s1 > 0 and s2 > 0 else -1.0
    return (lap.lap_time if lap.lap_time > 0 else -1.0), c1, c2


def _const(value: tuple[float, ...]):
    return lambda _cur: value


def _fresh(changed: tuple[bool, bool, bool, bool]):
    """Tyre wear after service: new tyres on changed wheels."""
    return lambda cur: tuple(100.0 if c else w for c, w in zip(changed, cur, strict=True))
