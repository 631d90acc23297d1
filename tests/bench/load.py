"""Load: 20 sessions at once, each 60 cars and 3 clients, at 1x, with 500 viewers.

One real server subprocess (`python -m server`, SQLite in a temporary folder). The 20 simulated
games run in `SIM_PROCESSES` processes (one `sim.server.Simulator` per session, each its own
synthetic race with its own game server name and port, so 20 sessions, 3 viewpoints each),
joined `START_ET` into the race. The 60
real clients run as `client.app.ClientApp` tasks in `CLIENT_PROCESSES` worker processes (the
whole client: reader, slimmer, uplink with its key; only the uplink's `publish` and ack handling
are timed). The viewers (`bench_fanout._viewers`, `VIEWER_PROCESSES` processes) watch
`/ws/view?view=session` of every session, spread evenly.

Printed for a `--minutes` run (default 3) after a warm-up: the server's CPU (% of one core;
mean and busiest second), client update -> server ack latency (p50 / p99 / max: from the
client queueing an update to the ack of it), viewer swap delay (p50 / p99 / max: from the
server receiving an update, the status element's `data-updated-at`, to a viewer getting the
swap, detected by a change as bench_fanout does), viewers connected, errors, and the ERROR
lines of the server log. Exit code 1 if a client, viewer or session is missing or an ERROR is
logged. Not collected by pytest: `python tests/bench/load.py [--minutes 3] [--sessions 20]
[--viewers 500] [--cars 60]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

import bench_fanout as fanout  # noqa: E402  (viewers, percentile, cpu_seconds, ...)
import soak  # noqa: E402  (start_server, stop, log_problems, rss_mb)

CLASSES = ["Hyper", "LMP2", "GT3"]
VIEWPOINTS = 3
SIM_PROCESSES = 2
CLIENT_PROCESSES = 2
VIEWER_PROCESSES = 2
WARMUP = 20.0  # wall seconds after every session exists, before measuring
SEED = 700
START_ET = 1800.0  # the games join the races half an hour in (laps, stops and history exist)


def race(index: int, cars: int, minutes: float):
    """Session `index`'s race: its own seed, game server name and port (so its own session)."""
    from sim.synthetic import generate_session

    script = generate_session(seed=SEED + index, cars=cars, duration=START_ET + 600 + minutes * 120,
                              classes=CLASSES)  # fmt: skip
    script.server_name = f"Load Server {index:02d}"
    script.server_port = 40000 + index
    return script


def spawn(mode: str, payload: dict, log: Path) -> subprocess.Popen:
    """This file in a worker `mode` (sim, clients, viewers) with its job as JSON."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), mode, json.dumps(payload)],
            env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


def wait_for(path: Path, proc: subprocess.Popen, timeout: float) -> dict:
    deadline = time.time() + timeout
    while not path.exists():
        if proc.poll() is not None or time.time() > deadline:
            raise RuntimeError(f"worker {proc.args[2]} ended or hung before writing {path}")
        time.sleep(0.2)
    return json.loads(path.read_text())


def until_stop_file(stop_file: Path):
    async def wait() -> None:
        while not stop_file.exists():
            await asyncio.sleep(0.5)

    return wait()


# --- worker: simulated games -------------------------------------------------------------------


def sim_worker(job: dict) -> None:
    """Serve the races `job["sessions"]` (one Simulator each, 3 viewpoints) until the stop
    file exists; writes the viewpoints' URLs to `job["out"]`."""
    asyncio.run(_sims(job))


async def _sims(job: dict) -> None:
    from sim.script import Weekend
    from sim.server import Simulator

    sims = []
    try:
        for index in job["sessions"]:
            sim = Simulator(Weekend(sessions=[race(index, job["cars"], job["minutes"])]),
                            viewpoints=VIEWPOINTS, speed=1.0, start_et=START_ET,
                            control_port=None)  # fmt: skip
            await sim.start()
            sims.append((index, sim))
        urls = [
            {"session": index, "view": h.index, "rest": h.rest_url, "ws": h.ws_url,
             "name": h.view.name_in(sim.weekend.sessions[0])}
            for index, sim in sims for h in sim.viewpoints
        ]  # fmt: skip
        tmp = Path(job["out"] + ".tmp")
        tmp.write_text(json.dumps(urls))
        tmp.replace(job["out"])
        await until_stop_file(Path(job["stop"]))
    finally:
        for _, sim in sims:
            await sim.stop()


# --- worker: clients ---------------------------------------------------------------------------


def client_worker(job: dict) -> None:
    """Run one `ClientApp` per entry of `job["games"]` until the stop file exists; writes
    update -> ack latencies and exit codes to `job["out"]`."""
    folder = Path(job["folder"])
    logging.basicConfig(filename=folder / "clients.log", level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")  # fmt: skip
    for noisy in ("httpx", "httpcore", "websockets"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    result = asyncio.run(_clients(job, folder))
    Path(job["out"]).write_text(json.dumps(result))


def timed_app_class():
    """`ClientApp` whose uplink notes when each update is queued and when its ack comes."""
    from client.app import ClientApp, client_version
    from client.uplink import Uplink

    class TimedUplink(Uplink):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.queued: dict[int, float] = {}  # seq -> when the update was queued
            self.latencies: list[tuple[float, float]] = []  # (ack time, update -> ack)

        def publish(self, state: dict, et: float) -> None:
            before = self._stream.seq
            super().publish(state, et)
            now = time.time()
            for seq in range(before + 1, self._stream.seq + 1):
                self.queued[seq] = now

        def _on_message(self, msg: dict) -> None:
            if msg.get("type") == "ack" and msg.get("stream") == self._stream.id:
                now = time.time()
                for seq in [s for s in self.queued if s <= msg["seq"]]:
                    self.latencies.append((now, now - self.queued.pop(seq)))
            super()._on_message(msg)

    class TimedApp(ClientApp):
        def make_uplink(self) -> TimedUplink:
            return TimedUplink(self.config.server_url, self.identity,
                               client_version=client_version(), name=self.config.name,
                               on_status=self.on_uplink_status)  # fmt: skip

    return TimedApp


async def _clients(job: dict, folder: Path) -> dict:
    from client import config as config_mod
    from client.console import Console
    from client.identity import Identity

    app_class = timed_app_class()
    apps = []
    for game in job["games"]:
        home = folder / f"client-{game['session']:02d}-{game['view']}"
        home.mkdir(parents=True, exist_ok=True)
        config = config_mod.load(home / "lmust-client.toml", overrides={
            "server_url": job["server"], "name": game["name"], "game_url": game["rest"],
            "game_ws_url": game["ws"], "key_file": str(home / "lmust-client.key"),
            "max_time_scale": 2.0,
        })  # fmt: skip
        identity = Identity.load_or_create(config.key_file)
        console = Console(lambda _line: None, key_file=str(config.key_file),
                          client_id=identity.client_id)  # fmt: skip
        apps.append(app_class(config, identity=identity, console=console))
    runs = [asyncio.create_task(app.run(handle_signals=False)) for app in apps]
    await until_stop_file(Path(job["stop"]))
    for app in apps:
        app.stop()
    codes = await asyncio.gather(*runs, return_exceptions=True)
    return {
        "latencies": [lat for app in apps for lat in app.uplink.latencies],
        "codes": [c if isinstance(c, int) else repr(c) for c in codes],
        "published": [app.published for app in apps],
    }


# --- worker: viewers ---------------------------------------------------------------------------


def viewer_worker(job: dict) -> None:
    """`bench_fanout._viewers` on each of `job["urls"]` (count each) in this one process."""
    fanout.raise_open_files()
    parts = asyncio.run(_all_viewers(job))
    Path(job["out"]).write_text(json.dumps(parts))


async def _all_viewers(job: dict) -> list[dict]:
    return await asyncio.gather(*(
        fanout._viewers(url, count, job["start_at"], job["stop_at"])
        for url, count in job["urls"]
    ))  # fmt: skip


# --- the run -----------------------------------------------------------------------------------


def spread(total: int, parts: int) -> list[int]:
    return [len(range(i, total, parts)) for i in range(parts)]


async def sessions_of(port: int, want: int, timeout: float) -> list[dict]:
    """The server's live sessions with cars, once `want` of them exist."""
    import httpx

    deadline = time.time() + timeout
    live: list[dict] = []
    async with httpx.AsyncClient() as http:
        while time.time() < deadline:
            with contextlib.suppress(httpx.HTTPError, ValueError):
                status = (await http.get(f"http://127.0.0.1:{port}/status.json",
                                         timeout=10)).json()  # fmt: skip
                live = [s for s in status["sessions"] if s.get("cars") and not s.get("closed")]
                if len(live) >= want:
                    return live
            await asyncio.sleep(1.0)
    raise RuntimeError(f"only {len(live)} of {want} sessions appeared")


async def measure(
    port: int, server_pid: int, start_at: float, stop_at: float, others: dict[str, list[int]]
) -> tuple[list[float], dict[str, float], dict]:
    """The server's CPU share of one core each second of the window; the other processes'
    (sims, clients, viewers: % of one core, summed per kind) over it; the hub's counters."""
    import httpx

    def cpu_of(pids: list[int]) -> float:
        return sum(fanout.cpu_seconds(pid) for pid in pids)

    await asyncio.sleep(max(0.0, start_at - time.time()))
    shares = []
    before, t0 = {kind: cpu_of(pids) for kind, pids in others.items()}, time.time()
    while time.time() < stop_at - 0.5:
        c, t = fanout.cpu_seconds(server_pid), time.time()
        await asyncio.sleep(1.0)
        shares.append((fanout.cpu_seconds(server_pid) - c) / (time.time() - t))
    spent = time.time() - t0
    usage = {kind: (cpu_of(pids) - before[kind]) / spent for kind, pids in others.items()}
    hub: dict = {}
    with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
        async with httpx.AsyncClient() as http:
            url = f"http://127.0.0.1:{port}/status.json"
            hub = (await http.get(url, timeout=30)).json()["live"]
    return shares, usage, hub


# Every client connects from 127.0.0.1 here, as behind a reverse proxy: the per-address
# handshake limits are raised as the README says to do there (else 60 clients take turns).
SERVER_CONFIG = "max_pending_handshakes = 100\nhandshake_rate = 100.0\nhandshake_burst = 100\n"


def run(args: argparse.Namespace, folder: Path) -> int:
    port = fanout.free_port()
    (folder / "lmust-server.toml").write_text(SERVER_CONFIG)  # read from the server's cwd
    server = soak.start_server(port, folder, 2.0)
    stop_file = folder / "stop"
    workers: list[subprocess.Popen] = []
    problems: list[str] = []
    try:
        sims = []
        for p, indices in enumerate([list(range(i, args.sessions, SIM_PROCESSES))
                                     for i in range(SIM_PROCESSES)]):  # fmt: skip
            job = {"sessions": indices, "cars": args.cars, "minutes": args.minutes,
                   "out": str(folder / f"sim-{p}.json"), "stop": str(stop_file)}  # fmt: skip
            sims.append((job, spawn("--sim-worker", job, folder / f"sim-{p}.log")))
        workers += [proc for _, proc in sims]
        games = [g for job, proc in sims for g in wait_for(Path(job["out"]), proc, 120)]
        print(f"{len(games)} simulated games of {args.sessions} races up; starting"
              f" {len(games)} clients in {CLIENT_PROCESSES} processes", flush=True)  # fmt: skip
        clients = []
        for p in range(CLIENT_PROCESSES):
            job = {"games": games[p::CLIENT_PROCESSES], "server": f"http://127.0.0.1:{port}",
                   "folder": str(folder), "out": str(folder / f"clients-{p}.json"),
                   "stop": str(stop_file)}  # fmt: skip
            clients.append((job, spawn("--client-worker", job, folder / f"clients-{p}.out")))
        workers += [proc for _, proc in clients]
        live = asyncio.run(sessions_of(port, args.sessions, 180))
        urls = [f"ws://127.0.0.1:{port}/ws/view?view=session&session={s['session_id']}"
                for s in live[: args.sessions]]  # fmt: skip
        per_session = spread(args.viewers, len(urls))
        start_at = time.time() + WARMUP + args.viewers / 50
        stop_at = start_at + args.minutes * 60
        print(f"{len(live)} sessions live; {args.viewers} viewers in {VIEWER_PROCESSES} processes;"
              f" measuring {args.minutes:g} min from {WARMUP + args.viewers / 50:.0f} s",
              flush=True)  # fmt: skip
        viewers = []
        pairs = list(zip(urls, per_session, strict=True))
        for p in range(VIEWER_PROCESSES):
            job = {"urls": pairs[p::VIEWER_PROCESSES], "start_at": start_at, "stop_at": stop_at,
                   "out": str(folder / f"viewers-{p}.json")}  # fmt: skip
            viewers.append((job, spawn("--viewer-worker", job, folder / f"viewers-{p}.log")))
        workers += [proc for _, proc in viewers]
        rss0 = soak.rss_mb(server.pid)
        others = {
            kind: [proc.pid for _, proc in group]
            for kind, group in (("sims", sims), ("clients", clients), ("viewers", viewers))
        }
        shares, usage, hub = asyncio.run(measure(port, server.pid, start_at, stop_at, others))
        rss1 = soak.rss_mb(server.pid)
        view_parts = [p for job, _ in viewers for p in wait_for(Path(job["out"]), _, 120)]
        stop_file.touch()
        client_parts = [wait_for(Path(job["out"]), proc, 60) for job, proc in clients]
        for proc in workers:
            proc.wait(30)
    finally:
        stop_file.touch()
        for proc in workers:
            if proc.poll() is None:
                proc.kill()
        code = soak.stop(server)
    print(
        "CPU of the other processes (% of one core): "
        + ", ".join(f"{kind} {100 * share:.0f}%" for kind, share in usage.items())
    )
    print("server hub: " + ", ".join(f"{k} {hub.get(k)}" for k in fanout.HUB_FIGURES))
    return report(args, folder, shares, client_parts, view_parts, start_at, stop_at,
                  (rss0, rss1), code, problems)  # fmt: skip


def report(args, folder: Path, shares, client_parts, view_parts, start_at, stop_at, rss, code,
           problems: list[str]) -> int:  # fmt: skip
    acks = [lat for part in client_parts for t, lat in part["latencies"]
            if start_at <= t <= stop_at]  # fmt: skip
    codes = [c for part in client_parts for c in part["codes"]]
    swaps = [t_recv - fed_at for part in view_parts for t_recv, fed_at in part["swaps"]]
    connected = sum(p["connected"] for p in view_parts)
    errors = sum(p["error_count"] for p in view_parts)
    messages = sum(p["messages"] for p in view_parts)
    window = stop_at - start_at
    ms = 1e3
    print(
        f"\n=== load: {args.sessions} sessions x {args.cars} cars x {VIEWPOINTS} clients at 1x,"
        f" {args.viewers} viewers, {window:.0f} s measured ==="
    )
    print(
        f"server CPU (% of one core): mean {100 * sum(shares) / max(1, len(shares)):.0f}%,"
        f" p99 second {100 * fanout.percentile(shares, 99):.0f}%,"
        f" busiest second {100 * max(shares, default=math.nan):.0f}%;"
        f" RSS {rss[0]:.0f} -> {rss[1]:.0f} MB"
    )
    print(
        f"client update -> ack: {len(acks)} updates, p50 {fanout.percentile(acks, 50) * ms:.0f}"
        f" ms, p99 {fanout.percentile(acks, 99) * ms:.0f} ms,"
        f" max {max(acks, default=math.nan) * ms:.0f} ms"
    )
    print(
        f"viewer swap delay (server receive -> viewer): {len(swaps)} swaps,"
        f" p50 {fanout.percentile(swaps, 50) * ms:.0f} ms,"
        f" p99 {fanout.percentile(swaps, 99) * ms:.0f} ms,"
        f" max {max(swaps, default=math.nan) * ms:.0f} ms"
    )
    print(
        f"viewers: {connected}/{args.viewers} connected, {messages} messages"
        f" ({messages / window / max(1, connected):.1f}/s each), {errors} errors"
        f" {[e for p in view_parts for e in p['errors']][:3]}"
    )
    print(f"client exit codes: {sorted(set(map(str, codes)))}; server exit code {code}")
    bad = soak.log_problems([folder / "server.log", *folder.glob("clients.log")])
    print(f"ERROR/Traceback lines in the server and client logs: {len(bad)}")
    for line in bad[:10]:
        print("  " + line)
    expected_clients = args.sessions * VIEWPOINTS
    if len(codes) != expected_clients or any(c != 0 for c in codes):
        problems.append(f"clients: {codes}")
    if connected != args.viewers or errors:
        problems.append(f"viewers: {connected} connected, {errors} errors")
    if bad:
        problems.append(f"{len(bad)} ERROR lines in the logs")
    if not acks or not swaps:
        problems.append("no update measured")
    print("verdict: " + ("OK" if not problems else "FAILED: " + "; ".join(problems)), flush=True)
    return 1 if problems else 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=3.0, help="minutes measured")
    p.add_argument("--sessions", type=int, default=20, help="sessions at once")
    p.add_argument("--viewers", type=int, default=500, help="viewers, spread over the sessions")
    p.add_argument("--cars", type=int, default=60, help="cars per session")
    p.add_argument("--keep", action="store_true", help="keep the folder (database, logs)")
    return p


WORKERS = {"--sim-worker": sim_worker, "--client-worker": client_worker,
           "--viewer-worker": viewer_worker}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] and argv[0] in WORKERS:
        WORKERS[argv[0]](json.loads(argv[1]))
        return 0
    args = build_parser().parse_args(argv)
    fanout.raise_open_files()
    folder = Path(tempfile.mkdtemp(prefix="load-"))
    try:
        return run(args, folder)
    finally:
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
