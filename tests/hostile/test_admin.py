"""The admin API over a real server: the token guard, the allow-list (stored and from the config,
enforced on live connections), the known drivers, and deleting a session with all its rows."""

from __future__ import annotations

import sqlite3
import time
import urllib.parse

import httpx
import pytest
from hostile_harness import (
    FAST_ARBITER,
    LiveServer,
    close_code,
    handshake,
    identity,
    next_address,
    open_from,
    race_state,
)

from schema import wire
from schema.mergepatch import diff
from server.config import ConfigError, load_config

TOKEN = "test-admin-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CONFIG_LISTED = identity()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    live = LiveServer(
        tmp_path_factory.mktemp("admin"),
        neighbour=False,
        admin_token=TOKEN,
    ).start()
    yield live
    live.stop()


def api(server: LiveServer, method: str, path: str, **kwargs) -> httpx.Response:
    kwargs.setdefault("headers", AUTH)
    return httpx.request(method, f"{server.http}{path}", timeout=10, **kwargs)


def test_without_a_configured_token_every_admin_route_is_403_and_says_how(tmp_path):
    server = LiveServer(tmp_path, neighbour=False).start()
    try:
        for method, path in [
            ("GET", "/admin/allow-list"),
            ("POST", "/admin/known-drivers"),
            ("DELETE", "/admin/sessions/abc"),
            ("DELETE", "/admin/known-drivers/Anna"),
        ]:
            answer = api(server, method, path, headers={"Authorization": "Bearer anything-at-all"})
            assert answer.status_code == 403, (method, path)
            message = answer.json()["error"]
            assert "admin_token" in message and "LMUST_ADMIN_TOKEN" in message
    finally:
        server.stop()


def test_a_missing_or_wrong_token_is_401_and_the_right_one_works(server):
    wrong = [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer " + TOKEN[:-1]},
        {"Authorization": "Bearer " + TOKEN + "x"},
        {"Authorization": "Basic " + TOKEN},
        {"Authorization": TOKEN},
    ]
    for headers in wrong:
        answer = api(server, "GET", "/admin/known-drivers", headers=headers)
        assert answer.status_code == 401, headers
        assert answer.headers["www-authenticate"].startswith("Bearer")
        assert "Authorization: Bearer" in answer.json()["error"]
        assert TOKEN not in answer.text
    assert api(server, "GET", "/admin/known-drivers").status_code == 200
    lower = {"Authorization": f"bearer {TOKEN}"}
    assert api(server, "GET", "/admin/known-drivers", headers=lower).status_code == 200


def test_the_token_comes_from_the_environment_and_a_short_one_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LMUST_ADMIN_TOKEN", TOKEN)
    config = load_config()
    assert config.admin_token == TOKEN and TOKEN not in repr(config)
    monkeypatch.setenv("LMUST_ADMIN_TOKEN", "short")
    with pytest.raises(ConfigError) as err:
        load_config()
    assert "LMUST_ADMIN_TOKEN" in str(err.value) and "16" in str(err.value)
    assert "short" not in str(err.value)
    monkeypatch.delenv("LMUST_ADMIN_TOKEN")
    (tmp_path / "lmust-server.toml").write_text(f'admin_token = "{TOKEN}"\n')
    assert load_config().admin_token == TOKEN


def test_known_drivers_add_list_remove_and_bad_input(server):
    names = ["Zoë Müller", "Anna / Berta", "Li Wei"]
    for name in names:
        answer = api(server, "POST", "/admin/known-drivers", json={"name": f"  {name} "})
        assert answer.status_code == 201 and answer.json()["name"] == name
    again = api(server, "POST", "/admin/known-drivers", json={"name": "Li Wei"})
    assert again.status_code == 200 and again.json()["added"] is False
    listed = api(server, "GET", "/admin/known-drivers").json()["drivers"]
    assert listed == sorted(names)
    path = "/admin/known-drivers/" + urllib.parse.quote("Anna / Berta", safe="")
    gone = api(server, "DELETE", path)
    assert gone.status_code == 200 and "Anna / Berta" not in gone.json()["drivers"]
    assert api(server, "DELETE", path).status_code == 404
    bad = [
        (400, b"not json"),
        (400, b"[1, 2]"),
        (400, b'{"name": 7}'),
        (400, b'{"name": "   "}'),
        (400, b'{"name": "' + b"x" * 65 + b'"}'),
        (400, b'{"name": "a\\u0000b"}'),
        (400, b'{"name": "a\\nb"}'),
        (413, b'{"name": "' + b"x" * 20_000 + b'"}'),
    ]
    for status, body in bad:
        answer = api(server, "POST", "/admin/known-drivers", content=body)
        assert answer.status_code == status, body[:40]
        assert answer.json()["error"]
    with sqlite3.connect(server.config.database) as db:
        stored = [r[0] for r in db.execute("SELECT name FROM known_drivers ORDER BY name")]
    assert stored == sorted(set(names) - {"Anna / Berta"})


def test_the_allow_list_is_stored_enforced_and_reopens_when_emptied(server):
    anna, berta = identity(), identity()
    assert api(server, "GET", "/admin/allow-list").json() == {
        "open": True,
        "config": [],
        "stored": [],
    }
    # berta streams while the server is open to every key
    ws = open_from(server, next_address())
    assert handshake(ws, berta)["type"] == "welcome"
    added = api(server, "POST", "/admin/allow-list", json={"client": anna.client_id, "note": "A"})
    assert added.status_code == 201
    doc = added.json()
    assert doc["open"] is False and doc["stored"][0]["client_id"] == anna.client_id
    assert doc["stored"][0]["note"] == "A" and doc["disconnected"] == [berta.client_id]
    # the list now admits anna only: berta was closed and is refused on her return
    assert close_code(ws) == (1008, "not on the allow-list any more")
    ws = open_from(server, next_address())
    refusal = handshake(ws, berta)
    assert refusal["code"] == "forbidden" and berta.client_id in refusal["message"]
    ws = open_from(server, next_address())
    assert handshake(ws, anna)["type"] == "welcome"
    ws.close()
    # a base64 public key is accepted and stored as its client id
    by_key = api(server, "POST", "/admin/allow-list", json={"client": wire.b64(berta.public_key)})
    assert by_key.status_code == 201 and by_key.json()["client_id"] == berta.client_id
    for bad in ({"client": "nope"}, {"client": 12}, {}, {"client": anna.client_id, "note": 5}):
        answer = api(server, "POST", "/admin/allow-list", json=bad)
        assert answer.status_code == 400 and "client" in answer.json()["error"] + str(bad)
    for who in (anna, berta):
        assert api(server, "DELETE", f"/admin/allow-list/{who.client_id}").status_code == 200
    assert api(server, "DELETE", f"/admin/allow-list/{anna.client_id}").status_code == 404
    assert api(server, "DELETE", "/admin/allow-list/zzz").status_code == 400
    assert api(server, "GET", "/admin/allow-list").json()["open"] is True
    ws = open_from(server, next_address())
    assert handshake(ws, identity())["type"] == "welcome"  # open again
    ws.close()


def test_the_config_allow_list_is_still_honoured_and_cannot_be_removed_by_the_api(tmp_path):
    listed = CONFIG_LISTED
    server = LiveServer(
        tmp_path, neighbour=False, admin_token=TOKEN, allow_list=(listed.client_id,)
    ).start()
    try:
        doc = api(server, "GET", "/admin/allow-list").json()
        assert doc == {"open": False, "config": [listed.client_id], "stored": []}
        answer = api(server, "DELETE", f"/admin/allow-list/{listed.client_id}")
        assert answer.status_code == 409 and "config file" in answer.json()["error"]
        ws = open_from(server, next_address())
        assert handshake(ws, listed)["type"] == "welcome"
        ws.close()
        other = identity()
        ws = open_from(server, next_address())
        assert handshake(ws, other)["code"] == "forbidden"
        api(server, "POST", "/admin/allow-list", json={"client": other.client_id})
        ws = open_from(server, next_address())
        assert handshake(ws, other)["type"] == "welcome"  # stored entries add to the file's
        ws.close()
    finally:
        server.stop()


SESSION_TABLES = (
    "events", "cars", "laps", "pit_stops", "stints", "chat", "conditions", "feed",
    "session_clients",
)  # fmt: skip


def _rows(database, session_id: str) -> dict[str, int]:
    with sqlite3.connect(database) as db:
        return {
            table: db.execute(
                f"SELECT count(*) FROM {table} WHERE session_id = ?", (session_id,)
            ).fetchone()[0]
            for table in ("sessions", *SESSION_TABLES)
        }


def _stream_a_race(server: LiveServer, seed: int, track: str) -> str:
    """A real client streams a few minutes of a race; the new session's id."""
    ws = open_from(server, next_address())
    assert handshake(ws, identity())["type"] == "welcome"
    previous: dict | None = None
    # the arbiter creates a session once a second reading confirms the first
    for seq, et in enumerate(range(100, 700, 20), start=1):
        state = race_state(seed, float(et), track=track)
        if previous is None:
            msg = wire.snapshot("s", seq, float(et), time.time(), state)
        else:
            msg = wire.patch("s", seq, float(et), time.time(), diff(previous, state) or {})
        previous = state
        ws.send(wire.encode(msg).decode())
        if seq == 1:
            time.sleep(0.3)
        while True:
            answer = wire.decode(ws.recv(timeout=10), sender="server")
            if answer["type"] == "ack" and answer["seq"] == seq:
                break
            assert answer["type"] in ("plan", "ack"), answer
    ws.close()
    for session in server.status()["sessions"]:
        if session["track"] == track:
            return session["session_id"]
    raise AssertionError("no session for the streamed race")


def test_delete_refuses_a_live_session_and_removes_a_closed_one_with_all_its_rows(tmp_path):
    server = LiveServer(tmp_path, neighbour=False, admin_token=TOKEN, arbiter=FAST_ARBITER).start()
    try:
        doomed = _stream_a_race(server, 21, "Fuji Speedway")
        kept = _stream_a_race(server, 22, "Autodromo Nazionale Monza")
        answer = api(server, "DELETE", f"/admin/sessions/{doomed}")
        assert answer.status_code == 409 and "live" in answer.json()["error"]
    finally:
        server.stop()
    rows = _rows(server.config.database, doomed)
    assert rows["events"] > 10 and rows["laps"] > 0 and rows["cars"] == 4, rows
    kept_rows = _rows(server.config.database, kept)
    with sqlite3.connect(server.config.database) as db:  # the race ended while we were away
        db.execute("UPDATE sessions SET closed_at = 1, closed_reason = 'test'")
    server = LiveServer(tmp_path, neighbour=False, admin_token=TOKEN, arbiter=FAST_ARBITER).start()
    try:
        assert api(server, "DELETE", "/admin/sessions/nope").status_code == 404
        assert api(server, "DELETE", "/admin/sessions/bad%20id").status_code == 400
        no_token = api(server, "DELETE", f"/admin/sessions/{doomed}", headers={})
        assert no_token.status_code == 401
        answer = api(server, "DELETE", f"/admin/sessions/{doomed}")
        assert answer.status_code == 200 and answer.json() == {"deleted": doomed}
        assert api(server, "DELETE", f"/admin/sessions/{doomed}").status_code == 404
        assert server.healthy()
        for page in (f"/sessions/{doomed}", f"/sessions/{doomed}.json"):  # the dashboard's
            assert httpx.get(server.http + page, timeout=10).status_code == 404, page
        kept_page = httpx.get(f"{server.http}/sessions/{kept}.json", timeout=10)
        assert kept_page.status_code == 200  # the other, closed session is still shown
    finally:
        server.stop()
    assert set(_rows(server.config.database, doomed).values()) == {0}
    assert _rows(server.config.database, kept) == kept_rows  # the other session is untouched
    with sqlite3.connect(server.config.database) as db:
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
