"""The admin tables' reads and writes: the stored allow-list and the known drivers.

Kept apart from the HTTP layer (server.admin) because ingest reads the allow-list on every
handshake too. Every function takes the open aiosqlite connection and commits its own write.
"""

from __future__ import annotations

import aiosqlite


async def allowed_clients(conn: aiosqlite.Connection) -> list[dict]:
    """The stored allow-list entries, oldest first."""
    async with conn.execute(
        "SELECT client_id, note, added_at FROM allowed_clients ORDER BY added_at, client_id"
    ) as cursor:
        return [{"client_id": row[0], "note": row[1], "added_at": row[2]} async for row in cursor]


async def allowed_ids(conn: aiosqlite.Connection) -> frozenset[str]:
    async with conn.execute("SELECT client_id FROM allowed_clients") as cursor:
        return frozenset([row[0] async for row in cursor])


async def allow_client(
    conn: aiosqlite.Connection, client_id: str, note: str | None, now: float
) -> bool:
    """Add a client id; False if it was already there (its note is then updated)."""
    cursor = await conn.execute(
        "INSERT INTO allowed_clients (client_id, note, added_at) VALUES (?, ?, ?) "
        "ON CONFLICT (client_id) DO NOTHING",
        (client_id, note, now),
    )
    added = cursor.rowcount == 1
    if not added and note is not None:
        await conn.execute(
            "UPDATE allowed_clients SET note = ? WHERE client_id = ?", (note, client_id)
        )
    await conn.commit()
    return added


async def disallow_client(conn: aiosqlite.Connection, client_id: str) -> bool:
    """Remove a client id; False if it was not stored."""
    cursor = await conn.execute("DELETE FROM allowed_clients WHERE client_id = ?", (client_id,))
    await conn.commit()
    return cursor.rowcount == 1


async def known_drivers(conn: aiosqlite.Connection) -> list[str]:
    async with conn.execute("SELECT name FROM known_drivers ORDER BY name") as cursor:
        return [row[0] async for row in cursor]


async def add_known_driver(conn: aiosqlite.Connection, name: str) -> bool:
    """Add a driver; False if the name was already known."""
    cursor = await conn.execute(
        "INSERT INTO known_drivers (name) VALUES (?) ON CONFLICT (name) DO NOTHING", (name,)
    )
    await conn.commit()
    return cursor.rowcount == 1


async def remove_known_driver(conn: aiosqlite.Connection, name: str) -> bool:
    cursor = await conn.execute("DELETE FROM known_drivers WHERE name = ?", (name,))
    await conn.commit()
    return cursor.rowcount == 1
