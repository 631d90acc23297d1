"""The results view: the classification of a session, per class, live or finished.

Live while the session runs (the hub re-renders it as laps complete) and the page a finished
session is remembered by. Parts: the heading and one table per class (a class table is one
element, so a change of order within the class is one swap).
"""

from __future__ import annotations

from typing import Any

from web.analysis.results import results
from web.render import slug
from web.views.model import SessionInput

TEMPLATE = "results.html"


def header(inp: SessionInput) -> dict[str, Any]:
    meta = inp.meta
    tracker = inp.tracker
    return {
        "session_id": inp.session_id,
        "track": meta.get("track"),
        "session_type": meta.get("session_type"),
        "online": meta.get("online"),
        "closed": bool(meta.get("closed")),
        "closed_reason": meta.get("closed_reason"),
        "created_at": meta.get("created_at"),
        "is_race": tracker.is_race if tracker is not None else False,
        "et": meta.get("et"),
    }


def build(inp: SessionInput, **params: Any) -> dict[str, Any]:
    """The results model (also the page's JSON twin)."""
    model: dict[str, Any] = {"session_id": inp.session_id, "header": header(inp)}
    if inp.tracker is None:
        model.update(kind=None, rows=[], classes=[])
        return model
    model.update(results(inp.tracker))
    return model


def parts(model: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    rows = {row["key"]: row for row in model["rows"]}
    out: list[tuple[str, str, dict[str, Any]]] = [
        ("results-head", "head", {"h": model["header"], "count": len(rows)})
    ]
    for group in model["classes"]:
        out.append(
            (
                f"results-{slug(group['name'] or 'none')}",
                "table",
                {
                    "group": group,
                    "rows": [rows[key] for key in group["keys"]],
                    "is_race": model["header"]["is_race"],
                    "session_id": model["session_id"],
                },
            )
        )
    return out
