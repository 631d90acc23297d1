"""REST sessionInfo while the pushed SessionInfo flows: read every ~10 s, phases still at once.

The real simulator at 1x behind a counting HTTP proxy (what the game would see), the real
reader ticking on the wall clock: a full-course yellow starts and ends, then the push goes
silent (a simulator fault) and REST is read every tick again.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import aiohttp
from aiohttp import web

from client.normalize import SESSION_INFO
from client.reader import Reader
from client.schedule import Schedule
from client.sessioninfo import REST_EVERY, WS_FRESH
from client.slim import Slimmer
from sim.script import PHASE_FCY, PHASE_GREEN, Weekend
from sim.server import Simulator
from sim.synthetic import generate_session

TICK = 0.5  # s: a faster tick than the client's 1 s, so the test is short and stricter
BOUNDARY = 0.3  # s of event time around a phase change where either phase may show


class CountingProxy:
    """An HTTP proxy in front of the game's REST port that counts requests per path."""

    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")
        self.hits: Counter[str] = Counter()
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        self.url = ""

    async def _forward(self, request: web.Request) -> web.Response:
        self.hits[request.path] += 1
        assert self._http is not None
        async with self._http.get(self.target + request.path_qs) as answer:
            return web.Response(body=await answer.read(), status=answer.status)

    async def __aenter__(self) -> CountingProxy:
        self._http = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc) -> None:
        assert self._runner is not None and self._http is not None
        await self._runner.cleanup()
        await self._http.close()


def phase_of(obs) -> int:
    return obs.raw[SESSION_INFO]["gamePhase"]


def test_push_stands_in_for_rest_session_info_and_phases_still_show_at_once():
    script = generate_session(seed=3, cars=12, duration=3600)
    fcy = next(p.et for p in script.phases if p.phase == PHASE_FCY)
    green = next(p.et for p in script.phases if p.phase == PHASE_GREEN and p.et > fcy)

    async def ticking(reader: Reader, proxy: CountingProxy, seconds: float) -> list:
        """Ticks every TICK s of wall time; each with the proxy's sessionInfo count after it."""
        loop = asyncio.get_running_loop()
        out, start = [], loop.time()
        while loop.time() - start < seconds:
            at = loop.time()
            obs = await reader.tick(at)
            out.append((obs, proxy.hits["/rest/watch/sessionInfo"]))
            await asyncio.sleep(max(0.0, at + TICK - loop.time()))
        return out

    def check_phases(seen: list) -> None:
        for obs, _hits in seen:
            et = obs.et
            near = any(abs(et - change.et) < BOUNDARY for change in script.phases)
            if not near:
                assert phase_of(obs) == script.phase_at(et), (et, phase_of(obs))

    async def scenario() -> None:
        async with Simulator(Weekend([script]), viewpoints=1, speed=1.0, start_et=fcy - 5) as sim:
            vp = sim.viewpoints[0]
            async with CountingProxy(vp.rest_url) as proxy:
                reader = Reader(proxy.url, vp.ws_url, Schedule(TICK))
                slimmer = Slimmer()
                try:
                    reader.feed.start()
                    await asyncio.sleep(0.5)  # the first pushed frames
                    # Green, then the full-course yellow from `fcy` on.
                    seen = await ticking(reader, proxy, 12.0)
                    check_phases(seen)
                    phases = [phase_of(obs) for obs, _ in seen]
                    assert PHASE_GREEN in phases and PHASE_FCY in phases
                    first_fcy = next(obs for obs, _ in seen if obs.et >= fcy + BOUNDARY)
                    assert phase_of(first_fcy) == PHASE_FCY
                    # 24 ticks: the first read, one every 10 s, one at the phase change.
                    assert seen[-1][1] <= 1 + 12.0 / REST_EVERY + 1 + 1, proxy.hits
                    assert len(seen) >= 20
                    state = slimmer(seen[-1][0].raw)
                    assert "ws" not in state["session"]  # not sent twice
                    assert type(state["session"]["gamePhase"]) is int
                    # The push's ET moves every tick although REST was not read.
                    ets = [obs.et for obs, _ in seen[-6:]]
                    assert ets == sorted(ets) and ets[-1] - ets[0] >= 2.0

                    # The end of the yellow.
                    sim.jump(0, green - 3)
                    await asyncio.sleep(0.3)
                    seen = await ticking(reader, proxy, 6.0)
                    check_phases(seen)
                    assert phase_of(seen[-1][0]) == PHASE_GREEN
                    assert any(phase_of(obs) == PHASE_FCY for obs, _ in seen)

                    # The push goes silent: REST every tick again, at once.
                    sim.set_faults(0, {"endpoint": "SessionInfo", "empty": True})
                    await asyncio.sleep(WS_FRESH + 0.2)
                    seen = await ticking(reader, proxy, 2.5)
                    assert all(SESSION_INFO in obs.asked for obs, _ in seen)
                    hits = [h for _, h in seen]
                    assert hits == list(range(hits[0], hits[0] + len(hits)))
                    check_phases(seen)
                finally:
                    await reader.close()

    asyncio.run(asyncio.wait_for(scenario(), 90))
