"""`lmust-sim`: run the Le Mans Ultimate API simulator from the command line.

Examples:
    lmust-sim --synthetic --cars 20 --duration 3600 --seed 1
    lmust-sim --synthetic --weekend --classes Hyper,LMP2,GT3 --viewpoints 3 --speed 10
    lmust-sim --list /path/recorded-sessions.db
    lmust-sim --replay /path/recorded-sessions.db --session 019d4a8b... --speed 5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

log = logging.getLogger("sim.cli")

EXIT_USAGE = 2


class CliError(Exception):
    """A problem the user can fix; printed as one line, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lmust-sim",
        description=(
            "Simulate the local API of Le Mans Ultimate (REST on --port, push websocket on "
            "--ws-port) for one or several simulated games watching the same race."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    src = p.add_argument_group("race source (choose one)")
    mode = src.add_mutually_exclusive_group(required=True)
    mode.add_argument(
        "--synthetic", action="store_true", help="generate a seeded synthetic race (or weekend)"
    )
    mode.add_argument(
        "--replay", metavar="PATH", help="replay a session of a recorded-sessions SQLite DB"
    )
    mode.add_argument(
        "--list", metavar="PATH", help="list the sessions of a recorded-sessions DB and exit"
    )
    syn = p.add_argument_group("synthetic races")
    syn.add_argument("--cars", type=int, default=20, help="number of cars")
    syn.add_argument("--duration", type=float, default=3600.0, help="race length in seconds")
    syn.add_argument("--seed", type=int, default=1, help="random seed: same seed, same race")
    syn.add_argument(
        "--session",
        default=None,
        help="session type for --synthetic (e.g. RACE1, PRACTICE1, QUALIFY1; default RACE1); "
        "with --replay: the session id to replay",
    )
    syn.add_argument(
        "--weekend",
        action="store_true",
        help="practice + qualifying + race instead of a single session",
    )
    syn.add_argument(
        "--classes", default=None, help="comma-separated car classes, e.g. Hyper,LMP2,GT3"
    )
    syn.add_argument("--track", default=None, help="track name (default: the generator's)")
    syn.add_argument(
        "--offline", action="store_true", help="an offline session (teams answer null)"
    )
    rep = p.add_argument_group("replays")
    rep.add_argument(
        "--track-maps",
        metavar="DIR",
        default=None,
        help="folder of /rest/watch/trackmap JSON files named after the tracks",
    )
    run = p.add_argument_group("clock")
    run.add_argument("--speed", type=float, default=1.0, help="game seconds per wall second")
    run.add_argument("--start-et", type=float, default=0.0, help="event time to start at (s)")
    net = p.add_argument_group("network")
    net.add_argument("--host", default="127.0.0.1", help="address to listen on")
    net.add_argument("--port", type=int, default=6397, help="REST port of the first viewpoint")
    net.add_argument(
        "--ws-port", type=int, default=6398, help="websocket port of the first viewpoint"
    )
    net.add_argument(
        "--viewpoints",
        type=int,
        default=1,
        help="number of simulated games; viewpoint k uses port+2k and ws-port+2k",
    )
    net.add_argument(
        "--player-slots",
        default=None,
        help="comma-separated player car slot ids, one per viewpoint "
        "(default: cars of distinct teams, best grid positions first)",
    )
    net.add_argument(
        "--control-port", type=int, default=6396, help="port of the control API (/sim/status)"
    )
    p.add_argument("--verbose", "-v", action="store_true", help="debug logging")
    return p


def _classes(raw: str | None) -> list[str] | None:
    return [c.strip() for c in raw.split(",") if c.strip()] if raw else None


def synthetic_weekend(args):
    from sim.script import Weekend
    from sim.synthetic import generate_session, generate_weekend

    common = {
        "seed": args.seed,
        "cars": args.cars,
        "classes": _classes(args.classes),
        "track": args.track,
        "online": not args.offline,
    }
    if args.weekend:
        return generate_weekend(race_duration=args.duration, **common)
    script = generate_session(session=args.session or "RACE1", duration=args.duration, **common)
    return Weekend(sessions=[script])


def replay_weekend(args):
    path = Path(args.replay)
    if not path.is_file():
        raise CliError(f"replay file not found: {path}")
    if not args.session:
        raise CliError("--replay needs --session ID (see --list PATH for the ids)")
    from sim.replay import ReplayError, load_weekend

    try:
        return load_weekend(path, args.session, track_maps=args.track_maps)
    except ReplayError as exc:
        raise CliError(f"cannot replay session {args.session}: {exc}") from exc


def list_sessions(path_text: str) -> int:
    path = Path(path_text)
    if not path.is_file():
        raise CliError(f"recorded-sessions file not found: {path}")
    from sim.replay import ReplayError, list_sessions

    try:
        sessions = list_sessions(path)
    except ReplayError as exc:
        raise CliError(f"cannot read {path}: {exc}") from exc
    for row in sessions:
        print("  ".join(f"{k}={v}" for k, v in row.items()))
    return 0


def _player_slots(raw: str | None, count: int) -> list[int] | None:
    if not raw:
        return None
    try:
        slots = [int(s) for s in raw.split(",") if s.strip()]
    except ValueError as exc:
        raise CliError(f"--player-slots must be comma-separated integers: {raw}") from exc
    if len(slots) != count:
        raise CliError(f"--player-slots lists {len(slots)} slots for {count} viewpoints")
    return slots


async def serve(args, weekend) -> None:
    from sim.server import Simulator
    from sim.viewpoint import Viewpoint, pick_player_slots

    first = weekend.sessions[0]
    known = {car.entry.slot_id for car in first.cars}
    slots = _player_slots(args.player_slots, args.viewpoints)
    if slots is None:
        try:
            slots = pick_player_slots(first, args.viewpoints)
        except ValueError as exc:
            raise CliError(str(exc)) from exc
    for slot in slots:
        if slot not in known:
            raise CliError(f"player slot {slot} is not a car of {first.session}")
    views = [
        Viewpoint(
            index=k, player_slot=slot, rest_port=args.port + 2 * k, ws_port=args.ws_port + 2 * k
        )
        for k, slot in enumerate(slots)
    ]
    sim = Simulator(
        weekend,
        viewpoints=views,
        speed=args.speed,
        start_et=args.start_et,
        host=args.host,
        control_port=args.control_port,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await sim.start()
    except OSError as exc:
        raise CliError(str(exc.strerror or exc)) from exc
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        await sim.stop()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        for noisy in ("uvicorn", "uvicorn.error", "websockets"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        if args.viewpoints < 1:
            raise CliError("--viewpoints must be at least 1")
        if args.speed <= 0:
            raise CliError("--speed must be > 0")
        if args.list:
            return list_sessions(args.list)
        weekend = replay_weekend(args) if args.replay else synthetic_weekend(args)
        asyncio.run(serve(args, weekend))
    except CliError as exc:
        print(f"lmust-sim: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
