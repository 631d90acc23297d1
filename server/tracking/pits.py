"""Pit stops: one record per visit to the pit lane or the garage, built from the pit state.

The game's per-car `pitState` (NONE, REQUEST, ENTERING, STOPPED, EXITING), `pitting` (in the pit
lane) and `inGarageStall` drive a small machine per car. Its phase is that of the car's open
stop: on track (no open stop), `lane_in` (entered, not stopped), `box` (stationary), `lane_out`
(released or out of the garage, still in the lane) and `garage`. Rules, and the quirks they cope
with:

- Entry is ENTERING (a REQUEST alone is not a visit). STOPPED is the box; leaving STOPPED is the
  release. The stop closes (`PitExited`) when the car is back on track: `pitting` false. That
  copes with the pit state stuck on EXITING after the exit (a known game quirk: it stays until
  the next visit), which therefore never opens a visit on its own. Should `pitting` stick too,
  the stop closes once the car has started a later lap than the one it left the box on and is
  past sector 1 (`estimated`).
- A drive-through is ENTERING then back on track without STOPPED and without the game's stop
  counter (`pitstops`) growing. When that counter grew but no STOPPED was seen (observations
  too sparse), the stop is recorded with `estimated` set at the release; its stationary time
  then comes from the strategy entry (`PitServiced`).
- A car first seen in the pit lane, in its box or in its garage opens a stop right there
  (`estimated` entry). A box past the line gives a stop on a later lap than the entry
  (`PitStopped.lap > stop lap`: "stop after the line"). After leaving, a new ENTERING is a new
  stop, so two visits in one lap are two stops.
- A garage visit is a stop of its own (practice runs, repairs, retirement) or part of a pit-lane
  visit when the car drives into the garage from the lane; `GarageOut` puts the car back in the
  lane.
- The game flips STOPPED off briefly during some driver swaps; STOPPED again before the exit
  resumes the same stop (the release is taken from the last time it left the box).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from server.tracking.events import (
    DriverSwap,
    Event,
    GarageIn,
    GarageOut,
    PitEntered,
    PitExited,
    PitReleased,
    PitServiced,
    PitStopped,
    PitStopRecovered,
)

if TYPE_CHECKING:
    from server.tracking.cars import CarRecord

LANE_IN = "lane_in"
BOX = "box"
LANE_OUT = "lane_out"
GARAGE = "garage"


@dataclass(slots=True)
class PitStop:
    """One visit of one car; times are ETs, None when they did not happen or are unknown."""

    car: str
    number: int
    lap: int  # lap being driven when the visit began (lapsCompleted + 1)
    phase: str
    entry_et: float | None = None
    entry_estimated: bool = False
    stop_et: float | None = None
    stop_lap: int | None = None
    stop_estimated: bool = False
    release_et: float | None = None
    exit_et: float | None = None
    exit_estimated: bool = False
    garage_in_et: float | None = None
    garage_out_et: float | None = None
    out_lap: int | None = None  # lap being driven when it left the box or the garage
    drive_through: bool = False
    recovered: bool = False  # known only from the strategy (not seen)
    swaps: list[dict[str, Any]] = field(default_factory=list)
    penalty_served: str | None = None  # "DT", "SG", "TIME", or "?" when the kind is unknown
    # from the strategy entry (PitServiced)
    strategy_lap: int | None = None
    strategy_key: str | None = None
    service_time: float | None = None
    fuel: float | None = None
    ve: float | None = None
    tyres_changed: tuple[bool, bool, bool, bool] | None = None
    compounds: tuple[str, str, str, str] | None = None
    penalty: bool = False

    @property
    def closed(self) -> bool:
        return self.phase == "closed"

    @property
    def stop_after_line(self) -> bool:
        return self.stop_lap is not None and self.stop_lap > self.lap

    @property
    def stationary_time(self) -> float | None:
        if self.stop_et is not None and self.release_et is not None and not self.stop_estimated:
            return round(self.release_et - self.stop_et, 3)
        return self.service_time

    @property
    def garage(self) -> bool:
        return self.garage_in_et is not None

    @property
    def resolved(self) -> bool:
        return self.strategy_lap is not None

    def as_dict(self) -> dict[str, Any]:
        doc = {name: getattr(self, name) for name in self.__dataclass_fields__}
        doc["swaps"] = [dict(s) for s in self.swaps]
        doc["stationary_time"] = self.stationary_time
        doc["stop_after_line"] = self.stop_after_line
        doc["garage"] = self.garage
        return doc


# --- detection -------------------------------------------------------------------------------


def pit_events(car: CarRecord, row: dict[str, Any], et: float) -> list[Event]:
    """The pit events one standings row reveals for `car` (applied one by one by the caller)."""
    state = row.get("pitState")
    garage = row.get("inGarageStall") is True
    pitting = row.get("pitting")
    if type(pitting) is not bool:
        pitting = state in ("ENTERING", "STOPPED")
    stop = car.open_stop
    on_track = state not in ("ENTERING", "STOPPED") and not (pitting and state == "EXITING")
    if stop is None and not garage and on_track:
        return []  # (EXITING without `pitting` is the stuck quirk: on track)
    key, lap = car.key, car.laps_done + 1
    grew = _stops_grew(car, row)
    out: list[Event] = []
    if stop is None:
        number = len(car.stops) + 1
        if garage:
            return [GarageIn(et, key, number, lap)]
        out.append(PitEntered(et, key, number, lap, estimated=state != "ENTERING"))
        if state == "STOPPED":
            out.append(PitStopped(et, key, number, lap))
        elif state == "EXITING":
            if grew:
                out.append(PitStopped(et, key, number, lap, estimated=True))
            out.append(PitReleased(et, key, number, lap))
        return out
    number, phase = stop.number, stop.phase
    if garage:
        return [] if phase == GARAGE else [GarageIn(et, key, number, lap)]
    if phase == GARAGE:
        out.append(GarageOut(et, key, number, lap))
        phase = LANE_OUT
    if phase == LANE_IN:
        if state == "STOPPED":
            return [*out, PitStopped(et, key, number, lap)]
        if grew:
            out.append(PitStopped(et, key, number, lap, estimated=True))
            out.append(PitReleased(et, key, number, lap))
            phase = LANE_OUT
        elif not pitting and state != "ENTERING":
            return [*out, PitExited(et, key, number, lap, drive_through=True)]
    elif phase == BOX:
        if state == "STOPPED":
            return out
        out.append(PitReleased(et, key, number, lap))
        phase = LANE_OUT
    elif phase == LANE_OUT and state == "STOPPED":
        return [*out, PitStopped(et, key, number, lap)]
    if phase == LANE_OUT:
        if not pitting:
            out.append(PitExited(et, key, number, lap))
        elif _left_long_ago(stop, lap, row):
            out.append(PitExited(et, key, number, lap, estimated=True))
    return out


def _stops_grew(car: CarRecord, row: dict[str, Any]) -> bool:
    count = row.get("pitstops")
    return type(count) is int and count > car.pitstops_seen


def _left_long_ago(stop: PitStop, lap: int, row: dict[str, Any]) -> bool:
    """`pitting` stuck: a later lap than the one it left on, and past sector 1."""
    return stop.out_lap is not None and lap > stop.out_lap and row.get("sector") != "SECTOR1"


# --- applying events -------------------------------------------------------------------------


def apply_pit(car: CarRecord, event: Event) -> None:
    """Update `car`'s stops with one pit event (the only way stops change)."""
    if isinstance(event, PitEntered):
        stop = PitStop(event.car, event.stop, event.lap, LANE_IN, entry_et=event.et)
        stop.entry_estimated = event.estimated
        car.stops.append(stop)
        car.open_stop = stop
        car.pit_this_lap = True
        return
    if isinstance(event, PitStopRecovered):
        car.stops.append(PitStop(event.car, event.stop, event.lap, "closed", recovered=True))
        return
    if isinstance(event, GarageIn):
        stop = car.open_stop
        if stop is None or stop.number != event.stop:
            stop = PitStop(event.car, event.stop, event.lap, GARAGE)
            car.stops.append(stop)
            car.open_stop = stop
        stop.phase = GARAGE
        if stop.garage_in_et is None:
            stop.garage_in_et = event.et
        else:  # back into the garage before leaving the pit lane: one visit
            stop.garage_out_et = None
        car.garage_this_lap = True
        return
    stop = car.stop(event.stop) if hasattr(event, "stop") else None
    if stop is None:
        return
    if isinstance(event, PitStopped):
        if stop.stop_et is None:
            stop.stop_et, stop.stop_lap, stop.stop_estimated = event.et, event.lap, event.estimated
            car.pitstops_seen += 1
        stop.release_et = None
        stop.phase = BOX
    elif isinstance(event, PitReleased):
        stop.release_et = event.et
        stop.out_lap = event.lap
        stop.phase = LANE_OUT
    elif isinstance(event, GarageOut):
        stop.garage_out_et = event.et
        stop.out_lap = event.lap
        stop.phase = LANE_OUT
    elif isinstance(event, PitExited):
        stop.exit_et = event.et
        stop.exit_estimated = event.estimated
        stop.drive_through = event.drive_through
        stop.phase = "closed"
        if car.open_stop is stop:
            car.open_stop = None
    elif isinstance(event, DriverSwap):
        swap = {"et": event.et, "driver_out": event.driver_out, "driver_in": event.driver_in}
        stop.swaps.append(swap)
    elif isinstance(event, PitServiced):
        if stop.strategy_key is None:
            car.resolved_stops += 1
        stop.strategy_lap = event.strategy_lap
        stop.strategy_key = event.strategy_key
        stop.service_time = event.service_time
        stop.fuel, stop.ve = event.fuel, event.ve
        stop.tyres_changed, stop.compounds = event.tyres_changed, event.compounds
        stop.penalty = event.penalty
        if stop.stop_estimated and event.service_time and stop.release_et is not None:
            stop.stop_et = round(stop.release_et - event.service_time, 3)
