"""The admin API: delete a session, manage the allow-list of clients and the known drivers.

Every route needs the admin token of the server config (`admin_token`, or the environment
variable LMUST_ADMIN_TOKEN) sent as `Authorization: Bearer <token>`; it is compared in constant
time. With no token configured the whole API answers 403 saying how to set one, so a server
nobody configured has no admin surface at all. Answers are JSON; a refusal is
`{"error": "<one line>"}` with a 4xx status.

    DELETE /admin/sessions/{id}            a closed session and all its rows
    GET    /admin/allow-list               {"open", "config", "stored"}
    POST   /admin/allow-list               {"client": "<client id or base64 key>", "note"?}
    DELETE /admin/allow-list/{client}
    GET    /admin/known-drivers            {"drivers": [stored...], "config": [from the file]}
    POST   /admin/known-drivers            {"name": "<driver>"}
    DELETE /admin/known-drivers/{name}

The routes find the database and the live sessions through `request.app.state.ingest` (its
connection, its links and its feed), as the app wires them.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import re
import time
import unicodedata
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server import admin_db
from server.auth import allowed, normalize_allow_entry
from server.config import ADMIN_TOKEN_ENV, MIN_ADMIN_TOKEN, ServerConfig

log = logging.getLogger(__name__)

MAX_BODY = 16 * 1024  # bytes of a request body: the API takes a name or a key, never more
MAX_NAME = 64  # characters of a driver name (the game's are far shorter)
MAX_NOTE = 200
DELETE_CHUNK = 20_000  # events deleted per transaction, so live clients' writes keep flowing
REMOVED = 1008  # close code for a connected client taken off the allow-list
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

Handler = Callable[[Request], Awaitable[Response]]


class AdminError(Exception):
    """A refused admin request: the status and one line for `{"error": ...}`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# --- pure checks -----------------------------------------------------------------------


def token_matches(presented: str, token: str) -> bool:
    """Constant-time comparison (hashing first, so not even the length leaks)."""
    a = hashlib.sha256(presented.encode("utf-8", "surrogatepass")).digest()
    b = hashlib.sha256(token.encode("utf-8")).digest()
    return hmac.compare_digest(a, b)


def bearer(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def driver_name(value: Any) -> str:
    """A known driver's name as stored: trimmed, 1..MAX_NAME characters, no control chars."""
    if not isinstance(value, str):
        raise AdminError(400, '"name" must be a string')
    name = value.strip()
    if not 0 < len(name) <= MAX_NAME:
        raise AdminError(400, f'"name" must be 1..{MAX_NAME} characters')
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in name):
        raise AdminError(400, '"name" must not contain control characters')
    return name


def client_entry(value: Any) -> str:
    """The client id of an allow-list entry (a client id or a base64 raw public key)."""
    if not isinstance(value, str):
        raise AdminError(400, '"client" must be a client id (32 hex digits) or a base64 key')
    try:
        return normalize_allow_entry(value)
    except ValueError:
        raise AdminError(
            400, '"client" must be a client id (32 hex digits) or a base64 public key'
        ) from None


def note_text(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_NOTE:
        raise AdminError(400, f'"note" must be a string of at most {MAX_NOTE} characters')
    return value.strip() or None


# --- request plumbing ------------------------------------------------------------------


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object, read with a size limit."""
    size, chunks = 0, []
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise AdminError(413, f"the body is over {MAX_BODY} bytes")
        chunks.append(chunk)
    try:
        doc = orjson.loads(b"".join(chunks))
    except orjson.JSONDecodeError:
        raise AdminError(400, "the body must be a JSON object") from None
    if type(doc) is not dict:
        raise AdminError(400, "the body must be a JSON object")
    return doc


def _guarded(token: str | None, handler: Handler) -> Handler:
    """The handler behind the token check, with AdminError turned into a JSON answer."""

    async def endpoint(request: Request) -> Response:
        if token is None:
            return _error(
                403,
                "the admin API is off: set admin_token in lmust-server.toml or the "
                f"{ADMIN_TOKEN_ENV} environment variable ({MIN_ADMIN_TOKEN}+ characters) "
                "and restart the server",
            )
        presented = bearer(request.headers.get("authorization"))
        if presented is None or not token_matches(presented, token):
            peer = request.client.host if request.client else "?"
            log.warning("admin: refused %s %s from %s", request.method, request.url.path, peer)
            response = _error(401, "missing or wrong admin token: send Authorization: Bearer …")
            response.headers["WWW-Authenticate"] = 'Bearer realm="lmust-admin"'
            return response
        try:
            return await handler(request)
        except AdminError as exc:
            return _error(exc.status, exc.message)

    return endpoint


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _ingest(request: Request) -> Any:
    ingest = request.app.state.ingest
    if ingest.conn is None:
        raise AdminError(503, "the database is not open yet")
    return ingest


# --- sessions --------------------------------------------------------------------------


async def delete_session(request: Request) -> Response:
    """Delete a session that is not live, with all its rows (the schema cascades)."""
    sid = request.path_params["session_id"]
    if not _SESSION_ID.fullmatch(sid):
        raise AdminError(400, "a session id is 1..64 letters, digits, '-' or '_'")
    ingest = _ingest(request)
    feed = ingest.feed
    conn = ingest.conn
    rows = await conn.execute_fetchall(
        "SELECT closed_at, (SELECT max(seq) FROM events WHERE session_id = ?) "
        "FROM sessions WHERE session_id = ?",
        (sid, sid),
    )
    if not rows:
        raise AdminError(404, f"no session {sid}")
    closed_at, last_seq = rows[0]
    arbiter = getattr(feed, "arbiter", None)
    view = arbiter.session(sid) if arbiter is not None else None
    live = view.closed_at is None if view is not None else closed_at is None
    if live:
        raise AdminError(409, f"session {sid} is live: it can be deleted once it has closed")
    write = _writer(feed, conn)
    # Events first, in chunks (a 24-hour race has many), then the session: the rest cascades.
    for start in range(0, (last_seq or 0) + 1, DELETE_CHUNK):
        await write(
            [
                (
                    "DELETE FROM events WHERE session_id = ? AND seq >= ? AND seq < ?",
                    (sid, start, start + DELETE_CHUNK),
                )
            ]
        )
    await write([("DELETE FROM sessions WHERE session_id = ?", (sid,))])
    forget = getattr(feed, "forget", None)
    if forget is not None:
        forget(sid)
    else:
        with contextlib.suppress(AttributeError):
            feed.sessions.pop(sid, None)
    log.info("admin: deleted session %s", sid)
    return JSONResponse({"deleted": sid})


def _writer(feed: Any, conn: Any) -> Callable[[list[tuple[str, tuple]]], Awaitable[None]]:
    """The session store's writer when there is one (it serializes every session write),
    else the ingest's connection."""
    store = getattr(feed, "store", None)
    if store is not None and hasattr(store, "write"):
        return store.write

    async def write(statements: list[tuple[str, tuple]]) -> None:
        for sql, params in statements:
            await conn.execute(sql, params)
        await conn.commit()

    return write


# --- allow-list ------------------------------------------------------------------------


async def allow_list(request: Request) -> Response:
    ingest = _ingest(request)
    return JSONResponse(await _allow_list_doc(ingest))


async def _allow_list_doc(ingest: Any) -> dict[str, Any]:
    stored = await admin_db.allowed_clients(ingest.conn)
    config = sorted(ingest.config.allow_list)
    return {"open": not stored and not config, "config": config, "stored": stored}


async def add_allowed(request: Request) -> Response:
    doc = await json_body(request)
    cid = client_entry(doc.get("client"))
    note = note_text(doc.get("note"))
    ingest = _ingest(request)
    added = await admin_db.allow_client(ingest.conn, cid, note, time.time())
    log.info("admin: %s client %s on the allow-list", "put" if added else "kept", cid)
    closed = await _enforce(ingest)
    body = {"client_id": cid, "added": added, "disconnected": closed}
    body.update(await _allow_list_doc(ingest))
    return JSONResponse(body, status_code=201 if added else 200)


async def remove_allowed(request: Request) -> Response:
    cid = client_entry(request.path_params["client"])
    ingest = _ingest(request)
    if cid in ingest.config.allow_list:
        raise AdminError(
            409, f"client {cid} is on the allow_list of the config file: remove it there"
        )
    if not await admin_db.disallow_client(ingest.conn, cid):
        raise AdminError(404, f"client {cid} is not on the stored allow-list")
    log.info("admin: took client %s off the allow-list", cid)
    closed = await _enforce(ingest)
    body = {"client_id": cid, "removed": True, "disconnected": closed}
    body.update(await _allow_list_doc(ingest))
    return JSONResponse(body)


async def _enforce(ingest: Any) -> list[str]:
    """Close the connections of clients the allow-list no longer admits; their ids."""
    allow = await ingest.allow_list()
    closed = []
    for cid, link in list(ingest.links.items()):
        if not allowed(cid, allow):
            log.info("admin: closing client %s: not on the allow-list any more", cid)
            with contextlib.suppress(Exception):
                await link.websocket.close(REMOVED, "not on the allow-list any more")
            closed.append(cid)
    return closed


# --- known drivers ---------------------------------------------------------------------


async def known_drivers(request: Request) -> Response:
    """The stored known drivers, and those of the config file (`known_drivers`, read-only)."""
    ingest = _ingest(request)
    configured = sorted(getattr(ingest.config, "known_drivers", ()) or ())
    stored = await admin_db.known_drivers(ingest.conn)
    return JSONResponse({"drivers": stored, "config": configured})


async def add_driver(request: Request) -> Response:
    name = driver_name((await json_body(request)).get("name"))
    ingest = _ingest(request)
    added = await admin_db.add_known_driver(ingest.conn, name)
    log.info("admin: known driver %r %s", name, "added" if added else "already known")
    drivers = await admin_db.known_drivers(ingest.conn)
    return JSONResponse(
        {"name": name, "added": added, "drivers": drivers}, status_code=201 if added else 200
    )


async def remove_driver(request: Request) -> Response:
    name = driver_name(request.path_params["name"])
    ingest = _ingest(request)
    if not await admin_db.remove_known_driver(ingest.conn, name):
        raise AdminError(404, f"{name!r} is not a known driver")
    log.info("admin: known driver %r removed", name)
    return JSONResponse(
        {"name": name, "removed": True, "drivers": await admin_db.known_drivers(ingest.conn)}
    )


def routes(config: ServerConfig) -> list[Route]:
    """The admin routes, guarded by `config.admin_token` (None: every route answers 403)."""
    token = config.admin_token
    if token is None:
        log.info("admin API off (no admin_token and no %s)", ADMIN_TOKEN_ENV)

    def route(path: str, handler: Handler, method: str) -> Route:
        return Route(path, _guarded(token, handler), methods=[method])

    return [
        route("/admin/sessions/{session_id}", delete_session, "DELETE"),
        route("/admin/allow-list", allow_list, "GET"),
        route("/admin/allow-list", add_allowed, "POST"),
        route("/admin/allow-list/{client:path}", remove_allowed, "DELETE"),
        route("/admin/known-drivers", known_drivers, "GET"),
        route("/admin/known-drivers", add_driver, "POST"),
        route("/admin/known-drivers/{name:path}", remove_driver, "DELETE"),
    ]
