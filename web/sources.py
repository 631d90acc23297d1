"""Where views get their input: the live sessions in memory, or a finished one from the store."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from server.arbiter import SessionView
from server.core import LiveSessions
from web.views.model import SessionInput


def live_meta(feed: LiveSessions, session_id: str) -> dict[str, Any] | None:
    """The status entry of one live session (with `remaining` and `next_session`), or None if
    it is not live. Only this session's entry is built: the live pages ask many times a second."""
    entry = feed.status_of(session_id)
    if entry is not None:
        _complete(entry, feed.arbiter.sessions())
    return entry


def _complete(entry: dict[str, Any], views: Sequence[SessionView]) -> None:
    """Add `remaining` and `next_session` (a newer session of the same event: the weekend
    moved on; the arbiter lists sessions oldest first) to a status entry."""
    at = next((i for i, v in enumerate(views) if v.session_id == entry["session_id"]), None)
    entry["remaining"] = views[at].remaining if at is not None else None
    later = views[at + 1 :] if at is not None else []
    following = next((v for v in later if v.event_id == entry["event_id"]), None)
    entry["next_session"] = (
        {"session_id": following.session_id, "session_type": following.session_type}
        if following is not None
        else None
    )


def _input(feed: LiveSessions, meta: dict[str, Any], now: float) -> SessionInput:
    tracked = feed.sessions.get(meta["session_id"])
    return SessionInput(
        meta=meta,
        tracker=tracked.tracker if tracked is not None else None,
        state=tracked.state if tracked is not None else None,
        state_et=tracked.state_et if tracked is not None else None,
        fed_at=tracked.fed_at if tracked is not None else None,
        now=now,
    )


def live_input(
    feed: LiveSessions, session_id: str, now: float | None = None
) -> SessionInput | None:
    """The input of a session the server tracks in memory, or None."""
    meta = live_meta(feed, session_id)
    if meta is None:
        return None
    return _input(feed, meta, time.time() if now is None else now)


def sessions_input(feed: LiveSessions, now: float | None = None) -> list[SessionInput]:
    """The inputs of every session the server tracks in memory (the live sessions list)."""
    now = time.time() if now is None else now
    views = feed.arbiter.sessions()
    out = []
    for entry in feed.status():
        _complete(entry, views)
        out.append(_input(feed, entry, now))
    return out
