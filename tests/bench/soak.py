"""Soak: a whole long race through the real chain, watching memory, the database and the logs.

sim (in this process: `sim.server.Simulator`, one synthetic race, 3 viewpoints, at `--speed`)
-> 3 real clients (`python -m client` subprocesses, as `sim/demo.py` runs them)
-> a real server subprocess (`python -m server`, SQLite in a temporary folder)
-> `--viewers` websockets on `/ws/view?view=session` (another process; they count messages).

Every `--every` seconds one line: race ET (the server's), server RSS (VmRSS), server CPU % of one
core, database size (+ WAL), laps stored (read-only SQLite), viewers' messages. At the end: RSS
over time (first / middle / last / max), database size, ERROR / Traceback lines in the server
and client logs (must be 0), laps stored against the script's laps (none lost, none invented).
The exit code is 1 if a check fails, so a run can fail.

The clients tick every `--tick` wall seconds (default 0.5): at 100x a 1 s tick is 100 s of race,
about one lap, and a late tick then skips a whole lap, which a real client at 1x (a hundred
observations a lap) never does; the tracker stores the lap it sees as "late" and the skipped one
is only recovered by a backfill, which the arbiter asks for after 10 wall seconds unfed.

Not a pytest test (tests/bench is not collected). Default: a 24-hour, 60-car race at 100x
(~15 minutes):  `python tests/bench/soak.py`  (shorter: `--hours 6`, `--speed`, `--cars`,
`--viewers`; `--keep` keeps the folder with the database and logs).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "tests" / "core"))

import bench_fanout as fanout  # noqa: E402  (free_port, cpu_seconds, raise_open_files, ...)

CLASSES = ["Hyper", "LMP2", "GT3"]
VIEWPOINTS = 3
TAIL = 45.0  # wall seconds after the scripted race end: the last laps, the session closes
OPEN_AFTER_FINISH = "not yet (its clients still show the results; closed 120 s after the last feed)"
LOG_PROBLEMS = ("ERROR", "Traceback", "CRITICAL")


# --- processes ---------------------------------------------------------------------------------


def start_server(port: int, folder: Path, time_scale: float) -> subprocess.Popen:
    """`python -m server` on `port` with its database in `folder`, log in folder/server.log;
    returns once /healthz answers."""
    import httpx

    log = folder / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "server", "--host", "127.0.0.1", "--port", str(port),
             "--data-dir", str(folder), "--max-time-scale", str(time_scale)],
            cwd=folder, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    deadline = time.time() + 30
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the server exited: " + log.read_text())
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the server did not start: " + log.read_text())


def start_client(port: int, handle, name: str, folder: Path, time_scale: float, tick: float):
    """One `python -m client` beside one simulated game (as sim/demo.py starts them)."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "client.out").open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "client", "--server", f"http://127.0.0.1:{port}",
             "--game", handle.rest_url, "--game-ws", handle.ws_url, "--name", name,
             "--config", str(folder / "lmust-client.toml"), "--max-time-scale", str(time_scale),
             "--tick", str(tick),
             "--log-file", str(folder / "client.log")],
            cwd=folder, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip


def stop(proc: subprocess.Popen, timeout: float = 20.0) -> int | None:
    """SIGINT (a clean stop), then SIGKILL if it hangs; returns the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def db_sizes(folder: Path) -> tuple[float, float]:
    """(database MB, WAL MB)."""

    def size(p: Path) -> float:
        return p.stat().st_size / 2**20 if p.exists() else 0.0

    return size(folder / "lmust.db"), size(folder / "lmust.db-wal")


def laps_stored(database: Path) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as conn:
        conn.execute("PRAGMA busy_timeout = 2000")
        return conn.execute("SELECT COUNT(*) FROM laps").fetchone()[0]


def log_problems(paths: list[Path]) -> list[str]:
    out = []
    for path in paths:
        if not path.exists():
            continue
        for line in path.read_text(errors="replace").splitlines():
            if any(word in line for word in LOG_PROBLEMS):
                out.append(f"{path.parent.name}/{path.name}: {line.strip()[:200]}")
    return out


# --- viewers (another process) -----------------------------------------------------------------


def start_viewers(url: str, count: int, stop_at: float, progress: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--viewer-worker", url, str(count),
         repr(stop_at), str(progress)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip


def viewer_worker(url: str, count: int, stop_at: float, progress: Path) -> None:
    """`count` viewers of `url` until `stop_at` (or a `.stop` file beside `progress`); writes
    their counts to `progress` each second."""
    fanout.raise_open_files()
    asyncio.run(_count_viewers(url, count, stop_at, progress))


async def _count_viewers(url: str, count: int, stop_at: float, progress: Path) -> None:
    from websockets.asyncio.client import connect

    tally = {"connected": 0, "messages": 0, "bytes": 0, "errors": 0, "error_sample": []}

    async def one() -> None:
        try:
            async with connect(url, max_size=None, open_timeout=60,
                               compression=fanout.COMPRESSION) as ws:  # fmt: skip
                tally["connected"] += 1
                while (wait := stop_at - time.time()) > 0:
                    try:
                        raw = await asyncio.wait_for(ws.recv(decode=False), wait)
                    except TimeoutError:
                        break
                    tally["messages"] += 1
                    tally["bytes"] += len(raw)
                tally["connected"] -= 1
        except Exception as exc:  # counted and shown: a viewer lost is a finding
            tally["errors"] += 1
            tally["connected"] = max(0, tally["connected"] - 1)
            if len(tally["error_sample"]) < 3:
                tally["error_sample"].append(repr(exc)[:200])

    tasks = [asyncio.create_task(one()) for _ in range(count)]

    async def report() -> None:
        """Counts to `progress` each second; a `.stop` file beside it ends the viewers."""
        while not progress.with_suffix(".stop").exists():
            tmp = progress.with_suffix(".tmp")
            tmp.write_text(json.dumps(tally))
            tmp.replace(progress)
            await asyncio.sleep(1.0)
        for task in tasks:
            task.cancel()

    reporter = asyncio.create_task(report())
    await asyncio.gather(*tasks, return_exceptions=True)
    reporter.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reporter
    progress.write_text(json.dumps(tally))


def read_progress(progress: Path) -> dict:
    with contextlib.suppress(OSError, ValueError):
        return json.loads(progress.read_text())
    return {}


# --- the run -----------------------------------------------------------------------------------


@dataclass
class Sample:
    wall: float
    et: float | None
    rss: float
    cpu: float
    db: float
    wal: float
    laps: int
    messages: int


@dataclass
class Soak:
    folder: Path
    port: int
    server: subprocess.Popen
    samples: list[Sample] = field(default_factory=list)


async def session_of(port: int, timeout: float = 60.0) -> dict:
    """The server's (one) live session with cars, once it exists."""
    import httpx

    deadline = time.time() + timeout
    async with httpx.AsyncClient() as http:
        while time.time() < deadline:
            with contextlib.suppress(httpx.HTTPError, ValueError):
                status = (await http.get(f"http://127.0.0.1:{port}/status.json", timeout=5)).json()
                live = [s for s in status["sessions"] if s.get("cars")]
                if live:
                    return live[0]
            await asyncio.sleep(0.5)
    raise RuntimeError("no session appeared on the server")


async def monitor(
    soak: Soak, session_id: str, progress: Path, until: float, every: float, started: float
) -> None:
    import httpx

    pid = soak.server.pid
    cpu0, t0 = fanout.cpu_seconds(pid), time.time()
    print(" wall s   race ET   RSS MB  CPU %   DB MB  WAL MB    laps  viewer msgs", flush=True)
    async with httpx.AsyncClient() as http:
        while True:
            await asyncio.sleep(max(0.0, min(every, until - time.time())))
            if soak.server.poll() is not None:
                raise RuntimeError(f"the server exited with {soak.server.returncode}")
            cpu1, t1 = fanout.cpu_seconds(pid), time.time()
            et = None
            with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
                status = (await http.get(f"http://127.0.0.1:{soak.port}/status.json",
                                         timeout=10)).json()  # fmt: skip
                et = next(s["et"] for s in status["sessions"] if s["session_id"] == session_id)
            db, wal = db_sizes(soak.folder)
            try:
                laps = await asyncio.to_thread(laps_stored, soak.folder / "lmust.db")
            except sqlite3.Error:
                laps = -1
            sample = Sample(t1, et, rss_mb(pid), (cpu1 - cpu0) / (t1 - t0) * 100, db, wal, laps,
                            read_progress(progress).get("messages", 0))  # fmt: skip
            cpu0, t0 = cpu1, t1
            soak.samples.append(sample)
            print(f"{sample.wall - started:>7.0f}  {(sample.et or 0):>8.0f}  {sample.rss:>7.1f}"
                  f"  {sample.cpu:>5.0f}  {sample.db:>6.1f}  {sample.wal:>6.1f}  {sample.laps:>6}"
                  f"  {sample.messages:>11}", flush=True)  # fmt: skip
            if time.time() >= until:
                return


def check_laps(database: Path, script) -> tuple[list[str], list[str]]:
    """(figures, problems): laps stored against the script's, from the first fed ET to the
    last (laps ended before the first observation are not required, as in tests/faults)."""
    from core_harness import read_db, scripted_laps, stored_laps

    conn = read_db(database)
    try:
        rows = conn.execute("SELECT session_id, last_et, closed_reason FROM sessions").fetchall()
        if len(rows) != 1:
            return [], [f"expected one session, found {len(rows)}: {[tuple(r) for r in rows]}"]
        sid, last_et, reason = rows[0]["session_id"], rows[0]["last_et"], rows[0]["closed_reason"]
        (first_et,) = conn.execute(
            "SELECT et FROM events WHERE session_id = ? ORDER BY seq LIMIT 1", (sid,)
        ).fetchone()
        (finished,) = conn.execute(
            "SELECT COUNT(*) FROM events WHERE session_id = ? AND kind = 'car_finished'", (sid,)
        ).fetchone()
        got = stored_laps(conn, sid)
        sources: dict[str, int] = {}
        for row in got.values():
            sources[row["source"]] = sources.get(row["source"], 0) + 1
    finally:
        conn.close()
    every = scripted_laps(script, float("inf"))
    scripted = scripted_laps(script, last_et)
    want = {key for key, lap in scripted.items() if lap.end_et > first_et}
    missing = sorted(want - set(got))
    extra = sorted(set(got) - set(scripted))
    wrong = [key for key, row in got.items() if key in scripted
             and abs(row["lap_time"] - (scripted[key].lap_time if scripted[key].lap_time > 0
                                        else -1)) > 2e-3]  # fmt: skip
    figures = [
        f"session {sid[:8]}: fed ET {first_et:.0f}..{last_et:.0f}; {finished} of "
        f"{len(script.cars)} cars finished (took the flag or retired); closed: "
        f"{reason or OPEN_AFTER_FINISH}",
        f"laps: {len(got)} stored; the script has {len(every)} ({len(scripted)} ended by the "
        f"last fed ET, {len(want)} after the first); sources {sources}",
        f"lost {len(missing)}, invented {len(extra)}, wrong time {len(wrong)}",
    ]
    problems = []
    if finished != len(script.cars):
        problems.append(f"{finished} cars finished, the race had {len(script.cars)}")
    if missing:
        problems.append(f"{len(missing)} laps lost, e.g. {missing[:5]}")
    if extra:
        problems.append(f"{len(extra)} laps that did not happen, e.g. {extra[:5]}")
    if wrong:
        problems.append(f"{len(wrong)} laps with a wrong time, e.g. {wrong[:5]}")
    return figures, problems


async def run(args: argparse.Namespace, folder: Path) -> int:
    from sim.script import Weekend
    from sim.server import Simulator
    from sim.synthetic import generate_session

    duration = args.hours * 3600.0
    script = generate_session(seed=args.seed, cars=args.cars, duration=duration, classes=CLASSES)
    scale = max(2.0, args.speed * 2)
    port = fanout.free_port()
    wall = duration / args.speed + TAIL
    print(f"soak: {args.hours:g} h {args.cars}-car race ({script.track.name}) at {args.speed:g}x,"
          f" {VIEWPOINTS} clients (tick {args.tick:g} s), {args.viewers} viewers:"
          f" ~{wall / 60:.1f} min; folder {folder}",
          flush=True)  # fmt: skip
    server = start_server(port, folder, scale)
    soak = Soak(folder, port, server)
    clients: list[subprocess.Popen] = []
    viewers = None
    codes: dict[str, int | None] = {}
    try:
        async with Simulator(Weekend(sessions=[script]), viewpoints=VIEWPOINTS, speed=1.0,
                             control_port=None) as sim:  # fmt: skip
            # the race runs at 1x until the clients, the session and the viewers are there (a
            # session needs a clock that moves to be confirmed)
            for k, handle in enumerate(sim.viewpoints):
                name = handle.view.name_in(script)
                home = folder / f"client-{k + 1}"
                clients.append(start_client(port, handle, name, home, scale, args.tick))
            session = await session_of(port)
            url = f"ws://127.0.0.1:{port}/ws/view?view=session&session={session['session_id']}"
            progress = folder / "viewers.json"
            viewers = start_viewers(url, args.viewers, time.time() + 60 + wall, progress)
            deadline = time.time() + 60
            while read_progress(progress).get("connected", 0) < args.viewers:
                if time.time() > deadline:
                    raise RuntimeError(f"viewers did not connect: {read_progress(progress)}")
                await asyncio.sleep(0.5)
            sim.set_speed(args.speed)
            started = time.time()
            until = started + wall
            await monitor(soak, session["session_id"], progress, until, args.every, started)
            for k, proc in enumerate(clients):
                codes[f"client-{k + 1}"] = await asyncio.to_thread(stop, proc)
        progress.with_suffix(".stop").touch()
        await asyncio.to_thread(viewers.wait, 60)
        final_viewers = read_progress(progress)
    finally:
        for proc in clients:
            await asyncio.to_thread(stop, proc)
        if viewers is not None and viewers.poll() is None:
            viewers.kill()
        rss_end = rss_mb(server.pid) if server.poll() is None else float("nan")
        codes["server"] = await asyncio.to_thread(stop, server)
    return report(args, soak, script, final_viewers, codes, rss_end)


def report(args, soak: Soak, script, viewers: dict, codes: dict, rss_end: float) -> int:
    samples = soak.samples
    problems: list[str] = []
    print("\n=== soak results ===")
    if samples:
        rss = [s.rss for s in samples]
        mid = samples[len(samples) // 2]
        print(
            f"server RSS MB: first {rss[0]:.1f}, middle {mid.rss:.1f} (ET {mid.et or 0:.0f}), "
            f"last {rss[-1]:.1f}, max {max(rss):.1f}; before shutdown {rss_end:.1f}"
        )
        half = rss[len(rss) // 2 :]
        print(f"  second half of the run: min {min(half):.1f}, max {max(half):.1f}, growth "
              f"{half[-1] - half[0]:+.1f} MB")  # fmt: skip
        first, last = samples[0], samples[-1]
        if last.laps > first.laps:
            per_lap = (last.rss - first.rss) * 1024 / (last.laps - first.laps)
            print(f"  RSS growth per lap stored: {per_lap:.2f} KB ({last.laps - first.laps} laps;"
                  " the tracker keeps every lap of the session in memory)")  # fmt: skip
        cpu = [s.cpu for s in samples]
        print(f"server CPU % of one core: mean {statistics.fmean(cpu):.0f}, max {max(cpu):.0f}")
    db, wal = db_sizes(soak.folder)
    print(f"database: {db:.1f} MB (+ WAL {wal:.1f} MB) after the run")
    print(
        f"viewers: {viewers.get('messages', 0)} messages, {viewers.get('bytes', 0) / 2**20:.1f}"
        f" MB received, errors {viewers.get('errors', 0)} {viewers.get('error_sample', [])}"
    )
    if viewers.get("errors"):
        problems.append(f"{viewers['errors']} viewers failed")
    logs = [soak.folder / "server.log"]
    for k in range(VIEWPOINTS):
        logs += [soak.folder / f"client-{k + 1}" / "client.log",
                 soak.folder / f"client-{k + 1}" / "client.out"]  # fmt: skip
    bad = log_problems(logs)
    print(f"ERROR/Traceback lines in the server and client logs: {len(bad)}")
    for line in bad[:10]:
        print("  " + line)
    if bad:
        problems.append(f"{len(bad)} ERROR/Traceback lines in the logs")
    print(f"exit codes: {codes}")
    if any(code not in (0, None) for code in codes.values()):
        problems.append(f"a process ended badly: {codes}")
    figures, lap_problems = check_laps(soak.folder / "lmust.db", script)
    for line in figures:
        print(line)
    problems += lap_problems
    print("verdict: " + ("OK" if not problems else "FAILED: " + "; ".join(problems)), flush=True)
    return 1 if problems else 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hours", type=float, default=24.0, help="race length in hours")
    p.add_argument("--speed", type=float, default=100.0, help="game seconds per wall second")
    p.add_argument("--viewers", type=int, default=50, help="viewer websockets")
    p.add_argument("--cars", type=int, default=60, help="cars in the race")
    p.add_argument("--seed", type=int, default=24, help="seed of the synthetic race")
    p.add_argument(
        "--tick",
        type=float,
        default=0.5,
        help="the clients' seconds between updates: at 100x, 1 s is 100 s of race, about a lap",
    )
    p.add_argument("--every", type=float, default=30.0, help="seconds between progress lines")
    p.add_argument("--keep", action="store_true", help="keep the folder (database, logs)")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--viewer-worker"]:
        url, count, stop_at, progress = argv[1:5]
        viewer_worker(url, int(count), float(stop_at), Path(progress))
        return 0
    args = build_parser().parse_args(argv)
    fanout.raise_open_files()
    folder = Path(tempfile.mkdtemp(prefix="soak-"))
    try:
        return asyncio.run(run(args, folder))
    finally:
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
