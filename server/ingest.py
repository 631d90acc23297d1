"""The clients' websocket: handshake, decoding, stream reconstruction, acks and error frames.

One connection per client (`/ws/client`). It goes: `hello` -> `challenge` -> `auth` ->
`welcome` (with the last acked seq of each of the client's streams, from SQLite), then stream
messages. Each is checked by `wire.decode` (size first, then JSON, depth and schema), applied by
its stream's `StreamState`, handed to the `SessionFeed`, and only then persisted as the stream's
last seq and acked, so an ack means "durable". Bad input gets an `error` frame and changes
nothing; a client that sends too many bad messages in a minute is disconnected.

Stream states live here, not in the connection, so a client that reconnects after a network
blip continues its patches where it left off; a newer connection of the same client replaces
the older one. A flood of connections from one address is refused early (server.throttle),
with close code 1013 (try again later) and the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass, field

import aiosqlite
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from schema import wire
from server import admin_db, db
from server.auth import Challenge, allowed
from server.config import ServerConfig
from server.feed import ClientInfo, Observation, SessionFeed
from server.streams import Applied, Duplicate, StreamState
from server.throttle import HandshakeLimiter

log = logging.getLogger(__name__)

POLICY_VIOLATION = 1008
TRY_AGAIN_LATER = 1013  # too many connections from one address
REPLACED = 4000  # a newer connection of the same client took over
ERROR_LIMIT = 20  # bad messages per ERROR_WINDOW before the connection is closed
ERROR_WINDOW = 60.0
# A gone client's stream state waits this long for its return (a network blip), and only for
# the most recent KEEP_GONE clients: a flood of fresh keys must not fill the memory with states.
FORGET_AFTER = 600.0
KEEP_GONE = 64


class ErrorBudget:
    """Counts a client's bad messages in a sliding window (pure: `now` is passed in)."""

    def __init__(self, limit: int = ERROR_LIMIT, window: float = ERROR_WINDOW) -> None:
        self.limit, self.window = limit, window
        self._times: deque[float] = deque()

    def hit(self, now: float) -> bool:
        """Count one error; True when the client is over its budget."""
        self._times.append(now)
        while self._times and now - self._times[0] > self.window:
            self._times.popleft()
        return len(self._times) >= self.limit


def game_status(state: dict) -> str:
    """One short phrase for the status page: what the client's game is doing."""
    game = state.get("game") if type(state.get("game")) is dict else {}
    if not game.get("running"):
        return "game not running"
    session = state.get("session")
    if type(session) is dict:
        where = f"{session.get('session', 'session')} at {session.get('trackName', '?')}"
        return f"replay of {where}" if game.get("replay") else where
    if game.get("replay"):
        return "watching a replay"
    return "in the menus"


@dataclass
class ClientLink:
    """One authenticated connection and what the status page shows about it."""

    info: ClientInfo
    websocket: WebSocket
    last_message_at: float | None = None
    last_et: float | None = None
    game: str = "no state yet"
    role: str | None = None
    session: str | None = None
    messages: int = 0
    errors: int = 0
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def send(self, msg: dict) -> None:
        async with self.send_lock:
            await self.websocket.send_text(wire.encode(msg).decode("utf-8"))

    def status(self) -> dict:
        return {
            "client_id": self.info.client_id,
            "name": self.info.name,
            "address": self.info.address,
            "connected_at": self.info.connected_at,
            "last_message_at": self.last_message_at,
            "last_et": self.last_et,
            "game": self.game,
            "role": self.role,
            "session": self.session,
            "messages": self.messages,
            "errors": self.errors,
        }


class Ingest:
    """Everything the client endpoint needs, shared by all connections."""

    def __init__(self, config: ServerConfig, feed: SessionFeed) -> None:
        self.config = config
        self.feed = feed
        self.conn: aiosqlite.Connection | None = None  # set by the app's lifespan
        self.server_id = config.server_id or "lmust"
        self.links: dict[str, ClientLink] = {}
        self.streams: dict[tuple[str, str], StreamState] = {}
        self.budgets: dict[str, ErrorBudget] = {}
        self.gone: dict[str, float] = {}  # client -> when it left, oldest first
        self.limiter = HandshakeLimiter(
            config.max_pending_handshakes, config.handshake_rate, config.handshake_burst
        )

    async def allow_list(self) -> frozenset[str]:
        """The config file's allow-list plus the one the admin API stores (empty: everyone)."""
        stored = await admin_db.allowed_ids(self.conn) if self.conn is not None else frozenset()
        return frozenset(self.config.allow_list) | stored

    def clients(self) -> list[dict]:
        return [link.status() for link in self.links.values()]

    async def send_plan(self, client_id: str, plan: dict) -> None:
        """Deliver a plan to a connected client (for feeds that re-plan other clients)."""
        link = self.links.get(client_id)
        if link is None:
            return
        link.role, link.session = plan.get("role"), plan.get("session")
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            await link.send(plan)

    # --- one connection --------------------------------------------------------------

    async def serve(self, websocket: WebSocket) -> None:
        peer = websocket.client
        address = f"{peer.host}:{peer.port}" if peer else "?"
        host = peer.host if peer else "?"
        refused = self.limiter.admit(host, time.monotonic())
        if refused is not None:
            # once per burst of refusals: a flood must not flood the log too
            level = logging.WARNING if self.limiter.refused(host) == 1 else logging.DEBUG
            log.log(level, "refused %s: %s", address, refused)
            with contextlib.suppress(Exception):
                await websocket.accept()
                await websocket.close(TRY_AGAIN_LATER, refused[:120])
            return
        try:
            await websocket.accept()
            hello = await asyncio.wait_for(
                self._handshake(websocket, address), self.config.handshake_timeout
            )
        except TimeoutError:
            log.warning(
                "refused %s: no valid handshake within %gs", address, self.config.handshake_timeout
            )
            await _refuse(websocket, wire.error("auth_failed", "handshake took too long"))
            return
        except WebSocketDisconnect:
            return
        finally:
            self.limiter.done(host)
        if hello is None:
            return
        public_key, name = hello
        await self._stream_session(websocket, public_key, name, address)

    async def _handshake(self, websocket: WebSocket, address: str) -> tuple[bytes, str] | None:
        """hello -> challenge -> auth; (public key, name) or None if refused (and closed)."""
        try:
            hello = wire.decode(await _receive(websocket), max_bytes=4096, sender="client")
            if hello["type"] != "hello":
                raise wire.WireError("auth_failed", "the first message must be hello")
            public_key = wire.unb64(hello["public_key"], wire.PUBLIC_KEY_BYTES)
            challenge = Challenge(self.server_id)
            await websocket.send_text(wire.encode(challenge.message()).decode())
            answer = wire.decode(await _receive(websocket), max_bytes=4096, sender="client")
            if answer["type"] != "auth":
                raise wire.WireError("auth_failed", "the answer to a challenge must be auth")
        except wire.WireError as exc:
            log.warning("refused %s: %s", address, exc)
            await _refuse(websocket, exc.to_message())
            return None
        cid = wire.client_id(public_key)
        if not challenge.verify(public_key, answer):
            log.warning("refused %s (client %s): bad signature", address, cid)
            mismatch = "the signature does not match this connection's challenge"
            await _refuse(websocket, wire.error("auth_failed", mismatch))
            return None
        if not allowed(cid, await self.allow_list()):
            log.warning(
                "refused %s: client %s (%s) is not on the allow-list; add its id to allow it",
                address,
                cid,
                hello.get("name", "no name"),
            )
            await _refuse(
                websocket,
                wire.error(
                    "forbidden",
                    f"client {cid} is not on this server's allow-list: "
                    "ask the admin to add this client id",
                ),
            )
            return None
        return public_key, hello.get("name") or ""

    async def _stream_session(
        self, websocket: WebSocket, public_key: bytes, name: str, address: str
    ) -> None:
        cid = wire.client_id(public_key)
        now = time.time()
        info = ClientInfo(cid, name or cid[:8], address, now)
        await self._replace(cid)
        assert self.conn is not None, "the database is not open"
        await db.touch_client(self.conn, cid, public_key, name or None, now)
        acked = await db.stream_seqs(self.conn, cid)
        for (owner, stream), state in self.streams.items():
            if owner == cid:
                acked[stream] = max(acked.get(stream, 0), state.last_seq)
        link = ClientLink(info, websocket)
        self.links[cid] = link
        self.gone.pop(cid, None)
        log.info("client connected: %s (%s) from %s", info.name, cid[:8], address)
        try:
            await link.send(wire.welcome(cid, acked))
            await self.feed.connected(info)
            await self._messages(link, acked)
        except WebSocketDisconnect:
            pass
        except (OSError, RuntimeError) as exc:  # the socket went away while we were sending
            log.info("connection of %s (%s) lost: %s", info.name, cid[:8], exc)
        finally:
            if self.links.get(cid) is link:
                del self.links[cid]
                self.gone.pop(cid, None)
                self.gone[cid] = time.time()
                self._forget_gone(time.time())
            with contextlib.suppress(Exception):
                await self.feed.disconnected(info)
            link.finished.set()
            log.info("client disconnected: %s (%s) from %s", info.name, cid[:8], address)

    def _forget_gone(self, now: float) -> None:
        """Drop the stream states and error budgets of clients gone too long or too many."""
        while self.gone:
            cid, since = next(iter(self.gone.items()))
            if now - since < FORGET_AFTER and len(self.gone) <= KEEP_GONE:
                return
            del self.gone[cid]
            self.budgets.pop(cid, None)
            for key in [key for key in self.streams if key[0] == cid]:
                del self.streams[key]

    async def _replace(self, cid: str) -> None:
        """Close an older connection of this client and wait until it has let go."""
        old = self.links.get(cid)
        if old is None:
            return
        log.info("client %s reconnected: closing its older connection", cid[:8])
        with contextlib.suppress(Exception):
            await old.websocket.close(REPLACED, "replaced by a newer connection")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(old.finished.wait(), 5.0)

    async def _messages(self, link: ClientLink, acked: dict[str, int]) -> None:
        cid = link.info.client_id
        budget = self.budgets.setdefault(cid, ErrorBudget())
        while True:
            data = await _receive(link.websocket)
            now = time.time()
            link.last_message_at = now
            try:
                msg = wire.decode(data, max_bytes=self.config.max_message_bytes, sender="client")
                if msg["type"] in ("hello", "auth"):
                    raise wire.WireError("schema", f"/type: {msg['type']} after authentication")
            except wire.WireError as exc:
                link.errors += 1
                log.info("refused a message of %s (%s): %s", link.info.name, cid[:8], exc)
                await link.send(exc.to_message())
                if budget.hit(now):
                    log.warning("closing %s (%s): too many bad messages", link.info.name, cid[:8])
                    await link.websocket.close(POLICY_VIOLATION, "too many bad messages")
                    return
                continue
            if msg["type"] == "bye":
                log.info("%s (%s) says bye: %s", link.info.name, cid[:8], msg["reason"])
                with contextlib.suppress(Exception):
                    await link.websocket.close(1000, "bye")
                return
            link.messages += 1
            await self._stream_message(link, msg, acked, now)

    async def _stream_message(
        self, link: ClientLink, msg: dict, acked: dict[str, int], now: float
    ) -> None:
        cid, stream = link.info.client_id, msg["stream"]
        state = self.streams.get((cid, stream))
        if state is None:
            # A client process has one stream: a new one means a new run, the old one is over.
            for key in [key for key in self.streams if key[0] == cid]:
                del self.streams[key]
            state = self.streams[(cid, stream)] = StreamState(stream, acked.get(stream, 0))
        outcome = state.receive(msg)
        if isinstance(outcome, Duplicate):
            await link.send(wire.ack(stream, outcome.last))
            return
        if not isinstance(outcome, Applied):
            if outcome.ask:
                log.info("stream %s of %s: %s", stream, cid[:8], outcome.reason)
                await link.send(wire.resync(stream, outcome.reason))
            return
        obs = Observation(
            client=link.info,
            stream=stream,
            seq=outcome.seq,
            et=msg["et"],
            sent_at=msg.get("sent_at", now),
            received_at=now,
            kind=outcome.kind,
            state=outcome.state,
            patch=msg["history"] if outcome.kind == "backfill" else outcome.patch,
        )
        try:
            plan = await self.feed.observe(obs)
        except Exception:
            log.exception("the session feed failed on seq %d of %s", outcome.seq, cid[:8])
            # Forget the stream: the client resends from its last ack, starting with a snapshot.
            self.streams.pop((cid, stream), None)
            await link.send(
                wire.error(
                    "internal",
                    "the server failed to take this message",
                    stream=stream,
                    seq=outcome.seq,
                )
            )
            await link.send(wire.resync(stream, "the server failed; send a snapshot"))
            return
        assert self.conn is not None
        await db.save_stream_seq(self.conn, cid, stream, outcome.seq, now)
        acked[stream] = outcome.seq
        link.last_et = msg["et"]
        link.game = game_status(outcome.state)
        await link.send(wire.ack(stream, outcome.seq))
        if plan is not None:
            link.role, link.session = plan.get("role"), plan.get("session")
            await link.send(plan)


async def _receive(websocket: WebSocket) -> str | bytes:
    """The next frame's payload; raises WebSocketDisconnect when the client is gone."""
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    text = message.get("text")
    return text if text is not None else message.get("bytes") or b""


async def _refuse(websocket: WebSocket, msg: dict) -> None:
    """Send an error and close with a policy-violation code (the handshake failed)."""
    if websocket.client_state != WebSocketState.CONNECTED:
        return
    with contextlib.suppress(Exception):
        await websocket.send_text(wire.encode(msg).decode())
        await websocket.close(POLICY_VIOLATION, msg["code"])


async def client_endpoint(websocket: WebSocket) -> None:
    """The `/ws/client` route: everything is in the app's `Ingest`."""
    ingest: Ingest = websocket.app.state.ingest
    await ingest.serve(websocket)
