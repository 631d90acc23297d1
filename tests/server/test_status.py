"""The status page and its JSON twin, the database migrations, the config and the command line."""

from __future__ import annotations

import asyncio
import re
import socket
import sqlite3

import httpx
import pytest
from server_harness import RunningServer, race_states, run, until

from client.identity import Identity
from client.uplink import Uplink
from schema import wire
from server import cli, db
from server.auth import normalize_allow_entry
from server.config import ConfigError, load_config

EVIL = "<img src=x onerror=alert(1)>"


def test_status_json_and_page_list_the_client_and_escape_its_name(tmp_path):
    identity = Identity.load_or_create(tmp_path / "c.key")

    async def scenario():
        async with RunningServer(tmp_path) as server:
            uplink = Uplink(server.url, identity, client_version="0.1", name=EVIL)
            task = asyncio.create_task(uplink.run())
            uplink.publish(race_states()[3], 90.0)
            await until(lambda: uplink.status.acked == 1, what="ack")
            async with httpx.AsyncClient(base_url=server.http) as http:
                status = (await http.get("/status.json")).json()
                page = await http.get("/status")  # the dashboard took "/"
                health = await http.get("/healthz")
            await uplink.close()
            await asyncio.wait_for(task, 5)
            return status, page, health

    status, page, health = run(scenario())
    assert status["server"] == "LMU Session Tracker" and status["server_id"].startswith("lmust-")
    [client] = status["clients"]
    assert client["name"] == EVIL and client["client_id"] == identity.client_id
    assert client["address"].startswith("127.0.0.1:") and client["role"] == "primary"
    assert client["last_et"] == 90.0 and client["last_message_at"] >= client["connected_at"]
    assert client["game"].startswith("RACE1 at ")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "LMU Session Tracker server" in page.text
    assert EVIL not in page.text and "&lt;img src=x onerror=alert(1)&gt;" in page.text
    assert identity.client_id[:8] in page.text and status["server_id"] in page.text
    assert "<script" not in page.text and "<style" not in page.text  # CSP: nothing inline
    links = re.findall(r'<link[^>]*href="([^"]*)"', page.text)
    assert links and all(href.startswith("/static/") for href in links)  # served by us
    assert 'href="http' not in page.text and "src=" not in page.text.replace("src=x", "")
    assert health.text == "ok"


def test_migrations_run_once_and_a_failing_one_changes_nothing(tmp_path):
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "001_first.sql").write_text("CREATE TABLE a (x INTEGER);")
    (folder / "002_second.sql").write_text("CREATE TABLE b (y INTEGER);")

    async def scenario():
        conn = await db.open_db(tmp_path / "x" / "t.db")
        try:
            first = await db.migrate(conn, folder)
            again = await db.migrate(conn, folder)
            (folder / "003_broken.sql").write_text("CREATE TABLE c (z INTEGER); NOT SQL;")
            with pytest.raises(sqlite3.Error):
                await db.migrate(conn, folder)
            async with conn.execute("PRAGMA journal_mode") as cursor:
                mode = (await cursor.fetchone())[0]
            return first, again, mode
        finally:
            await conn.close()

    first, again, mode = run(scenario())
    assert first == ["001_first.sql", "002_second.sql"] and again == [] and mode == "wal"
    with sqlite3.connect(tmp_path / "x" / "t.db") as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        versions = [row[0] for row in conn.execute("SELECT version FROM schema_migrations")]
    assert {"a", "b"} <= tables and "c" not in tables and versions == [1, 2]


def test_the_server_id_is_made_once_and_kept(tmp_path):
    async def ids():
        found = []
        for _ in range(2):
            conn = await db.open_db(tmp_path / "s.db")
            await db.migrate(conn)
            found.append(await db.server_id(conn))
            await conn.close()
        return found

    first, second = run(ids())
    assert first == second and first.startswith("lmust-")


def test_config_file_then_flags(tmp_path):
    key = Identity.load_or_create(tmp_path / "k.key")
    path = tmp_path / "lmust-server.toml"
    path.write_text(
        'port = 6000\ndata_dir = "store"\n'
        f'allow_list = ["{key.client_id.upper()}", "{wire.b64(key.public_key)}"]\n'
    )
    config = load_config(path, port=7000, host=None)
    assert config.port == 7000 and config.host == "0.0.0.0"
    assert config.database == tmp_path / "store" / "lmust.db"
    assert config.allow_list == (key.client_id, key.client_id)
    path.write_text("colour = 'red'\n")
    with pytest.raises(ConfigError, match="unknown setting"):
        load_config(path)
    with pytest.raises(ValueError, match="neither a client id"):
        normalize_allow_entry("alice")


def test_cli_says_in_one_line_when_the_port_is_taken(tmp_path, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = cli.main(["--host", "127.0.0.1", "--port", str(port), "--data-dir", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "already in use" in err and str(port) in err and "\n" not in err


def test_cli_says_in_one_line_when_the_data_dir_cannot_be_written(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code = cli.main(["--port", "0", "--data-dir", str(blocker / "data")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "data folder" in err and "\n" not in err
