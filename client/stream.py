"""The client's side of one stream: seq numbers, snapshot or patch, and the unacked outbox.

Pure logic (no I/O, no clock: every call that needs the time takes `now`), so every rule of the
uplink is tested without a network; `client.uplink` is the thin asyncio shell around it.

A stream is one run of the client: a random id and messages numbered 1, 2, 3... Each published
state becomes a `snapshot` (the whole state) or a `patch` (RFC 7386, from the previous published
state, `base = seq - 1`); an unchanged state becomes nothing. Every message is encoded once and
kept, as bytes, in the outbox until the server acks it (acks are cumulative), so a resend is the
same bytes and the server's dedup by seq makes it harmless.

The outbox also knows the state *before* its first message (`base`: everything acked or dropped,
applied in order). That is what keeps a broken chain cheap to mend: when the bounds (size, age)
drop the oldest messages, or on a reconnect (the server may have restarted and lost the state a
patch applies to), the first message left is rewritten as a snapshot of the state at its seq, and
everything after it still applies. So the server can always rebuild every state the client
published, except those the bounds threw away.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass

from schema import mergepatch, wire

log = logging.getLogger(__name__)

SNAPSHOT = "snapshot"
PATCH = "patch"
BACKFILL = "backfill"

DEFAULT_MAX_BYTES = 32 * 2**20
DEFAULT_MAX_AGE = 900.0
# A patch at least this big is compared with the whole state: past half its size, send the state.
_BIG_PATCH_BYTES = 16 * 1024


@dataclass(frozen=True)
class Outgoing:
    """One message of the stream, encoded once; resent as the same bytes until acked.

    `body` is what the message carries (the state of a snapshot, the patch of a patch, the
    history of a backfill), kept to move the outbox's base state forward without decoding.
    """

    seq: int
    kind: str
    data: bytes
    created_at: float
    et: float
    body: dict


def session_key(state: dict) -> tuple:
    """What makes a different session: track, session type, game server (name and port)."""
    session = state.get("session")
    if type(session) is not dict:
        return ()
    return tuple(session.get(k) for k in ("trackName", "session", "serverName", "serverPort"))


class Stream:
    """Seq numbers, snapshot-or-patch, and the unacked outbox of one stream."""

    def __init__(
        self,
        stream_id: str,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_age: float = DEFAULT_MAX_AGE,
    ) -> None:
        self.id = stream_id
        self.max_bytes = max_bytes
        self.max_age = max_age
        self.seq = 0  # last seq given out
        self.acked = 0  # highest seq the server acknowledged
        self.dropped = 0  # unacked messages the bounds threw away
        self._published: dict | None = None
        self._published_et = -1.0
        self._session: tuple = ()
        self._outbox: deque[Outgoing] = deque()
        self._outbox_bytes = 0
        self._base: dict | None = None  # the state before the outbox's first message
        self._sent = 0  # highest seq handed to the current connection
        self._need_snapshot = True
        self._early_backfills: list[tuple[dict, float]] = []
        self._warned = False

    # --- what the client produces --------------------------------------------------------

    def publish(self, state: dict, et: float, now: float) -> list[Outgoing]:
        """The message(s) for the latest state: a snapshot, a patch, or nothing if unchanged."""
        self.expire(now)
        key = session_key(state)
        if self._published is None or self._need_snapshot or key != self._session:
            made = [self._snapshot(state, et, now)]
        else:
            change = mergepatch.diff(self._published, state)
            if change is None:
                return []
            made = [self._patch_or_snapshot(state, change, et, now)]
        self._published, self._published_et, self._session = state, et, key
        for history, history_et in self._early_backfills:
            made.append(self._backfill(history, history_et, now))
        self._early_backfills.clear()
        self._enforce_bounds(now)
        return made

    def publish_backfill(self, history: dict, et: float, now: float) -> list[Outgoing]:
        """A backfill message (the game's lap history). The server takes it on top of a state,
        like a patch, so one published before any state waits for the first snapshot."""
        if self._published is None:
            self._early_backfills.append((history, et))
            return []
        self.expire(now)
        made = [self._backfill(history, et, now)]
        self._enforce_bounds(now)
        return made

    def resync(self, now: float) -> list[Outgoing]:
        """The server cannot apply this stream: send the last published state as a snapshot."""
        self._need_snapshot = True
        if self._published is None:
            return []
        return [self._snapshot(self._published, self._published_et, now)]

    def _snapshot(self, state: dict, et: float, now: float) -> Outgoing:
        self._need_snapshot = False
        seq = self.seq + 1
        data = wire.encode(wire.snapshot(self.id, seq, et, now, state))
        return self._push(Outgoing(seq, SNAPSHOT, data, now, et, state))

    def _patch_or_snapshot(self, state: dict, change: dict, et: float, now: float) -> Outgoing:
        seq = self.seq + 1
        data = wire.encode(wire.patch(self.id, seq, et, now, change))
        if len(data) >= _BIG_PATCH_BYTES:
            whole = wire.encode(wire.snapshot(self.id, seq, et, now, state))
            if len(data) * 2 >= len(whole):
                return self._push(Outgoing(seq, SNAPSHOT, whole, now, et, state))
        return self._push(Outgoing(seq, PATCH, data, now, et, change))

    def _backfill(self, history: dict, et: float, now: float) -> Outgoing:
        seq = self.seq + 1
        data = wire.encode(wire.backfill(self.id, seq, et, history))
        return self._push(Outgoing(seq, BACKFILL, data, now, et, history))

    def _push(self, out: Outgoing) -> Outgoing:
        self.seq = out.seq
        self._outbox.append(out)
        self._outbox_bytes += len(out.data)
        return out

    # --- what the server says ------------------------------------------------------------

    def ack(self, seq: int) -> int:
        """The server has applied everything up to `seq`; returns how many messages that frees."""
        seq = min(seq, self.seq)
        self.acked = max(self.acked, seq)
        freed = 0
        while self._outbox and self._outbox[0].seq <= seq:
            self._pop()
            freed += 1
        if not self._outbox:
            self._warned = False
        return freed

    def on_reconnect(self, server_seq: int, now: float) -> list[Outgoing]:
        """A new connection; the server has applied this stream up to `server_seq` (0: none).

        Returns everything to send now, in order: the unacked backlog, its first message made a
        snapshot (the server may have lost the state a patch needs), or, with no backlog, a
        snapshot of the last published state.
        """
        self.expire(now)
        if server_seq > self.seq:  # the server knows more of this stream id than we gave out
            log.warning(
                "server is at seq %d of stream %s, ahead of this client (%d): starting over",
                server_seq,
                self.id,
                self.seq,
            )
            while self._outbox:
                self._pop()
            self.seq = self.acked = server_seq
        self.ack(server_seq)
        self._sent = server_seq
        if self._outbox:
            self._head_to_snapshot(keep_backfill=True)
        if not self._outbox and self._published is not None:
            self._snapshot(self._published, self._published_et, now)
        return self.take_unsent()

    def take_unsent(self) -> list[Outgoing]:
        """Messages not yet handed to the current connection, oldest first (marks them sent)."""
        if not self._outbox or self._outbox[-1].seq <= self._sent:
            return []
        fresh = [out for out in self._outbox if out.seq > self._sent]
        self._sent = fresh[-1].seq
        return fresh

    # --- bounds --------------------------------------------------------------------------

    def expire(self, now: float) -> int:
        """Drop messages older than `max_age`; returns how many went."""
        lost = 0
        while self._outbox and now - self._outbox[0].created_at > self.max_age:
            self._pop()
            lost += 1
        if lost:
            self._lost(lost, "older than the outbox's age limit")
            self._head_to_snapshot()
        return lost

    def _enforce_bounds(self, now: float) -> None:
        self.expire(now)
        lost = 0
        while self._outbox_bytes > self.max_bytes and len(self._outbox) > 1:
            self._pop()
            lost += 1
            self._head_to_snapshot()  # the new head may grow: check again
        if lost:
            self._lost(lost, "over the outbox's size limit")

    def _lost(self, count: int, why: str) -> None:
        self.dropped += count
        if not self._warned:  # once per outage, not once per tick
            self._warned = True
            log.warning(
                "server not acking: dropping unacked messages of stream %s (%s); "
                "it will get a snapshot instead",
                self.id,
                why,
            )

    def _pop(self) -> Outgoing:
        """Take the first message out of the outbox, moving the base state past it."""
        out = self._outbox.popleft()
        self._outbox_bytes -= len(out.data)
        if out.kind == SNAPSHOT:
            self._base = out.body
        elif out.kind == PATCH and self._base is not None:
            # The usual ack frees the newest message: the state it leads to is the published
            # one, no need to apply the patch (a tick's worth of merging) to know it.
            latest = out.seq == self.seq and self._published is not None
            self._base = self._published if latest else mergepatch.apply(self._base, out.body)
        return out

    def _head_to_snapshot(self, *, keep_backfill: bool = False) -> None:
        """Make the first message a snapshot, so the chain starts there whatever came before.

        A patch becomes the state it leads to. A backfill leaves the state as it was: when the
        bounds dropped what came before it, it is old and goes too; on a reconnect
        (`keep_backfill`) it becomes a snapshot of the base state and its history goes again at
        the end of the outbox (everything in the outbox is unapplied by the server, so the
        order of a history among the states does not matter and no seq is reused).
        """
        keep_backfill = keep_backfill and self._base is not None
        while self._outbox and self._outbox[0].kind == BACKFILL and not keep_backfill:
            self._pop()
            self.dropped += 1
        if not self._outbox:
            self._need_snapshot = True
            return
        head = self._outbox[0]
        if head.kind == SNAPSHOT:
            return
        if self._base is None:  # no state known before the head: nothing can start a chain
            while self._outbox and self._outbox[0].kind != SNAPSHOT:
                self._pop()
                self.dropped += 1
            self._need_snapshot = not self._outbox
            return
        seq, at, et = head.seq, head.created_at, head.et
        state = self._base if head.kind == BACKFILL else mergepatch.apply(self._base, head.body)
        data = wire.encode(wire.snapshot(self.id, seq, et, at, state))
        self._outbox[0] = Outgoing(seq, SNAPSHOT, data, at, et, state)
        self._outbox_bytes += len(data) - len(head.data)
        if head.kind == BACKFILL:
            self._backfill(head.body, et, at)

    # --- numbers for the status line -----------------------------------------------------

    @property
    def pending(self) -> int:
        return len(self._outbox)

    @property
    def pending_bytes(self) -> int:
        return self._outbox_bytes

    @property
    def needs_snapshot(self) -> bool:
        return self._need_snapshot
