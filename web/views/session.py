"""The session view: a header (where, what, when, conditions, who feeds) and the standings.

Live elements (`parts`): the header, the status box, a small element carrying the running order
(`standings-order`: the browser moves its rows when the order changes; rows themselves are only
re-sent when their own content changed), one element per standings row, `car-<slug(key)>`, and
per row its lap progress, `lp-<slug(key)>` (it moves all the time; the row keeps it).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from web.format import phase_name
from web.render import slug
from web.views import standings
from web.views.model import SessionInput

TEMPLATE = "session.html"
STALE_AFTER = 15.0  # s without a feed before the page says the data is old
FCY_PHASE = 6
FLAG_CLASSES = {"UNKNOWN": "green", "GREEN": "green", "YELLOW": "yellow", "RED": "red",
                "CHECKERED": "chequered"}  # fmt: skip
GROUPS = (None, "class")


def build(inp: SessionInput, group: str | None = None) -> dict[str, Any]:
    """The view model of the session page (and its JSON twin)."""
    if group not in GROUPS:
        raise ValueError(f"unknown grouping {group!r} (use one of: class)")
    state = inp.state if isinstance(inp.state, dict) else {}
    live = state.get("cars") if type(state.get("cars")) is dict else {}
    track_length = _track_length(inp, state)
    usage = state.get("usage") if type(state.get("usage")) is dict else None
    et = inp.state_et if inp.state_et is not None else _tracker_et(inp)
    kind = str(inp.meta.get("session_type") or (inp.tracker.session_type if inp.tracker else ""))
    is_race = kind.upper().startswith("RACE")
    table = standings.rows(inp.tracker, live, et, track_length, usage, is_race)
    for row in table:
        row["id"] = "car-" + slug(row["key"])
        row["progress_id"] = "lp-" + slug(row["key"])
        row["href"] = f"/sessions/{quote(inp.session_id)}/cars/{quote(row['key'], safe='')}"
    classes = _classes(table)
    if group == "class":
        rank = {name: i for i, name in enumerate(classes)}
        table.sort(key=lambda r: (rank[r["car_class"]], r["position"]))
    return {
        "view": "session",
        "session_id": inp.session_id,
        "live": inp.live,
        "header": header(inp, state, track_length),
        "status": status(inp),
        "classes": classes,
        "group": group,
        "order": [row["id"] for row in table],
        "rows": table,
    }


def parts(model: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """The live elements: header, status, running order, then one per row."""
    out: list[tuple[str, str, dict[str, Any]]] = [
        ("session-header", "header", {"h": model["header"]}),
        ("session-status", "status", {"s": model["status"]}),
        ("standings-order", "order", {"order": model["order"]}),
    ]
    is_race = model["header"]["is_race"]
    out += [(row["id"], "row", {"r": row, "is_race": is_race}) for row in model["rows"]]
    out += [
        (row["progress_id"], "progress", {"id": row["progress_id"], "value": row["progress"]})
        for row in model["rows"]
    ]
    return out


# --- header ----------------------------------------------------------------------------------


def header(inp: SessionInput, state: dict[str, Any], track_length: float) -> dict[str, Any]:
    """Track, session, phase, clock, flags and conditions."""
    meta, tracker = inp.meta, inp.tracker
    session = state.get("session") if type(state.get("session")) is dict else {}
    game = state.get("game") if type(state.get("game")) is dict else {}
    sample = tracker.conditions[-1] if tracker is not None and tracker.conditions else None
    phase = session.get("gamePhase")
    if type(phase) is not int:
        phase = tracker.phase if tracker is not None and tracker.phase is not None else None
    if phase is None and type(meta.get("phase")) is int:
        phase = meta["phase"]
    flags = session.get("sectorFlag")
    if not (type(flags) is list and len(flags) == 3):
        flags = list(tracker.sector_flags) if tracker is not None else [None, None, None]
    session_type = str(meta.get("session_type") or (tracker.session_type if tracker else ""))

    def cond(key: str, name: str) -> float | None:
        value = session.get(key)
        if type(value) in (int, float):
            return round(float(value), 4)
        return getattr(sample, name) if sample is not None else None

    remaining = session.get("timeRemainingInGamePhase")
    if type(remaining) not in (int, float):
        remaining = meta.get("remaining")
    elapsed = session.get("currentEventTime")
    if type(elapsed) not in (int, float):
        elapsed = meta.get("et") if meta.get("et") is not None else _tracker_et(inp)
    completion = session.get("raceCompletion")
    completion = completion.get("timeCompletion") if type(completion) is dict else None
    tod = game.get("time_of_day")
    return {
        "track": meta.get("track") or session.get("trackName") or "",
        "session_type": session_type,
        "is_race": session_type.upper().startswith("RACE"),
        "online": bool(meta.get("online")),
        "server": meta.get("server"),
        "phase": phase,
        "phase_name": phase_name(phase),
        "fcy": phase == FCY_PHASE,
        "yellow": session.get("yellowFlagState")
        if type(session.get("yellowFlagState")) is str
        else None,
        "sector_flags": [
            {"sector": i + 1, "flag": f, "css": FLAG_CLASSES.get(str(f), "none")}
            for i, f in enumerate(flags)
        ],
        "elapsed": elapsed,
        "remaining": remaining,
        "completion": completion if type(completion) in (int, float) else None,
        "air_temp": cond("ambientTemp", "air_temp"),
        "track_temp": cond("trackTemp", "track_temp"),
        "raining": cond("raining", "raining"),
        "dark_cloud": cond("darkCloud", "dark_cloud"),
        "wetness": {
            "min": cond("minPathWetness", "wetness_min"),
            "avg": cond("averagePathWetness", "wetness_avg"),
            "max": cond("maxPathWetness", "wetness_max"),
        },
        "time_of_day": tod if type(tod) in (int, float) else None,
        "track_length": track_length,
        "cars": meta.get("cars"),
        "laps": meta.get("laps"),
    }


def status(inp: SessionInput) -> dict[str, Any]:
    """Who feeds the session, who drives it, how old the data is, and what comes next."""
    meta = inp.meta
    driving = meta.get("driving_client")
    clients = [
        {
            "name": c.get("name") or str(c.get("client_id", ""))[:8],
            "role": c.get("role"),
            "connected": bool(c.get("connected")),
            "driving": c.get("client_id") == driving and driving is not None,
            "heard_at": c.get("heard_at"),
        }
        for c in meta.get("clients") or []
    ]
    fed_at = inp.fed_at if inp.fed_at is not None else meta.get("last_fed_at")
    closed = bool(meta.get("closed"))
    feeding = any(c["connected"] for c in clients) and driving is not None
    stale = fed_at is None or inp.now - fed_at > STALE_AFTER
    if closed:
        warning = None
    elif not feeding:
        warning = "No client feeds this session: the data below is the last known."
    elif stale:
        warning = "The feeding client has sent nothing recently: the data may be old."
    else:
        warning = None
    following = meta.get("next_session") if isinstance(meta.get("next_session"), dict) else None
    return {
        "live": not closed,
        "closed": closed,
        "closed_reason": meta.get("closed_reason"),
        "fed_at": fed_at,
        "state_et": inp.state_et,
        "clients": clients,
        "driving": next((c["name"] for c in clients if c["driving"]), None),
        "feeding": feeding,
        "stale": stale and not closed,
        "warning": warning,
        "next_session": following,
        "now": round(inp.now),
    }


# --- helpers ---------------------------------------------------------------------------------


def _track_length(inp: SessionInput, state: dict[str, Any]) -> float:
    session = state.get("session") if type(state.get("session")) is dict else {}
    value = session.get("lapDistance")
    if type(value) in (int, float) and value > 0:
        return float(value)
    return float(inp.tracker.track_length) if inp.tracker is not None else 0.0


def _tracker_et(inp: SessionInput) -> float | None:
    return inp.tracker.last_et if inp.tracker is not None else None


def _classes(table: list[dict[str, Any]]) -> list[str]:
    """Classes present, fastest class first (the usual order), unknown ones after."""
    present = {row["car_class"] for row in table}
    known = [name for name in standings.CLASS_ORDER if name in present]
    return known + sorted(present - set(known))
