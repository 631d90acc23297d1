"""Synthetic session-wide timelines: phases, full-course yellows, sector flags and chat.

These belong to the session rather than to a car: when the yellows fall (drawn before the
cars drive, since they slow them down), the phase changes and sector flags that follow from
them, and the chat lines shown over the session.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sim import names
from sim.script import (
    PHASE_CHECKERED,
    PHASE_COUNTDOWN,
    PHASE_FCY,
    PHASE_FORMATION,
    PHASE_GREEN,
    PHASE_GRID,
    PHASE_STARTING,
    ChatLine,
    Entry,
    PhaseChange,
    SectorFlags,
)
from sim.synthetic_session import Session


def fcy_periods(rng: random.Random, start: float, max_time: float) -> list[tuple[float, float]]:
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


def phases(ses: Session) -> list[PhaseChange]:
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


def sector_flags(ses: Session) -> list[SectorFlags]:
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


def chat(ses: Session, entries: list[Entry], until: float, seed: int) -> list[ChatLine]:
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
