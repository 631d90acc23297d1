"""Simulator cost: CPU per second of race time for a 60-car session, and the top speed-up.

Later benchmarks (client footprint, ingest, fan-out) run against this simulator, so they need to
know it is never their bottleneck. Figures printed:

1. engine only: one `evaluate()` of a 60-car, 24-hour synthetic race at random event times;
2. one full game tick: evaluate + render and serialize what a client reads every tick
   (sessionInfo, standings, GetGameState, websocket LiveStandings and SessionInfo);
3. the highest speed-up one core sustains if every 0.2 s of game time must be produced
   (the game's own scoring rate is about 5 Hz) = 0.2 s / tick cost;
4. served for real: the simulator on real sockets at 1x and at 100x while a client in another
   process polls REST once a second and listens to the push websocket; CPU of the simulator's
   process as a share of one core, and CPU per second of race time.

Baseline in the same run: the cost of serializing the standings alone (what any server of this
data must at least pay), so the tick cost is also printed as a ratio against it.
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import textwrap
import time

from sim.engine import evaluate
from sim.render import REST, TOPICS, serialize
from sim.render_base import Scene
from sim.script import Weekend
from sim.server import Simulator
from sim.synthetic import generate_session
from sim.viewpoint import ViewMode, Viewpoint

CARS = 60
DURATION = 86400.0
GAME_TICK = 0.2  # seconds of game time per scoring update in the real game (~5 Hz)
CLIENT_SECONDS = 10.0

CLIENT = textwrap.dedent(
    """
    import asyncio, sys, time
    import httpx, websockets
    rest, ws_url, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    async def main():
        frames = 0
        async with websockets.connect(ws_url, max_size=None) as ws, httpx.AsyncClient(
            base_url=rest) as http:
            for topic in ("LiveStandings", "SessionInfo"):
                await ws.send('{"messageType":"SUB","topic":"%s"}' % topic)
            end = time.monotonic() + seconds
            async def listen():
                nonlocal frames
                async for _ in ws:
                    frames += 1
            task = asyncio.create_task(listen())
            while time.monotonic() < end:
                for path in ("/rest/watch/sessionInfo", "/rest/watch/standings",
                             "/rest/sessions/GetGameState", "/rest/multiplayer/join/state"):
                    await http.get(path)
                await asyncio.sleep(1.0)
            task.cancel()
        print(frames)
    asyncio.run(main())
    """
)


def scene_for(script, live) -> Scene:
    view = Viewpoint(index=0, player_slot=script.cars[0].entry.slot_id)
    return Scene(
        mode=ViewMode.DRIVING, view=view, live=live, script=script, weekend=Weekend([script])
    )


def per_call(fn, calls: int) -> float:
    started = time.process_time()
    for _ in range(calls):
        fn()
    return (time.process_time() - started) / calls


def offline_figures(script) -> float:
    rng = random.Random(1)
    ets = [rng.uniform(100.0, DURATION) for _ in range(400)]
    it = iter(ets * 10)
    engine_cost = per_call(lambda: evaluate(script, next(it)), 400)

    def tick() -> None:
        live = evaluate(script, next(it))
        scene = scene_for(script, live)
        for path in (
            "/rest/watch/sessionInfo",
            "/rest/watch/standings",
            "/rest/sessions/GetGameState",
        ):
            serialize(REST[path].render(scene))
        for topic in TOPICS.values():
            serialize(topic.render(scene))

    tick_cost = per_call(tick, 200)
    live = evaluate(script, 40000.0)
    body = REST["/rest/watch/standings"].render(scene_for(script, live))
    baseline = per_call(lambda: serialize(body), 400)
    print(f"engine evaluate, {CARS} cars, 24 h race:      {engine_cost * 1e3:7.3f} ms per call")
    print(f"full game tick (evaluate + 5 documents):  {tick_cost * 1e3:7.3f} ms per tick")
    print(
        f"baseline: serialize the standings alone:  {baseline * 1e3:7.3f} ms "
        f"(tick = {tick_cost / baseline:.1f}x baseline)"
    )
    print(
        f"CPU per second of race time at the game's 5 Hz: {tick_cost / GAME_TICK * 1e3:6.2f} ms"
        f" ({tick_cost / GAME_TICK * 100:.2f}% of a core at 1x)"
    )
    print(f"highest speed-up one core sustains at 5 Hz of game time: {GAME_TICK / tick_cost:6.0f}x")
    return tick_cost


async def served(script, speed: float) -> None:
    weekend = Weekend([script])
    async with Simulator(
        weekend,
        viewpoints=[Viewpoint(index=0, player_slot=0, rest_port=0, ws_port=0)],
        speed=speed,
        start_et=3600.0,
        control_port=None,
    ) as sim:
        view = sim.viewpoints[0]
        et0 = sim.clock.position().et
        cpu0, wall0 = time.process_time(), time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            CLIENT,
            view.rest_url,
            view.ws_url,
            str(CLIENT_SECONDS),
            stdout=subprocess.PIPE,
        )
        out, _ = await proc.communicate()
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        race = sim.clock.position().et - et0
    frames = int(out.strip() or 0)
    print(
        f"served at {speed:>5g}x: {wall:5.1f} s wall, {race:8.0f} s of race, "
        f"{frames / wall:5.1f} push frames/s, simulator CPU {cpu / wall * 100:5.1f}% of a core, "
        f"{cpu / race * 1e3:7.3f} ms CPU per race second"
    )


def main() -> None:
    started = time.perf_counter()
    script = generate_session(seed=7, cars=CARS, duration=DURATION)
    laps = sum(len(c.laps) for c in script.cars)
    print(f"generated {CARS} cars, {laps} laps in {time.perf_counter() - started:.2f} s")
    offline_figures(script)
    for speed in (1.0, 100.0):
        asyncio.run(served(script, speed))


if __name__ == "__main__":
    main()
