"""The tracker: ordered observations of one session in, racing facts (events) out.

Like python-websockets' protocol core it knows no I/O: `observe(state, et)` takes the normalized
client state document (see `client.normalize`) at event time `et` and returns the events it
produced; `backfill(history, et)` does the same for the game's lap history. It never awaits,
writes or reads a clock.

Event sourcing: every fact changes only by applying an event (`_apply`), and detection only
compares an observation with facts. `Tracker.restore(session_type, track_length, events)`
therefore rebuilds a tracker that continues exactly as the one that produced the events.

Fields read from a standings row (the client's "slim" step drops others, so nothing here
needs `timeIntoLap` or positions in the world): slotID, vehicleFilename, vehicleName,
fullTeamName, carNumber, carClass, driverName, position, lapsCompleted, lapStartET,
lastLapTime, lastSectorTime1/2, countLapFlag, pitState, pitting, pitstops, inGarageStall,
penalties, finishStatus, fuelFraction, veFraction, player, sector; from its websocket row:
compoundNames, penalties {DT, SG, TIME}, virtualEnergy.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from server.tracking import strategy as service
from server.tracking.bests import Bests
from server.tracking.cars import RETIRED, CarRecord
from server.tracking.conditions import read_conditions, worth_sampling
from server.tracking.events import (
    CarFinished,
    CarJoined,
    ClassBest,
    ConditionsSample,
    DriverSwap,
    Event,
    FullCourseYellow,
    GarageIn,
    GarageOut,
    LapCompleted,
    LapsMissed,
    LapStarted,
    LapUpdated,
    PenaltyAdded,
    PenaltyServed,
    PersonalBest,
    PhaseChanged,
    PitEntered,
    PitExited,
    PitReleased,
    PitServiced,
    PitStopped,
    PitStopRecovered,
    SectorFlag,
    event_from_dict,
)
from server.tracking.feed import PHASE_NAMES, FeedItem, feed_item
from server.tracking.laps import Lap, counts, history_lap, lap_time, sector_times
from server.tracking.pits import PitStop, apply_pit, pit_events

log = logging.getLogger(__name__)

PHASE_FCY = 6
PENALTY_KINDS = ("DT", "SG", "TIME")
SERVED_AFTER_EXIT = 60.0  # s: a penalty served this soon after a stop closed was served there
LAP_START_TOLERANCE = 0.0005


class Tracker:
    """One session's facts, built from its observations."""

    def __init__(self, session_type: str, track_length: float) -> None:
        self.session_type = session_type
        self.track_length = track_length
        self.is_race = session_type.upper().startswith("RACE")
        self.cars: dict[str, CarRecord] = {}
        self.bests = Bests()
        self.phase: int | None = None
        self.sector_flags: list[str | None] = [None, None, None]
        self.conditions: list[ConditionsSample] = []
        self.feed: list[FeedItem] = []
        self.last_et: float | None = None
        self._appliers: dict[type, Callable[[Any], None]] = {
            CarJoined: self._apply_joined,
            LapCompleted: self._apply_lap,
            LapUpdated: self._apply_lap_update,
            LapsMissed: self._apply_missed,
            LapStarted: self._apply_lap_started,
            CarFinished: self._apply_finished,
            PitEntered: self._apply_pit,
            PitStopped: self._apply_pit,
            PitReleased: self._apply_pit,
            PitExited: self._apply_pit,
            GarageIn: self._apply_pit,
            GarageOut: self._apply_pit,
            PitServiced: self._apply_pit,
            PitStopRecovered: self._apply_pit,
            DriverSwap: self._apply_swap,
            PenaltyAdded: self._apply_penalty,
            PenaltyServed: self._apply_penalty,
            PhaseChanged: self._apply_phase,
            SectorFlag: self._apply_flag,
            ConditionsSample: self.conditions.append,
        }

    # --- restore -------------------------------------------------------------------------------

    @classmethod
    def restore(
        cls, session_type: str, track_length: float, events: Iterable[Event | dict[str, Any]]
    ) -> Tracker:
        """A tracker in the state `events` (objects or their stored dicts) describe."""
        tracker = cls(session_type, track_length)
        for event in events:
            if isinstance(event, dict):
                event = event_from_dict(event)
            tracker._apply(event)
            if tracker.last_et is None or event.et > tracker.last_et:
                tracker.last_et = event.et
        log.info("restored %s: %d cars", session_type, len(tracker.cars))
        return tracker

    # --- observe -------------------------------------------------------------------------------

    def observe(self, state: dict[str, Any], et: float) -> list[Event]:
        """The events one observation (a normalized client state at `et`) reveals."""
        if self.last_et is not None and et <= self.last_et:
            return []
        self.last_et = et
        out: list[Event] = []
        session = state.get("session")
        if type(session) is dict:
            self._observe_session(session, et, out)
        cars = state.get("cars")
        if type(cars) is not dict:
            return out
        strategy = state.get("strategy") if type(state.get("strategy")) is dict else None
        teams = service.teams_by_name(strategy) if strategy is not None else None
        usage = state.get("usage") if type(state.get("usage")) is dict else None
        class_positions: dict[str, int] | None = None
        for key, row in cars.items():
            if "lapsCompleted" not in row:
                continue  # a websocket row without its standings row
            car = self.cars.get(key)
            if car is None:
                car = self._join(key, row, et, out)
                if car.laps_done > 0:
                    class_positions = class_positions or _class_positions(cars)
                    self._complete_laps(car, row, car.laps_done, 0, et, class_positions, out)
            done = row["lapsCompleted"]
            if type(done) is int and done > car.laps_done:
                class_positions = class_positions or _class_positions(cars)
                self._complete_laps(car, row, done, car.laps_done, et, class_positions, out)
            else:
                self._lap_start(car, row, et, out)
            for event in pit_events(car, row, et):
                self._emit(event, out)
            driver = row.get("driverName")
            if type(driver) is str and driver != car.driver and driver:
                stop = car.open_stop
                number = stop.number if stop is not None else None
                self._emit(DriverSwap(et, key, number, car.laps_done + 1, car.driver, driver), out)
            if row.get("penalties", car.penalties) != car.penalties:
                self._penalty(car, row, et, out)
            status = row.get("finishStatus")
            if type(status) is str and status != car.finish_status:
                self._emit(CarFinished(et, key, status, car.laps_done), out)
            if teams is not None:
                self._service(car, row, teams, et, out)
            if usage is not None and car.awaiting_usage:
                for event in service.usage_updates(car, usage, et):
                    self._emit(event, out)
        return out

    def _service(
        self, car: CarRecord, row: dict[str, Any], teams: dict[str, list], et: float, out: list
    ) -> None:
        """Resolve stops from their strategy entries; recover stops no observation saw."""
        entries = service.team_entries(teams, car)
        if not entries or not service.wants_service(car, entries):
            return
        private = row.get("player") is True
        for event in service.service_events(car, entries, et, private):
            self._emit(event, out)
        if car.open_stop is None:
            for event in service.recovered_stops(car, entries, et, private):
                self._emit(event, out)

    def _emit(self, event: Event, out: list[Event]) -> None:
        self._apply(event)
        out.append(event)

    def _join(self, key: str, row: dict[str, Any], et: float, out: list[Event]) -> CarRecord:
        done = row.get("lapsCompleted")
        start = row.get("lapStartET")
        penalties = row.get("penalties")
        stops = row.get("pitstops")
        joined = CarJoined(
            et,
            key,
            slot=_int(row.get("slotID"), -1),
            vehicle=_str(row.get("vehicleFilename")),
            vehicle_name=_str(row.get("vehicleName")),
            team=_str(row.get("fullTeamName")),
            number=_str(row.get("carNumber")),
            car_class=_str(row.get("carClass")),
            driver=_str(row.get("driverName")),
            grid=_int(row.get("qualification"), -1),
            laps=done if type(done) is int and done > 0 else 0,
            lap_start_et=float(start) if type(start) in (int, float) else 0.0,
            penalties=penalties if type(penalties) is int else 0,
            pitstops=stops if type(stops) is int else 0,
            finish_status=_str(row.get("finishStatus")) or "FSTAT_NONE",
        )
        self._emit(joined, out)
        return self.cars[key]

    # --- laps ----------------------------------------------------------------------------------

    def _complete_laps(
        self,
        car: CarRecord,
        row: dict[str, Any],
        done: int,
        before: int,
        et: float,
        class_positions: dict[str, int],
        out: list[Event],
    ) -> None:
        """Lap `done` from the row; laps between `before` and it are missing."""
        gap = tuple(n for n in range(before + 1, done) if n not in car.laps)
        if gap:
            self._emit(LapsMissed(et, car.key, gap), out)
        if done in car.laps:
            return
        late = done > before + 1 or (before == 0 and car.joined_et == et and done > 0)
        total = lap_time(row.get("lastLapTime"))
        s1, s2, s3 = sector_times(total, row.get("lastSectorTime1"), row.get("lastSectorTime2"))
        ws = row.get("ws") if type(row.get("ws")) is dict else {}
        player = row.get("player") is True
        start = row.get("lapStartET")
        end = float(start) if type(start) in (int, float) and start > 0 else et
        driver = _str(row.get("driverName")) or car.driver
        position = row.get("position") if type(row.get("position")) is int else None
        flag = row.get("countLapFlag", ws.get("countLapFlag"))
        lap = LapCompleted(
            et,
            car.key,
            lap=done,
            lap_time=total,
            s1=s1,
            s2=s2,
            s3=s3,
            valid=total > 0 and counts(flag),
            driver=driver,
            position=None if late else position,
            class_position=None if late else class_positions.get(car.key),
            start_et=_lap_start_et(late, total, end, car.lap_start_et),
            end_et=end,
            pit=not late and car.pit_this_lap,
            garage=not late and car.garage_this_lap,
            fuel=None if late or player else _fraction(row.get("fuelFraction")),
            ve=None if late else _ve(row, ws),
            compounds=None if late else _compounds(ws),
            source="late" if late else "live",
            player=player and not late,
        )
        self._emit_lap(lap, out)

    def _emit_lap(self, event: LapCompleted, out: list[Event]) -> None:
        car = self.cars[event.car]
        lap = Lap.from_event(event)
        gains = self.bests.improvements(lap, car.car_class)
        self._emit(event, out)
        for scope, previous in gains:
            if scope == "class":
                best: Event = ClassBest(
                    event.et, car.key, car.car_class, lap.driver, lap.lap, lap.lap_time, previous
                )
            else:
                best = PersonalBest(
                    event.et, car.key, lap.driver, lap.lap, lap.lap_time, previous, scope
                )
            self._emit(best, out)

    def _lap_start(self, car: CarRecord, row: dict[str, Any], et: float, out: list[Event]) -> None:
        start = row.get("lapStartET")
        if type(start) not in (int, float) or start <= 0:
            return
        if abs(start - car.lap_start_et) > LAP_START_TOLERANCE and start <= et + 1.0:
            self._emit(LapStarted(et, car.key, car.laps_done + 1, float(start)), out)

    # --- penalties -----------------------------------------------------------------------------

    def _penalty(self, car: CarRecord, row: dict[str, Any], et: float, out: list[Event]) -> None:
        pending = row.get("penalties")
        if type(pending) is not int:
            return
        ws = row.get("ws") if type(row.get("ws")) is dict else {}
        raw = ws.get("penalties")
        kinds = None
        if type(raw) is dict:
            kinds = {k: int(raw.get(k, 0)) for k in PENALTY_KINDS if type(raw.get(k)) is int}
        before = car.penalty_kinds or {}
        if pending > car.penalties:
            added = _changed_kind(kinds, before, grew=True)
            self._emit(PenaltyAdded(et, car.key, pending, kinds, added), out)
            return
        served = _changed_kind(kinds, before, grew=False)
        stop = car.open_stop
        if stop is None and car.stops:
            last = car.stops[-1]
            if last.exit_et is not None and et - last.exit_et <= SERVED_AFTER_EXIT:
                stop = last
        number = stop.number if stop is not None else None
        self._emit(PenaltyServed(et, car.key, pending, kinds, served, number), out)

    # --- session -------------------------------------------------------------------------------

    def _observe_session(self, session: dict[str, Any], et: float, out: list[Event]) -> None:
        phase = session.get("gamePhase")
        if type(phase) is int and phase != self.phase:
            previous = self.phase
            name = PHASE_NAMES.get(phase, f"Phase {phase}")
            self._emit(PhaseChanged(et, phase, name, previous), out)
            if phase == PHASE_FCY:
                self._emit(FullCourseYellow(et, True), out)
            elif previous == PHASE_FCY:
                self._emit(FullCourseYellow(et, False), out)
        flags = session.get("sectorFlag")
        if type(flags) is list:
            for i, flag in enumerate(flags[:3]):
                if type(flag) is str and flag != self.sector_flags[i]:
                    self._emit(SectorFlag(et, i + 1, flag, self.sector_flags[i]), out)
        sample = read_conditions(session, et)
        if worth_sampling(self.conditions[-1] if self.conditions else None, sample):
            self._emit(sample, out)

    # --- backfill ------------------------------------------------------------------------------

    def backfill(self, history: dict[str, Any], et: float) -> list[Event]:
        """Laps the observations missed, from `/rest/watch/standings/history` (slot -> rows).

        Only laps up to each car's lap count are taken (later ones will be seen live) and only
        laps not known yet, so a backfill never duplicates a lap; a lap recorded late (after a
        gap) takes the history's driver and position at the line.
        """
        out: list[Event] = []
        by_slot = {car.slot: car for car in self.cars.values()}
        for slot, rows in history.items():
            car = by_slot.get(_int(slot, -1))
            if car is None or type(rows) is not list:
                continue
            # the last row is the lap in progress; newest first, so line ETs chain backwards
            for row in reversed(rows[:-1]):
                facts = history_lap(row) if type(row) is dict else None
                if facts is None or facts["lap"] > car.laps_done:
                    continue
                known = car.laps.get(facts["lap"])
                if known is None:
                    self._emit_lap(self._history_event(car, facts, et), out)
                elif known.source == "late":
                    changes = {
                        name: facts[name]
                        for name in ("driver", "position")
                        if facts[name] and facts[name] != getattr(known, name)
                    }
                    if changes:
                        self._emit(LapUpdated(et, car.key, known.lap, changes), out)
        return out

    def _history_event(self, car: CarRecord, facts: dict[str, Any], et: float) -> LapCompleted:
        number = facts["lap"]
        before, after = car.laps.get(number - 1), car.laps.get(number + 1)
        start = before.end_et if before is not None else None
        end = after.start_et if after is not None else None
        if end is None and start is not None and facts["lap_time"] > 0:
            end = round(start + facts["lap_time"], 3)
        if start is None and end is not None and facts["lap_time"] > 0:
            start = round(end - facts["lap_time"], 3)
        return LapCompleted(
            et,
            car.key,
            start_et=start,
            end_et=end,
            class_position=None,
            garage=False,
            fuel=None,
            ve=None,
            compounds=None,
            source="history",
            **facts,
        )

    # --- applying events -----------------------------------------------------------------------

    def _apply(self, event: Event) -> None:
        applier = self._appliers.get(type(event))
        if applier is not None:
            applier(event)
        car = getattr(event, "car", None)
        item = feed_item(event, self._label)
        if item is not None:
            self.feed.append(item)
        if car is not None and car not in self.cars and not isinstance(event, CarJoined):
            log.warning("event %s for unknown car %s", event.kind, car)

    def _label(self, key: str) -> str:
        car = self.cars.get(key)
        return car.label if car is not None else key

    def _apply_joined(self, event: CarJoined) -> None:
        car = CarRecord(event)
        self.cars[event.car] = car
        if event.finish_status in RETIRED:
            return
        if event.laps > 0 or event.lap_start_et > 0:
            car.stints.start(event.driver, event.et)

    def _apply_lap(self, event: LapCompleted) -> None:
        car = self.cars[event.car]
        if event.lap in car.laps:
            return
        lap = Lap.from_event(event)
        car.laps[event.lap] = lap
        car.missing.discard(event.lap)
        if event.source == "history":
            self._file_history_lap(car, lap)
        else:
            if event.lap >= car.laps_done:
                car.laps_done = event.lap
                if event.end_et is not None:
                    car.lap_start_et = event.end_et
                car.pit_this_lap = car.open_stop is not None
                car.garage_this_lap = car.in_garage
            if car.stints.current is None and not car.in_garage and not car.finished:
                car.stints.start(event.driver, event.start_et or event.et)
            car.stints.lap(lap.lap, lap.lap_time, lap.valid, lap.end_et)
        self.bests.add(lap, car.car_class)
        if lap.player and lap.fuel is None:
            car.awaiting_usage.append(lap.lap)
        car.awaiting_usage = service.still_waiting(car)

    def _file_history_lap(self, car: CarRecord, lap: Lap) -> None:
        """A backfilled lap counts in the stint it was driven in, when its end ET is known."""
        if lap.end_et is None:
            return
        for stint in car.stints.stints:
            end = stint.end_et if stint.end_et is not None else float("inf")
            if stint.start_et <= lap.end_et <= end:
                stint.add_lap(lap.lap, lap.lap_time, lap.valid, None)
                return

    def _apply_lap_update(self, event: LapUpdated) -> None:
        car = self.cars[event.car]
        lap = car.laps.get(event.lap)
        if lap is not None:
            lap.update(event.changes)
            car.awaiting_usage = service.still_waiting(car)

    def _apply_missed(self, event: LapsMissed) -> None:
        car = self.cars[event.car]
        car.missing.update(n for n in event.laps if n not in car.laps)

    def _apply_lap_started(self, event: LapStarted) -> None:
        car = self.cars[event.car]
        car.lap_start_et = event.start_et
        if car.stints.current is None and not car.in_garage and not car.finished:
            car.stints.start(car.driver, event.start_et)

    def _apply_finished(self, event: CarFinished) -> None:
        car = self.cars[event.car]
        car.finish_status = event.status
        if car.finished:
            car.stints.finish(event.et)

    def _apply_pit(self, event: Event) -> None:
        car = self.cars[event.car]  # type: ignore[attr-defined]
        apply_pit(car, event)
        if isinstance(event, GarageIn):
            car.stints.end(event.et, "garage")
        elif isinstance(event, PitExited):
            stop = car.stop(event.stop)
            if stop is not None and stop.garage_out_et is not None and not car.finished:
                car.stints.start(car.driver, stop.garage_out_et)
        elif isinstance(event, PitStopped):
            stop = car.stop(event.stop)
            if stop is not None and stop.stop_et == event.et:
                car.stints.stop()

    def _apply_swap(self, event: DriverSwap) -> None:
        car = self.cars[event.car]
        car.driver = event.driver_in
        if event.stop is not None:
            apply_pit(car, event)
        car.stints.swap(event.driver_in, event.et)

    def _apply_penalty(self, event: PenaltyAdded | PenaltyServed) -> None:
        car = self.cars[event.car]
        if isinstance(event, PenaltyAdded):
            car.penalties_total += max(1, event.pending - car.penalties)
        else:
            stop = car.stop(event.stop)
            if stop is not None:
                stop.penalty_served = event.served or "?"
        car.penalties = event.pending
        car.penalty_kinds = event.kind_counts

    def _apply_phase(self, event: PhaseChanged) -> None:
        self.phase = event.phase

    def _apply_flag(self, event: SectorFlag) -> None:
        if 1 <= event.sector <= 3:
            self.sector_flags[event.sector - 1] = event.flag

    # --- read accessors (for the web layer) ----------------------------------------------------

    def car_laps(self, key: str) -> list[Lap]:
        car = self.cars.get(key)
        return [car.laps[n] for n in sorted(car.laps)] if car is not None else []

    def pit_stops(self, key: str | None = None) -> list[PitStop]:
        cars = [self.cars[key]] if key is not None else list(self.cars.values())
        return [stop for car in cars for stop in car.stops]

    def stints(self, key: str | None = None) -> list:
        cars = [self.cars[key]] if key is not None else list(self.cars.values())
        return [stint for car in cars for stint in car.stints.stints]

    def drive_times(self) -> dict[str, dict[str, float]]:
        """Seconds driven per car, per driver."""
        return {key: car.stints.drive_time() for key, car in self.cars.items()}

    def missing_laps(self) -> dict[str, list[int]]:
        """Laps still missing per car: what a backfill should bring."""
        return {key: sorted(car.missing) for key, car in self.cars.items() if car.missing}

    def classification(self) -> list[str]:
        """Car keys in order: races by laps, then who completed them first, then the grid;
        other sessions by best lap."""
        cars = list(self.cars.values())
        if self.is_race:
            inf = float("inf")

            def race_key(car: CarRecord) -> tuple:
                line = car.laps.get(car.laps_done)
                end = line.end_et if line is not None and line.end_et is not None else inf
                grid = car.grid if car.grid > 0 else 10_000
                return (-car.laps_done, end, grid, car.slot)

            return [car.key for car in sorted(cars, key=race_key)]

        def timed_key(car: CarRecord) -> tuple:
            best = self.bests.by_car.get(car.key)
            time = best.lap_time if best is not None else None
            return (time is None, time or 0.0, car.slot)

        return [car.key for car in sorted(cars, key=timed_key)]


# --- small readers ---------------------------------------------------------------------------


def _class_positions(cars: dict[str, Any]) -> dict[str, int]:
    """Position in class of every car, from the overall positions of one observation."""
    ranked = sorted(
        (row.get("position", 999), key, row.get("carClass"))
        for key, row in cars.items()
        if type(row.get("position")) is int
    )
    seen: dict[str, int] = {}
    out = {}
    for _, key, car_class in ranked:
        seen[car_class] = seen.get(car_class, 0) + 1
        out[key] = seen[car_class]
    return out


def _lap_start_et(late: bool, total: float, end: float, start: float) -> float | None:
    """A lap's start: when it was seen starting, or (seen late) its end minus its time."""
    if late:
        return round(end - total, 3) if total > 0 else None
    return start if start > 0 else None


def _changed_kind(now: dict[str, int] | None, before: dict[str, int], grew: bool) -> str | None:
    if now is None:
        return None
    for kind in PENALTY_KINDS:
        delta = now.get(kind, 0) - before.get(kind, 0)
        if (delta > 0) if grew else (delta < 0):
            return kind
    return None


def _fraction(value: object) -> float | None:
    if type(value) in (int, float) and 0.0 <= value <= 1.0:
        return round(float(value), 4)
    return None


def _ve(row: dict[str, Any], ws: dict[str, Any]) -> float | None:
    """Virtual energy 0..1: the websocket's percentage (absent: the car has none), else the
    standings' veFraction."""
    if ws:
        value = ws.get("virtualEnergy")
        return round(value / 100.0, 4) if type(value) in (int, float) else None
    return _fraction(row.get("veFraction"))


def _compounds(ws: dict[str, Any]) -> tuple[str, str, str, str] | None:
    names = ws.get("compoundNames")
    if type(names) is list and len(names) == 4 and all(type(n) is str for n in names):
        return (names[0], names[1], names[2], names[3])
    return None


def _str(value: object) -> str:
    return value if type(value) is str else ""


def _int(value: object, default: int) -> int:
    if type(value) is int:
        return value
    if type(value) is str and value.isdigit():
        return int(value)
    return default
