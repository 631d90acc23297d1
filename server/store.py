"""The session store: one SQLite writer task that commits in small batches, and the reads of a
restart.

Why one writer: SQLite has one writer at a time anyway, and a commit costs the same for one row
as for a thousand. Every caller hands its statements to `write` (or `append` for tracker events)
and awaits a future; the writer takes everything queued (waiting up to `window` seconds for
more, at most `max_statements`), runs it in ONE transaction and resolves the futures after the
commit. So `await store.append(...)` returns when the events are durable, and the ingest's ack
that follows means "stored", while many clients' updates share one commit.

A batch that fails is retried item by item, so one bad write fails only its own caller; a
database locked by another process is waited out (`db.while_locked`), never failed.
The store has its own connection (WAL: readers never wait), separate from the ingest's, so a
commit of the ingest never splits one of the store's transactions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiosqlite
import orjson

from server import db
from server.store_rows import (
    INSERT_SESSION,
    Statement,
    derived_rows,
    event_doc,
    event_rows,
    iter_groups,
)
from server.tracking import Event, Tracker

log = logging.getLogger(__name__)

WINDOW = 0.0  # s the writer waits for more work after the first item (0: what is queued)
MAX_STATEMENTS = 5000  # per transaction


@dataclass
class _Item:
    statements: list[Statement]
    done: asyncio.Future


@dataclass
class WriterStats:
    """What the benchmark and the status page read: commits, their sizes and latencies."""

    commits: int = 0
    statements: int = 0
    failures: int = 0
    latencies: deque = field(default_factory=lambda: deque(maxlen=10_000))  # s per commit
    sizes: deque = field(default_factory=lambda: deque(maxlen=10_000))  # statements per commit


@dataclass(frozen=True)
class StoredSession:
    """A live session as the store holds it: enough to restore the arbiter and the tracker."""

    session_id: str
    track_length: float
    session_type: str
    record: dict[str, Any]  # SessionRecord fields
    events: list[dict[str, Any]]
    last_seq: int
    chat_keys: set[str]


class Store:
    """The database of tracked sessions. `open()` before use, `close()` to drain and stop."""

    def __init__(
        self, path: Path, *, window: float = WINDOW, max_statements: int = MAX_STATEMENTS
    ) -> None:
        self.path = Path(path)
        self.window = window
        self.max_statements = max_statements
        self.conn: aiosqlite.Connection | None = None
        self.stats = WriterStats()
        self._queue: asyncio.Queue[_Item | None] = asyncio.Queue()
        self._writer: asyncio.Task | None = None
        self._seqs: dict[str, int] = {}  # session -> last event seq handed out

    # --- lifecycle -------------------------------------------------------------------------

    async def open(self) -> Store:
        self.conn = await db.open_db(self.path)
        await db.migrate(self.conn)
        self._writer = asyncio.create_task(self._write_loop(), name="store-writer")
        return self

    async def close(self) -> None:
        """Commit what is queued, then stop the writer and close the connection."""
        if self._writer is not None:
            self._queue.put_nowait(None)
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
            self._writer = None
        if self.conn is not None:
            await self.conn.close()
            self.conn = None

    async def __aenter__(self) -> Store:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- writing ---------------------------------------------------------------------------

    def submit(self, statements: list[Statement]) -> asyncio.Future:
        """Queue statements for the next commit; the future resolves once they are committed.

        Synchronous on purpose: callers queue in the order they decided things, with no await
        in between (the order of events of one session is the order of their seqs)."""
        done = asyncio.get_running_loop().create_future()
        if not statements:
            done.set_result(None)
            return done
        if self._writer is None or self._writer.done():
            raise RuntimeError("the store is not open")
        self._queue.put_nowait(_Item(statements, done))
        return done

    async def write(self, statements: list[Statement]) -> None:
        await self.submit(statements)

    def next_seq(self, session_id: str, count: int) -> int:
        """Reserve `count` event seqs of a session; returns the first."""
        first = self._seqs.get(session_id, 0) + 1
        self._seqs[session_id] = first + count - 1
        return first

    def event_statements(
        self, session_id: str, tracker: Tracker | None, events: list[Event]
    ) -> list[Statement]:
        """The events (with fresh seqs) and, given the tracker that applied them, the query-table
        rows they changed."""
        if not events:
            return []
        statements = event_rows(session_id, self.next_seq(session_id, len(events)), events)
        if tracker is not None:
            statements += derived_rows(session_id, tracker, events)
        return statements

    async def append(
        self, session_id: str, events: list[Event], tracker: Tracker | None = None
    ) -> None:
        """Store a session's new events (and their query rows); returns once committed."""
        await self.submit(self.event_statements(session_id, tracker, events))

    async def _write_loop(self) -> None:
        loop = asyncio.get_running_loop()
        stopping = False
        while not stopping:
            first = await self._queue.get()
            if first is None:
                break
            batch, count = [first], len(first.statements)
            deadline = loop.time() + self.window
            while count < self.max_statements:
                try:
                    item = self._queue.get_nowait()
                except asyncio.QueueEmpty:
                    left = deadline - loop.time()
                    if left <= 0:
                        break
                    try:
                        item = await asyncio.wait_for(self._queue.get(), left)
                    except TimeoutError:
                        break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
                count += len(item.statements)
            await self._commit_batch(batch)

    async def _commit_batch(self, batch: list[_Item]) -> None:
        statements = [s for item in batch for s in item.statements]
        started = time.perf_counter()
        try:
            # A lock held by another process is waited out, never failed: the callers' trackers
            # already took these events, and their clients are acked only after this commit.
            await db.while_locked(self.conn, lambda: self._transaction(statements), "store")
        except Exception as exc:
            if len(batch) == 1:
                self.stats.failures += 1
                log.error("store: a write failed: %s", exc)
                if not batch[0].done.done():
                    batch[0].done.set_exception(exc)
                return
            log.warning("store: a batch of %d failed (%s); retrying one by one", len(batch), exc)
            for item in batch:
                await self._commit_batch([item])
            return
        self.stats.commits += 1
        self.stats.statements += len(statements)
        self.stats.latencies.append(time.perf_counter() - started)
        self.stats.sizes.append(len(statements))
        for item in batch:
            if not item.done.done():
                item.done.set_result(None)

    async def _transaction(self, statements: list[Statement]) -> None:
        conn = self.conn
        assert conn is not None
        await conn.execute("BEGIN IMMEDIATE")
        try:
            for sql, rows in iter_groups(statements):
                await conn.executemany(sql, rows)
            await conn.commit()
        except BaseException:
            if conn.in_transaction:
                await conn.rollback()
            raise

    # --- reading ---------------------------------------------------------------------------

    async def live_sessions(self) -> list[StoredSession]:
        """Sessions not closed, with their events in order: what a restart continues."""
        conn = self.conn
        assert conn is not None
        found = []
        rows = await conn.execute_fetchall(
            "SELECT session_id, track_length, session_type, record, last_et, last_fed_at, phase "
            "FROM sessions WHERE closed_at IS NULL ORDER BY created_at"
        )
        for sid, length, session_type, record, last_et, last_fed_at, phase in rows:
            doc = orjson.loads(record)
            if last_et is not None:
                doc.update(last_et=last_et, last_fed_at=last_fed_at, phase=phase)
            events = await self.events(sid)
            chat = await conn.execute_fetchall(
                "SELECT ticks, n FROM chat WHERE session_id = ?", (sid,)
            )
            last_seq = await conn.execute_fetchall(
                "SELECT max(seq) FROM events WHERE session_id = ?", (sid,)
            )
            seq = last_seq[0][0] or 0
            self._seqs[sid] = max(self._seqs.get(sid, 0), seq)
            found.append(
                StoredSession(
                    session_id=sid,
                    track_length=length or 0.0,
                    session_type=session_type,
                    record=doc,
                    events=events,
                    last_seq=seq,
                    chat_keys={f"{t}-{n}" for t, n in chat},
                )
            )
        return found

    async def events(self, session_id: str) -> list[dict[str, Any]]:
        """A session's stored events, in seq order, as dicts for `Tracker.restore`."""
        assert self.conn is not None
        rows = await self.conn.execute_fetchall(
            "SELECT et, kind, payload FROM events WHERE session_id = ? ORDER BY seq",
            (session_id,),
        )
        return [event_doc(et, kind, data) for et, kind, data in rows]

    async def query(self, sql: str, params: tuple = ()) -> list[Any]:
        """A read for the web and the tests (rows as `sqlite3.Row`)."""
        assert self.conn is not None
        return list(await self.conn.execute_fetchall(sql, params))


def session_insert(
    record: dict[str, Any], track_length: float, created_at: float
) -> list[Statement]:
    """The row of a new session (from the arbiter's record)."""
    return [
        (
            INSERT_SESSION,
            (
                record["session_id"],
                record["event_id"],
                int(record["online"]),
                record["server"],
                record["port"],
                record["track"],
                record["session_type"],
                track_length,
                created_at,
                None,
                None,
                record.get("phase"),
                orjson.dumps(record).decode(),
            ),
        )
    ]
