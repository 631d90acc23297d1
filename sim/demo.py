"""`lmust-demo`: start everything that exists so far and show it working.

Today that is the simulated game: a synthetic multi-class race weekend (practice, qualifying,
race) served for three team members' games on the standard LMU ports, plus the control API.
A ticker reads the first game's REST API every few seconds, as a client will, and prints what a
race engineer would glance at. As the server, the team clients and the dashboard land, this
module starts them too; the demo keeps being the one command that shows the whole product.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

import httpx
import orjson

from sim.script import Weekend
from sim.server import Simulator
from sim.synthetic import generate_weekend

log = logging.getLogger("lmust.demo")

PHASES = {
    0: "starting",
    1: "recon laps",
    2: "grid",
    3: "formation",
    4: "countdown",
    5: "green",
    6: "FULL COURSE YELLOW",
    7: "stopped",
    8: "checkered",
    9: "paused",
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lmust-demo",
        description="Run the LMU Session Tracker demo: the simulated game with three team "
        "members' viewpoints (and, as they land, the server, clients and dashboard).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--cars", type=int, default=24, help="cars in the synthetic weekend")
    p.add_argument("--race-duration", type=float, default=6 * 3600.0, help="race length (s)")
    p.add_argument("--seed", type=int, default=7, help="seed of the synthetic weekend")
    p.add_argument("--speed", type=float, default=10.0, help="game seconds per wall second")
    p.add_argument("--viewpoints", type=int, default=3, help="team members' games")
    p.add_argument("--ticker", type=float, default=5.0, help="seconds between ticker lines")
    return p


def make_weekend(args: argparse.Namespace) -> Weekend:
    return generate_weekend(
        seed=args.seed,
        cars=args.cars,
        race_duration=args.race_duration,
        classes=["Hyper", "LMP2", "GT3"],
        practice_duration=1200.0,
        qualifying_duration=900.0,
    )


def ticker_line(info: object, standings: object) -> str:
    """One line: session, clock, phase and the leader of each class (from the game's JSON)."""
    if not isinstance(info, dict):
        return "game: not in a session (loading the next one?)"
    cars = standings if isinstance(standings, list) else []
    leaders: dict[str, dict] = {}
    for car in sorted(cars, key=lambda c: c.get("position", 999)):
        leaders.setdefault(car.get("carClass", "?"), car)
    parts = [
        f"{cls} #{car.get('carNumber', '?')} {car.get('driverName', '?')} "
        f"L{car.get('lapsCompleted', 0)}"
        for cls, car in leaders.items()
    ]
    et = info.get("currentEventTime", 0.0)
    return (
        f"{info.get('session')} {info.get('trackName')} ET {et:7.0f}s "
        f"{PHASES.get(info.get('gamePhase'), '?')} | " + " | ".join(parts)
    )


async def run_ticker(rest_url: str, every: float) -> None:
    async with httpx.AsyncClient(base_url=rest_url, timeout=2.0) as http:
        while True:
            try:
                info_r = await http.get("/rest/watch/sessionInfo")
                standings_r = await http.get("/rest/watch/standings")
                info = orjson.loads(info_r.content) if info_r.content else None
                standings = orjson.loads(standings_r.content) if standings_r.content else None
                print(ticker_line(info, standings), flush=True)
            except (httpx.HTTPError, orjson.JSONDecodeError) as exc:
                print(f"game: no answer ({exc.__class__.__name__})", flush=True)
            await asyncio.sleep(every)


async def run(args: argparse.Namespace) -> None:
    weekend = make_weekend(args)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    views = list(range(args.viewpoints))
    from sim.viewpoint import Viewpoint, pick_player_slots

    slots = pick_player_slots(weekend.sessions[0], len(views))
    viewpoints = [
        Viewpoint(index=k, player_slot=slot, rest_port=6397 + 2 * k, ws_port=6398 + 2 * k)
        for k, slot in enumerate(slots)
    ]
    async with Simulator(
        weekend, viewpoints=viewpoints, speed=args.speed, control_port=6396
    ) as sim:
        log.info(
            "demo running: simulated game at %s (x%g); control %s/sim/status; Ctrl+C stops",
            sim.viewpoints[0].rest_url,
            args.speed,
            sim.control_url,
        )
        ticker = asyncio.create_task(run_ticker(sim.viewpoints[0].rest_url, args.ticker))
        await stop.wait()
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("uvicorn", "uvicorn.error", "websockets", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        asyncio.run(run(args))
    except OSError as exc:
        print(
            f"lmust-demo: error: {exc.strerror or exc} (is another demo or lmust-sim running?)",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
