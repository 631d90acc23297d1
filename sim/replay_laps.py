"""Rebuild one car's lap timeline from recorded laps (pure logic, no I/O).

The recording says what the game *reported*; the engine also needs what *happened*: positive
true sector durations that chain lap after lap. Reported values are kept verbatim; true ones are
derived:

- A lap's start is its recorded `StartTime` when positive. Missing starts (-1, or the game's
  `lapStartET` 0) are inferred from neighbours: previous start + previous lap time, next start -
  this lap time, else the gap between known starts shared out by the car's typical lap time. A
  first lap after garage visits starts at the last garage out (the out-lap).
- Lap-number holes get synthesized laps. When the recorded start after a hole leaves no room for
  the missing laps (the old tracker's glitch: it then belongs to the first missing lap), it is
  dropped and the span up to the next known start is shared out.
- Laps are contiguous (`next.start_et == lap.end_et`, same float ops) unless a lap with a real
  recorded time ended before a garage visit and the next lap started after it.
- True sectors follow the recorded ones where they fit, else the car's typical proportions; a
  lap with a garage visit inside keeps the out-drive after garage out at normal pace.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from sim.script import Lap, Tyres

MIN_LAP = 1.0  # s: shortest true lap duration we ever produce
HOLE_ROOM = 0.5  # a hole needs at least this share of a typical lap per missing lap
MATCH = 0.5  # s: recorded sectors "fit" a duration within this


@dataclass
class RecordedLap:
    """One `Laps` row, in plain values."""

    number: int
    start: float
    total: float
    sectors: tuple[float, float, float]
    driver: str
    position: int
    fuel: float
    ve: float
    compounds: Tyres | None = None


@dataclass
class LapPlan:
    """Inputs besides the rows: garage stays, the car's final lap-start ET, fallbacks."""

    garages: list[tuple[float | None, float | None]]  # (in, out), None where unknown
    final_lap_start: float | None = None  # CarStates.LapStartET when it follows the last lap
    typical_lap: float | None = None  # fallback when the car has no timed lap
    proportions: tuple[float, float, float] | None = None  # fallback sector shares
    first_start: float = 0.0  # earliest sensible start (session ET 0)


def typical_lap(rows: list[RecordedLap]) -> float | None:
    times = [r.total for r in rows if r.total > 0]
    return statistics.median(times) if times else None


def sector_proportions(rows: list[RecordedLap]) -> tuple[float, float, float] | None:
    full = [r.sectors for r in rows if min(r.sectors) > 0]
    if not full:
        return None
    med = [statistics.median(s[i] for s in full) for i in range(3)]
    total = sum(med)
    return med[0] / total, med[1] / total, med[2] / total


def build_laps(
    rows: list[RecordedLap], plan: LapPlan, default_compounds: list[Tyres]
) -> tuple[list[Lap], set[int]]:
    """The car's laps, ordered by number, and the numbers that were synthesized.

    `default_compounds[i]` gives the compounds for lap index i when the row has none.
    """
    if not rows:
        return [], set()
    rows = sorted(rows, key=lambda r: r.number)
    by_number = {r.number: r for r in rows}
    numbers = list(range(rows[0].number, rows[-1].number + 1))
    typical = typical_lap(rows) or plan.typical_lap or 100.0
    props = sector_proportions(rows) or plan.proportions or (1 / 3, 1 / 3, 1 / 3)
    recs = [by_number.get(n) for n in numbers]
    times = [r.total if r is not None and r.total > 0 else -1.0 for r in recs]
    starts: list[float | None] = [r.start if r is not None and r.start > 0 else None for r in recs]
    unknowable = _check_holes(recs, starts, times, typical)
    _drop_disorder(starts)
    _first_lap_from_garage(starts, plan)
    _chain(starts, times)
    _share_gaps(starts, times, typical, plan.first_start, plan.final_lap_start)
    ends = _ends(starts, times, plan, typical)
    laps: list[Lap] = []
    synthesized: set[int] = set()
    prev_end: float | None = None
    for i, n in enumerate(numbers):
        rec = recs[i]
        start = starts[i]
        assert start is not None
        if prev_end is not None and abs(start - prev_end) < 1e-6:
            start = prev_end
        duration = max(ends[i] - start, MIN_LAP)
        true = _true_sectors(rec, start, duration, plan.garages, props)
        if rec is None:
            synthesized.add(n)
            ref = by_number.get(n - 1) or by_number.get(n + 1) or rows[0]
            lap_time = -1.0 if n in unknowable else duration
            lap = Lap(
                number=n,
                start_et=start,
                sectors=true,
                lap_time=lap_time,
                sector_times=(-1.0, -1.0, -1.0),
                driver=ref.driver,
                fuel_end=ref.fuel,
                ve_end=ref.ve if ref.ve >= 0 else None,
                compounds=default_compounds[i],
                position=ref.position,
            )
        else:
            lap = Lap(
                number=n,
                start_et=start,
                sectors=true,
                lap_time=rec.total if rec.total > 0 else -1.0,
                sector_times=tuple(s if s > 0 else -1.0 for s in rec.sectors),  # type: ignore[arg-type]
                driver=rec.driver,
                fuel_end=rec.fuel,
                ve_end=rec.ve if rec.ve >= 0 else None,
                compounds=rec.compounds or default_compounds[i],
                position=rec.position,
            )
        laps.append(lap)
        prev_end = lap.end_et
        if i + 1 < len(numbers):
            nxt = starts[i + 1]
            assert nxt is not None
            if nxt - prev_end < 1e-6:  # contiguous: chain exactly on the float we computed
                starts[i + 1] = prev_end
    return laps, synthesized


def _check_holes(
    recs: list[RecordedLap | None],
    starts: list[float | None],
    times: list[float],
    typical: float,
) -> set[int]:
    """Drop a start recorded right after a hole when it leaves no room; list blind holes."""
    blind: set[int] = set()
    i = 0
    while i < len(recs):
        if recs[i] is not None:
            i += 1
            continue
        j = i
        while recs[j] is None:
            j += 1  # the last number is always recorded
        missing = j - i
        prev = i - 1
        base = starts[prev]
        if base is not None and times[prev] > 0:
            base += times[prev]
        room_ok = (
            base is not None
            and starts[j] is not None
            and starts[j] - base >= HOLE_ROOM * typical * missing  # type: ignore[operator]
        )
        if not room_ok:
            starts[j] = None
        # A single missing lap between a timed lap and a known start has a knowable time.
        if not (room_ok and missing == 1 and times[prev] > 0):
            blind.update(recs[prev].number + k + 1 for k in range(missing))  # type: ignore[union-attr]
        i = j
    return blind


def _drop_disorder(starts: list[float | None]) -> None:
    """Recorded starts must increase; drop any that do not (keep the earlier one)."""
    last = None
    for i, s in enumerate(starts):
        if s is None:
            continue
        if last is not None and s <= last + MIN_LAP:
            starts[i] = None
            continue
        last = s


def _first_lap_from_garage(starts: list[float | None], plan: LapPlan) -> None:
    """An unknown first start after a garage stay is the last garage out before lap 2."""
    if starts[0] is not None:
        return
    limit = next((s for s in starts if s is not None), None)
    outs = [g[1] for g in plan.garages if g[1] is not None]
    if limit is not None:
        outs = [o for o in outs if o < limit - MIN_LAP]
    if outs:
        starts[0] = max(outs)


def _chain(starts: list[float | None], times: list[float]) -> None:
    """Fill starts from neighbours with known lap times, forward then backward."""
    for i in range(1, len(starts)):
        if starts[i] is None and starts[i - 1] is not None and times[i - 1] > 0:
            nxt = next((s for s in starts[i + 1 :] if s is not None), None)
            guess = starts[i - 1] + times[i - 1]  # type: ignore[operator]
            if nxt is None or guess < nxt - MIN_LAP:
                starts[i] = guess
    for i in range(len(starts) - 2, -1, -1):
        if starts[i] is None and starts[i + 1] is not None and times[i] > 0:
            prev = next((s for s in reversed(starts[:i]) if s is not None), None)
            guess = starts[i + 1] - times[i]  # type: ignore[operator]
            if prev is None or guess > prev + MIN_LAP:
                starts[i] = guess


def _share_gaps(
    starts: list[float | None],
    times: list[float],
    typical: float,
    first_start: float,
    final: float | None,
) -> None:
    """Remaining unknown runs: share the span between known starts by expected lap times.

    `final` (when the last lap ended, if known) closes a run that reaches the last lap.
    """
    n = len(starts)
    last_known = next((s for s in reversed(starts) if s is not None), None)
    if final is not None and starts[-1] is None and last_known is not None and final > last_known:
        starts.append(final)  # a virtual start after the last lap, removed below
        _share_gaps(starts, [*times, typical], typical, first_start, None)
        starts.pop()
        return
    i = 0
    while i < n:
        if starts[i] is not None:
            i += 1
            continue
        j = i
        while j < n and starts[j] is None:
            j += 1
        weights = [times[k] if times[k] > 0 else typical for k in range(i - 1 if i else 0, j)]
        if i > 0 and j < n:  # between two known starts: laps i-1 .. j-1 fill the span
            span = starts[j] - starts[i - 1]  # type: ignore[operator]
            scale = span / sum(weights)
            t = starts[i - 1]
            for k, w in zip(range(i, j), weights, strict=False):
                t += w * scale  # type: ignore[operator]
                starts[k] = t
        elif j < n:  # before the first known start
            t = starts[j]
            for k in range(j - 1, i - 1, -1):
                w = times[k] if times[k] > 0 else typical
                t = max(first_start, t - w)  # type: ignore[operator]
                starts[k] = t
            _spread_clamped(starts, i, j)
        else:  # after the last known start
            t = starts[i - 1] if i > 0 else first_start
            for k in range(i, j):
                w = times[k - 1] if k > 0 and times[k - 1] > 0 else typical
                t += w  # type: ignore[operator]
                starts[k] = t
        i = j


def _spread_clamped(starts: list[float | None], i: int, j: int) -> None:
    """Starts clamped at the session start would collide: spread them evenly instead."""
    lo, hi = starts[i], starts[j]
    assert lo is not None and hi is not None
    step = (hi - lo) / (j - i + 1) if hi > lo else MIN_LAP
    for k in range(i + 1, j):
        if starts[k] - starts[k - 1] < MIN_LAP:  # type: ignore[operator]
            starts[k] = lo + step * (k - i)


def _ends(
    starts: list[float | None], times: list[float], plan: LapPlan, typical: float
) -> list[float]:
    ends: list[float] = []
    for i in range(len(starts)):
        start = starts[i]
        assert start is not None
        if i + 1 < len(starts):
            nxt = starts[i + 1]
            assert nxt is not None
            end = nxt
            # A lap that ended on time, then the car went to the garage before the next one.
            if (
                times[i] > 0
                and nxt - (start + times[i]) > MATCH
                and any(
                    g_in is not None and start + times[i] - MATCH <= g_in < nxt
                    for g_in, _ in plan.garages
                )
            ):
                end = start + times[i]
        else:
            end = start + (times[i] if times[i] > 0 else typical)
            final = plan.final_lap_start
            if (
                final is not None
                and final > start + MIN_LAP
                and (times[i] <= 0 or abs(final - (start + times[i])) < 5.0)
            ):
                end = final
        ends.append(max(end, start + MIN_LAP))
    return ends


def _true_sectors(
    rec: RecordedLap | None,
    start: float,
    duration: float,
    garages: list[tuple[float | None, float | None]],
    props: tuple[float, float, float],
) -> tuple[float, float, float]:
    """Positive sector durations summing to `duration` (S3 absorbs rounding)."""
    end = start + duration
    for g_in, g_out in garages:
        if g_in is not None and g_out is not None and start <= g_in and g_out < end:
            post = end - g_out  # the drive from the garage to the line
            s2, s3 = post * props[1], post * props[2]
            s1 = duration - s2 - s3
            if s1 > 0 and s2 > 0:
                return s1, s2, duration - s1 - s2
    rec_sec = rec.sectors if rec is not None else (-1.0, -1.0, -1.0)
    known = [s if s > 0 else None for s in rec_sec]
    known_sum = sum(s for s in known if s is not None)
    missing = [k for k in range(3) if known[k] is None]
    if not missing and abs(known_sum - duration) <= MATCH:
        s1, s2 = rec_sec[0], rec_sec[1]
    elif missing and known_sum < duration:
        rest = duration - known_sum
        share = sum(props[k] for k in missing)
        need = duration * share * 0.2  # the missing part must be believable
        if rest >= need:
            vals = [known[k] if known[k] is not None else rest * props[k] / share for k in range(3)]
            s1, s2 = vals[0], vals[1]
        else:
            s1, s2 = duration * props[0], duration * props[1]
    elif not missing:  # all known but off: keep their shape
        s1, s2 = duration * rec_sec[0] / known_sum, duration * rec_sec[1] / known_sum
    else:
        s1, s2 = duration * props[0], duration * props[1]
    s3 = duration - s1 - s2
    if s1 <= 0 or s2 <= 0 or s3 <= 0:
        s1, s2 = duration * props[0], duration * props[1]
        s3 = duration - s1 - s2
    return s1, s2, s3
