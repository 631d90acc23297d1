"""Where views get their input: the live sessions in memory, or a finished one from the store."""

from __future__ import annotations

import time
from typing import Any

from server.core import LiveSessions
from web.views.model import SessionInput


def live_meta(feed: LiveSessions, session_id: str) -> dict[str, Any] | None:
    """The status entry of one live session (with `remaining` and `next_session`), or None if
    it is not live."""
    entries = feed.status()
    for entry in entries:
        if entry["session_id"] == session_id:
            _complete(feed, entry, entries)
            return entry
    return None


def _complete(feed: LiveSessions, entry: dict[str, Any], entries: list[dict[str, Any]]) -> None:
    """Add `remaining` and `next_session` (a newer session of the same event: the weekend
    moved on; status() lists sessions oldest first) to a status entry."""
    view = feed.arbiter.session(entry["session_id"])
    entry["remaining"] = view.remaining if view is not None else None
    later = entries[entries.index(entry) + 1 :]
    following = next((e for e in later if e["event_id"] == entry["event_id"]), None)
    entry["next_session"] = (
        {"session_id": following["session_id"], "session_type": following["session_type"]}
        if following is not None
        else None
    )


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


def sessions_input(feed: LiveSessions, now: float | None = None) -> list[SessionInput]:
    """The inputs of every session the server tracks in memory (the live sessions list)."""
    now = time.time() if now is None else now
    entries = feed.status()
    out = []
    for entry in entries:
        _complete(feed, entry, entries)
        tracked = feed.sessions.get(entry["session_id"])
        out.append(
            SessionInput(
                meta=entry,
                tracker=tracked.tracker if tracked is not None else None,
                state=tracked.state if tracked is not None else None,
                state_et=tracked.state_et if tracked is not None else None,
                fed_at=tracked.fed_at if tracked is not None else None,
                now=now,
            )
        )
    return out
