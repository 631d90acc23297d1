"""Which game endpoints to ask at each tick (pure, explicit `now`).

The game stutters when its REST API is hammered, so each endpoint has its own period: what
changes every second (GetGameState, sessionInfo, standings) is asked every tick, the join state
and the navigation screen every tick too but they back off while unchanged, teams every 10 s,
chat every 5 s, strategy and usage every 10 s in races only, the track map once per session.

Backoff: when an answer's bytes are the same as the previous one (or the endpoint fails), its
period doubles up to a cap; a changed answer or a session change snaps it back to its base.
GetGameState never backs off: it is how the client notices the game coming back.

Scope: outside a session only the endpoints that tell where the game is are asked; when the game
does not answer at all, only GetGameState. The server's plan switches endpoints off and on and
overrides base periods (e.g. only one client per session reads chat).

Held off: while a pushed copy stands in for an endpoint (sessionInfo, `client.sessioninfo`),
the reader holds it off to a longer period, and hurries it when the push shows a change.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from client.normalize import (
    CHAT,
    GAME_STATE,
    JOIN_STATE,
    NAVIGATION,
    SESSION_INFO,
    STANDINGS,
    STRATEGY,
    TEAMS,
    TRACKMAP,
    USAGE,
    WS_SESSION,
    WS_STANDINGS,
)

log = logging.getLogger(__name__)

TICK = "tick"  # a base period of one tick, whatever the tick is


@dataclass(frozen=True)
class Rate:
    """An endpoint's default: base period (seconds or TICK), backoff cap as a multiple of it."""

    base: float | str
    cap: float  # x base; 1 = never backs off
    scope: str  # "running" (game answers), "session" (in a live session), "race" (races only)
    once: bool = False  # once per session (the track map)


RATES: Mapping[str, Rate] = {
    GAME_STATE: Rate(TICK, 1, "always"),
    SESSION_INFO: Rate(TICK, 4, "running"),
    NAVIGATION: Rate(TICK, 4, "running"),
    JOIN_STATE: Rate(TICK, 4, "running"),
    STANDINGS: Rate(TICK, 4, "session"),
    TEAMS: Rate(10.0, 6, "session"),
    CHAT: Rate(5.0, 4, "session"),
    STRATEGY: Rate(10.0, 6, "race"),
    USAGE: Rate(10.0, 6, "race"),
    TRACKMAP: Rate(10.0, 6, "session", once=True),
}
#: Pushed by the game, not polled: the plan can only switch them off or on.
PUSHED = (WS_STANDINGS, WS_SESSION)


class _Slot:
    __slots__ = ("answered_at", "base", "cap", "done", "last", "next_due", "period")

    def __init__(self, base: float, cap: float) -> None:
        self.base = base
        self.cap = cap
        self.period = base
        self.next_due = float("-inf")
        self.last: bytes | None = None  # the last answer (the reader keeps these bytes anyway)
        self.done = False
        self.answered_at = float("-inf")


class Schedule:
    """Per-endpoint polling periods with backoff, scope and the server's plan."""

    def __init__(self, tick: float = 1.0) -> None:
        if tick <= 0:
            raise ValueError("tick must be > 0")
        self.tick = tick
        self._plan_fetch: dict[str, bool] = {}
        self._plan_intervals: dict[str, float] = {}
        self._running = True
        self._in_session = False
        self._race = False
        self._slots: dict[str, _Slot] = {}
        self._floors: dict[str, float] = {}  # endpoint -> minimum period (`hold_off`)
        self._build()

    # --- configuration ---------------------------------------------------------------------

    def _base_of(self, endpoint: str) -> float:
        if endpoint in self._plan_intervals:
            base = max(self.tick, self._plan_intervals[endpoint])
        else:
            default = RATES[endpoint].base
            base = self.tick if default == TICK else max(self.tick, float(default))
        return max(base, self._floors.get(endpoint, 0.0))

    def _new_slot(self, endpoint: str) -> _Slot:
        base = self._base_of(endpoint)
        # Held off: that period exactly, no backoff on top (something else stands in for it).
        return _Slot(base, base if endpoint in self._floors else base * RATES[endpoint].cap)

    def _build(self) -> None:
        old = self._slots
        self._slots = {}
        for endpoint in RATES:
            base = self._base_of(endpoint)
            slot = self._new_slot(endpoint)
            before = old.get(endpoint)
            if before is not None:  # keep where it stands, at the new base
                slot.last, slot.done = before.last, before.done
                slot.answered_at = before.answered_at
                slot.next_due = min(before.next_due, before.next_due - before.period + base)
            self._slots[endpoint] = slot

    def apply_plan(self, plan: Mapping | None) -> None:
        """Apply the server's latest plan (`{"fetch": {ep: bool}, "intervals": {ep: s}}`).

        Each plan replaces the previous one; endpoints it does not name keep their defaults.
        """
        plan = plan or {}
        fetch = plan.get("fetch") or {}
        intervals = plan.get("intervals") or {}
        known = set(RATES) | set(PUSHED)
        self._plan_fetch = {k: bool(v) for k, v in fetch.items() if k in known}
        self._plan_intervals = {
            k: float(v)
            for k, v in intervals.items()
            if k in RATES and type(v) in (int, float) and v > 0
        }
        ignored = (set(fetch) | set(intervals)) - known
        if ignored:
            log.debug("plan names endpoints this client does not read: %s", sorted(ignored))
        self._build()

    def hold_off(self, endpoint: str, seconds: float | None) -> None:
        """Ask `endpoint` only every `seconds` from its last answer (a pushed copy stands in
        for it); None: back to its own pace, and due at once."""
        if self._floors.get(endpoint) == seconds:
            return
        if seconds is None:
            del self._floors[endpoint]
        else:
            self._floors[endpoint] = float(seconds)
        before = self._slots[endpoint]
        slot = self._slots[endpoint] = self._new_slot(endpoint)
        slot.last, slot.done, slot.answered_at = before.last, before.done, before.answered_at
        slot.next_due = float("-inf") if seconds is None else before.answered_at + slot.base

    def held_off(self, endpoint: str) -> float:
        """The period `hold_off` set for `endpoint` (0: none)."""
        return self._floors.get(endpoint, 0.0)

    def hurry(self, endpoint: str) -> None:
        """Make `endpoint` due at once, whatever its period (its answer is needed now)."""
        self._slots[endpoint].next_due = float("-inf")

    def set_context(self, *, running: bool, in_session: bool, race: bool = False) -> None:
        """Where the game is: decides which endpoints are in scope."""
        self._running, self._in_session, self._race = running, in_session, race

    def session_changed(self, now: float | None = None) -> None:
        """A new session (or a change of the game's status): every period back to its base.

        Everything is due at once, except what was answered at `now` (the tick that noticed
        the change): that is due one base period later.
        """
        for slot in self._slots.values():
            slot.period = slot.base
            fresh = now is not None and slot.answered_at == now
            slot.next_due = now + slot.base if fresh else float("-inf")
            slot.last = slot.last if fresh else None
            slot.done = slot.done and fresh

    # --- queries ---------------------------------------------------------------------------

    def enabled(self, endpoint: str) -> bool:
        """Switched on (by default, or by the plan)."""
        return self._plan_fetch.get(endpoint, True)

    def in_scope(self, endpoint: str) -> bool:
        """Enabled and relevant where the game is now (answers out of scope are not used)."""
        if not self.enabled(endpoint):
            return False
        if endpoint in PUSHED:
            return self._in_session
        scope = RATES[endpoint].scope
        if scope == "always":
            return True
        if scope == "running":
            return self._running
        if scope == "session":
            return self._running and self._in_session
        return self._running and self._in_session and self._race

    def due(self, now: float) -> set[str]:
        """The endpoints to ask at `now` (a tick early by up to a tenth of a tick counts)."""
        slack = self.tick * 0.1
        return {
            endpoint
            for endpoint, slot in self._slots.items()
            if not slot.done and now + slack >= slot.next_due and self.in_scope(endpoint)
        }

    def period(self, endpoint: str) -> float:
        return self._slots[endpoint].period

    # --- answers ---------------------------------------------------------------------------

    def answered(self, endpoint: str, now: float, raw: bytes | None) -> None:
        """Record an answer's raw bytes (None: failed, timed out, empty or not JSON)."""
        slot = self._slots[endpoint]
        rate = RATES[endpoint]
        if raw is not None and raw != slot.last:  # a memcmp: cheaper than hashing the bytes
            slot.period = slot.base  # new information: back to the base period
        else:
            slot.period = min(slot.period * 2, slot.cap)
        if raw is not None:
            slot.last = raw
            if rate.once and len(raw) > 2:  # "[]" is no map yet (still loading)
                slot.done = True
        slot.next_due = now + slot.period
        slot.answered_at = now
