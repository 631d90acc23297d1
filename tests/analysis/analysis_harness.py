"""The analysis tests' harness: recorded races played into trackers, stored in a real
SQLite store, and served by a real server on a free port.

The two 50-minute recorded races (Sebring School, Monza) are played once per test session
(`recorded_play`, ~2 s each). One driver of the Sebring race is renamed to a spreadsheet
formula (`FORMULA_NAME`) in the events, so the exports must escape it. The store holds the
Sebring race twice (an online session and an "offline" copy a week earlier, for the best-laps
filters) and the Monza race.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
import uvicorn
from recorded_play import PlayedRace, play_recorded, recorded_race_ids

from server.app import create_app, uvicorn_config
from server.config import ServerConfig
from server.store import Store, session_insert
from server.store_rows import CLOSE_SESSION
from server.tracking import Tracker, event_from_dict, event_to_dict
from web import routes_analysis

SEBRING = "Sebring School Circuit"
MONZA = "Autodromo Nazionale Monza"
STEP = 2.0  # s of ET between observations
FORMULA_NAME = "=cmd|' /C calc'!A0"
DAY = 86400.0
RECORDED_DB = (
    Path(__file__).resolve().parents[2].parent / "shared" / "data" / "recorded-sessions.db"
)
CREATED = 1_790_000_000.0  # 2026-09-21, the stored sessions' creation time


@dataclass
class Race:
    played: PlayedRace
    events: list  # the events as stored (a driver renamed in Sebring)
    tracker: Tracker  # restored from `events`


_RACES: dict[str, Race] = {}


def _renamed(events: list, old: str, new: str) -> list:
    out = []
    for event in events:
        doc = orjson.loads(orjson.dumps(event_to_dict(event)).replace(
            orjson.dumps(old)[1:-1], orjson.dumps(new)[1:-1]))  # fmt: skip
        out.append(event_from_dict(doc))
    return out


def race(track: str) -> Race:
    """A recorded race played once per test session."""
    if not RECORDED_DB.exists():
        pytest.skip(f"reference data absent: {RECORDED_DB} (../shared is not beside the repo)")
    if track not in _RACES:
        played = play_recorded(RECORDED_DB, recorded_race_ids(RECORDED_DB)[track], STEP)
        events = played.events
        if track == SEBRING:
            victim = sorted(played.tracker.cars.values(), key=lambda c: c.slot)[1].driver
            events = _renamed(events, victim, FORMULA_NAME)
        tracker = Tracker.restore(played.script.session, played.script.track.length, events)
        _RACES[track] = Race(played, events, tracker)
    return _RACES[track]


@pytest.fixture(name="sebring")
def sebring_fixture() -> Race:
    return race(SEBRING)


@pytest.fixture(name="monza")
def monza_fixture() -> Race:
    return race(MONZA)


# --- a store and a server ----------------------------------------------------------------------


@dataclass
class Stored:
    session_id: str
    track: str
    race: Race


async def store_race(
    store: Store, session_id: str, item: Race, created: float, online: bool
) -> None:
    """A finished session as the server stores it: row, events (+ query rows), closed."""
    script = item.played.script
    record = {
        "session_id": session_id,
        "event_id": f"event-{session_id}",
        "online": online,
        "server": "Test server" if online else None,
        "port": 64000 if online else None,
        "track": script.track.name,
        "session_type": script.session,
        "phase": 8,
        "last_et": item.tracker.last_et,
        "last_fed_at": created + 3000,
    }
    await store.write(session_insert(record, script.track.length, created))
    await store.write(store.event_statements(session_id, item.tracker, item.events))
    await store.write([(CLOSE_SESSION, (created + 3100, "finished", session_id))])


class ServerThread:
    """The real app (`create_app`, `LiveSessions`, SQLite) under uvicorn in its own thread."""

    def __init__(self, config: ServerConfig) -> None:
        app = create_app(config)
        if not any(getattr(r, "name", None) == "results" for r in app.routes):
            app.router.routes.extend(routes_analysis.routes())  # until the lead mounts them
        self.server = uvicorn.Server(uvicorn_config(config, app))
        self.url = ""
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise AssertionError("the server did not start")
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@dataclass
class Site:
    url: str
    database: Path
    sessions: dict[str, Stored]  # name -> stored session


SESSION_IDS = {
    "sebring": "0a" * 16,
    "sebring_offline": "0b" * 16,
    "monza": "0c" * 16,
}


@pytest.fixture(name="site", scope="module")
def site_fixture(tmp_path_factory) -> Iterator[Site]:
    """A real server on a free port over a store with the recorded races."""
    data = tmp_path_factory.mktemp("analysis")
    config = ServerConfig(
        host="127.0.0.1",
        port=0,
        data_dir=data,
        known_drivers=(FORMULA_NAME,),  # from the config; more in the known_drivers table
        max_drive_time=3000.0,
    )
    seb, mon = race(SEBRING), race(MONZA)
    stored = {
        "sebring": Stored(SESSION_IDS["sebring"], SEBRING, seb),
        "sebring_offline": Stored(SESSION_IDS["sebring_offline"], SEBRING, seb),
        "monza": Stored(SESSION_IDS["monza"], MONZA, mon),
    }

    async def fill() -> None:
        async with Store(config.database) as store:
            await store_race(store, stored["sebring"].session_id, seb, CREATED, True)
            await store_race(
                store, stored["sebring_offline"].session_id, seb, CREATED - 7 * DAY, False
            )
            await store_race(store, stored["monza"].session_id, mon, CREATED + DAY, True)

    asyncio.run(fill())
    with ServerThread(config) as server:
        yield Site(server.url, config.database, stored)
