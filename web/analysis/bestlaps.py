"""Best laps across the stored sessions of a track: filters, the SQL, and shaping the rows.

One row per (driver, vehicle file): that driver's fastest valid lap in that car, its sectors,
the driver's best individual sectors in that car and their sum (the theoretical best,
"possible"). Colours (under the filters): the lap time is purple when it is the class best; a
sector of the best lap is purple when it is the class best sector, else green when it is the
driver's own best sector; best sectors are purple when they are the class best.

Pure: `parse_filters` turns query parameters into `Filters` (a `FilterError` names the bad
parameter), `session_where` and `best_laps_query` build SQL with bound parameters only, and
`shape` ranks, colours and sorts the rows the query returned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from web.views.carinfo import class_id

LIMIT = 1000
SESSION_GROUPS = {
    "practice": ("PRACTICE%", "TESTDAY%", "WARMUP%"),
    "qualify": ("QUALIFY%",),
    "race": ("RACE%",),
}
SORTS = {
    "time": lambda r: (r["time"], r["driver"]),
    "possible": lambda r: (r["possible"] is None, r["possible"] or 0.0, r["time"]),
    "s1": lambda r: (r["s1"] is None, r["s1"] or 0.0, r["time"]),
    "s2": lambda r: (r["s2"] is None, r["s2"] or 0.0, r["time"]),
    "s3": lambda r: (r["s3"] is None, r["s3"] or 0.0, r["time"]),
    "driver": lambda r: (r["driver"].casefold(), r["time"]),
    "class": lambda r: (r["car_class"], r["time"]),
    "vehicle": lambda r: (r["vehicle"].casefold(), r["time"]),
    "date": lambda r: (-r["created_at"], r["time"]),
}


class FilterError(ValueError):
    """A query parameter that cannot be used; the message names it."""


@dataclass(frozen=True)
class Filters:
    since: float | None = None  # unix time, inclusive
    until: float | None = None  # unix time, exclusive
    classes: tuple[str, ...] = ()  # empty: all
    session_types: tuple[str, ...] = ()  # keys of SESSION_GROUPS, or exact types; empty: all
    online: bool | None = None
    known_only: bool = False
    track: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": self.since,
            "until": self.until,
            "classes": list(self.classes),
            "session_types": list(self.session_types),
            "online": self.online,
            "known_only": self.known_only,
            "track": self.track,
        }


def _date(name: str, value: str, end: bool) -> float:
    try:
        day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise FilterError(f"{name} must be a date like 2026-11-25, not {value!r}") from None
    return day.timestamp() + (86400.0 if end else 0.0)


def _flag(name: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on", "online"):
        return True
    if lowered in ("0", "false", "no", "off", "offline"):
        return False
    raise FilterError(f"{name} must be 1 or 0 (or online/offline), not {value!r}")


def _all(params: Mapping[str, Any], name: str) -> list[str]:
    getter = getattr(params, "getlist", None)
    values = getter(name) if getter is not None else params.get(name, [])
    if isinstance(values, str):
        values = [values]
    out = []
    for value in values:
        out += [part for part in str(value).split(",") if part]
    return out


def parse_filters(params: Mapping[str, Any]) -> Filters:
    """Filters from query parameters: since/until (dates, until inclusive), class (repeatable
    or comma-separated), type (practice, qualify, race or an exact session type), online
    (1/0), known (1/0), track."""
    since = params.get("since") or None
    until = params.get("until") or None
    types = tuple(t.lower() if t.lower() in SESSION_GROUPS else t.upper() for t in
                  _all(params, "type"))  # fmt: skip
    online = params.get("online") or params.get("network") or None
    known = params.get("known") or None
    return Filters(
        since=_date("since", since, end=False) if since else None,
        until=_date("until", until, end=True) if until else None,
        classes=tuple(_all(params, "class")),
        session_types=types,
        online=_flag("online", online) if online else None,
        known_only=_flag("known", known) if known else False,
        track=params.get("track") or None,
    )


def session_where(filters: Filters, alias: str = "s") -> tuple[str, list[Any]]:
    """The WHERE clause (without the keyword; "1" when empty) on the sessions table."""
    clauses: list[str] = []
    params: list[Any] = []
    if filters.track is not None:
        clauses.append(f"{alias}.track = ?")
        params.append(filters.track)
    if filters.since is not None:
        clauses.append(f"{alias}.created_at >= ?")
        params.append(filters.since)
    if filters.until is not None:
        clauses.append(f"{alias}.created_at < ?")
        params.append(filters.until)
    if filters.online is not None:
        clauses.append(f"{alias}.online = ?")
        params.append(int(filters.online))
    if filters.session_types:
        ors = []
        for kind in filters.session_types:
            patterns = SESSION_GROUPS.get(kind, (kind,))
            for pattern in patterns:
                ors.append(f"{alias}.session_type LIKE ?")
                params.append(pattern)
        clauses.append("(" + " OR ".join(ors) + ")")
    return (" AND ".join(clauses) or "1"), params


def best_laps_query(filters: Filters, known: Sequence[str]) -> tuple[str, list[Any]]:
    """The SQL of the best laps (`known`: the known drivers' names, for `known_only`)."""
    where, params = session_where(filters)
    lap_where = ["l.valid = 1", "l.lap_time > 0"]
    if filters.classes:
        lap_where.append("c.car_class IN (" + ",".join("?" * len(filters.classes)) + ")")
        params += list(filters.classes)
    if filters.known_only:
        lap_where.append("l.driver IN (" + ",".join("?" * len(known)) + ")")
        params += list(known)
    sql = f"""
        WITH f AS (
            SELECT l.driver, c.vehicle, c.vehicle_name, c.car_class, c.team, c.number, l.car,
                   s.session_id, s.session_type, s.created_at, s.online, s.track,
                   l.lap, l.lap_time, l.s1, l.s2, l.s3, l.compounds, l.fuel, l.ve
            FROM sessions s
            JOIN laps l ON l.session_id = s.session_id
            JOIN cars c ON c.session_id = l.session_id AND c.car = l.car
            WHERE {where} AND {" AND ".join(lap_where)}
        ),
        ranked AS (
            SELECT *, ROW_NUMBER() OVER (
                PARTITION BY driver, vehicle ORDER BY lap_time, created_at, lap) AS rn
            FROM f
        ),
        sectors AS (
            SELECT driver, vehicle,
                   MIN(CASE WHEN s1 > 0 THEN s1 END) AS bs1,
                   MIN(CASE WHEN s2 > 0 THEN s2 END) AS bs2,
                   MIN(CASE WHEN s3 > 0 THEN s3 END) AS bs3,
                   COUNT(*) AS laps
            FROM f GROUP BY driver, vehicle
        )
        SELECT r.*, x.bs1, x.bs2, x.bs3, x.laps
        FROM ranked r JOIN sectors x ON x.driver = r.driver AND x.vehicle = r.vehicle
        WHERE r.rn = 1
    """
    return sql, params


def _time(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and value > 0 else None


def _row(raw: Mapping[str, Any], known: set[str]) -> dict[str, Any]:
    bests = [_time(raw["bs1"]), _time(raw["bs2"]), _time(raw["bs3"])]
    possible = round(sum(bests), 3) if all(b is not None for b in bests) else None  # type: ignore[misc]
    return {
        "driver": raw["driver"],
        "known": raw["driver"] in known,
        "vehicle": raw["vehicle_name"] or raw["vehicle"],
        "vehicle_file": raw["vehicle"],
        "car_class": raw["car_class"],
        "class_id": class_id(raw["car_class"]),
        "team": raw["team"],
        "number": raw["number"],
        "time": float(raw["lap_time"]),
        "s1": _time(raw["s1"]),
        "s2": _time(raw["s2"]),
        "s3": _time(raw["s3"]),
        "possible": possible,
        "bs1": bests[0],
        "bs2": bests[1],
        "bs3": bests[2],
        "laps": raw["laps"],
        "lap": raw["lap"],
        "car": raw["car"],
        "session_id": raw["session_id"],
        "session_type": raw["session_type"],
        "created_at": raw["created_at"],
        "online": bool(raw["online"]),
        "compounds": raw["compounds"].split(",") if raw["compounds"] else None,
        "fuel": raw["fuel"],
        "ve": raw["ve"],
    }


def _min(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def shape(
    rows: Sequence[Mapping[str, Any]], known: Sequence[str], sort: str = "time"
) -> dict[str, Any]:
    """Rows ranked by time (rank kept whatever the sort), class bests, colours; at most LIMIT."""
    if sort.lstrip("-") not in SORTS:
        raise FilterError(f"sort must be one of {', '.join(SORTS)} (- for descending)")
    known_set = set(known)
    out = sorted((_row(r, known_set) for r in rows), key=SORTS["time"])
    class_bests: dict[str, dict[str, float | None]] = {}
    for name in {r["car_class"] for r in out}:
        mine = [r for r in out if r["car_class"] == name]
        class_bests[name] = {
            "time": _min([r["time"] for r in mine]),
            **{f"s{i}": _min([r[f"bs{i}"] for r in mine]) for i in (1, 2, 3)},
        }
    for rank, row in enumerate(out, start=1):
        best = class_bests[row["car_class"]]
        row["rank"] = rank
        row["time_colour"] = "class" if row["time"] <= (best["time"] or 0) + 1e-9 else ""
        for i in (1, 2, 3):
            value, own, top = row[f"s{i}"], row[f"bs{i}"], best[f"s{i}"]
            row[f"s{i}_colour"] = _sector_colour(value, own, top)
            row[f"bs{i}_colour"] = _sector_colour(own, None, top)
    key = SORTS[sort.lstrip("-")]
    out.sort(key=key, reverse=sort.startswith("-"))
    return {
        "rows": out[:LIMIT],
        "total": len(out),
        "class_bests": class_bests,
        "sort": sort,
    }


def _sector_colour(value: float | None, own: float | None, top: float | None) -> str:
    if value is None:
        return ""
    if top is not None and value <= top + 1e-9:
        return "class"
    if own is not None and value <= own + 1e-9:
        return "driver"
    return ""
