"""Tracked sessions: the server's core, ingest -> arbiter -> tracker -> store, wired together.

`LiveSessions` is the `SessionFeed` (and `PlanPublisher`) the app uses by default. For every
observation it asks the arbiter where it belongs; when the arbiter feeds it, that session's
tracker turns it into events; the events, the query rows they changed and whatever the
arbiter's actions say (sessions created, linked, closed; clients joining, leaving, driving) are
queued to the store *in the order they were decided, without an await in between*, and
`observe` returns once they are committed (so the ingest's ack means durable). Then clients
whose role changed get their new plan: the observing client as the return value, others
through `send_plan`.

A session that was not fed for a while asks its new driving client for the game's lap history
(a plan with `/rest/watch/standings/history` on, once); a `backfill` message, whenever it
arrives, goes to the tracker of the client's session. A background task runs the arbiter's
timeouts once a second and keeps the stored arbiter records fresh.

On start, live sessions are restored from the store (arbiter records, then each tracker from its
events), before any client connects: returning clients continue the same sessions.

Read accessors for the web: `sessions` (id -> `TrackedSession` with its tracker), `arbiter`
(views of sessions and clients), `status()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from schema import wire
from server import roles
from server.arbiter import (
    Action,
    Arbiter,
    ArbiterConfig,
    ClientJoinedSession,
    ClientLeftSession,
    DrivingClientChanged,
    SessionClosed,
    SessionCreated,
    SessionLinked,
    SessionRecord,
    SessionView,
)
from server.feed import ClientInfo, Observation, PlanSender
from server.store import Store, session_insert
from server.store_rows import (
    CLOSE_SESSION,
    INSERT_FEED,
    INSERT_SESSION_CLIENT,
    UPDATE_SESSION_FED,
    UPDATE_SESSION_RECORD,
    Statement,
    chat_rows,
)
from server.tracking import Tracker
from server.tracking.events import LapsMissed

log = logging.getLogger(__name__)

TICK_INTERVAL = 1.0  # s between the arbiter's timeout checks
RECORD_INTERVAL = 30.0  # s between refreshes of the stored arbiter records
MISSED_BACKFILL_INTERVAL = 30.0  # s: at most one lap-history ask per session for skipped laps


@dataclass
class TrackedSession:
    """One session's live facts: its tracker, and the chat lines already stored."""

    session_id: str
    tracker: Tracker
    track_length: float
    chat_keys: set[str] = field(default_factory=set)
    # The latest fed client state (normalized, slimmed) and its ET: what the live dashboard
    # shows beside the tracker's facts. None after a restart until the next feed.
    state: dict[str, Any] | None = None
    state_et: float | None = None
    fed_at: float | None = None


class LiveSessions:
    """The arbiter, one tracker per session and the store, behind the `SessionFeed` interface.

    Give it a `store` (opened and closed by the caller) or a `database` path (then `start`
    opens the store and `stop` closes it).
    """

    def __init__(
        self,
        config: ArbiterConfig | None = None,
        *,
        store: Store | None = None,
        database: Path | None = None,
        clock: Callable[[], float] = time.time,
        tick_interval: float = TICK_INTERVAL,
        record_interval: float = RECORD_INTERVAL,
    ) -> None:
        if store is None and database is None:
            raise ValueError("LiveSessions needs a store or a database path")
        self.store = store
        self._own_store = store is None
        self._database = database
        self.arbiter = Arbiter(config)
        self.sessions: dict[str, TrackedSession] = {}
        self.clock = clock
        self.tick_interval = tick_interval
        self.record_interval = record_interval
        self._send_plan: PlanSender | None = None
        self._plans: dict[str, dict] = {}  # client -> the last plan it was given
        self._backfill_wanted: set[str] = set()  # clients asked for the lap history
        self._missed_asked: dict[str, float] = {}  # session -> when skipped laps last asked
        self._missed_pending: set[str] = set()  # sessions with skipped laps not asked for yet
        self._last_session: dict[str, str] = {}  # client -> the session it last fed or joined
        self._ticker: asyncio.Task | None = None
        self._records_at = 0.0
        self._listeners: list[Callable[[str], None]] = []
        self._changed: set[str] = set()  # sessions changed by the statements being stored

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the store (if this feed owns it), restore live sessions, start the ticker."""
        if self.store is None:
            assert self._database is not None
            self.store = await Store(self._database).open()
        await self.restore()
        self._records_at = self.clock()
        self._ticker = asyncio.create_task(self._tick_loop(), name="session-ticker")

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        if self.store is not None and self.store.conn is not None:
            with contextlib.suppress(Exception):
                await self.store.write(self._record_statements())
            if self._own_store:
                await self.store.close()
                self.store = None

    async def restore(self) -> None:
        """Continue the live sessions of the store (a restart): arbiter first, then trackers."""
        assert self.store is not None
        stored = await self.store.live_sessions()
        records = [_record_from_doc(s.record) for s in stored]
        self.arbiter.restore(records, self.clock())
        for s in stored:
            tracker = Tracker.restore(s.session_type, s.track_length, s.events)
            self.sessions[s.session_id] = TrackedSession(
                s.session_id, tracker, s.track_length, set(s.chat_keys)
            )
            log.info(
                "continuing session %s (%s): %d events, %d cars",
                s.session_id,
                s.session_type,
                len(s.events),
                len(tracker.cars),
            )

    # --- SessionFeed -----------------------------------------------------------------------

    def bind(self, send_plan: PlanSender) -> None:
        self._send_plan = send_plan

    def listen(self, callback: Callable[[str], None]) -> None:
        """Call `callback(session_id)` after a change of that session is committed (the live
        dashboard re-renders it). Callbacks must not block: they run on the ingest path."""
        self._listeners.append(callback)

    def _notify(self) -> None:
        changed, self._changed = self._changed, set()
        for sid in sorted(changed):
            for callback in self._listeners:
                try:
                    callback(sid)
                except Exception:
                    log.exception("session listener failed for %s", sid)

    async def connected(self, client: ClientInfo) -> None:
        self.arbiter.connect(client.client_id, client.name, self.clock())

    async def disconnected(self, client: ClientInfo) -> None:
        now = self.clock()
        actions = self.arbiter.disconnect(client.client_id, now)
        statements: list[Statement] = []
        touched = self._take_actions(actions, now, statements, None)
        self._plans.pop(client.client_id, None)
        self._backfill_wanted.discard(client.client_id)
        await self._store(statements)
        await self._send_plans(touched - {client.client_id})

    async def observe(self, obs: Observation) -> dict | None:
        """One observation: placed, maybe fed and tracked, stored; returns a changed plan."""
        cid = obs.client.client_id
        now = self.clock()
        statements: list[Statement] = []
        if obs.kind == "backfill":
            self._backfill(obs, statements)
            await self._store(statements)
            return self._plan_change(cid)
        decision = self.arbiter.observe(cid, obs.state, obs.et, now)
        touched = self._take_actions(decision.actions, now, statements, obs.state)
        if decision.session_id is not None:
            self._last_session[cid] = decision.session_id
        if decision.feed and decision.session_id is not None and decision.state is not None:
            driving_changed = any(isinstance(a, DrivingClientChanged) for a in decision.actions)
            missed = self._feed(decision.session_id, decision.state, decision.et, now, obs,
                                driving_changed, statements)  # fmt: skip
            if self._ask_for_missed(decision.session_id, now, missed):
                self._backfill_wanted.add(cid)
        if decision.backfill_from is not None:
            self._backfill_wanted.add(cid)
        await self._store(statements)
        await self._send_plans(touched - {cid})
        return self._plan_change(cid)

    # --- tracking --------------------------------------------------------------------------

    def _feed(
        self,
        session_id: str,
        state: dict[str, Any],
        et: float,
        now: float,
        obs: Observation,
        driving_changed: bool,
        statements: list[Statement],
    ) -> bool:
        """Track one fed observation; True if it skipped laps (a car completed more than one
        lap since the last observation: the game's lap history has the ones in between)."""
        tracked = self.sessions.get(session_id)
        if tracked is None:  # a session the arbiter knows but this feed lost: start afresh
            tracked = self._track(session_id, state)
        assert self.store is not None
        events = tracked.tracker.observe(state, et)
        tracked.state, tracked.state_et, tracked.fed_at = state, et, now
        self._changed.add(session_id)
        statements += self.store.event_statements(session_id, tracked.tracker, events)
        session = state.get("session") if type(state.get("session")) is dict else {}
        phase = session.get("gamePhase")
        statements.append(
            (UPDATE_SESSION_FED, (et, now, phase if type(phase) is int else None, session_id))
        )
        chat = state.get("chat")
        if type(chat) is dict and chat:
            patch = obs.patch if type(obs.patch) is dict else {}
            if obs.kind == "snapshot" or "chat" in patch or driving_changed:
                new = [(k, v) for k, v in chat.items() if k not in tracked.chat_keys]
                if new:
                    tracked.chat_keys.update(k for k, _ in new)
                    statements += chat_rows(session_id, new, et)
        return any(isinstance(e, LapsMissed) for e in events)

    def _ask_for_missed(self, session_id: str, now: float, missed: bool) -> bool:
        """Whether to ask the feeding client for the lap history because laps were skipped.

        Not more often than every MISSED_BACKFILL_INTERVAL (the history is a big answer for the
        game to make); laps skipped meanwhile stay pending and are asked for at the next feed
        after the interval, so none is left out."""
        if missed:
            self._missed_pending.add(session_id)
        if session_id not in self._missed_pending:
            return False
        if now - self._missed_asked.get(session_id, float("-inf")) < MISSED_BACKFILL_INTERVAL:
            return False
        self._missed_asked[session_id] = now
        self._missed_pending.discard(session_id)
        return True

    def _backfill(self, obs: Observation, statements: list[Statement]) -> None:
        cid = obs.client.client_id
        self._backfill_wanted.discard(cid)
        session_id = self.arbiter.session_of(cid) or self._last_session.get(cid)
        tracked = self.sessions.get(session_id) if session_id else None
        history = obs.patch if type(obs.patch) is dict else {}
        if tracked is None:
            log.info("backfill of %s ignored: it is in no tracked session", cid[:8])
            return
        # Stamped with the ET the tracker has reached: the history is a fact about laps it
        # already counted, and the session's events keep a non-decreasing ET.
        last = tracked.tracker.last_et
        events = tracked.tracker.backfill(history, last if last is not None else obs.et)
        log.info(
            "session %s: backfill from %s gave %d events (%d laps)",
            tracked.session_id,
            cid[:8],
            len(events),
            sum(1 for e in events if e.kind == "lap_completed"),
        )
        assert self.store is not None
        statements += self.store.event_statements(tracked.session_id, tracked.tracker, events)
        self._changed.add(tracked.session_id)

    def _track(self, session_id: str, state: dict[str, Any] | None) -> TrackedSession:
        view = self.arbiter.session(session_id)
        session = (state or {}).get("session")
        length = session.get("lapDistance") if type(session) is dict else None
        length = float(length) if type(length) in (int, float) else 0.0
        session_type = view.session_type if view is not None else "?"
        tracked = TrackedSession(session_id, Tracker(session_type, length), length)
        self.sessions[session_id] = tracked
        return tracked

    # --- the arbiter's actions -------------------------------------------------------------

    def _take_actions(
        self,
        actions: list[Action],
        now: float,
        statements: list[Statement],
        state: dict[str, Any] | None,
    ) -> set[str]:
        """Statements for the arbiter's actions; returns the clients whose plan may change."""
        touched: set[str] = set()
        for action in actions:
            sid = action.session_id
            self._changed.add(sid)
            if isinstance(action, SessionCreated):
                tracked = self._track(sid, state)
                record = self._record(sid)
                if record is not None:
                    statements += session_insert(record, tracked.track_length, action.at)
            elif isinstance(action, SessionLinked):
                log.info("session %s continues event %s", sid, action.event_id)
            elif isinstance(action, SessionClosed):
                record = self._record(sid)
                statements.append((CLOSE_SESSION, (action.at, action.reason, sid)))
                if record is not None:
                    statements.append((UPDATE_SESSION_RECORD, (_dumps(record), sid)))
                self._line(sid, "session_closed", None, f"Session closed ({action.reason})",
                           statements)  # fmt: skip
            elif isinstance(action, ClientJoinedSession):
                touched.add(action.client_id)
                self._client_row(action, "joined", action.role, None, statements)
                record = self._record(sid)
                if record is not None:  # its members changed
                    statements.append((UPDATE_SESSION_RECORD, (_dumps(record), sid)))
                self._line(sid, "client_joined", None, f"{action.name} joined", statements)
            elif isinstance(action, ClientLeftSession):
                touched.add(action.client_id)
                self._client_row(action, "left", None, action.reason, statements)
                self._line(sid, "client_left", None, f"{action.name} left ({action.reason})",
                           statements)  # fmt: skip
            elif isinstance(action, DrivingClientChanged):
                touched.add(action.current)
                if action.previous is not None:
                    touched.add(action.previous)
                self._client_row(action, "driving", roles.PRIMARY, action.reason, statements)
        return touched

    def _client_row(
        self, action: Any, change: str, role: str | None, reason: str | None, out: list
    ) -> None:
        client = getattr(action, "client_id", None) or getattr(action, "current", None)
        view = self.arbiter.client(client) if client else None
        name = getattr(action, "name", None) or (view.name if view is not None else None)
        row = (action.session_id, action.at, self._et(action.session_id), client, name, change,
               role, reason)  # fmt: skip
        out.append((INSERT_SESSION_CLIENT, row))

    def _line(self, sid: str, kind: str, car: str | None, text: str, out: list) -> None:
        out.append((INSERT_FEED, (sid, self._et(sid) or 0.0, kind, car, text)))

    def _et(self, session_id: str) -> float | None:
        view = self.arbiter.session(session_id)
        if view is None or not math.isfinite(view.et):
            return None
        return view.et

    def _record(self, session_id: str) -> dict[str, Any] | None:
        for record in self.arbiter.records():
            if record.session_id == session_id:
                return _record_doc(record)
        view = self.arbiter.session(session_id)  # closed: not among the live records
        if view is None:
            return None
        return {
            "session_id": view.session_id,
            "event_id": view.event_id,
            "online": view.online,
            "server": view.server,
            "port": view.port,
            "track": view.track,
            "session_type": view.session_type,
            "last_et": view.et if math.isfinite(view.et) else None,
            "last_fed_at": view.last_fed_at,
            "phase": view.phase,
            "owner": view.owner,
            "created_at": view.created_at,
            "remaining": view.remaining,
        }

    def _record_statements(self) -> list[Statement]:
        return [
            (UPDATE_SESSION_RECORD, (_dumps(_record_doc(r)), r.session_id))
            for r in self.arbiter.records()
        ]

    # --- plans -----------------------------------------------------------------------------

    def plan_for(self, client_id: str) -> dict:
        """The plan a client should follow now (role, session, backfill request)."""
        fields = roles.plan_fields(
            self.arbiter.role(client_id),
            self.arbiter.session_of(client_id),
            backfill=client_id in self._backfill_wanted,
        )
        return wire.plan(**fields)

    def _plan_change(self, client_id: str) -> dict | None:
        plan = self.plan_for(client_id)
        if self._plans.get(client_id) == plan:
            return None
        self._plans[client_id] = plan
        return plan

    async def _send_plans(self, clients: set[str]) -> None:
        if self._send_plan is None:
            return
        for cid in sorted(clients):
            view = self.arbiter.client(cid)
            if view is None or not view.connected:
                continue
            plan = self._plan_change(cid)
            if plan is not None:
                await self._send_plan(cid, plan)

    # --- background ------------------------------------------------------------------------

    async def _store(self, statements: list[Statement]) -> None:
        if statements:
            assert self.store is not None
            await self.store.write(statements)
        self._notify()

    async def tick(self) -> None:
        """The arbiter's timeouts, their consequences, and fresh records now and then."""
        now = self.clock()
        actions = self.arbiter.tick(now)
        statements: list[Statement] = []
        touched = self._take_actions(actions, now, statements, None)
        if now - self._records_at >= self.record_interval:
            self._records_at = now
            statements += self._record_statements()
        known = {view.session_id for view in self.arbiter.sessions()}
        for sid in [sid for sid in self.sessions if sid not in known]:
            del self.sessions[sid]  # the arbiter forgot it (closed long ago): the store keeps it
        await self._store(statements)
        await self._send_plans(touched)

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self.tick_interval)
            try:
                await self.tick()
            except Exception:
                log.exception("session tick failed")

    # --- status ----------------------------------------------------------------------------

    def status(self) -> list[dict[str, Any]]:
        """The tracked sessions for /status.json: identity, phase, clients, counts."""
        return [self._status_entry(view) for view in self.arbiter.sessions()]

    def status_of(self, session_id: str) -> dict[str, Any] | None:
        """One session's status entry (the live pages ask for one, many times a second)."""
        view = self.arbiter.session(session_id)
        return self._status_entry(view) if view is not None else None

    def _status_entry(self, view: SessionView) -> dict[str, Any]:
        tracked = self.sessions.get(view.session_id)
        cars = tracked.tracker.cars if tracked is not None else {}
        return {
            "session_id": view.session_id,
            "event_id": view.event_id,
            "track": view.track,
            "session_type": view.session_type,
            "online": view.online,
            "server": view.server,
            "port": view.port,
            "phase": view.phase,
            "et": view.et if math.isfinite(view.et) else None,
            "last_fed_at": view.last_fed_at,
            "closed": view.closed_at is not None,
            "closed_reason": view.closed_reason,
            "driving_client": view.driving_client,
            "clients": [
                {
                    "client_id": c.client_id,
                    "name": c.name,
                    "role": c.role,
                    "connected": c.connected,
                    "heard_at": c.heard_at,
                    "heard_et": c.heard_et,
                }
                for c in view.clients
            ],
            "cars": len(cars),
            "laps": sum(len(car.laps) for car in cars.values()),
        }


# --- records as JSON -------------------------------------------------------------------------


def _record_doc(record: SessionRecord) -> dict[str, Any]:
    doc = dataclasses.asdict(record)
    if not math.isfinite(doc["last_et"]):
        doc["last_et"] = None  # a session created but not fed yet
    return doc


def _record_from_doc(doc: dict[str, Any]) -> SessionRecord:
    names = {f.name for f in dataclasses.fields(SessionRecord)}
    values = {k: v for k, v in doc.items() if k in names}
    if values.get("last_et") is None:
        values["last_et"] = float("-inf")
    for key in ("cars", "members"):
        values[key] = tuple(values.get(key) or ())
    values.setdefault("last_fed_at", 0.0)
    return SessionRecord(**values)


def _dumps(doc: dict[str, Any]) -> str:
    return orjson.dumps(doc).decode()
