"""The session arbiter: maps every client's view to one tracked session, pure code.

Each client streams what its game shows; the arbiter decides which tracked **session** each
observation belongs to, whether it is **fed** to the tracker, and reports what happened as
`Action`s (for the event feed, the store and the clients' plans). No I/O, no asyncio, no clock:
every method takes the server's wall time `now`. Client wall clocks are never used, so clock
skew between a client and the server does not matter; only event time (ET) and differences of
the server's own wall time are compared.

Rules, and why they are what they are (the older tracker's weak points in brackets):

- **Identity** (`server.sessions`): same key (game server and port, track, session type;
  offline: the one client that plays it), an event clock consistent with the session's (its
  last fed ET projected forward by the wall time since, at most `max_rate` ET seconds per wall
  second, plus `ahead_tolerance`), and for a client new to the session a similar entry list
  and an ET not more than `late_window` behind. A client that was already in the session is
  judged by its own stream: its ET never goes back except when the session restarted. Cars
  joining or leaving never fork a session [it locked the session to one client].
- **Restart**: a client's own ET going back by more than `back_tolerance` (a game's clock
  only goes back when its session restarted), or a newcomer's reading that is more than
  `late_window` behind the session, or behind it and before the green flag while the session
  was already green, does not fit the session (and becomes a new one, see below). A newcomer a
  little behind is a lagging client: it joins, and its late observations are not fed.
- **No empty extra sessions**: a reading that is not settled (no cars, or stale finished cars
  before the green flag) places the client nowhere. A new session is created only when the
  same client confirms its reading `confirm_after` wall seconds later with an ET that moved
  forward no faster than a clock can (a resent backlog rushes through ET and confirms nothing),
  and never while another live session with the same key is still being fed (one game server
  runs one session at a time: a client contradicting a fed session is confused or lagging).
- **Feeding**: an observation is fed only when its ET is newer than the session's last fed ET,
  so the tracker sees one monotonic stream; duplicates and a lagging client's late observations
  are dropped. The client that fed last is the **driving** client; others are fed only when it
  left, has fed nothing for `takeover_after` (about two update periods) or fell more than
  `takeover_lead` ET behind them, so one game's view is followed consistently (games differ a
  little in what they show of other cars), and the next fresher observation takes over at
  once when it goes [it waited 10 s of silence]. Driving client = plan role "primary", others
  "secondary".
- **Team-private merge** (`server.private_parts`): the fed state gets each car's private parts
  from the freshest client whose player car it is; parts go when their client leaves.
- **Backfill**: a session fed again after more than `backfill_after` wall seconds without a fed
  observation (and with an ET gap, so not a pause) gets `backfill_from` = its last fed ET; so
  does a session whose first fed observation already has laps done (joined mid-session).
- **Linking**: a session created on the same game server and track as a recent one of a lower
  or equal weekend rank (practice -> qualifying -> race; a restart of an unfinished session)
  shares its `event_id` (`SessionLinked`).
- **Closing**: checkered and not fed for `finished_grace`; not fed or heard for longer than its
  remaining time plus `close_margin` [a fixed 20 minutes closed long races after a restart];
  superseded: a newer session runs on the same game server and nobody is left in this one;
  offline: its player left the session. A finished session takes no newcomers, its own clients
  still feed (results settle after the flag); a closed one feeds nobody and forks nothing.
- **Restore**: `restore` reloads live sessions from `SessionRecord`s after a server restart,
  so returning clients rejoin them [reloaded sessions were pruned and clients forked].
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from server import sessions as ids
from server.private_parts import PrivateParts, merge, private_parts
from server.roles import PRIMARY, SECONDARY
from server.sessions import PHASE_CHECKERED, PHASE_GREEN, PHASE_PAUSED, Reading, SessionKey

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ArbiterConfig:
    """Tolerances; ET values in event seconds, the others in server wall seconds.

    `max_rate` must be at least the speed of a simulator run faster than real time (a
    `Simulator(speed=10)` race needs `max_rate >= 10`), else its clock looks impossible.
    """

    max_rate: float = 1.0  # ET seconds per wall second at most (the simulator runs faster)
    ahead_tolerance: float = 30.0  # ET a reading may be ahead of the projected session clock
    back_tolerance: float = 10.0  # ET a client's clock may go back without being a restart
    late_window: float = 120.0  # ET a newcomer may be behind and still belong to the session
    entry_overlap: float = 0.5  # share of the smaller entry list that must be in common
    takeover_after: float = 2.5  # driving client silent this long: any fresher client feeds
    takeover_lead: float = 10.0  # ... or a client this much ET ahead of the last fed one
    confirm_after: float = 2.0  # a new session's reading must be confirmed this much later
    confirm_jitter: float = 2.0  # ET slack of that confirmation
    pending_expiry: float = 60.0  # an unconfirmed reading is forgotten after this
    backfill_after: float = 10.0  # a session unfed this long asks for the lap history
    backfill_min_gap: float = 5.0  # ... if its ET moved at least this much (not a pause)
    finished_grace: float = 120.0  # checkered and unfed this long: closed
    close_margin: float = 600.0  # unfed and unheard for remaining time + this: closed
    unknown_remaining: float = 3600.0  # remaining time assumed when the game gave none
    keep_closed: float = 3600.0  # closed sessions stay listed (and refuse forks) this long
    link_window: float = 7200.0  # a session links to one on the same server this recent


# --- results ---------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Action:
    """Something the rest of the server must know; `kind` names it in JSON."""

    kind: str = field(default="action", init=False)
    session_id: str
    at: float


@dataclass(frozen=True, kw_only=True)
class SessionCreated(Action):
    kind: str = field(default="session_created", init=False)
    event_id: str
    track: str
    session_type: str
    online: bool
    server: str | None
    port: int | None


@dataclass(frozen=True, kw_only=True)
class SessionLinked(Action):
    """`previous` -> `session_id` (the next session of the same event)."""

    kind: str = field(default="session_linked", init=False)
    previous: str
    event_id: str


@dataclass(frozen=True, kw_only=True)
class SessionClosed(Action):
    kind: str = field(default="session_closed", init=False)
    reason: str  # "checkered" | "timeout" | "superseded" | "owner_left"


@dataclass(frozen=True, kw_only=True)
class ClientJoinedSession(Action):
    kind: str = field(default="client_joined", init=False)
    client_id: str
    name: str
    role: str


@dataclass(frozen=True, kw_only=True)
class ClientLeftSession(Action):
    kind: str = field(default="client_left", init=False)
    client_id: str
    name: str
    reason: str  # "disconnected", "no_session", "game_closed", "replay", "session_changed", ...


@dataclass(frozen=True, kw_only=True)
class DrivingClientChanged(Action):
    """The client whose observations are fed (plan role primary) changed."""

    kind: str = field(default="driving_client_changed", init=False)
    previous: str | None
    current: str
    reason: str  # "first" | "left" | "quiet" | "behind" (its game fell behind another's)


@dataclass(frozen=True)
class Decision:
    """What to do with one observation.

    `state` is set only when fed: the observation with the team-private merge applied (the
    observed dict itself when there was nothing to merge; treat it as read-only).
    `backfill_from`: ask this client for the lap history, the session lost ET from there on.
    """

    client_id: str
    session_id: str | None
    feed: bool
    et: float
    role: str | None
    reason: str  # "fed", "late", "standby", "pending", "finished", "closed", or an absence
    backfill_from: float | None = None
    state: dict[str, Any] | None = None
    actions: list[Action] = field(default_factory=list)


@dataclass(frozen=True)
class ClientView:
    client_id: str
    name: str
    connected: bool
    session_id: str | None
    role: str | None
    heard_at: float | None  # server wall time of its last observation
    heard_et: float | None  # ET of its last observation


@dataclass(frozen=True)
class SessionView:
    session_id: str
    event_id: str
    online: bool
    server: str | None
    port: int | None
    owner: str | None
    track: str
    session_type: str
    phase: int | None
    et: float  # last fed ET
    remaining: float | None
    created_at: float
    last_fed_at: float
    finished: bool
    closed_at: float | None
    closed_reason: str | None
    driving_client: str | None
    cars: int
    clients: list[ClientView]


@dataclass(frozen=True)
class SessionRecord:
    """What the store keeps so that `Arbiter.restore` can continue a live session."""

    session_id: str
    event_id: str
    online: bool
    server: str | None
    port: int | None
    track: str
    session_type: str
    last_et: float
    last_fed_at: float
    phase: int | None = None
    cars: tuple[str, ...] = ()
    owner: str | None = None
    created_at: float | None = None
    remaining: float | None = None
    members: tuple[str, ...] = ()  # clients that fed it (may still send after the flag)


# --- internal state --------------------------------------------------------------------------


@dataclass
class _Session:
    id: str
    event_id: str
    key: SessionKey
    created_at: float
    last_et: float
    last_fed_at: float
    phase: int | None
    remaining: float | None
    cars: frozenset[str]
    reached_green: bool = False
    finished: bool = False
    driver: str | None = None
    previous_driver: str | None = None
    clients: set[str] = field(default_factory=set)
    members: set[str] = field(default_factory=set)
    closed_at: float | None = None
    closed_reason: str | None = None
    merge_memo: dict = field(default_factory=dict)  # `private_parts.merge` by identity

    @property
    def live(self) -> bool:
        return self.closed_at is None

    def took(self, reading: Reading, now: float) -> None:
        """A fed reading advances the session."""
        self.last_et, self.last_fed_at = reading.et, now
        self.phase, self.remaining, self.cars = reading.phase, reading.remaining, reading.cars
        if reading.phase is not None and PHASE_GREEN <= reading.phase < PHASE_PAUSED:
            self.reached_green = True
        if reading.phase == PHASE_CHECKERED:
            self.finished = True


@dataclass
class _Client:
    id: str
    name: str
    connected: bool = True
    session: str | None = None  # attached session
    last: Reading | None = None  # last settled reading
    last_session: str | None = None  # the session `last` was placed in
    heard_at: float | None = None
    heard_et: float | None = None
    pending: tuple[Reading, float] | None = None  # first unconfirmed reading and its time
    private: PrivateParts | None = None
    private_memo: dict = field(default_factory=dict)  # `private_parts` by identity


# --- the arbiter -----------------------------------------------------------------------------


class Arbiter:
    """Sessions, clients and the rules above. Not thread-safe; call from one task."""

    def __init__(
        self,
        config: ArbiterConfig | None = None,
        *,
        entropy: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self.config = config or ArbiterConfig()
        self._entropy = entropy
        self._sessions: dict[str, _Session] = {}
        self._clients: dict[str, _Client] = {}
        self._sequence = 0

    # -- clients --------------------------------------------------------------------------

    def connect(self, client_id: str, name: str, now: float) -> list[Action]:
        """A client (re)connected; it joins a session with its first fitting observation."""
        client = self._clients.get(client_id)
        if client is None:
            client = self._clients[client_id] = _Client(client_id, name)
        client.name, client.connected = name or client.name, True
        log.info("client %s (%s) connected", client_id, client.name)
        return []

    def disconnect(self, client_id: str, now: float) -> list[Action]:
        """A client's connection ended: it leaves its session (which stays open for others
        and for its return; an offline session is not closed by a network blip)."""
        client = self._clients.get(client_id)
        if client is None:
            return []
        client.connected, client.pending = False, None
        actions = self._leave(client, now, "disconnected")
        actions += self._supersede(now)
        return actions

    def observe(self, client_id: str, state: dict[str, Any], et: float, now: float) -> Decision:
        """Place one observation (the client's full state at `et`) and decide on feeding it."""
        client = self._clients.get(client_id) or self._implicit_connect(client_id)
        client.heard_at, client.heard_et = now, et
        actions: list[Action] = []
        why = ids.absence(state)
        if why is not None:
            client.pending = None
            left_from = self._sessions.get(client.session) if client.session else None
            actions += self._leave(client, now, why)
            if left_from is not None and not left_from.key.online and left_from.live:
                actions += self._close(left_from, now, "owner_left")
            actions += self._supersede_after(actions, now)
            return Decision(client_id, None, False, et, None, why, actions=actions)
        reading = ids.read(state, et, client_id)
        assert reading is not None  # absence() was None
        if reading.unsettled is not None:
            client.pending = None
            return self._standby(client, et, reading.unsettled, actions)
        session, refused = self._place(client, reading, now, actions)
        if session is None:
            actions += self._supersede_after(actions, now)
            return Decision(client_id, None, False, et, None, refused or "pending", actions=actions)
        # continuity is judged against the last *placed* reading, so that a client that saw a
        # restart keeps refusing the old session while its new one waits for confirmation
        client.last, client.last_session = reading, session.id
        joined = client.id not in session.clients
        if joined:
            session.clients.add(client.id)
            session.members.add(client.id)
            client.session = session.id
        client.private = private_parts(state, reading.player_car, reading.et, client.private_memo)
        join_at = len(actions)  # after leaving/creating, before a driving change
        decision = self._feed(client, session, reading, state, now, actions)
        if joined:
            role = self._role(client)
            actions.insert(
                join_at,
                ClientJoinedSession(
                    session_id=session.id,
                    at=now,
                    client_id=client.id,
                    name=client.name,
                    role=role or SECONDARY,
                ),
            )
            log.info("client %s joined session %s as %s", client.id, session.id, role)
        actions += self._supersede_after(actions, now)
        return decision

    def tick(self, now: float) -> list[Action]:
        """Timeouts: close finished, abandoned and superseded sessions; forget old things."""
        cfg = self.config
        actions: list[Action] = []
        for session in list(self._sessions.values()):
            if not session.live:
                if now - session.closed_at > cfg.keep_closed:
                    del self._sessions[session.id]
                continue
            if session.finished and now - session.last_fed_at > cfg.finished_grace:
                actions += self._close(session, now, "checkered")
                continue
            heard = [
                self._clients[c].heard_at or 0.0 for c in session.clients if c in self._clients
            ]
            active = max([session.last_fed_at, *heard])
            left = session.remaining if session.remaining is not None else cfg.unknown_remaining
            if now - active > left + cfg.close_margin:
                actions += self._close(session, now, "timeout")
        actions += self._supersede(now)
        for client in list(self._clients.values()):
            if client.pending is not None and now - client.pending[1] > cfg.pending_expiry:
                client.pending = None
            if (
                not client.connected
                and client.session is None
                and now - (client.heard_at or now) > cfg.keep_closed
            ):
                del self._clients[client.id]
        return actions

    def restore(self, records: Iterable[SessionRecord], now: float) -> list[Action]:
        """Reload live sessions after a server restart; returning clients rejoin them."""
        for rec in records:
            key = SessionKey(
                rec.online,
                rec.server if rec.online else None,
                rec.port if rec.online else None,
                rec.track,
                rec.session_type,
                None if rec.online else rec.owner,
            )
            phase = rec.phase
            self._sessions[rec.session_id] = _Session(
                id=rec.session_id,
                event_id=rec.event_id,
                key=key,
                created_at=rec.created_at if rec.created_at is not None else rec.last_fed_at,
                last_et=rec.last_et,
                last_fed_at=rec.last_fed_at,
                phase=phase,
                remaining=rec.remaining,
                cars=frozenset(rec.cars),
                reached_green=phase is not None and PHASE_GREEN <= phase < PHASE_PAUSED,
                finished=phase == PHASE_CHECKERED,
                members=set(rec.members),
            )
            log.info("restored session %s (%s %s)", rec.session_id, rec.track, rec.session_type)
        return []

    # -- read accessors -------------------------------------------------------------------

    def sessions(self, *, include_closed: bool = True) -> list[SessionView]:
        """Live sessions (and recently closed ones), oldest first."""
        found = [s for s in self._sessions.values() if include_closed or s.live]
        return [self._view(s) for s in sorted(found, key=lambda s: (s.created_at, s.id))]

    def session(self, session_id: str) -> SessionView | None:
        session = self._sessions.get(session_id)
        return self._view(session) if session is not None else None

    def client(self, client_id: str) -> ClientView | None:
        client = self._clients.get(client_id)
        return self._client_view(client) if client is not None else None

    def role(self, client_id: str) -> str | None:
        """The client's plan role: "primary" (driving), "secondary", or None (no session)."""
        client = self._clients.get(client_id)
        return self._role(client) if client is not None else None

    def session_of(self, client_id: str) -> str | None:
        client = self._clients.get(client_id)
        return client.session if client is not None else None

    def driving_client(self, session_id: str) -> str | None:
        session = self._sessions.get(session_id)
        return session.driver if session is not None else None

    def records(self) -> list[SessionRecord]:
        """What to store so that `restore` can continue the live sessions."""
        return [
            SessionRecord(
                session_id=s.id,
                event_id=s.event_id,
                online=s.key.online,
                server=s.key.server,
                port=s.key.port,
                track=s.key.track,
                session_type=s.key.session_type,
                last_et=s.last_et,
                last_fed_at=s.last_fed_at,
                phase=s.phase,
                cars=tuple(sorted(s.cars)),
                owner=s.key.owner,
                created_at=s.created_at,
                remaining=s.remaining,
                members=tuple(sorted(s.members)),
            )
            for s in self._sessions.values()
            if s.live
        ]

    # -- placing an observation -----------------------------------------------------------

    def _implicit_connect(self, client_id: str) -> _Client:
        client = self._clients[client_id] = _Client(client_id, client_id[:8])
        return client

    def _standby(self, client: _Client, et: float, reason: str, actions: list) -> Decision:
        """An unsettled reading: the client keeps its place but feeds nothing."""
        role = self._role(client)
        return Decision(client.id, client.session, False, et, role, reason, actions=actions)

    def _place(
        self, client: _Client, reading: Reading, now: float, actions: list[Action]
    ) -> tuple[_Session | None, str | None]:
        """The session this reading belongs to (creating one if confirmed), or (None, why)."""
        current = self._sessions.get(client.session) if client.session else None
        if current is not None and self._fits(current, reading, client, now):
            client.pending = None
            return current, None
        if current is not None:
            actions += self._leave(client, now, "session_changed")
        target = self._match(client, reading, now)
        if target is not None:
            client.pending = None
            if not target.live:
                return None, "closed"
            if target.finished and client.id not in target.members:
                return None, "finished"
            return target, None
        if not self._confirmed(client, reading, now):
            return None, "pending"
        if self._contested(reading.key, now):
            return None, "pending"
        client.pending = None
        return self._create(reading, now, actions), None

    def _fits(self, session: _Session, reading: Reading, client: _Client, now: float) -> bool:
        """Does this reading belong to this session (module docstring: identity, restart)?"""
        cfg = self.config
        if session.key != reading.key:
            return False
        elapsed = max(0.0, now - session.last_fed_at)
        if reading.et > session.last_et + elapsed * cfg.max_rate + cfg.ahead_tolerance:
            return False
        last = client.last
        if client.last_session == session.id and last is not None and last.key == reading.key:
            # the client's own stream vouches for continuity; its clock going back is a restart
            return reading.et >= last.et - cfg.back_tolerance
        behind = reading.et < session.last_et - cfg.back_tolerance
        if behind and reading.before_green and session.reached_green:
            return False  # a fresh start behind a session that was already racing
        if reading.et < session.last_et - cfg.late_window:
            return False
        return ids.entries_similar(reading.cars, session.cars, cfg.entry_overlap)

    def _match(self, client: _Client, reading: Reading, now: float) -> _Session | None:
        """The session a reading fits: live before closed, then the newest."""
        fitting = [s for s in self._sessions.values() if self._fits(s, reading, client, now)]
        if not fitting:
            return None
        return max(fitting, key=lambda s: (s.live, s.created_at, s.id))

    def _confirmed(self, client: _Client, reading: Reading, now: float) -> bool:
        """True when this reading confirms the client's earlier unplaced one (module doc)."""
        cfg = self.config
        pending = client.pending
        if pending is None or pending[0].key != reading.key:
            client.pending = (reading, now)
            return False
        first, since = pending
        waited = now - since
        moved = reading.et - first.et
        if moved < -cfg.back_tolerance or moved > waited * cfg.max_rate + cfg.confirm_jitter:
            client.pending = (reading, now)  # clock went back, or a backlog rushing through
            return False
        return waited >= cfg.confirm_after

    def _contested(self, key: SessionKey, now: float) -> bool:
        """A live session with this key is still being fed: no second one on that server."""
        return any(
            s.live
            and s.key == key
            and s.clients
            and now - s.last_fed_at <= self.config.takeover_after
            for s in self._sessions.values()
        )

    def _create(self, reading: Reading, now: float, actions: list[Action]) -> _Session:
        self._sequence += 1
        new_id = ids.session_id(now, self._sequence, self._entropy(8))
        previous = self._previous_of(reading.key, now)
        session = _Session(
            id=new_id,
            event_id=previous.event_id if previous is not None else new_id,
            key=reading.key,
            created_at=now,
            last_et=float("-inf"),
            last_fed_at=now,
            phase=reading.phase,
            remaining=reading.remaining,
            cars=reading.cars,
        )
        self._sessions[new_id] = session
        key = reading.key
        actions.append(
            SessionCreated(
                session_id=new_id,
                at=now,
                event_id=session.event_id,
                track=key.track,
                session_type=key.session_type,
                online=key.online,
                server=key.server,
                port=key.port,
            )
        )
        log.info(
            "session %s created: %s %s on %s",
            new_id,
            key.track,
            key.session_type,
            f"{key.server}:{key.port}" if key.online else f"offline ({key.owner})",
        )
        if previous is not None:
            actions.append(
                SessionLinked(
                    session_id=new_id, at=now, previous=previous.id, event_id=session.event_id
                )
            )
            log.info("session %s follows %s (event %s)", new_id, previous.id, session.event_id)
        return session

    def _previous_of(self, key: SessionKey, now: float) -> _Session | None:
        """The session a new one continues in the same event (module docstring: linking)."""
        new_rank = ids.rank(key.session_type)
        candidates = []
        for s in self._sessions.values():
            if s.key.venue != key.venue or now - s.last_fed_at > self.config.link_window:
                continue
            old_rank = ids.rank(s.key.session_type)
            same_type = s.key.session_type == key.session_type
            if new_rank > old_rank or (new_rank == old_rank and not (same_type and s.finished)):
                candidates.append(s)
        return max(candidates, key=lambda s: (s.created_at, s.id), default=None)

    # -- feeding --------------------------------------------------------------------------

    def _feed(
        self,
        client: _Client,
        session: _Session,
        reading: Reading,
        state: dict[str, Any],
        now: float,
        actions: list[Action],
    ) -> Decision:
        cfg = self.config
        if reading.et <= session.last_et:
            return self._decision(client, session, reading, "late", actions)
        driver = session.driver
        quiet = now - session.last_fed_at > cfg.takeover_after
        ahead = reading.et - session.last_et > cfg.takeover_lead
        if driver is not None and driver != client.id and not quiet and not ahead:
            return self._decision(client, session, reading, "standby", actions)
        backfill = None
        gap = now - session.last_fed_at
        if (
            session.last_et != float("-inf")
            and gap > cfg.backfill_after
            and reading.et - session.last_et > cfg.backfill_min_gap
        ):
            backfill = session.last_et
            log.info(
                "session %s unfed for %.0f s: %s backfills from ET %.1f",
                session.id,
                gap,
                client.id,
                backfill,
            )
        elif session.last_et == float("-inf") and _laps_done(state):
            # First seen mid-session: the laps before now are only in the game's lap history.
            backfill = reading.et
            log.info("session %s first seen with laps done: %s backfills", session.id, client.id)
        previous = driver or session.previous_driver
        if previous != client.id:
            why = "first" if previous is None else "left" if driver is None else "quiet"
            if driver is not None and not quiet:
                why = "behind"
            actions.append(
                DrivingClientChanged(
                    session_id=session.id, at=now, previous=previous, current=client.id, reason=why
                )
            )
            log.info("session %s: driving %s -> %s (%s)", session.id, previous, client.id, why)
        session.driver = client.id
        session.took(reading, now)
        parts = [
            self._clients[c].private
            for c in sorted(session.clients)
            if c in self._clients and self._clients[c].private is not None
        ]
        merged = merge(state, parts, session.merge_memo)  # type: ignore[arg-type]
        return Decision(
            client.id,
            session.id,
            True,
            reading.et,
            PRIMARY,
            "fed",
            backfill_from=backfill,
            state=merged,
            actions=actions,
        )

    def _decision(
        self, client: _Client, session: _Session, reading: Reading, reason: str, actions: list
    ) -> Decision:
        role = self._role(client)
        return Decision(client.id, session.id, False, reading.et, role, reason, actions=actions)

    def _role(self, client: _Client) -> str | None:
        session = self._sessions.get(client.session) if client.session else None
        if session is None:
            return None
        return PRIMARY if session.driver == client.id else SECONDARY

    # -- leaving and closing ----------------------------------------------------------------

    def _leave(self, client: _Client, now: float, reason: str) -> list[Action]:
        session = self._sessions.get(client.session) if client.session else None
        client.session, client.private = None, None
        if session is None:
            return []
        session.clients.discard(client.id)
        if session.driver == client.id:
            session.driver, session.previous_driver = None, client.id
        log.info("client %s left session %s (%s)", client.id, session.id, reason)
        return [
            ClientLeftSession(
                session_id=session.id, at=now, client_id=client.id, name=client.name, reason=reason
            )
        ]

    def _close(self, session: _Session, now: float, reason: str) -> list[Action]:
        actions: list[Action] = []
        for client_id in sorted(session.clients):
            client = self._clients.get(client_id)
            if client is not None:
                actions += self._leave(client, now, "session_closed")
        session.clients.clear()
        session.closed_at, session.closed_reason = now, reason
        log.info("session %s closed (%s)", session.id, reason)
        actions.append(SessionClosed(session_id=session.id, at=now, reason=reason))
        return actions

    def _supersede_after(self, actions: list[Action], now: float) -> list[Action]:
        """`_supersede`, when these actions can have emptied or replaced a session."""
        if any(isinstance(a, ClientLeftSession | SessionCreated) for a in actions):
            return self._supersede(now)
        return []

    def _supersede(self, now: float) -> list[Action]:
        """Close empty live sessions that a newer session on the same game server replaced."""
        actions: list[Action] = []
        newest: dict[tuple, _Session] = {}
        for s in self._sessions.values():
            best = newest.get(s.key.host)
            if best is None or (s.created_at, s.id) > (best.created_at, best.id):
                newest[s.key.host] = s
        for s in list(self._sessions.values()):
            if s.live and not s.clients and newest[s.key.host] is not s:
                actions += self._close(s, now, "superseded")
        return actions

    # -- views ----------------------------------------------------------------------------

    def _view(self, s: _Session) -> SessionView:
        clients = [self._client_view(self._clients[c]) for c in sorted(s.clients)]
        return SessionView(
            session_id=s.id,
            event_id=s.event_id,
            online=s.key.online,
            server=s.key.server,
            port=s.key.port,
            owner=s.key.owner,
            track=s.key.track,
            session_type=s.key.session_type,
            phase=s.phase,
            et=s.last_et,
            remaining=s.remaining,
            created_at=s.created_at,
            last_fed_at=s.last_fed_at,
            finished=s.finished,
            closed_at=s.closed_at,
            closed_reason=s.closed_reason,
            driving_client=s.driver,
            cars=len(s.cars),
            clients=clients,
        )

    def _client_view(self, c: _Client) -> ClientView:
        return ClientView(
            client_id=c.id,
            name=c.name,
            connected=c.connected,
            session_id=c.session,
            role=self._role(c),
            heard_at=c.heard_at,
            heard_et=c.heard_et,
        )


def _laps_done(state: dict[str, Any]) -> bool:
    """Whether any car of a client state has completed a lap already."""
    cars = state.get("cars")
    if type(cars) is not dict:
        return False
    return any(
        type(car) is dict and type(car.get("lapsCompleted")) is int and car["lapsCompleted"] > 0
        for car in cars.values()
    )
