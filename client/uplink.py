"""The client's one websocket to the server: authenticate, stream, reconnect, never block the game.

A thin asyncio shell around `client.stream.Stream` (which decides what to send) and the wire
messages of `schema.wire`. `publish()` only computes the next message and wakes the uplink's
task; all sending happens in `run()`. Network trouble never raises out of `run()`: it reconnects
with exponential backoff and full jitter, and says in `status.error` what is wrong. Only a
refusal by the server (bad key, not on the allow-list, protocol too old) stops it, because
retrying cannot fix those; and so does being replaced by another running client with the same
key (reconnecting would only replace that one in turn, forever).

Call `publish`, `publish_backfill` and `close` from the event loop that runs `run()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI, WebSocketException

from client.identity import Identity
from client.stream import Outgoing, Stream
from schema import wire

log = logging.getLogger(__name__)

PING_INTERVAL = 10.0
PING_TIMEOUT = 20.0
OPEN_TIMEOUT = 10.0
HANDSHAKE_TIMEOUT = 10.0
STABLE_AFTER = 10.0  # a connection that lived this long resets the backoff
FLUSH_TIMEOUT = 1.5  # close(): how long to wait for the last acks
TICK = 1.0  # the send loop wakes at least this often (age bound of the outbox)
FINAL_ERRORS = ("auth_failed", "forbidden", "version")
# Close code of a connection the server replaced by a newer one of the same client id (the
# same key): `server.ingest.REPLACED`. A live connection gets it only when another running
# client uses this key (this client's own reconnects abandon the old connection first).
REPLACED_CLOSE = 4000


@dataclass
class UplinkStatus:
    """What the console shows: one line per change of state, role, session or error."""

    state: str  # "connecting" | "connected" | "reconnecting" | "rejected" | "closed"
    url: str
    role: str | None = None  # "primary" | "secondary" | None (from the server's plan)
    session: str | None = None  # server session id from the plan, if any
    reconnect_in: float | None = None
    messages_sent: int = 0
    bytes_sent: int = 0
    acked: int = 0
    pending: int = 0
    error: str | None = None  # one clear line when rejected or unreachable


# Changes of these call `on_status`; the counters move on every message (read `status`).
_NOTIFY = ("state", "url", "role", "session", "reconnect_in", "error")


class Backoff:
    """Exponential backoff with full jitter: uniform(0, min(cap, first * 2**n)) (pure)."""

    def __init__(self, rng: random.Random, first: float = 0.5, cap: float = 30.0) -> None:
        self.rng, self.first, self.cap = rng, first, cap
        self.attempt = 0

    def next(self) -> float:
        ceiling = min(self.cap, self.first * 2**self.attempt)
        self.attempt = min(self.attempt + 1, 32)
        return max(0.05, self.rng.uniform(0.0, ceiling))

    def reset(self) -> None:
        self.attempt = 0


class ServerClosed(ConnectionError):
    """The server ended the connection cleanly (e.g. it is shutting down)."""


class Rejected(Exception):
    """The server refused this client for good (the message says what to do)."""


def server_url(url: str) -> str:
    """`http(s)://` becomes `ws(s)://`, and a bare host gets the client path `/ws/client`."""
    parts = urlsplit(url.strip())
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    path = parts.path if parts.path not in ("", "/") else "/ws/client"
    return urlunsplit((scheme, parts.netloc, path, parts.query, ""))


class Uplink:
    """One persistent, authenticated websocket to the server carrying one stream."""

    protocol = wire.PROTOCOL  # the wire protocol this client speaks (in `hello`)

    def __init__(
        self,
        url: str,
        identity: Identity,
        *,
        client_version: str,
        name: str | None = None,
        on_status: Callable[[UplinkStatus], None] | None = None,
        max_outbox_bytes: int = 32 * 2**20,
        max_outbox_age: float = 900.0,
        rng: random.Random | None = None,
    ) -> None:
        self.url = server_url(url)
        self.identity = identity
        self.client_version = client_version
        self.name = name
        self.on_status = on_status
        self._rng = rng or random.Random()
        stream_id = f"{self._rng.getrandbits(64):016x}"
        self._stream = Stream(stream_id, max_bytes=max_outbox_bytes, max_age=max_outbox_age)
        self._backoff = Backoff(self._rng)
        self._status = UplinkStatus(state="connecting", url=self.url)
        self._plan: dict = {}
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._done = asyncio.Event()
        self._closing = False
        self._bye_reason = "client stopping"
        self._running = False
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- the interface the client's main loop uses ------------------------------------

    @property
    def stream_id(self) -> str:
        return self._stream.id

    @property
    def plan(self) -> dict:
        """The last plan from the server without its `type` ({} before any)."""
        return dict(self._plan)

    @property
    def status(self) -> UplinkStatus:
        return replace(self._status, acked=self._stream.acked, pending=self._stream.pending)

    def publish(self, state: dict, et: float) -> None:
        """Queue the latest normalized state (nothing is queued if it did not change)."""
        if self._closing:
            return
        if self._stream.publish(state, et, time.time()):
            self._signal()

    def publish_backfill(self, history: dict, et: float) -> None:
        """Queue the game's lap history (`/rest/watch/standings/history`) for the server."""
        if self._closing:
            return
        if self._stream.publish_backfill(history, et, time.time()):
            self._signal()

    async def run(self) -> None:
        """Connect, authenticate, stream and reconnect until `close()` or a final refusal."""
        self._loop = asyncio.get_running_loop()
        self._running = True
        first = True
        self._notify()  # the console's first line: connecting to <url>
        try:
            while not self._closing:
                self._update(state="connecting" if first else "reconnecting", reconnect_in=None)
                first = False
                started = time.monotonic()
                try:
                    await self._connection()
                    error = None
                except Rejected as exc:
                    log.error("%s", exc)
                    self._update(state="rejected", error=str(exc), reconnect_in=None)
                    return
                except (OSError, TimeoutError, WebSocketException, wire.WireError) as exc:
                    error = describe(exc, self.url)
                    log.warning("uplink: %s", error)
                except Exception as exc:  # a bug must not stop the uplink: log it, retry
                    log.exception("uplink failed")
                    error = f"uplink failed: {exc!r}"
                if self._closing:
                    break
                if self._status.state == "connected" and time.monotonic() - started > STABLE_AFTER:
                    self._backoff.reset()
                delay = self._backoff.next()
                self._update(state="reconnecting", reconnect_in=round(delay, 2), error=error)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)
        finally:
            if self._status.state != "rejected":
                self._update(state="closed", reconnect_in=None)
            self._running = False
            self._done.set()

    async def close(self, reason: str = "client stopping") -> None:
        """Send what is queued, say `bye`, close; `run()` returns soon after."""
        self._bye_reason = reason
        self._closing = True
        self._stop.set()
        self._wake.set()
        if self._running:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._done.wait(), FLUSH_TIMEOUT + 3.0)
        else:
            self._update(state="closed", reconnect_in=None)

    # --- one connection ----------------------------------------------------------------

    async def _connection(self) -> None:
        try:
            ws_connect = connect(
                self.url,
                open_timeout=OPEN_TIMEOUT,
                ping_interval=PING_INTERVAL,
                ping_timeout=PING_TIMEOUT,
                close_timeout=2.0,
                max_size=wire.MAX_MESSAGE_BYTES,
            )
        except InvalidURI as exc:
            raise Rejected(
                f"{self.url} is not a websocket URL; use ws://host:5000/ws/client or wss://..."
            ) from exc
        try:
            async with ws_connect as ws:
                await self._connected(ws)
        except ConnectionClosed as exc:
            if exc.rcvd is not None and exc.rcvd.code == REPLACED_CLOSE:
                raise Rejected(self._replaced_message()) from exc
            raise

    def _replaced_message(self) -> str:
        return (
            f"another client with the same key ({self.identity.path}, client id "
            f"{self.identity.client_id}) connected to the server and replaced this one. Each "
            "computer needs its own key: stopping here. To run both, give this copy a new key "
            "(delete that key file, or set key_file to a new name) and start it again"
        )

    async def _connected(self, ws: ClientConnection) -> None:
        """One connection: authenticate, send the backlog, then stream until it ends."""
        welcome = await self._handshake(ws)
        server_seq = welcome["streams"].get(self._stream.id, 0)
        log.info(
            "connected to %s as client %s (stream %s, server at seq %d)",
            self.url,
            self.identity.client_id,
            self._stream.id,
            server_seq,
        )
        self._update(state="connected", error=None, reconnect_in=None)
        await self._send(ws, self._stream.on_reconnect(server_seq, time.time()))
        receiver = asyncio.create_task(self._receive(ws))
        try:
            await self._send_loop(ws, receiver)
        finally:
            receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await receiver

    async def _handshake(self, ws: ClientConnection) -> dict:
        hello = wire.hello(self.identity.public_key, self.client_version, self.name)
        hello["protocol"] = self.protocol
        await ws.send(wire.encode(hello), text=True)
        challenge = await self._expect(ws, "challenge")
        nonce = wire.unb64(challenge["nonce"], wire.NONCE_BYTES)
        signed = wire.auth_message(nonce, challenge["server"], self.identity.public_key)
        await ws.send(wire.encode(wire.auth(self.identity.sign(signed))), text=True)
        welcome = await self._expect(ws, "welcome")
        if welcome["client_id"] != self.identity.client_id:
            raise wire.WireError("schema", "welcome names another client id")
        return welcome

    async def _expect(self, ws: ClientConnection, kind: str) -> dict:
        raw = await asyncio.wait_for(ws.recv(), HANDSHAKE_TIMEOUT)
        msg = wire.decode(raw, sender="server")
        if msg["type"] == "error":
            raise self._refusal(msg)
        if msg["type"] != kind:
            raise wire.WireError("schema", f"expected {kind}, got {msg['type']}")
        return msg

    def _refusal(self, msg: dict) -> Exception:
        code, text = msg["code"], msg["message"]
        cid = self.identity.client_id
        if code == "forbidden":
            return Rejected(
                f"the server does not accept this client's key (client id {cid}): "
                "ask its admin to add it to the allow-list"
            )
        if code == "auth_failed":
            return Rejected(
                f"the server refused this client's signature ({text}); "
                f"the key in {self.identity.path} may be damaged, or ask the server's admin"
            )
        if code == "version":
            return Rejected(
                f"the server does not speak this client's protocol ({text}): update the client"
            )
        return wire.WireError(code, f"the server refused the connection: {text}")

    async def _send_loop(self, ws: ClientConnection, receiver: asyncio.Task) -> None:
        while not receiver.done():
            waiter = asyncio.ensure_future(self._wake.wait())
            await asyncio.wait(
                {waiter, receiver}, timeout=TICK, return_when=asyncio.FIRST_COMPLETED
            )
            waiter.cancel()
            self._wake.clear()
            if receiver.done():
                break
            if self._closing:
                await self._flush_and_leave(ws, receiver)
                return
            self._stream.expire(time.time())
            await self._send(ws, self._stream.take_unsent())
        receiver.result()  # re-raise why the connection ended
        raise ServerClosed("the server closed the connection")

    async def _flush_and_leave(self, ws: ClientConnection, receiver: asyncio.Task) -> None:
        await self._send(ws, self._stream.take_unsent())
        deadline = time.monotonic() + FLUSH_TIMEOUT
        while self._stream.pending and not receiver.done() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        with contextlib.suppress(ConnectionClosed):
            await ws.send(wire.encode(wire.bye(self._bye_reason[:500])), text=True)
            await ws.close(1000, "bye")

    async def _send(self, ws: ClientConnection, messages: list[Outgoing]) -> None:
        for out in messages:
            await ws.send(out.data, text=True)
            self._status.messages_sent += 1
            self._status.bytes_sent += len(out.data)

    async def _receive(self, ws: ClientConnection) -> None:
        async for raw in ws:
            try:
                msg = wire.decode(raw, sender="server")
            except wire.WireError as exc:
                log.warning("bad message from the server: %s", exc)
                continue
            self._on_message(msg)

    def _on_message(self, msg: dict) -> None:
        kind = msg["type"]
        stream = msg.get("stream")
        if kind == "ack" and stream == self._stream.id:
            self._stream.ack(msg["seq"])
        elif kind == "resync" and stream == self._stream.id:
            log.info("server asks for a snapshot of stream %s: %s", stream, msg["reason"])
            if self._stream.resync(time.time()):
                self._wake.set()
        elif kind == "plan" and stream in (None, self._stream.id):
            self._plan = {k: v for k, v in msg.items() if k != "type"}
            log.info("plan from the server: %s", self._plan)
            self._update(role=msg.get("role"), session=msg.get("session"))
        elif kind == "error":
            log.warning(
                "server refused a message (seq %s): %s: %s",
                msg.get("seq"),
                msg["code"],
                msg["message"],
            )
        else:
            log.debug("ignored %s from the server", kind)

    # --- status ----------------------------------------------------------------------

    def _update(self, **changes: Any) -> None:
        changed = any(getattr(self._status, k) != v for k, v in changes.items() if k in _NOTIFY)
        for key, value in changes.items():
            setattr(self._status, key, value)
        if changed:
            self._notify()

    def _notify(self) -> None:
        if self.on_status is not None:
            try:
                self.on_status(self.status)
            except Exception:
                log.exception("on_status callback failed")

    def _signal(self) -> None:
        loop = self._loop
        if loop is None or not loop.is_running():
            self._wake.set()
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake.set()
        else:
            loop.call_soon_threadsafe(self._wake.set)


def describe(exc: BaseException, url: str) -> str:
    """One line saying why the server could not be reached or talked to."""
    where = urlsplit(url)
    host = where.hostname or url
    port = where.port or (443 if where.scheme == "wss" else 80)
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the server's host name {host!r} ({url}): check the address"
    if isinstance(exc, ConnectionRefusedError):
        return f"{host}:{port} refuses connections ({url}): is the server running?"
    if isinstance(exc, InvalidStatus):
        code = exc.response.status_code
        return f"{url} answered HTTP {code}: is this the LMU Session Tracker server's address?"
    if isinstance(exc, TimeoutError):
        return f"no answer from {url} in time"
    if isinstance(exc, ConnectionClosed):
        return f"connection to {url} lost ({exc})"
    if isinstance(exc, wire.WireError):
        return f"the server at {url} sent something unexpected: {exc}"
    if isinstance(exc, ServerClosed):
        return f"{url} closed the connection"
    if isinstance(exc, OSError):
        return f"cannot reach {url}: {exc.strerror or exc}"
    return f"connection to {url} failed: {exc}"


__all__ = ["Backoff", "Rejected", "Uplink", "UplinkStatus", "describe", "server_url"]
