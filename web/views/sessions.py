"""The sessions list: the live sessions (a live element) and every stored session (page only).

`build(inputs)` is the live part, from the sessions the server holds in memory. The stored part
is a query on the `sessions` table: `Filters.parse` checks the page's query string (a bad value
is an error naming the parameter), `stored_query` turns filters into SQL, `stored_rows` the rows
into dicts. Both parts are pure; the route runs the query.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from web.format import phase_name
from web.render import slug
from web.views.model import SessionInput

TEMPLATE = "sessions.html"
PAGE_SIZE = 20
STALE_AFTER = 60.0  # s without a feed before a live session counts as waiting
CHECKERED = 8
TYPES = ("PRACTICE", "QUALIFY", "WARMUP", "RACE", "TESTDAY")


def build(inputs: Sequence[SessionInput] | SessionInput) -> dict[str, Any]:
    """The live sessions, newest first."""
    if isinstance(inputs, SessionInput):
        inputs = [inputs]
    rows = [live_row(inp) for inp in inputs]
    rows.reverse()  # status() lists oldest first
    return {"view": "sessions", "live": rows}


def parts(model: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [("live-sessions", "live_body", {"rows": model["live"]})]


def live_row(inp: SessionInput) -> dict[str, Any]:
    meta = inp.meta
    state = inp.state if isinstance(inp.state, dict) else {}
    session = state.get("session") if type(state.get("session")) is dict else {}
    remaining = session.get("timeRemainingInGamePhase")
    if type(remaining) not in (int, float):
        remaining = meta.get("remaining")
    phase = meta.get("phase")
    driving = meta.get("driving_client")
    clients = [
        {"name": c.get("name") or "?", "driving": c.get("client_id") == driving,
         "connected": bool(c.get("connected"))}
        for c in meta.get("clients") or []
    ]  # fmt: skip
    fed_at = inp.fed_at if inp.fed_at is not None else meta.get("last_fed_at")
    return {
        "session_id": inp.session_id,
        "id": "sess-" + slug(inp.session_id),
        "event_id": meta.get("event_id"),
        "track": meta.get("track") or "",
        "session_type": meta.get("session_type") or "",
        "online": bool(meta.get("online")),
        "server": meta.get("server"),
        "phase": phase,
        "phase_name": phase_name(phase),
        "remaining": remaining,
        "cars": meta.get("cars", 0),
        "laps": meta.get("laps", 0),
        "clients": clients,
        "fed_at": fed_at,
        "status": live_status(meta, fed_at, inp.now),
    }


def live_status(meta: Mapping[str, Any], fed_at: float | None, now: float) -> str:
    """finished | closed | active (fed recently by a driving client) | waiting."""
    if meta.get("closed"):
        return "finished" if meta.get("phase") == CHECKERED else "closed"
    connected = any(c.get("connected") for c in meta.get("clients") or [])
    fresh = fed_at is not None and now - fed_at <= STALE_AFTER
    return "active" if connected and meta.get("driving_client") and fresh else "waiting"


# --- stored sessions ---------------------------------------------------------------------------


class BadFilter(ValueError):
    """A query-string value the sessions list cannot use (the message names it)."""


@dataclass(frozen=True)
class Filters:
    track: str | None = None
    type: str | None = None  # a type family ("RACE") or an exact type ("RACE1")
    date: str | None = None  # YYYY-MM-DD, a UTC day
    network: str | None = None  # "online" | "offline"
    page: int = 1

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> Filters:
        track = (query.get("track") or "").strip() or None
        kind = (query.get("type") or "").strip().upper() or None
        if kind is not None and not kind.isalnum():
            raise BadFilter("type must be letters and digits, e.g. RACE or QUALIFY1")
        date = (query.get("date") or "").strip() or None
        if date is not None:
            try:
                datetime.strptime(date, "%Y-%m-%d")
            except ValueError:
                raise BadFilter("date must be YYYY-MM-DD") from None
        network = (query.get("network") or "").strip().lower() or None
        if network not in (None, "online", "offline"):
            raise BadFilter("network must be online or offline")
        raw_page = (query.get("page") or "1").strip()
        if not raw_page.isdigit() or int(raw_page) < 1 or int(raw_page) > 100_000:
            raise BadFilter("page must be a whole number from 1")
        return cls(track, kind, date, network, int(raw_page))

    def query_string(self, **changes: Any) -> str:
        values = {k: v for k, v in (asdict(self) | changes).items() if v not in (None, "", 1)}
        return urlencode(values)


def stored_query(filters: Filters, page_size: int = PAGE_SIZE) -> tuple[str, str, tuple]:
    """(SQL of one page, SQL of the count, parameters) for the stored sessions."""
    where, params = [], []
    if filters.track:
        where.append("s.track = ?")
        params.append(filters.track)
    if filters.type:
        if filters.type[-1].isdigit():
            where.append("s.session_type = ?")
            params.append(filters.type)
        else:
            where.append("s.session_type LIKE ?")
            params.append(filters.type + "%")
    if filters.date:
        day = datetime.strptime(filters.date, "%Y-%m-%d").replace(tzinfo=UTC)
        where.append("s.created_at >= ? AND s.created_at < ?")
        params += [day.timestamp(), (day + timedelta(days=1)).timestamp()]
    if filters.network:
        where.append("s.online = ?")
        params.append(1 if filters.network == "online" else 0)
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    page = (
        "SELECT s.session_id, s.event_id, s.track, s.session_type, s.online, s.server_name,"
        " s.created_at, s.closed_at, s.closed_reason, s.last_fed_at, s.phase,"
        " (SELECT COUNT(*) FROM cars c WHERE c.session_id = s.session_id) AS cars,"
        " (SELECT COUNT(*) FROM laps l WHERE l.session_id = s.session_id) AS laps"
        f" FROM sessions s{clause} ORDER BY s.created_at DESC, s.session_id DESC"
        f" LIMIT {int(page_size)} OFFSET {int((filters.page - 1) * page_size)}"
    )
    count = f"SELECT COUNT(*) FROM sessions s{clause}"
    return page, count, tuple(params)


def stored_rows(rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    """The rows of `stored_query` as dicts."""
    out = []
    for row in rows:
        (sid, event, track, kind, online, server, created, closed, reason, fed, phase, cars,
         laps) = tuple(row)  # fmt: skip
        out.append(
            {
                "session_id": sid,
                "event_id": event,
                "track": track,
                "session_type": kind,
                "online": bool(online),
                "server": server,
                "created_at": created,
                "closed_at": closed,
                "closed_reason": reason,
                "last_fed_at": fed,
                "phase": phase,
                "phase_name": phase_name(phase),
                "cars": cars,
                "laps": laps,
                "live": closed is None,
            }
        )
    return out


def stored_page(
    filters: Filters, rows: list[dict[str, Any]], total: int, tracks: list[str],
    page_size: int = PAGE_SIZE,
) -> dict[str, Any]:  # fmt: skip
    """The stored part of the list: rows, paging links and the filter choices."""
    pages = max(1, -(-total // page_size))
    return {
        "filters": asdict(filters),
        "rows": rows,
        "total": total,
        "page": filters.page,
        "pages": pages,
        "prev": f"?{filters.query_string(page=filters.page - 1)}" if filters.page > 1 else None,
        "next": f"?{filters.query_string(page=filters.page + 1)}" if filters.page < pages else None,
        "tracks": tracks,
        "types": TYPES,
    }
