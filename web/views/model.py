"""What every view is built from: one session's metadata, tracker facts and latest state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from server.tracking import Tracker


@dataclass(frozen=True)
class SessionInput:
    """A session as the views see it, live or loaded from the store.

    `meta` has the keys of one `LiveSessions.status()` entry (session_id, event_id, track,
    session_type, online, server, port, phase, et, last_fed_at, closed, closed_reason,
    driving_client, clients, cars, laps) plus `remaining` (s left in the phase, or None).
    `state` is the latest fed client state (None after a restart until the next feed, and for
    stored sessions). `now` is the unix time the view is built for: views never read a clock.
    """

    meta: dict[str, Any]
    tracker: Tracker | None
    state: dict[str, Any] | None
    state_et: float | None
    fed_at: float | None
    now: float

    @property
    def session_id(self) -> str:
        return str(self.meta["session_id"])

    @property
    def live(self) -> bool:
        return not self.meta.get("closed", True)
