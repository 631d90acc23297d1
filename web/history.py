"""Sessions from the store: the input of a finished session, the session list, the best laps.

A stored session becomes a `SessionInput` like a live one (meta with the keys of
`LiveSessions.status()`, a tracker restored from its events, no client state), so every view
works on both. Restoring replays every event (a 4-hour 35-car race: a few thousand; measured in
`tests/bench/bench_pages.py`), so the trackers of closed sessions are kept in a small LRU keyed by
(session id, last event seq): a session that gets more events is restored again.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import orjson

from server.core import LiveSessions
from server.store import Store
from server.tracking import Tracker
from web.analysis import strategy
from web.analysis.bestlaps import Filters, best_laps_query, session_where, shape
from web.sources import live_input
from web.views.model import SessionInput

log = logging.getLogger(__name__)

CACHE_SIZE = 8
PER_PAGE = 50
MAX_PER_PAGE = 500


class TrackerCache:
    """Restored trackers of closed sessions, least recently used dropped first."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, int], Tracker] = OrderedDict()
        self.hits = self.misses = 0

    def get(self, key: tuple[str, int]) -> Tracker | None:
        tracker = self._items.get(key)
        if tracker is not None:
            self._items.move_to_end(key)
            self.hits += 1
        else:
            self.misses += 1
        return tracker

    def put(self, key: tuple[str, int], tracker: Tracker) -> None:
        for old in [k for k in self._items if k[0] == key[0]]:
            del self._items[old]  # an older version of the same session
        self._items[key] = tracker
        while len(self._items) > self.size:
            self._items.popitem(last=False)


CACHE = TrackerCache()

_SESSION_COLUMNS = (
    "session_id, event_id, online, server_name, server_port, track, session_type, track_length, "
    "created_at, closed_at, closed_reason, last_et, last_fed_at, phase, record"
)


def _meta(row: Any, clients: list[dict[str, Any]], cars: int, laps: int) -> dict[str, Any]:
    try:
        record = orjson.loads(row["record"]) if row["record"] else {}
    except orjson.JSONDecodeError:
        record = {}
    return {
        "session_id": row["session_id"],
        "event_id": row["event_id"],
        "track": row["track"],
        "session_type": row["session_type"],
        "online": bool(row["online"]),
        "server": row["server_name"],
        "port": row["server_port"],
        "phase": row["phase"],
        "et": row["last_et"],
        "last_fed_at": row["last_fed_at"],
        "closed": row["closed_at"] is not None,
        "closed_reason": row["closed_reason"],
        "driving_client": record.get("owner"),
        "clients": clients,
        "cars": cars,
        "laps": laps,
        "remaining": None,
        "created_at": row["created_at"],
        "closed_at": row["closed_at"],
        "track_length": row["track_length"],
    }


async def _clients(store: Store, session_id: str) -> list[dict[str, Any]]:
    """Who fed the session: one entry per client, from its last recorded change."""
    rows = await store.query(
        "SELECT client_id, name, change, role, at, et FROM session_clients "
        "WHERE session_id = ? ORDER BY at",
        (session_id,),
    )
    found: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = found.setdefault(row["client_id"], {"client_id": row["client_id"], "role": None})
        entry.update(name=row["name"], heard_at=row["at"], heard_et=row["et"], connected=False)
        if row["role"]:
            entry["role"] = row["role"]
    return list(found.values())


async def stored_meta(store: Store, session_id: str) -> dict[str, Any] | None:
    """The status entry of a stored session, or None when the store does not know it."""
    rows = await store.query(
        f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE session_id = ?", (session_id,)
    )
    if not rows:
        return None
    (cars,) = (await store.query("SELECT count(*) FROM cars WHERE session_id = ?", (session_id,)))[
        0
    ]
    (laps,) = (await store.query("SELECT count(*) FROM laps WHERE session_id = ?", (session_id,)))[
        0
    ]
    return _meta(rows[0], await _clients(store, session_id), cars, laps)


async def stored_tracker(
    store: Store, meta: dict[str, Any], cache: TrackerCache = CACHE
) -> Tracker:
    """The session's tracker restored from its events (cached while the session is closed)."""
    session_id = meta["session_id"]
    (last_seq,) = (
        await store.query("SELECT max(seq) FROM events WHERE session_id = ?", (session_id,))
    )[0]
    key = (session_id, last_seq or 0)
    if meta["closed"]:
        cached = cache.get(key)
        if cached is not None:
            return cached
    started = time.perf_counter()
    events = await store.events(session_id)
    tracker = Tracker.restore(meta["session_type"], meta["track_length"] or 0.0, events)
    log.info(
        "restored %s from %d events in %.0f ms",
        session_id,
        len(events),
        (time.perf_counter() - started) * 1000,
    )
    if meta["closed"]:
        cache.put(key, tracker)
    return tracker


async def stored_input(
    store: Store, session_id: str, now: float, cache: TrackerCache = CACHE
) -> SessionInput | None:
    """The input of a session from the store (finished, or not tracked in memory), or None."""
    meta = await stored_meta(store, session_id)
    if meta is None:
        return None
    tracker = await stored_tracker(store, meta, cache)
    return SessionInput(meta=meta, tracker=tracker, state=None, state_et=None, fed_at=None, now=now)


async def session_input(
    feed: LiveSessions, session_id: str, now: float | None = None
) -> SessionInput | None:
    """A session's input wherever it is: live in memory first, else from the store."""
    now = time.time() if now is None else now
    live = live_input(feed, session_id, now)
    if live is not None and live.tracker is not None:
        return live
    if feed.store is None:
        return live
    stored = await stored_input(feed.store, session_id, now)
    return stored if stored is not None else live


# --- lists -------------------------------------------------------------------------------------


def page_args(params: Any) -> tuple[int, int]:
    """(page >= 1, per_page) from query parameters, with a clear error for bad values."""
    try:
        page = int(params.get("page") or 1)
        per_page = int(params.get("per_page") or PER_PAGE)
    except ValueError:
        raise ValueError("page and per_page must be whole numbers") from None
    if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
        raise ValueError(f"page must be >= 1 and per_page between 1 and {MAX_PER_PAGE}")
    return page, per_page


async def list_sessions(
    store: Store, filters: Filters, page: int = 1, per_page: int = PER_PAGE
) -> dict[str, Any]:
    """Stored sessions, newest first, with their car and lap counts."""
    where, params = session_where(filters)
    (total,) = (await store.query(f"SELECT count(*) FROM sessions s WHERE {where}", tuple(params)))[
        0
    ]
    rows = await store.query(
        f"SELECT s.session_id, s.event_id, s.online, s.server_name, s.track, s.session_type, "
        f"s.created_at, s.closed_at, s.closed_reason, s.last_et, s.last_fed_at, s.phase, "
        f"(SELECT count(*) FROM cars c WHERE c.session_id = s.session_id) AS cars, "
        f"(SELECT count(*) FROM laps l WHERE l.session_id = s.session_id) AS laps "
        f"FROM sessions s WHERE {where} ORDER BY s.created_at DESC, s.session_id "
        f"LIMIT ? OFFSET ?",
        (*params, per_page, (page - 1) * per_page),
    )
    sessions = [
        {
            "session_id": r["session_id"],
            "event_id": r["event_id"],
            "track": r["track"],
            "session_type": r["session_type"],
            "online": bool(r["online"]),
            "server": r["server_name"],
            "created_at": r["created_at"],
            "closed_at": r["closed_at"],
            "closed_reason": r["closed_reason"],
            "closed": r["closed_at"] is not None,
            "et": r["last_et"],
            "last_fed_at": r["last_fed_at"],
            "phase": r["phase"],
            "cars": r["cars"],
            "laps": r["laps"],
        }
        for r in rows
    ]
    return {
        "sessions": sessions,
        "page": page,
        "per_page": per_page,
        "total": total,
        "pages": max(1, -(-total // per_page)),
        "filters": filters.as_dict(),
    }


async def known_drivers(store: Store, configured: Sequence[str] = ()) -> list[str]:
    """The known drivers: the `known_drivers` table (when the database has it) and the
    server config's `known_drivers` list."""
    names = set(configured)
    exists = await store.query(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'known_drivers'"
    )
    if exists:
        names.update(r["name"] for r in await store.query("SELECT name FROM known_drivers"))
    return sorted(names)


async def best_laps(
    store: Store, track: str, filters: Filters, sort: str = "time", configured: Sequence[str] = ()
) -> dict[str, Any]:
    """The best laps of a track under `filters` (see `web.analysis.bestlaps`)."""
    known = await known_drivers(store, configured)
    scoped = Filters(**{**filters.__dict__, "track": track})
    sql, params = best_laps_query(scoped, known)
    rows = await store.query(sql, tuple(params))
    model = shape(rows, known, sort)
    model.update(track=track, filters=scoped.as_dict(), known_drivers=known)
    return model


async def tracks(store: Store) -> list[str]:
    rows = await store.query("SELECT DISTINCT track FROM sessions ORDER BY track")
    return [r["track"] for r in rows]


_PIT_LOSS: dict[tuple[str, str], tuple[tuple, dict[str, Any]]] = {}


async def track_pit_loss(store: Store, track: str) -> dict[str, Any]:
    """The pit lane loss of a track learned from every stored stop there (the same measure as a
    session's, `web.analysis.strategy.lap_loss`, over the `pit_stops` and `laps` tables).
    Kept per track until its count of stops or laps changes (two cheap counts)."""
    version = tuple(
        (
            await store.query(
                "SELECT (SELECT count(*) FROM pit_stops p JOIN sessions s "
                "ON s.session_id = p.session_id WHERE s.track = ?), "
                "(SELECT count(*) FROM laps l JOIN sessions s "
                "ON s.session_id = l.session_id WHERE s.track = ?)",
                (track, track),
            )
        )[0]
    )
    memo = _PIT_LOSS.get((str(store.path), track))
    if memo is not None and memo[0] == version:
        return memo[1]
    result = await _measure_pit_loss(store, track)
    _PIT_LOSS[(str(store.path), track)] = (version, result)
    return result


async def _measure_pit_loss(store: Store, track: str) -> dict[str, Any]:
    stops = await store.query(
        "SELECT p.session_id, p.car, p.entry_et, p.exit_et, p.stationary_time "
        "FROM pit_stops p JOIN sessions s ON s.session_id = p.session_id "
        "WHERE s.track = ? AND p.closed = 1 AND p.garage = 0 AND p.drive_through = 0 "
        "AND p.entry_et IS NOT NULL AND p.exit_et IS NOT NULL",
        (track,),
    )
    laps = await store.query(
        "SELECT l.session_id, l.car, l.start_et, l.end_et, l.lap_time, l.valid, l.pit, l.garage "
        "FROM laps l JOIN sessions s ON s.session_id = l.session_id WHERE s.track = ? "
        "AND EXISTS (SELECT 1 FROM pit_stops p WHERE p.session_id = l.session_id "
        "AND p.car = l.car)",
        (track,),
    )
    by_car: dict[tuple[str, str], list[Any]] = {}
    for lap in laps:
        by_car.setdefault((lap["session_id"], lap["car"]), []).append(lap)
    measured = []
    for stop in stops:
        mine = by_car.get((stop["session_id"], stop["car"]), [])
        green = strategy.green_lap(
            [
                r["lap_time"]
                for r in mine
                if r["valid"] and r["lap_time"] > 0 and not r["pit"] and not r["garage"]
            ]
        )
        if green is None:
            continue
        windows = [(r["start_et"], r["end_et"], r["lap_time"]) for r in mine]
        one = strategy.lap_loss(
            windows, stop["entry_et"], stop["exit_et"], stop["stationary_time"], green
        )
        if one is not None:
            measured.append(one)
    sessions = len({stop["session_id"] for stop in stops})
    return {"track": track, "sessions": sessions, **strategy.medians(measured)}
