"""`lmust-demo`: start everything that exists so far and show it working.

The simulated game plays a synthetic multi-class race weekend (practice, qualifying, race) for
three team members' games on the standard LMU ports (6397/6398, 6399/6400, 6401/6402), with the
control API on 6396. A real `lmust-server` runs on http://localhost:5000 (database under
`./data/demo/`) and three real `lmust-client` processes, one beside each simulated game, stream
to it. The server, clients and game are separate processes, as on race day; this module only
starts them (it imports neither the client nor the server). A ticker prints what a race
engineer would glance at, read from the game's API and the server's status.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import subprocess
import sys
from pathlib import Path

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
    p.add_argument("--host", default="0.0.0.0", help="address the server listens on")
    p.add_argument("--port", type=int, default=5000, help="the server's port")
    p.add_argument("--data-dir", default="data/demo", help="database and logs of the demo")
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


async def run_ticker(rest_url: str, server_url: str, every: float) -> None:
    async with httpx.AsyncClient(timeout=2.0) as http:
        while True:
            try:
                info_r = await http.get(rest_url + "/rest/watch/sessionInfo")
                standings_r = await http.get(rest_url + "/rest/watch/standings")
                info = orjson.loads(info_r.content) if info_r.content else None
                standings = orjson.loads(standings_r.content) if standings_r.content else None
                print(ticker_line(info, standings), flush=True)
            except (httpx.HTTPError, orjson.JSONDecodeError) as exc:
                print(f"game: no answer ({exc.__class__.__name__})", flush=True)
            with contextlib.suppress(httpx.HTTPError, ValueError):
                status = (await http.get(server_url + "/status.json")).json()
                print("  " + server_line(status), flush=True)
            await asyncio.sleep(every)


def server_line(status: dict) -> str:
    """One line: which clients feed the server and as what."""
    clients = status.get("clients", [])
    if not clients:
        return "server: no client connected yet"
    parts = [
        f"{c.get('name')} ({c.get('role') or 'connecting'}, {c.get('messages', 0)} updates)"
        for c in clients
    ]
    return f"server: {len(clients)} clients: " + ", ".join(parts)


def spawn(args: list[str], log_path: Path) -> subprocess.Popen:
    """A child process of the demo, its output in a log file (the console stays readable)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    out = log_path.open("ab")
    return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)


def stop_all(processes: list[subprocess.Popen]) -> None:
    for proc in processes:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    for proc in processes:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


async def run(args: argparse.Namespace) -> None:
    from sim.viewpoint import Viewpoint, pick_player_slots

    weekend = make_weekend(args)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    slots = pick_player_slots(weekend.sessions[0], args.viewpoints)
    viewpoints = [
        Viewpoint(index=k, player_slot=slot, rest_port=6397 + 2 * k, ws_port=6398 + 2 * k)
        for k, slot in enumerate(slots)
    ]
    data = Path(args.data_dir)
    server_url = f"http://127.0.0.1:{args.port}"
    processes: list[subprocess.Popen] = []
    async with Simulator(
        weekend, viewpoints=viewpoints, speed=args.speed, control_port=6396
    ) as sim:
        processes.append(
            spawn(
                [sys.executable, "-m", "server", "--host", args.host, "--port", str(args.port),
                 "--data-dir", str(data), "--max-time-scale", str(max(1.0, args.speed * 2))],
                data / "logs" / "server.log",
            )
        )  # fmt: skip
        for k, handle in enumerate(sim.viewpoints):
            name = handle.view.name_in(weekend.sessions[0])
            processes.append(
                spawn(
                    [sys.executable, "-m", "client", "--server", server_url,
                     "--game", handle.rest_url, "--game-ws", handle.ws_url, "--name", name,
                     "--config", str(data / f"client-{k + 1}" / "lmust-client.toml"),
                     "--max-time-scale", str(max(1.0, args.speed * 2))],
                    data / "logs" / f"client-{k + 1}.log",
                )
            )  # fmt: skip
        log.info(
            "demo running: game x%g at %s, server %s (logs in %s); Ctrl+C stops",
            args.speed,
            sim.viewpoints[0].rest_url,
            f"http://localhost:{args.port}",
            data / "logs",
        )
        ticker = asyncio.create_task(
            run_ticker(sim.viewpoints[0].rest_url, server_url, args.ticker)
        )
        try:
            await stop.wait()
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            await asyncio.to_thread(stop_all, processes)


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
