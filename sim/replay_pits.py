"""Recorded pit rows -> `PitVisit`s, and lap penalties -> `Penalty`s (pure logic, no I/O).

Every recorded pit row becomes exactly one visit. Missing times are filled so the pit state
sequence is legal (request <= entry <= stop <= release <= exit) and sits in the right laps:
- request: a few seconds before entry, never before the in-lap started;
- entry: from a stop without one (a car that started in the pit lane), a few seconds before it;
- release: stop + the recorded service time (or a short stop) when missing;
- exit: where the out-lap reaches the track's pit exit, or a little after release;
  None when the car never drove another lap (it stayed in the lane).
A garage row without a garage-in time (the car sat in its garage when recording began) gets
garage-in at ET 0 so the stay is visible from the session start.
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass

from sim.script import COMPOUNDS, Lap, Penalty, PitVisit, Tyres

REQUEST_LEAD = 15.0  # s before pit entry the request shows
ENTRY_LEAD = 8.0  # s of pit lane before a stop when entry is unknown
SHORT_STOP = 5.0  # s standing still when the release is unknown
EXIT_AFTER_RELEASE = 10.0  # s from release to the pit exit when no out-lap tells better


@dataclass
class RecordedPit:
    """One `Pits` row, in plain values (-1 already turned into None)."""

    lap: int
    entry: float | None
    stop: float | None
    release: float | None
    exit: float | None
    garage_in: float | None
    garage_out: float | None
    swap: bool
    swap_time: float | None
    penalty: bool
    service_time: float | None
    fuel: float | None
    ve: float | None
    changed: tuple[bool, bool, bool, bool]
    compounds: tuple[str | None, str | None, str | None, str | None]


def build_visits(
    rows: list[RecordedPit],
    laps: list[Lap],
    pit_exit: float,
    has_ve: bool,
    stuck_last: bool,
) -> list[PitVisit]:
    """One visit per row, ordered by start; `pit_exit` is the track's exit fraction."""
    starts = [lap.start_et for lap in laps]
    visits = [_visit(row, laps, starts, pit_exit, has_ve) for row in rows]
    visits.sort(key=lambda v: v.start_et)
    for prev, nxt in itertools.pairwise(visits):
        # A filled-in exit must not run into the next visit.
        if prev.exit_et is not None and prev.exit_et > nxt.start_et:
            lower = max(t for t in (prev.entry_et, prev.stop_et, prev.release_et) if t is not None)
            prev.exit_et = max(lower, nxt.start_et)
    if visits and stuck_last:
        visits[-1].stuck_exiting = True
    return visits


def _lap_at(laps: list[Lap], starts: list[float], et: float) -> int:
    """Index of the lap being driven at `et` (-1 before the first)."""
    return bisect.bisect_right(starts, et) - 1


def _visit(
    row: RecordedPit, laps: list[Lap], starts: list[float], pit_exit: float, has_ve: bool
) -> PitVisit:
    v = PitVisit(lap=row.lap, penalty_served="DT" if row.penalty else None)
    v.garage_in_et, v.garage_out_et = row.garage_in, row.garage_out
    if v.garage_out_et is not None and v.garage_in_et is None:
        v.garage_in_et = min(0.0, v.garage_out_et)
    if v.garage_in_et is not None and v.garage_out_et is not None:
        v.garage_out_et = max(v.garage_out_et, v.garage_in_et)
    kept_lapping = bool(starts) and v.garage_in_et is not None and starts[-1] > v.garage_in_et
    if kept_lapping and v.garage_out_et is None:
        # Recorded "into the garage" but the car kept lapping and no garage exit was ever seen
        # (the older tracker glitched around ET 6788 in the Algarve race): the stay cannot have
        # lasted, so it ends where it began instead of parking the car for good.
        v.garage_out_et = v.garage_in_et
    lane = [t for t in (row.entry, row.stop, row.release, row.exit) if t is not None]
    if lane:
        entry, stop, release, exit_ = row.entry, row.stop, row.release, row.exit
        if entry is None:
            first = min(lane)
            entry = first - ENTRY_LEAD if stop is not None and first == stop else first
            k = _lap_at(laps, starts, first)
            if k >= 0:
                entry = max(entry, laps[k].start_et)
        if stop is not None:
            stop = max(stop, entry)
            if release is None:
                dwell = row.service_time if row.service_time and row.service_time > 0 else None
                release = stop + (dwell or SHORT_STOP)
                if exit_ is not None:
                    release = min(release, exit_)
            release = max(release, stop)
        elif release is not None:
            release = max(release, entry)
        last_lane = max(t for t in (entry, stop, release) if t is not None)
        if exit_ is None:
            exit_ = _exit_estimate(laps, starts, last_lane, pit_exit)
        else:
            exit_ = max(exit_, last_lane)
        k = _lap_at(laps, starts, entry)
        lap_start = laps[k].start_et if k >= 0 else entry
        v.request_et = min(max(entry - REQUEST_LEAD, lap_start, 0.0), entry)
        v.entry_et, v.stop_et, v.release_et, v.exit_et = entry, stop, release, exit_
    if row.swap:
        anchor = row.swap_time
        if anchor is None:
            anchor = v.stop_et if v.stop_et is not None else v.garage_in_et
        if anchor is None:
            anchor = v.entry_et
        if anchor is not None and v.stop_et is not None and v.release_et is not None:
            anchor = min(max(anchor, v.stop_et), v.release_et)
        v.swap_et = anchor
        v.driver_in = _next_driver(laps, starts, anchor, row.lap)
    v.fuel_after = row.fuel
    if row.ve is not None and row.ve > 0 and has_ve:
        v.ve_after = row.ve
    if v.stop_et is not None and (v.fuel_after is None or (has_ve and v.ve_after is None)):
        _service_from_laps(v, laps, starts, has_ve)
    v.tyres_changed = row.changed
    if any(c in COMPOUNDS for c in row.compounds):
        fallback = next((c for c in row.compounds if c in COMPOUNDS), "Medium")
        v.compounds_after = tuple(c if c in COMPOUNDS else fallback for c in row.compounds)  # type: ignore[assignment]
    return v


def _exit_estimate(
    laps: list[Lap], starts: list[float], after: float, pit_exit: float
) -> float | None:
    """Where the out-lap reaches the pit exit; None when the car never drove on.

    Released late in a lap (box before the line): the exit comes at `pit_exit` of the next
    lap. Released early in a lap (box after the line): just after release, within that lap.
    """
    k = _lap_at(laps, starts, after)
    if k < 0 or k >= len(laps) or (k == len(laps) - 1 and after >= laps[k].end_et):
        return None
    lap = laps[k]
    if (after - lap.start_et) / lap.duration > 0.5 and k + 1 < len(laps):
        nxt = laps[k + 1]
        return nxt.start_et + pit_exit * nxt.duration
    target = max(lap.start_et + pit_exit * lap.duration, after + EXIT_AFTER_RELEASE)
    return min(target, after + (lap.end_et - after) * 0.9)


def _next_driver(laps: list[Lap], starts: list[float], et: float | None, lap_no: int) -> str | None:
    """The driver of the first lap after the swap (the lap after the visit's lap)."""
    if et is not None:
        k = _lap_at(laps, starts, et)
        for lap in laps[max(k + 1, 0) :]:
            if lap.number > lap_no:
                return lap.driver
    for lap in laps:
        if lap.number > lap_no:
            return lap.driver
    return None


def _service_from_laps(v: PitVisit, laps: list[Lap], starts: list[float], has_ve: bool) -> None:
    """The recording lacks refuel amounts: read them off the lap after service if they jumped."""
    k = _lap_at(laps, starts, v.release_et if v.release_et is not None else v.stop_et)  # type: ignore[arg-type]
    if k < 0 or k >= len(laps):
        return
    before = laps[k - 1] if k > 0 else None
    after = laps[k]
    if v.fuel_after is None and before is not None and after.fuel_end > before.fuel_end + 0.005:
        v.fuel_after = after.fuel_end
    if (
        has_ve
        and v.ve_after is None
        and before is not None
        and after.ve_end is not None
        and before.ve_end is not None
        and after.ve_end > before.ve_end + 0.005
    ):
        v.ve_after = after.ve_end


def build_penalties(
    laps: list[Lap],
    lap_counts: dict[int, int],
    total: int,
    pending: int,
    visits: list[PitVisit],
    flagged: set[int],
) -> list[Penalty]:
    """Penalties issued mid-lap on the laps that carry them, served at later pit visits.

    `total` (CarStates.TotalPenalties) tops up the laps' count (extras go on the last lap);
    the last `pending` stay unserved. A penalty is served at the next lane visit, preferring
    visits the recording flags (`flagged` indexes); "SG" when that visit stopped, else "DT".
    """
    by_number = {lap.number: lap for lap in laps}
    issued: list[float] = []
    for number in sorted(lap_counts):
        lap = by_number.get(number)
        if lap is None:
            continue
        issued.extend([lap.start_et + lap.duration / 2] * lap_counts[number])
    extra = total - len(issued)
    if extra > 0 and laps:
        issued.extend([laps[-1].start_et + laps[-1].duration / 2] * extra)
    issued.sort()
    to_serve = max(0, len(issued) - max(pending, 0))
    used: set[int] = set()
    penalties: list[Penalty] = []
    for n, et in enumerate(issued):
        pen = Penalty(et=et, kind="DT")
        if n < to_serve:
            idx = _serving_visit(visits, et, used, flagged)
            if idx is not None:
                used.add(idx)
                visit = visits[idx]
                pen.kind = "SG" if visit.stop_et is not None else "DT"
                visit.penalty_served = pen.kind
                served = visit.exit_et or visit.release_et or visit.entry_et or visit.garage_in_et
                pen.served_et = max(served, et) if served is not None else None
        penalties.append(pen)
    for idx in flagged - used:  # a recorded served penalty without a lap flag
        visits[idx].penalty_served = visits[idx].penalty_served or "DT"
    return penalties


def _serving_visit(
    visits: list[PitVisit], et: float, used: set[int], flagged: set[int]
) -> int | None:
    later = [i for i, v in enumerate(visits) if i not in used and v.start_et > et]
    for pool in (
        [i for i in later if i in flagged],
        [i for i in later if visits[i].entry_et is not None],
        later,
    ):
        if pool:
            return pool[0]
    return None


def default_compounds(start: Tyres, laps_numbers: list[int], visits: list[PitVisit]) -> list[Tyres]:
    """Compounds per lap from the start set and the changes at each visit (the DB has none)."""
    out: list[Tyres] = []
    current = start
    changes = sorted((v.lap, v.compounds_after) for v in visits if v.compounds_after is not None)
    k = 0
    for n in laps_numbers:
        while k < len(changes) and changes[k][0] < n:
            current = changes[k][1]  # type: ignore[assignment]
            k += 1
        out.append(current)
    return out
