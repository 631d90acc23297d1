"""Where views get their input: the live sessions in memory, or a finished one from the store."""

from __future__ import annotations

import time
from typing import Any

from server.core import LiveSessions
from web.views.model import SessionInput


def live_meta(feed: LiveSessions, session_id: str) -> dict[str, Any] | None:
    """The status entry of one live session (with `remaining`), or None if it is not live."""
    for entry in feed.status():
        if entry["session_id"] == session_id:
            view = feed.arbiter.session(session_id)
            entry["remaining"] = view.remaining if view is not None else None
            return entry
    return None


def live_input(
    feed: LiveSessions, session_id: str, now: float | None = None
) -> SessionInput | None:
    """The input of a session the server tracks in memory, or None."""
    meta = live_meta(feed, session_id)
    if meta is None:
        return None
    tracked = feed.sessions.get(session_id)
    return SessionInput(
        meta=meta,
        tracker=tracked.tracker if tracked is not None else None,
        state=tracked.state if tracked is not None else None,
        state_et=tracked.state_et if tracked is not None else None,
        fed_at=tracked.fed_at if tracked is not None else None,
        now=time.time() if now is None else now,
    )
