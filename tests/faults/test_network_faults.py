"""The network between a client and the server fails for 30 s, and for 5 minutes, of race time.

Sim (10-20x) -> real client -> `FaultProxy` (a real TCP proxy) -> real server -> SQLite. The
session has one client, so every lap of the outage must come through that client's outbox:
the laps of the outage must be stored from the live states it queued ("live"/"late"), not
recovered from the game's lap history.

What is proven, and what is not, given that the outbox's bounds are in *wall* seconds
(`client.stream`: 32 MiB and 900 s, the uplink's defaults; the client's settings do not change
them): at 20x, 5 race minutes are 15 wall seconds, so the age bound is never approached here;
these tests prove the mechanism (stall, reset, refused reconnects, backoff, the backlog resent
with its head made a snapshot, the server applying it in order) loses nothing, and
`test_five_minute_outage...` measures the backlog to show that a real 5-minute outage at 1x
(300 wall seconds < 900 s; 300 one-second updates) also fits the size bound.
"""

from __future__ import annotations

import asyncio
import random

import pytest
from core_harness import CoreServer, TeamClient, run, until, until_et
from fault_harness import FaultProxy, assert_one_continuous_session

from client.app import ClientApp, client_version
from client.identity import Identity
from client.uplink import Uplink
from sim.script import Weekend
from sim.server import Simulator
from sim.synthetic import generate_session

SPEED = 20.0  # the 30 s stall runs at 10x (see there)
TRACK = "Algarve International Circuit"  # laps of 83 s and more: seconds apart at 20-30x
REAL_TICK = 1.0  # the client's default tick in a real race (client.config.DEFAULT_TICK)


class SeededClient(TeamClient):
    """A `TeamClient` whose reconnect backoff is seeded, so the test's length is the same on
    every run (the backoff is still the real one: full jitter, doubling up to 30 s)."""

    def start(self) -> SeededClient:
        app = ClientApp(self.config)
        app.identity = Identity.load_or_create(self.config.key_file)
        app.uplink = Uplink(
            self.config.server_url,
            app.identity,
            client_version=client_version(),
            name=self.config.name,
            on_status=app.on_uplink_status,
            rng=random.Random(7),
        )  # the outbox's bounds are the uplink's defaults, as in `ClientApp.make_uplink`
        self.app = app
        self._tasks = [asyncio.create_task(app.run(handle_signals=False))]
        return self


async def _outage(
    tmp_path, script, *, outage: float, mode: str, speed: float, start: float, cut: float
) -> dict:
    """The race from ET `start`; at ET `cut` the path fails (`mode`: pause or drop) for
    `outage` race seconds; returns what the test checks."""
    async with (
        Simulator(Weekend([script]), viewpoints=1, speed=speed, start_et=start) as sim,
        CoreServer(tmp_path, speed) as server,
        FaultProxy(server.config.port) as proxy,
    ):
        member = SeededClient(tmp_path, proxy.url, sim, 0, speed).start()
        assert member.app is not None
        uplink = member.app.uplink
        stream = uplink._stream  # the outbox, read for its size (no public accessor)
        try:
            feed = server.feed
            await until(lambda: any(s.tracker.cars for s in feed.sessions.values()), 30,
                        "a tracked session with cars")  # fmt: skip
            await until_et(sim, 0, cut)
            (sid,) = list(feed.sessions)
            getattr(proxy, mode)()
            cut_at = feed.sessions[sid].tracker.last_et
            peak_messages = peak_bytes = 0
            end = cut_at + outage
            while sim.clock.position().et < end:
                peak_messages = max(peak_messages, stream.pending)
                peak_bytes = max(peak_bytes, stream.pending_bytes)
                await asyncio.sleep(0.1)
            during = feed.sessions[sid].tracker.last_et
            proxy.restore()
            await until(lambda: feed.sessions[sid].tracker.last_et > end + 30, 90,
                        "the client's backlog to reach the server")  # fmt: skip
            await until(lambda: stream.pending <= 2, 30, "the backlog acked")
            await until_et(sim, 0, sim.clock.position().et + 60.0)
        finally:
            await member.stop()
        return {
            "cut_at": cut_at,
            "during": during,
            "peak_messages": peak_messages,
            "peak_bytes": peak_bytes,
            "dropped": stream.dropped,
            "max_bytes": stream.max_bytes,
            "max_age": stream.max_age,
            "backfills": member.backfills,
            "accepted": proxy.accepted,
            "refused": proxy.refused,
        }


@pytest.mark.timeout(180)
def test_thirty_second_stall_loses_nothing(tmp_path):
    """30 race seconds of silence on an open connection (no RST, nothing delivered: Wi-Fi gone
    for a moment); bytes wait in the buffers and arrive afterwards. At 10x: 3 wall seconds."""
    script = generate_session(seed=51, cars=10, duration=1800, track=TRACK)
    outage = _outage(tmp_path, script, outage=30.0, mode="pause", speed=10.0, start=150.0,
                     cut=240.0)  # fmt: skip
    got = run(outage, timeout=170)
    print({k: round(v, 1) if isinstance(v, float) else v for k, v in got.items()})
    # What was already past the proxy may still be applied after the cut, not much more.
    assert got["during"] < got["cut_at"] + 18, "the server was cut off during the stall"
    assert got["dropped"] == 0
    found = assert_one_continuous_session(tmp_path / "server" / "lmust.db", script)
    window = found.sources(got["cut_at"], got["cut_at"] + 60)  # in the stall or just after
    assert window and "history" not in window, window


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_five_minute_outage_loses_nothing_and_would_fit_the_outbox_at_1x(tmp_path):
    """5 race minutes with the route gone: the connection is reset, every reconnect is refused
    (the client backs off), then the path is back; the client resends its whole backlog."""
    script = generate_session(seed=53, cars=10, duration=2400, track=TRACK)
    outage = _outage(tmp_path, script, outage=300.0, mode="drop", speed=SPEED, start=120.0,
                     cut=300.0)  # fmt: skip
    got = run(outage, timeout=230)
    print({k: round(v, 1) if isinstance(v, float) else v for k, v in got.items()})
    assert got["refused"] >= 1, "the client tried to reconnect during the outage"
    assert got["accepted"] >= 2, "... and reconnected after it"
    assert got["during"] < got["cut_at"] + 30, "the server was cut off during the outage"
    assert got["dropped"] == 0, "the outbox's bounds threw nothing away"
    found = assert_one_continuous_session(tmp_path / "server" / "lmust.db", script)
    window = found.sources(got["cut_at"], got["cut_at"] + 300)
    assert window and "history" not in window, window
    # The same outage in a real race (1x, one update a second): 300 updates, 300 wall seconds.
    # A message here carries SPEED * tick = 4 race seconds of change, so it is no smaller than
    # one of a 1 s tick at 1x: the bytes per message measured here bound the real backlog.
    per_message = got["peak_bytes"] / max(1, got["peak_messages"])
    real_backlog = per_message * (300.0 / REAL_TICK)
    print(f"outage backlog: {got['peak_messages']} messages, {got['peak_bytes']} B; "
          f"a 5-minute outage at 1x ~ {real_backlog / 1e6:.2f} MB")  # fmt: skip
    assert got["peak_messages"] >= 30, got
    assert real_backlog < got["max_bytes"] / 4
    assert got["max_age"] > 300.0 + 60.0  # the wall-clock age bound, with a minute to spare
