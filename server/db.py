"""The server's SQLite database: opening it, migrating it, and the small reads/writes of ingest.

One aiosqlite connection in WAL mode (readers never wait for the writer), `synchronous=NORMAL`
(a commit survives a crash of the process; only a power cut can take the last few back), foreign
keys on. The schema grows by numbered migrations, `server/migrations/NNN_name.sql`, applied in
order, each in its own transaction and recorded in `schema_migrations`, so a database of any age
is brought up to date on start and a failed migration leaves it as it was.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import aiosqlite

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000  # SQLite's own wait for another connection's lock, per statement
LOCKED_PAUSE = 0.25  # s between two tries once SQLite's own wait has run out
LOCKED_REPORT_EVERY = 30.0  # s between two warnings while the database stays locked

_MIGRATION_NAME = re.compile(r"(\d{3})_[a-z0-9_]+\.sql")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


async def open_db(path: Path) -> aiosqlite.Connection:
    """Open (creating it and its folder if needed) the database at `path`, configured."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = await aiosqlite.connect(path)
    conn.row_factory = aiosqlite.Row
    await conn.execute("PRAGMA journal_mode=WAL")
    await conn.execute("PRAGMA synchronous=NORMAL")
    await conn.execute("PRAGMA foreign_keys=ON")
    await conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    return conn


def is_locked(exc: BaseException) -> bool:
    """Is this SQLite's "database is locked" (another connection or process holds the lock)?"""
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


async def while_locked(
    conn: aiosqlite.Connection, write: Callable[[], Awaitable[None]], what: str
) -> None:
    """Run `write` (which commits) until it is not refused for a lock held elsewhere.

    Why not fail: what the server writes was already taken into memory (a tracker's events, a
    stream's seq) and the client is acked only after the commit, so giving up would lose it or
    tear memory and disk apart. Waiting holds the acks back; the clients keep their outboxes.
    Anything else than a lock is raised. The transaction is rolled back before each new try.
    """
    waiting_since = reported = None
    while True:
        try:
            await write()
        except sqlite3.OperationalError as exc:
            if conn.in_transaction:
                await conn.rollback()
            if not is_locked(exc):
                raise
            now = time.monotonic()
            if waiting_since is None:
                waiting_since = now
            if reported is None or now - reported >= LOCKED_REPORT_EVERY:
                reported = now
                log.warning(
                    "%s: the database is locked by another connection or process; waiting "
                    "(%.0f s so far, nothing is acked meanwhile)",
                    what,
                    now - waiting_since + BUSY_TIMEOUT_MS / 1000,
                )
            await asyncio.sleep(LOCKED_PAUSE)
            continue
        if waiting_since is not None:
            log.warning(
                "%s: the database is writable again after %.1f s",
                what,
                time.monotonic() - waiting_since + BUSY_TIMEOUT_MS / 1000,
            )
        return


def migrations(folder: Path | None = None) -> list[Migration]:
    """The migration files in `folder` (default: the package's own), in version order."""
    if folder is None:
        entries = list(resources.files("server").joinpath("migrations").iterdir())
    else:
        entries = list(Path(folder).iterdir())
    found: dict[int, Migration] = {}
    for entry in entries:
        match = _MIGRATION_NAME.fullmatch(entry.name)
        if not match:
            continue
        version = int(match.group(1))
        if version in found:
            raise RuntimeError(f"two migrations numbered {version:03d}")
        found[version] = Migration(version, entry.name, entry.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


async def migrate(conn: aiosqlite.Connection, folder: Path | None = None) -> list[str]:
    """Apply the migrations the database lacks; returns the names of those applied."""
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
    )
    await conn.commit()
    async with conn.execute("SELECT version FROM schema_migrations") as cursor:
        done = {row[0] async for row in cursor}
    applied = []
    for migration in migrations(folder):
        if migration.version in done:
            continue
        record = (
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES "
            f"({migration.version}, '{migration.name}', {time.time()!r});"
        )
        try:
            # executescript commits anything pending first, then runs the script as written.
            await conn.executescript(f"BEGIN;\n{migration.sql}\n;{record}\nCOMMIT;")
        except Exception:
            if conn.in_transaction:
                await conn.rollback()
            log.error("migration %s failed; the database is left as it was", migration.name)
            raise
        log.info("applied migration %s", migration.name)
        applied.append(migration.name)
    return applied


# --- server_meta -------------------------------------------------------------------------


async def get_meta(conn: aiosqlite.Connection, key: str) -> str | None:
    async with conn.execute("SELECT value FROM server_meta WHERE key = ?", (key,)) as cursor:
        row = await cursor.fetchone()
    return None if row is None else row[0]


async def set_meta(conn: aiosqlite.Connection, key: str, value: str) -> None:
    await conn.execute(
        "INSERT INTO server_meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )
    await conn.commit()


async def server_id(conn: aiosqlite.Connection) -> str:
    """This server's stable id (clients sign it): made on first start, then read back."""
    found = await get_meta(conn, "server_id")
    if found is None:
        found = f"lmust-{secrets.token_hex(8)}"
        await set_meta(conn, "server_id", found)
        log.info("new server id %s", found)
    return found


# --- clients and their streams -----------------------------------------------------------


async def touch_client(
    conn: aiosqlite.Connection, client_id: str, public_key: bytes, name: str | None, now: float
) -> None:
    """Record that a client authenticated (first time: a new row)."""

    async def write() -> None:
        await conn.execute(
            "INSERT INTO clients (client_id, public_key, name, first_seen, last_seen) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (client_id) DO UPDATE SET "
            "name = excluded.name, last_seen = excluded.last_seen",
            (client_id, public_key, name, now, now),
        )
        await conn.commit()

    await while_locked(conn, write, "recording a client")


async def stream_seqs(conn: aiosqlite.Connection, client_id: str) -> dict[str, int]:
    """stream -> last acked seq, for every stream of this client."""
    async with conn.execute(
        "SELECT stream, last_seq FROM streams WHERE client_id = ?", (client_id,)
    ) as cursor:
        return {row[0]: row[1] async for row in cursor}


async def save_stream_seq(
    conn: aiosqlite.Connection, client_id: str, stream: str, seq: int, now: float
) -> None:
    """Remember (durably) that `stream` is applied up to `seq`; commits (waits out a lock)."""

    async def write() -> None:
        await conn.execute(
            "INSERT INTO streams (stream, client_id, last_seq, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (client_id, stream) DO UPDATE SET "
            "last_seq = max(last_seq, excluded.last_seq), updated_at = excluded.updated_at",
            (stream, client_id, seq, now),
        )
        await conn.commit()

    await while_locked(conn, write, "saving a stream's seq")


async def forget_streams_before(conn: aiosqlite.Connection, before: float) -> int:
    """Drop streams not updated since `before` (old client runs); returns how many."""
    cursor = await conn.execute("DELETE FROM streams WHERE updated_at < ?", (before,))
    await conn.commit()
    return cursor.rowcount
