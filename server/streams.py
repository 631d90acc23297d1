"""Rebuilding one client stream's state from its snapshots and patches (pure, no I/O).

Each client message carries the next seq of its stream. The server applies them strictly in
order: a seq it has already applied is a duplicate (a resend after a reconnect: ack it again,
apply nothing), a snapshot is always welcome (it restarts the chain), and a patch or backfill
applies only on top of the state at seq - 1. Anything else (a gap, or a patch after a server
restart, when the state it applies to is gone) asks the client for a `resync` once and waits
for a snapshot, ignoring what comes before it.
"""

from __future__ import annotations

from dataclasses import dataclass

from schema import mergepatch


@dataclass(frozen=True)
class Applied:
    """The message moved the stream on: `state` is the whole state after it."""

    seq: int
    kind: str  # "snapshot" | "patch" | "backfill"
    state: dict
    patch: dict | None  # what changed (None for a snapshot and a backfill)


@dataclass(frozen=True)
class Duplicate:
    """Already applied; `last` is what to ack again."""

    seq: int
    last: int


@dataclass(frozen=True)
class NeedsResync:
    """Cannot apply; `ask` is True the first time (send `resync`), then the stream waits."""

    seq: int
    reason: str
    ask: bool


Outcome = Applied | Duplicate | NeedsResync


class StreamState:
    """Where one stream stands on the server: last applied seq and the state it produced."""

    def __init__(self, stream: str, last_seq: int = 0) -> None:
        self.stream = stream
        self.last_seq = last_seq  # from SQLite after a restart: the state itself is gone
        self.state: dict | None = None
        self.awaiting_snapshot = False

    def receive(self, msg: dict) -> Outcome:
        """Apply one decoded snapshot/patch/backfill message of this stream."""
        seq, kind = msg["seq"], msg["type"]
        if seq <= self.last_seq:
            return Duplicate(seq, self.last_seq)
        if kind == "snapshot":
            self.state, self.last_seq, self.awaiting_snapshot = msg["state"], seq, False
            return Applied(seq, kind, self.state, None)
        if self.awaiting_snapshot:
            return NeedsResync(seq, "waiting for a snapshot", ask=False)
        if seq != self.last_seq + 1:
            reason = f"seq {seq} does not follow {self.last_seq}: send a snapshot"
        elif self.state is None:
            reason = f"the server has no state to apply seq {seq} to: send a snapshot"
        else:
            if kind == "patch":
                change = msg["patch"]
                self.state = mergepatch.apply(self.state, change)
            else:
                change = None
            self.last_seq = seq
            return Applied(seq, kind, self.state, change)
        self.awaiting_snapshot = True
        return NeedsResync(seq, reason, ask=True)
