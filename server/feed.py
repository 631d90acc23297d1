"""The one interface between ingest and what the server does with the clients' states.

Ingest authenticates clients and rebuilds each stream's state; everything it learns goes to a
`SessionFeed` as `Observation`s, in order per stream. `observe` returns once what the message
produced is durable (ingest acks the client only then) and may return a new plan for the client.
The session arbiter/tracker/store will sit behind this; until then `LatestStates` keeps each
connected client's latest state and hands out naive roles.

A feed that also needs to send plans to *other* clients (e.g. promote a secondary when the
primary leaves) implements `PlanPublisher`: ingest binds it to a function that delivers a plan
message to a connected client.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from schema import wire

log = logging.getLogger(__name__)

# Endpoint keys as the client names them (client/normalize.py); only one client per session
# needs to read these, the others switch them off.
CHAT = "/rest/chat/"
STRATEGY = "/rest/strategy/overall"
USAGE = "/rest/strategy/usage"
PRIMARY_ONLY = (CHAT, STRATEGY, USAGE)


@dataclass(frozen=True)
class ClientInfo:
    client_id: str
    name: str
    address: str
    connected_at: float


@dataclass(frozen=True)
class Observation:
    client: ClientInfo
    stream: str
    seq: int
    et: float
    sent_at: float
    received_at: float
    kind: str  # "snapshot" | "patch" | "backfill"
    state: dict  # the client's full reconstructed state after this message
    patch: dict | None  # what changed (None for a snapshot); the history for a backfill


class SessionFeed(Protocol):
    async def connected(self, client: ClientInfo) -> None: ...

    async def observe(self, obs: Observation) -> dict | None:
        """Take one observation; return when it is durable, with a new plan or None."""
        ...

    async def disconnected(self, client: ClientInfo) -> None: ...


PlanSender = Callable[[str, dict], Awaitable[None]]  # (client_id, plan message)


@runtime_checkable
class PlanPublisher(Protocol):
    def bind(self, send_plan: PlanSender) -> None: ...


def session_of(state: dict) -> tuple | None:
    """The naive identity of a client's session: track, session type, game server and port."""
    session = state.get("session")
    if type(session) is not dict or session.get("trackName") is None:
        return None
    return tuple(session.get(k) for k in ("trackName", "session", "serverName", "serverPort"))


def session_id(key: tuple) -> str:
    return hashlib.sha256(repr(key).encode()).hexdigest()[:16]


def naive_plan(role: str | None, session: str | None) -> dict:
    """Primary (or not in a session): read everything; secondary: leave the heavy reads."""
    extra = {}
    if role is not None:
        extra["role"] = role
    if session is not None:
        extra["session"] = session
    fetch = {endpoint: role != "secondary" for endpoint in PRIMARY_ONLY}
    return wire.plan(fetch, **extra)


class LatestStates:
    """Each connected client's latest state, and naive plans: the first client seen in a session
    is its primary, the others secondaries; a client's plan is sent when it changes."""

    def __init__(self) -> None:
        self.clients: dict[str, ClientInfo] = {}
        self.states: dict[str, dict] = {}
        self.observations: dict[str, Observation] = {}
        self.plans: dict[str, dict] = {}
        self._order: list[str] = []  # client ids in the order they connected
        self._send_plan: PlanSender | None = None

    def bind(self, send_plan: PlanSender) -> None:
        self._send_plan = send_plan

    async def connected(self, client: ClientInfo) -> None:
        self.clients[client.client_id] = client
        if client.client_id not in self._order:
            self._order.append(client.client_id)

    async def observe(self, obs: Observation) -> dict | None:
        cid = obs.client.client_id
        before = session_of(self.states.get(cid, {}))
        self.states[cid] = obs.state
        self.observations[cid] = obs
        if session_of(obs.state) == before and cid in self.plans:
            return None
        return await self._replan(answering=cid)

    async def disconnected(self, client: ClientInfo) -> None:
        cid = client.client_id
        if self.clients.get(cid) is not client:
            return  # an older connection of a client that has reconnected
        del self.clients[cid]
        self._order.remove(cid)
        self.states.pop(cid, None)
        self.observations.pop(cid, None)
        self.plans.pop(cid, None)
        await self._replan(answering=None)

    def role(self, client_id: str) -> str | None:
        return self.plans.get(client_id, {}).get("role")

    async def _replan(self, answering: str | None) -> dict | None:
        """New plans for everyone; others get theirs sent, `answering` gets its returned."""
        first_in: dict[tuple, str] = {}
        answer = None
        for cid in self._order:
            key = session_of(self.states.get(cid, {}))
            if key is None:
                plan = naive_plan(None, None)
            else:
                role = "secondary" if key in first_in else "primary"
                first_in.setdefault(key, cid)
                plan = naive_plan(role, session_id(key))
            if self.plans.get(cid) == plan:
                continue
            self.plans[cid] = plan
            if cid == answering:
                answer = plan
            elif self._send_plan is not None and cid in self.states:
                await self._send_plan(cid, plan)
        return answer
