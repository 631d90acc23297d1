"""Parts of the fault matrix that tests/core does not have: a faulty network, client processes
(killable, sharing a key, with a wrong clock), a database locker, and the one check every fault
ends with.

- `FaultProxy`: a real asyncio TCP proxy between a client and the server. `pause()` stops moving
  bytes but keeps the connections (a silent outage: what is sent waits in socket buffers),
  `drop()` resets every connection and refuses new ones (the route is gone), `restore()` ends
  either. (`tests/server`'s `CutProxy` can only cut, and reconnects go through at once.)
- `ClientProcess`: `lmust-client` as a subprocess: SIGKILL-able, with its own or a shared key
  file, optionally with its wall clock skewed (`skewed_clock.py`).
- `hold_exclusive_lock`: another process holding `BEGIN EXCLUSIVE` on the server's database.
- `assert_one_continuous_session`: the stored result of a faulty run is ONE session whose laps are
  exactly the simulator's script (none lost, none twice, right times and drivers) between the
  first and the last event time the server was fed.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from core_harness import assert_events_in_order, read_db, scripted_laps, stored_laps

HERE = Path(__file__).resolve().parent
SKEWED_CLOCK = HERE / "skewed_clock.py"
CLIENT_TICK = 0.2  # wall seconds between two client updates


# --- the network -----------------------------------------------------------------------------


class FaultProxy:
    """A TCP proxy to 127.0.0.1:`target` that can stall or drop the path (see module doc)."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.port = 0
        self.accepted = 0  # connections that reached the server through the proxy
        self.refused = 0  # connections reset because the path was dropped
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._dropped = False
        self._transports: set[asyncio.BaseTransport] = set()
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> FaultProxy:
        self._server = await asyncio.start_server(self._pipe, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        self._reset_all()
        self._flowing.set()
        assert self._server is not None
        self._server.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def pause(self) -> None:
        """Stop forwarding bytes both ways; connections stay open."""
        self._flowing.clear()

    def drop(self) -> None:
        """Reset every connection and refuse new ones until `restore()`."""
        self._dropped = True
        self._reset_all()

    def restore(self) -> None:
        self._dropped = False
        self._flowing.set()

    def _reset_all(self) -> None:
        for transport in list(self._transports):
            transport.abort()
        self._transports.clear()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._dropped:
            self.refused += 1
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.transport.abort()
            return
        self.accepted += 1
        pair = {writer.transport, up_writer.transport}
        self._transports |= pair

        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, ConnectionError):
                while data := await src.read(65536):
                    await self._flowing.wait()
                    if dst.transport.is_closing():
                        break
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(copy(reader, up_writer), copy(up_reader, writer))
        self._transports -= pair


# --- client processes ------------------------------------------------------------------------


class ClientProcess:
    """`lmust-client` in its own process beside one simulator viewpoint.

    Its folder holds its settings, its log (`log`: the console, `detail_log`: every record with
    its time) and, unless `key_file` is given, its key. `clock_offset` runs it with its wall
    clock that many seconds off.
    """

    def __init__(
        self,
        tmp_path: Path,
        server_url: str,
        viewpoint,
        speed: float,
        *,
        tag: str,
        key_file: Path | None = None,
        clock_offset: float = 0.0,
    ) -> None:
        self.dir = tmp_path / f"client-{tag}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log = self.dir / "console.log"
        self.detail_log = self.dir / "detail.log"
        args = [
            "--server", server_url, "--game", viewpoint.rest_url, "--game-ws", viewpoint.ws_url,
            "--config", str(self.dir / "lmust-client.toml"), "--name", f"member {tag}",
            "--tick", str(CLIENT_TICK), "--max-time-scale", str(speed * 1.5),
            "--log-file", str(self.detail_log),
        ]  # fmt: skip
        if key_file is not None:
            args += ["--key-file", str(key_file)]
        if clock_offset:
            self.argv = [sys.executable, str(SKEWED_CLOCK), str(clock_offset), "--", *args]
        else:
            self.argv = [sys.executable, "-m", "client", *args]
        self.proc: subprocess.Popen | None = None

    def start(self) -> ClientProcess:
        with self.log.open("a") as out:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT)
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no goodbye, no flush; the outbox in memory is gone."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    async def stop(self, timeout: float = 20.0) -> int | None:
        """SIGINT (a clean stop: flush, bye), then SIGKILL if it does not end in time; the exit
        code. Async: the server and the simulator in this loop must keep answering meanwhile."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            deadline = time.monotonic() + timeout
            while self.proc.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


# --- the database ----------------------------------------------------------------------------

_LOCKER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
print("released", flush=True)
"""


@dataclass
class LockWindow:
    """Wall-clock (monotonic) moments another process held the database's write lock."""

    locked_at: float
    released_at: float


async def hold_exclusive_lock(database: Path, seconds: float) -> LockWindow:
    """Another process takes `BEGIN EXCLUSIVE` on `database`, holds it `seconds`, commits."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _LOCKER, str(database), str(seconds),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 60)
    assert line.strip() == b"locked", line + await proc.stdout.read()
    locked_at = time.monotonic()
    rest = await asyncio.wait_for(proc.stdout.read(), seconds + 60)
    released_at = time.monotonic()
    assert await proc.wait() == 0 and b"released" in rest, rest
    return LockWindow(locked_at, released_at)


# --- the verdict -----------------------------------------------------------------------------


@dataclass
class Continuity:
    """What `assert_one_continuous_session` found (for further checks of a test)."""

    session_id: str
    first_et: float  # the first event time the server was fed
    last_et: float
    laps: dict  # (car, lap) -> stored row
    want: dict  # (car, lap) -> scripted lap, for the laps that ended between first and last
    events: int

    def __str__(self) -> str:
        return (
            f"session {self.session_id[:8]}: ET {self.first_et:.0f}..{self.last_et:.0f}, "
            f"{len(self.want)} laps checked ({len(self.laps)} stored), {self.events} events"
        )

    def sources(self, et_from: float, et_to: float) -> dict[str, int]:
        """How the laps that ended in [et_from, et_to) were stored: live / late / history."""
        out: dict[str, int] = {}
        for key, lap in self.want.items():
            if et_from <= lap.end_et < et_to:
                source = self.laps[key]["source"]
                out[source] = out.get(source, 0) + 1
        return out


def assert_one_continuous_session(database: Path, script) -> Continuity:
    """One session (never forked or restarted), its events in order with every lap once, and
    exactly the script's laps (times, drivers) from the first to the last event time the
    server was fed: every stored lap is a scripted one, and none that ended in between is
    missing. (Laps before the first observation are not required: without a backfill, the
    tracker learns only each car's last completed lap then; see `Tracker._complete_laps`.)"""
    conn = read_db(database)
    try:
        rows = conn.execute(
            "SELECT session_id, track, session_type, last_et, closed_reason FROM sessions"
        ).fetchall()
        assert len(rows) == 1, f"expected one session, found {[tuple(r) for r in rows]}"
        (row,) = rows
        sid = row["session_id"]
        assert (row["track"], row["session_type"]) == (script.track.name, script.session)
        assert row["closed_reason"] in (None, "finished"), row["closed_reason"]
        events = assert_events_in_order(conn, sid)
        last_et = row["last_et"]
        assert last_et is not None, "the session was never fed"
        (first_et,) = conn.execute(
            "SELECT et FROM events WHERE session_id = ? ORDER BY seq LIMIT 1", (sid,)
        ).fetchone()
        scripted = scripted_laps(script, last_et)
        got = stored_laps(conn, sid)
    finally:
        conn.close()
    want = {key: lap for key, lap in scripted.items() if lap.end_et > first_et}
    missing = sorted(set(want) - set(got))
    assert not missing, f"{len(missing)} laps lost (of {len(want)}): {missing[:10]}"
    extra = sorted(set(got) - set(scripted))
    assert not extra, f"laps that did not happen (by ET {last_et}): {extra[:10]}"
    for key, row in got.items():
        lap = scripted[key]
        expected = lap.lap_time if lap.lap_time > 0 else -1
        assert row["lap_time"] == pytest.approx(expected, abs=2e-3), (key, row["lap_time"])
        assert row["driver"] == lap.driver, (key, row["driver"], lap.driver)
    found = Continuity(sid, first_et, last_et, got, want, events)
    print(found)
    return found
