"""What the store writes for a batch of tracker events: pure code, SQL statements out.

The `events` table is the source of truth (a restart replays it into `Tracker.restore`); the
query tables (`laps`, `pit_stops`, `stints`, `cars`, `conditions`, `feed`) are derived from the
tracker's own records right after it applied the events, so they are exactly what the live
tracker shows and are written in the same transaction as the events that changed them. Only
the rows the events touched are rewritten (a lap, the stops named, the stints of a car), so a
write costs what changed, never the whole session.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from server.tracking import Tracker
from server.tracking.events import (
    CarFinished,
    CarJoined,
    ConditionsSample,
    DriverSwap,
    Event,
    GarageIn,
    GarageOut,
    LapCompleted,
    LapStarted,
    LapUpdated,
    PenaltyServed,
    PitEntered,
    PitExited,
    PitReleased,
    PitServiced,
    PitStopped,
    PitStopRecovered,
    event_to_dict,
)
from server.tracking.feed import feed_item

Statement = tuple[str, tuple]

INSERT_EVENT = "INSERT INTO events (session_id, seq, et, kind, payload) VALUES (?, ?, ?, ?, ?)"
UPSERT_LAP = (
    "INSERT OR REPLACE INTO laps (session_id, car, lap, driver, lap_time, s1, s2, s3, valid, "
    "position, class_position, pit, garage, fuel, ve, compounds, start_et, end_et, source, et) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
UPSERT_STOP = (
    "INSERT OR REPLACE INTO pit_stops (session_id, car, stop, lap, entry_et, stop_et, "
    "release_et, exit_et, garage_in_et, garage_out_et, stationary_time, drive_through, garage, "
    "driver_swap, penalty_served, service_time, fuel, ve, tyres_changed, compounds, closed) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
UPSERT_STINT = (
    "INSERT OR REPLACE INTO stints (session_id, car, stint, driver, start_et, end_et, ended_by, "
    "first_lap, last_lap, laps, valid_laps, best_lap, average_lap, stops, duration) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
UPSERT_CAR = (
    "INSERT OR REPLACE INTO cars (session_id, car, slot, number, team, car_class, vehicle, "
    "vehicle_name, grid, driver, laps, pit_stops, finish_status) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
INSERT_CONDITIONS = (
    "INSERT INTO conditions (session_id, et, air_temp, track_temp, raining, dark_cloud, "
    "wetness_avg, wetness_min, wetness_max, time_remaining, phase) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
INSERT_FEED = "INSERT INTO feed (session_id, et, kind, car, text) VALUES (?, ?, ?, ?, ?)"
INSERT_CHAT = (
    "INSERT OR IGNORE INTO chat (session_id, ticks, n, message, et) VALUES (?, ?, ?, ?, ?)"
)

INSERT_SESSION = (
    "INSERT OR IGNORE INTO sessions (session_id, event_id, online, server_name, server_port, "
    "track, session_type, track_length, created_at, last_et, last_fed_at, phase, record) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
UPDATE_SESSION_RECORD = "UPDATE sessions SET record = ? WHERE session_id = ?"
UPDATE_SESSION_FED = (
    "UPDATE sessions SET last_et = ?, last_fed_at = ?, phase = ? WHERE session_id = ?"
)
CLOSE_SESSION = "UPDATE sessions SET closed_at = ?, closed_reason = ? WHERE session_id = ?"
INSERT_SESSION_CLIENT = (
    "INSERT INTO session_clients (session_id, at, et, client_id, name, change, role, reason) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)

_PIT_EVENTS = (
    PitEntered,
    PitStopped,
    PitReleased,
    PitExited,
    GarageIn,
    GarageOut,
    PitServiced,
    PitStopRecovered,
)
# events after which a car's stints may read differently
_STINT_EVENTS = (
    CarJoined,
    LapCompleted,
    LapStarted,
    GarageIn,
    PitExited,
    PitStopped,
    DriverSwap,
    CarFinished,
)


_ORDER = {
    sql: rank
    for rank, sql in enumerate(
        (
            INSERT_SESSION,
            UPDATE_SESSION_RECORD,
            UPDATE_SESSION_FED,
            CLOSE_SESSION,
            INSERT_SESSION_CLIENT,
            INSERT_EVENT,
            UPSERT_CAR,
            UPSERT_LAP,
            UPSERT_STOP,
            UPSERT_STINT,
            INSERT_CONDITIONS,
            INSERT_FEED,
            INSERT_CHAT,
        )
    )
}


def payload(event: Event) -> str:
    """The event as stored: its JSON without `et` and `kind` (those have columns)."""
    doc = event_to_dict(event)
    del doc["et"], doc["kind"]
    return orjson.dumps(doc).decode()


def event_doc(et: float, kind: str, data: bytes | str) -> dict[str, Any]:
    """A stored event back as the dict `event_from_dict` reads."""
    doc = orjson.loads(data)
    doc["et"], doc["kind"] = et, kind
    return doc


def event_rows(session_id: str, first_seq: int, events: Iterable[Event]) -> list[Statement]:
    return [
        (INSERT_EVENT, (session_id, first_seq + i, e.et, e.kind, payload(e)))
        for i, e in enumerate(events)
    ]


def derived_rows(session_id: str, tracker: Tracker, events: list[Event]) -> list[Statement]:
    """The query-table rows these events (already applied by `tracker`) touched."""
    laps: dict[tuple[str, int], float] = {}
    stops: set[tuple[str, int]] = set()
    stint_cars: set[str] = set()
    cars: set[str] = set()
    out: list[Statement] = []
    for event in events:
        car = getattr(event, "car", None)
        if car is not None:
            cars.add(car)
        if isinstance(event, LapCompleted | LapUpdated):
            laps.setdefault((event.car, event.lap), event.et)
        if isinstance(event, _PIT_EVENTS):
            stops.add((event.car, event.stop))  # type: ignore[attr-defined]
        elif isinstance(event, DriverSwap | PenaltyServed) and event.stop is not None:
            stops.add((event.car, event.stop))
        if isinstance(event, _STINT_EVENTS):
            stint_cars.add(event.car)  # type: ignore[attr-defined]
        if isinstance(event, ConditionsSample):
            out.append((INSERT_CONDITIONS, (session_id, *conditions_values(event))))
        item = feed_item(event, lambda key: _label(tracker, key))
        if item is not None:
            out.append((INSERT_FEED, (session_id, item.et, item.kind, item.car, item.text)))
    for (car_key, number), et in laps.items():
        car = tracker.cars.get(car_key)
        lap = car.laps.get(number) if car is not None else None
        if lap is not None:
            out.append((UPSERT_LAP, (session_id, *lap_values(lap), et)))
    for car_key, number in sorted(stops):
        car = tracker.cars.get(car_key)
        stop = car.stop(number) if car is not None else None
        if stop is not None:
            out.append((UPSERT_STOP, (session_id, *stop_values(stop))))
    for car_key in sorted(stint_cars):
        car = tracker.cars.get(car_key)
        if car is not None:
            for stint in car.stints.stints:
                out.append((UPSERT_STINT, (session_id, *stint_values(stint))))
    for car_key in sorted(cars):
        car = tracker.cars.get(car_key)
        if car is not None:
            out.append((UPSERT_CAR, (session_id, *car_values(car))))
    return out


def chat_rows(session_id: str, lines: Iterable[tuple[str, dict]], et: float) -> list[Statement]:
    """Rows of new chat lines (`key`, line) of the normalized state (`"<ticks>-<n>"` keys)."""
    out = []
    for key, line in lines:
        ticks, _, n = key.partition("-")
        message = line.get("message") if type(line) is dict else None
        if not ticks.isdigit() or type(message) is not str:
            continue
        stamp = line.get("timestamp")
        exact = stamp if type(stamp) is int else int(ticks)
        out.append((INSERT_CHAT, (session_id, exact, int(n) if n.isdigit() else 0, message, et)))
    return out


# --- row values ------------------------------------------------------------------------------


def _label(tracker: Tracker, key: str) -> str:
    car = tracker.cars.get(key)
    return car.label if car is not None else key


def _join(values: Iterable[Any] | None) -> str | None:
    if values is None:
        return None
    return ",".join(str(int(v)) if isinstance(v, bool) else str(v) for v in values)


def lap_values(lap: Any) -> tuple:
    return (
        lap.car,
        lap.lap,
        lap.driver,
        lap.lap_time,
        lap.s1,
        lap.s2,
        lap.s3,
        int(lap.valid),
        lap.position,
        lap.class_position,
        int(lap.pit),
        int(lap.garage),
        lap.fuel,
        lap.ve,
        _join(lap.compounds),
        lap.start_et,
        lap.end_et,
        lap.source,
    )


def stop_values(stop: Any) -> tuple:
    return (
        stop.car,
        stop.number,
        stop.lap,
        stop.entry_et,
        stop.stop_et,
        stop.release_et,
        stop.exit_et,
        stop.garage_in_et,
        stop.garage_out_et,
        stop.stationary_time,
        int(stop.drive_through),
        int(stop.garage),
        int(bool(stop.swaps)),
        stop.penalty_served,
        stop.service_time,
        stop.fuel,
        stop.ve,
        _join(stop.tyres_changed),
        _join(stop.compounds),
        int(stop.closed),
    )


def stint_values(stint: Any) -> tuple:
    return (
        stint.car,
        stint.number,
        stint.driver,
        stint.start_et,
        stint.end_et,
        stint.ended_by,
        stint.first_lap,
        stint.last_lap,
        stint.laps,
        stint.valid_laps,
        stint.best_lap,
        stint.average_lap,
        stint.stops,
        stint.duration,
    )


def car_values(car: Any) -> tuple:
    return (
        car.key,
        car.slot,
        car.number,
        car.team,
        car.car_class,
        car.vehicle,
        car.vehicle_name,
        car.grid,
        car.driver,
        car.laps_done,
        len(car.stops),
        car.finish_status,
    )


def conditions_values(sample: ConditionsSample) -> tuple:
    return (
        sample.et,
        sample.air_temp,
        sample.track_temp,
        sample.raining,
        sample.dark_cloud,
        sample.wetness_avg,
        sample.wetness_min,
        sample.wetness_max,
        sample.time_remaining,
        sample.phase,
    )


def iter_groups(statements: list[Statement]) -> Iterator[tuple[str, list[tuple]]]:
    """The statements of a batch grouped by SQL (one `executemany` each), in table order.

    Sessions come first (the other tables refer to them) and an update after the insert it
    updates; within one SQL text the order is kept, so the last upsert of a row wins.
    """
    groups: dict[str, list[tuple]] = {}
    for text, params in statements:
        groups.setdefault(text, []).append(params)
    for text in sorted(groups, key=lambda sql: _ORDER.get(sql, len(_ORDER))):
        yield text, groups[text]
