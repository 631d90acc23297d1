"""Live fan-out: how late N viewers get a 60-car session's swaps, the server's CPU, and the bytes
each viewer receives against the older tracker's whole-session resend.

(a) One `python -m server` process pinned to core 0 (`taskset`). A driver
(this process) is a real authenticated client feeding a synthetic 60-car race at 1x: one update
per second, states built the client's way (`sim.render.game_answers` -> `client.slim.Slimmer`),
sent as merge patches. N viewer websockets in other processes (a few hundred per process) watch
`/ws/view?view=session`. Each update changes the status element's `data-updated-at` (the server's
receive time of that update, `fed_at`): a viewer receiving a new value has the swap of that
update. Printed per N: delay from the driver sending the update (matched by time: the last send
before `fed_at`) and from the server receiving it, to each viewer receiving the swap (p50, p99,
max), and the server's CPU share of one core (/proc/<pid>/stat) over the measured window.
(b) Bytes per second per viewer of the standings view (frames as received) against the older
tracker's push: the whole session as JSON every second, every car's full lap and pit history
(built from a tracker fed the same states, at the same moments).

`python tests/bench/run.py fanout` (N = 10, 100, 1000, 40 s each), or this file with `--quick`
(N = 10, 100; 20 s each) or `--viewers=N` (that N only).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests"))  # netutil, shared with the test suites

from netutil import free_port  # noqa: E402

CARS = 60
SEED = 60
VIEWERS = (10, 100, 1000)
QUICK_VIEWERS = (10, 100)
MEASURE = 40.0  # wall seconds measured per N
QUICK_MEASURE = 20.0
PER_PROCESS = 250  # viewer websockets per viewer process
START_ET = 3 * 3600.0  # ET seconds into the race the driver starts at: mid-race, laps behind
# Browsers offer permessage-deflate and uvicorn accepts it: each viewer's frames are then
# compressed for that viewer alone. `--no-deflate` makes the viewers decline it (what the
# server would cost with `ws_per_message_deflate=False`).
COMPRESSION = None if os.environ.get("FANOUT_NO_DEFLATE") else "deflate"
MARKERS = (b'data-updated-at="', b'data-ts="')  # the status element's fed_at


HUB_FIGURES = ("renders", "render_seconds", "coalesced", "dropped_viewers", "frames_built",
               "frames_written", "feed_to_render_ms", "push_to_socket_ms")  # fmt: skip


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def raise_open_files() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1)]


# --- the server ------------------------------------------------------------------------------


def start_server(port: int, folder: Path, log: Path) -> subprocess.Popen:
    pin = ["taskset", "-c", "0"] if shutil.which("taskset") and os.cpu_count() > 1 else []
    out = log.open("w")
    proc = subprocess.Popen(
        [*pin, sys.executable, "-m", "server", "--host", "127.0.0.1", "--port", str(port),
         "--data-dir", str(folder), "--max-time-scale", "2"],
        cwd=folder, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=out,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    out.close()
    import httpx

    deadline = time.time() + 20
    while time.time() < deadline:
        assert proc.poll() is None, log.read_text()
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        time.sleep(0.1)
    raise RuntimeError("the server did not start: " + log.read_text())


# --- the viewers (other processes) -----------------------------------------------------------


def viewer_process(url: str, count: int, start_at: float, stop_at: float, out: Path) -> None:
    """`count` viewer websockets (`--viewers` mode of this file, in its own process); writes
    (t_recv, fed_at) of every swap with a new fed_at and the bytes received to `out`."""
    import orjson

    if os.environ.get("FANOUT_VIEWERS_CORE"):  # else the viewers may use every core
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {int(os.environ["FANOUT_VIEWERS_CORE"])})
    raise_open_files()
    out.write_bytes(orjson.dumps(asyncio.run(_viewers(url, count, start_at, stop_at))))


def start_viewers(url: str, count: int, start_at: float, stop_at: float, out: Path):
    return subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--viewers", url, str(count),
         repr(start_at), repr(stop_at), str(out)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip


async def _viewers(url: str, count: int, start_at: float, stop_at: float) -> dict:
    from websockets.asyncio.client import connect

    gate = asyncio.Semaphore(50)
    swaps: list[tuple[float, float]] = []
    messages = [0]
    bytes_in = [0] * count
    refresh = [0] * count
    connected = [False] * count

    async def one(i: int) -> None:
        async with gate:
            ws = await connect(url, max_size=None, open_timeout=60, ping_interval=None,
                               compression=COMPRESSION)  # fmt: skip
        try:
            first = await ws.recv(decode=False)
            refresh[i] = len(first)
            connected[i] = True
            last = _marker(first)
            while True:
                wait = stop_at - time.time()
                if wait <= 0:
                    return
                try:
                    raw = await asyncio.wait_for(ws.recv(decode=False), wait)
                except TimeoutError:
                    return
                now = time.time()
                if now < start_at:
                    continue
                bytes_in[i] += len(raw)
                messages[0] += 1
                marker = _marker(raw)
                if marker is not None and marker != last:
                    last = marker
                    swaps.append((now, marker))
        finally:
            await ws.close()

    outcomes = await asyncio.gather(*(one(i) for i in range(count)), return_exceptions=True)
    errors = [repr(o) for o in outcomes if isinstance(o, BaseException)]
    return {
        "swaps": swaps,
        "messages": messages[0],
        "bytes": bytes_in,
        "refresh": refresh,
        "connected": sum(connected),
        "errors": errors[:3],
        "error_count": len(errors),
    }


def _marker(raw: bytes) -> float | None:
    for marker in MARKERS:
        at = raw.find(marker)
        if at >= 0:
            end = raw.find(b'"', at + len(marker))
            with contextlib.suppress(ValueError):
                return float(raw[at + len(marker) : end])
    return None


# --- the driver (this process) ---------------------------------------------------------------


async def drive(port: int, script, viewers: int, measure: float) -> dict:
    """Feed the race at 1x, start the viewers once the session exists, measure."""
    import httpx

    sys.path.insert(0, str(REPO / "tests" / "web"))
    from test_live_server import Driver

    driver = await Driver(f"ws://127.0.0.1:{port}/ws/client", script).connect()
    sends: list[tuple[float, float]] = []  # (t_send, et)
    et = script.start_et + START_ET
    stop = asyncio.Event()

    failure: list[str] = []

    async def feed() -> None:
        nonlocal et
        next_at = time.time()
        while not stop.is_set():
            message = driver.message(et)  # the state is built before the clock is read
            t_send = time.time()
            try:
                await driver.ws.send(message)
            except Exception as exc:  # the server is overwhelmed: say so, keep the figures
                failure.append(f"the driver lost the server at ET {et:.0f}: {exc}")
                return
            sends.append((t_send, et))
            et += 1.0
            next_at += 1.0
            await asyncio.sleep(max(0.0, next_at - time.time()))

    async def finish() -> list[str]:
        stop.set()
        await feeder
        with contextlib.suppress(Exception):
            await driver.close()
        return failure

    feeder = asyncio.create_task(feed())
    session_id = None
    async with httpx.AsyncClient() as http:
        deadline = time.time() + 30
        while session_id is None:
            assert time.time() < deadline, "no session appeared"
            await asyncio.sleep(0.5)
            status = (await http.get(f"http://127.0.0.1:{port}/status.json")).json()
            live = [s for s in status["sessions"] if s["cars"]]
            session_id = live[0]["session_id"] if live else None
    url = f"ws://127.0.0.1:{port}/ws/view?view=session&session={session_id}"
    procs = math.ceil(viewers / PER_PROCESS)
    start_at = time.time() + 5.0 + viewers / 50  # time to connect everyone before measuring
    stop_at = start_at + measure
    folder = Path(tempfile.mkdtemp(prefix="viewers-"))
    outputs = [folder / f"{i}.json" for i in range(procs)]
    workers = [
        start_viewers(url, len(range(i, viewers, procs)), start_at, stop_at, outputs[i])
        for i in range(procs)
    ]
    await asyncio.sleep(max(0.0, start_at - time.time()))
    return {"session_id": session_id, "start_at": start_at, "stop_at": stop_at,
            "workers": workers, "outputs": outputs, "sends": sends, "finish": finish}  # fmt: skip


async def run_n(port: int, server_pid: int, script, viewers: int, measure: float) -> dict:
    run = await drive(port, script, viewers, measure)
    wire0 = await _wire_bytes(port)
    cpu0, t0 = cpu_seconds(server_pid), time.time()
    shares = []  # the server's CPU share of each second
    while time.time() < run["stop_at"]:
        c, t = cpu_seconds(server_pid), time.time()
        await asyncio.sleep(min(1.0, max(0.01, run["stop_at"] - t)))
        shares.append((cpu_seconds(server_pid) - c) / (time.time() - t))
    cpu1, t1 = cpu_seconds(server_pid), time.time()
    wire1 = await _wire_bytes(port)
    await asyncio.sleep(1.0)  # the last swaps arrive
    failure = await run["finish"]()
    import httpx

    stats: dict = {}
    with contextlib.suppress(httpx.HTTPError, KeyError):
        async with httpx.AsyncClient() as http:
            url = f"http://127.0.0.1:{port}/status.json"
            stats = (await http.get(url, timeout=30)).json()["live"]
    import orjson

    for w in run["workers"]:
        await asyncio.get_running_loop().run_in_executor(None, w.wait, 120)
    parts = [orjson.loads(out.read_bytes()) for out in run["outputs"]]
    figures = _figures(run, parts, viewers, (cpu1 - cpu0) / (t1 - t0))
    figures["hub"] = stats
    figures["wire_per_viewer"] = (wire1 - wire0) / (t1 - t0) / viewers
    figures["failure"] = failure
    figures["cpu_max"] = max(shares, default=float("nan"))
    return figures


async def _wire_bytes(port: int) -> float:
    """Bytes of shared frames the server has written to viewers (compressed, as on the wire)."""
    import httpx

    async with httpx.AsyncClient() as http:
        status = (await http.get(f"http://127.0.0.1:{port}/status.json", timeout=30)).json()
    return float(status.get("live", {}).get("frame_bytes_written", float("nan")))


def _figures(run: dict, parts: list[dict], viewers: int, cpu: float) -> dict:
    sends = sorted(run["sends"])
    send_times = [t for t, _ in sends]
    from_server: list[float] = []
    from_driver: list[float] = []
    import bisect

    for part in parts:
        for t_recv, fed_at in part["swaps"]:
            from_server.append(t_recv - fed_at)
            i = bisect.bisect_right(send_times, fed_at + 0.0005) - 1
            if i >= 0:
                from_driver.append(t_recv - send_times[i])
    updates = sum(1 for t, _ in sends if run["start_at"] <= t <= run["stop_at"])
    window = run["stop_at"] - run["start_at"]
    per_viewer = [b / window for part in parts for b in part["bytes"]]
    return {
        "viewers": viewers,
        "connected": sum(p["connected"] for p in parts),
        "errors": sum(p["error_count"] for p in parts),
        "error_sample": [e for p in parts for e in p["errors"]][:3],
        "updates": updates,
        "window": (run["start_at"], run["stop_at"]),
        "swaps": len(from_server),
        "messages": sum(p["messages"] for p in parts),
        # every update any viewer got, every viewer should get (coalescing would skip some)
        "expected_swaps": len({m for p in parts for _, m in p["swaps"]}) * viewers,
        "sent_updates": updates,
        "driver_p50": percentile(from_driver, 50),
        "driver_p99": percentile(from_driver, 99),
        "driver_max": max(from_driver, default=float("nan")),
        "server_p50": percentile(from_server, 50),
        "server_p99": percentile(from_server, 99),
        "cpu": cpu,
        "bytes_per_viewer": statistics.fmean(per_viewer) if per_viewer else float("nan"),
        "refresh_bytes": statistics.fmean(r for p in parts for r in p["refresh"] if r),
        "sends": sends,
    }


# --- the older tracker's push (b) -------------------------------------------------------------


def full_session_bytes(script, sends: list[tuple[float, float]], start: float, stop: float):
    """Bytes of the whole session as JSON (every car's laps, stops, stints, bests) at each
    measured second, from a tracker that watched the race from the start (as the older tracker
    did: its push held the whole history) and then the same states the driver sent."""
    import orjson

    from client.slim import Slimmer
    from server.tracking import Tracker
    from sim.render import game_answers

    slimmer = Slimmer()
    first = slimmer(game_answers(script, sends[0][1]))
    tracker = Tracker("RACE", float(first["session"].get("lapDistance") or 0.0))
    et = script.start_et
    while et < sends[0][1]:  # the race before the measurement, every 2 s of game time
        tracker.observe(slimmer(game_answers(script, et)), et)
        et += 2.0
    sizes: list[int] = []
    wire: list[int] = []
    for t_send, et in sends:
        tracker.observe(slimmer(game_answers(script, et)), et)
        if start <= t_send <= stop:
            doc = {
                key: {"team": car.team, "number": car.number, "class": car.car_class,
                      "driver": car.driver, "laps": list(car.laps.values()),
                      "stops": car.stops, "stints": car.stints}
                for key, car in tracker.cars.items()
            }  # fmt: skip
            text = orjson.dumps(doc, default=_plain)
            sizes.append(len(text))
            deflate = zlib.compressobj(wbits=-12, memLevel=5)  # as the live frames are
            wire.append(len(deflate.compress(text) + deflate.flush(zlib.Z_SYNC_FLUSH)) - 4)
    laps = sum(len(car.laps) for car in tracker.cars.values())
    return statistics.fmean(sizes), statistics.fmean(wire), laps / max(1, len(tracker.cars))


def _plain(value):
    import dataclasses

    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    if hasattr(value, "__dict__"):
        return vars(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


# --- main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--viewers"]:
        url, count, start_at, stop_at, out = args[1:6]
        viewer_process(url, int(count), float(start_at), float(stop_at), Path(out))
        return
    quick = "--quick" in args
    counts = QUICK_VIEWERS if quick else VIEWERS
    only = [int(a.split("=", 1)[1]) for a in args if a.startswith("--viewers=")]
    if "--no-deflate" in args:
        os.environ["FANOUT_NO_DEFLATE"] = "1"  # the viewer processes inherit it
    counts = tuple(only) or counts
    measure = QUICK_MEASURE if quick else MEASURE
    sys.path.insert(0, str(REPO))
    raise_open_files()
    from sim.synthetic import generate_session

    script = generate_session(seed=SEED, cars=CARS, duration=START_ET + 3600)
    print(f"{CARS}-car race at 1x, one update per second, view=session; server pinned to core 0;"
          f" {measure:.0f} s measured per N", flush=True)  # fmt: skip
    print("viewers  conn  swaps/expected  from driver p50/p99/max ms  from server p50/p99 ms"
          "  server CPU  B/s/viewer (HTML, wire)  refresh B")  # fmt: skip
    last = None
    for n in counts:
        folder = Path(tempfile.mkdtemp(prefix="fanout-"))
        port = free_port()
        server = start_server(port, folder, folder / "server.log")
        try:
            fig = asyncio.run(run_n(port, server.pid, script, n, measure))
        finally:
            server.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.wait(10)
            if server.poll() is None:
                server.kill()
        last = fig
        print(f"{n:>7}  {fig['connected']:>4}  {fig['swaps']:>6}/{fig['expected_swaps']:<6}"
              f"  {fig['driver_p50'] * 1e3:>7.0f} /{fig['driver_p99'] * 1e3:>5.0f} /"
              f"{fig['driver_max'] * 1e3:>5.0f}"
              f"  {fig['server_p50'] * 1e3:>10.0f} /{fig['server_p99'] * 1e3:>5.0f}"
              f"  {fig['cpu'] * 100:>9.0f}%  {fig['bytes_per_viewer']:>10.0f}"
              f" {fig['wire_per_viewer']:>7.0f}    "
              f"  {fig['refresh_bytes']:>9.0f}", flush=True)  # fmt: skip
        hub = {k: fig["hub"].get(k) for k in HUB_FIGURES}
        print(f"         busiest second {fig['cpu_max'] * 100:.0f}% CPU; {fig['sent_updates']}"
              f" updates sent; hub: {hub}")  # fmt: skip
        for line in fig["failure"]:
            print(f"         {line}")
        if fig["errors"]:
            print(f"         {fig['errors']} viewer errors, e.g. {fig['error_sample']}")
        shutil.rmtree(folder, ignore_errors=True)
    assert last is not None
    sends = last["sends"]
    start, stop = last["window"]
    baseline, baseline_wire, laps_per_car = full_session_bytes(script, sends, start, stop)
    live, wire = last["bytes_per_viewer"], last["wire_per_viewer"]
    print(
        f"bytes per second per viewer, session view ({laps_per_car:.1f} laps per car known):\n"
        f"  as HTML/JSON text:  live swaps {live:>7.0f} B/s  vs  whole session each second "
        f"{baseline:>7.0f} B/s: ratio {baseline / live:.1f}x\n"
        f"  on the wire (deflate, no context takeover): {wire:>7.0f} B/s  vs  "
        f"{baseline_wire:>7.0f} B/s: ratio {baseline_wire / wire:.1f}x"
    )
    per_lap = baseline / max(laps_per_car, 1e-9) / CARS
    print(
        f"  the resend grows by ~{per_lap:.0f} B per car-lap (text): after 1 h (~{3600 / 110:.0f} "
        f"laps per car) it would be ~{per_lap * CARS * 3600 / 110 / live:.0f}x the live swaps"
    )


if __name__ == "__main__":
    main()
