"""Client footprint: CPU and peak RSS of the real client process streaming a 60-car race at 1x.

Budget (from the issue): under 1% of one core on average (< 10 ms CPU per 1 s tick) and under
80 MB peak RSS, for the frozen executable too.

Three real processes on free ports: the simulator (`lmust-sim --synthetic --cars 60`, speed 1),
the server (`python -m server`) and the client (`python -m client`, or `--exe PATH` /
`LMUST_CLIENT_EXE` for the frozen executable; a PyInstaller one-file executable is a bootloader
plus a child, so the whole process tree is measured). After a warm-up the client is measured for
a window from `/proc/<pid>/stat` (utime + stime) and `/proc/<pid>/status` (VmHWM, VmRSS).

Baseline, measured in the same window: a bare process that only GETs `/rest/watch/standings`
once a second with the same HTTP library, aiohttp (what any client of this API must at least
pay). Beside it, the game's push feed alone, read two ways: woken for every frame (aiohttp's
websocket client, how the client read it before) and once a second (`client.pushfeed`, how the
client reads it now); their ratio is the saving.

Then the parts, in-process, on the same simulator's answers (60 cars): parsing the REST answers
and the pushed frames, `normalize`, `slim`, `mergepatch.diff`, encoding the patch; plus a
cProfile of the whole tick (reader + normalize + slim + stream) against an in-process simulator
with `--profile`.

Usage: `python tests/bench/run.py client` or `python tests/bench/bench_client.py [--exe PATH]
[--warmup S] [--window S] [--cars N] [--profile]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import NamedTuple

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
TICKS_PER_S = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
CPU_BUDGET = 1.0  # % of one core
RSS_BUDGET_MB = 80.0

BASELINE = """
import asyncio, sys, aiohttp
async def main(url):
    async with aiohttp.ClientSession() as http:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            try:
                async with http.get(url + "/rest/watch/standings") as response:
                    await response.read()
            except (aiohttp.ClientError, OSError):
                pass
            next_at += 1.0
            await asyncio.sleep(max(0.0, next_at - loop.time()))
asyncio.run(main(sys.argv[1]))
"""

# The push feed alone, two ways, beside the client in the same window: woken for every frame
# (aiohttp's websocket client, how the client read it before `client.pushfeed`), and read once a
# second the way the client's ticks read it now.
FEED_PER_FRAME = """
import asyncio, sys, aiohttp, orjson
async def main(url):
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(url, autoping=False, max_msg_size=2**23, compress=0,
                                   decode_text=False) as ws:
            for topic in ("LiveStandings", "SessionInfo"):
                await ws.send_str(orjson.dumps({"messageType": "SUB", "topic": topic}).decode())
            newest = {}
            while True:
                message = await ws.receive()
                if message.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    return
                newest[message.data[-20:]] = message.data
asyncio.run(main(sys.argv[1]))
"""
FEED_BURST = """
import asyncio, sys
from client.pushfeed import PushFeed
async def main(url):
    feed = PushFeed(url)
    feed.start()
    loop = asyncio.get_running_loop()
    next_at = loop.time()
    while True:
        await feed.catch_up()
        next_at += 1.0
        await asyncio.sleep(max(0.0, next_at - loop.time()))
asyncio.run(main(sys.argv[1]))
"""

# --- processes ---------------------------------------------------------------------------------


def free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1.0) as response:
                response.read()
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not come up within {timeout:.0f} s") from None
            time.sleep(0.2)


def get_json(url: str) -> object:
    import orjson

    with urllib.request.urlopen(url, timeout=2.0) as response:
        return orjson.loads(response.read())


@contextlib.contextmanager
def process(args: list[str], log: Path, **kw):
    """A subprocess in its own process group, logging to `log`; stopped (SIGINT, then KILL)."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=REPO, **kw
        )
    try:
        yield proc
    finally:
        stop(proc)


def stop(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5.0)


# --- /proc -------------------------------------------------------------------------------------


class Sample(NamedTuple):
    cpu_s: float  # utime + stime of the tree, seconds
    hwm_mb: float  # sum of VmHWM of the tree (each process's peak RSS)
    rss_mb: float  # sum of VmRSS of the tree
    pids: tuple[int, ...]


def _children(pid: int) -> list[int]:
    kids = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            kids += [int(x) for x in (task / "children").read_text().split()]
    return kids


def tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        todo += _children(p)
    return pids


def _cpu(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_S  # utime, stime


def _status_kb(pid: int, name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    return 0


def sample(pid: int) -> Sample:
    cpu = hwm = rss = 0.0
    pids = tree(pid)
    for p in pids:
        with contextlib.suppress(OSError, ValueError):
            cpu += _cpu(p)
            hwm += _status_kb(p, "VmHWM") / 1024
            rss += _status_kb(p, "VmRSS") / 1024
    return Sample(cpu, hwm, rss, tuple(pids))


# --- the real-process measurement ---------------------------------------------------------------


_TRAFFIC_RE = re.compile(r"sent ([\d,]+) updates? \(([\d.]+) (B|kB|MB|GB)\) so far")
_UNITS = {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}


def traffic(log: Path) -> tuple[int, float] | None:
    """The client's last "sent N updates (X kB) so far" console line: (messages, bytes)."""
    found = _TRAFFIC_RE.findall(log.read_text(errors="replace"))
    if not found:
        return None
    messages, size, unit = found[-1]
    return int(messages.replace(",", "")), float(size) * _UNITS[unit]


def measure_processes(exe: str | None, cars: int, warmup: float, window: float) -> dict:
    sim_port, sim_ws, sim_ctl, server_port = free_ports(4)
    with tempfile.TemporaryDirectory(prefix="lmust-bench-") as tmp_name:
        tmp = Path(tmp_name)
        sim_cmd = [
            PYTHON, "-m", "sim.cli", "--synthetic", "--cars", str(cars), "--duration", "86400",
            "--seed", "7", "--start-et", "3600", "--port", str(sim_port), "--ws-port",
            str(sim_ws), "--control-port", str(sim_ctl),
        ]  # fmt: skip
        sim_bin = Path(PYTHON).with_name("lmust-sim")
        if sim_bin.exists():
            sim_cmd = [str(sim_bin), *sim_cmd[3:]]
        server_cmd = [
            PYTHON, "-m", "server", "--port", str(server_port), "--data-dir", str(tmp / "data"),
        ]  # fmt: skip
        client_args = [
            "--server", f"http://127.0.0.1:{server_port}",
            "--game", f"http://127.0.0.1:{sim_port}",
            "--game-ws", f"ws://127.0.0.1:{sim_ws}/websocket/ui",
            "--config", str(tmp / "lmust-client.toml"),
            "--name", "bench",
        ]  # fmt: skip
        client_cmd = [exe, *client_args] if exe else [PYTHON, "-m", "client", *client_args]
        base_cmd = [PYTHON, "-c", BASELINE, f"http://127.0.0.1:{sim_port}"]
        ws_url = f"ws://127.0.0.1:{sim_ws}/websocket/ui"
        feeds = {"per_frame": FEED_PER_FRAME, "burst": FEED_BURST}
        client_log = tmp / "client.log"
        with (
            process(sim_cmd, tmp / "sim.log"),
            process(server_cmd, tmp / "server.log"),
        ):
            wait_http(f"http://127.0.0.1:{sim_port}/rest/sessions/GetGameState")
            wait_http(f"http://127.0.0.1:{server_port}/healthz")
            with contextlib.ExitStack() as stack:
                client = stack.enter_context(process(client_cmd, client_log))
                baseline = stack.enter_context(process(base_cmd, tmp / "baseline.log"))
                feed_procs = {
                    name: stack.enter_context(
                        process([PYTHON, "-c", code, ws_url], tmp / f"feed-{name}.log")
                    )
                    for name, code in feeds.items()
                }
                time.sleep(warmup)
                watched = [(client, client_log), (baseline, tmp / "baseline.log")]
                watched += [(p, tmp / f"feed-{name}.log") for name, p in feed_procs.items()]
                for proc, log in watched:
                    if proc.poll() is not None:
                        raise RuntimeError(f"{proc.args[:3]} ended early:\n{log.read_text()}")
                status = get_json(f"http://127.0.0.1:{server_port}/status.json")
                messages0 = sum(c.get("messages", 0) for c in status["clients"])
                f0 = {name: sample(p.pid) for name, p in feed_procs.items()}
                c0, b0, t0 = sample(client.pid), sample(baseline.pid), time.monotonic()
                hwm = rss_max = 0.0
                while time.monotonic() - t0 < window:
                    time.sleep(1.0)
                    now = sample(client.pid)
                    hwm, rss_max = max(hwm, now.hwm_mb), max(rss_max, now.rss_mb)
                c1, b1, t1 = sample(client.pid), sample(baseline.pid), time.monotonic()
                f1 = {name: sample(p.pid) for name, p in feed_procs.items()}
                status = get_json(f"http://127.0.0.1:{server_port}/status.json")
                messages1 = sum(c.get("messages", 0) for c in status["clients"])
                clients = status["clients"]
                stop(client)
            sent = traffic(client_log)
            tail = client_log.read_text(errors="replace").splitlines()[-12:]
    elapsed = t1 - t0
    return {
        "elapsed": elapsed,
        "cpu_s": c1.cpu_s - c0.cpu_s,
        "hwm_mb": max(hwm, c1.hwm_mb),
        "rss_mb": rss_max,
        "pids": c1.pids,
        "base_cpu_s": b1.cpu_s - b0.cpu_s,
        "base_hwm_mb": b1.hwm_mb,
        "feed_cpu_s": {name: f1[name].cpu_s - f0[name].cpu_s for name in f0},
        "messages": messages1 - messages0,
        "clients": clients,
        "sent": sent,
        "tail": tail,
    }


def report_processes(r: dict, exe: str | None, cars: int) -> None:
    elapsed = r["elapsed"]
    cpu_pct = 100.0 * r["cpu_s"] / elapsed
    base_pct = 100.0 * r["base_cpu_s"] / elapsed
    what = exe or "python -m client"
    print(f"client: {what} ({len(r['pids'])} process(es)), {cars} cars at 1x, {elapsed:.0f} s")
    print(f"{'':28} {'CPU % core':>10} {'ms/tick':>8} {'peak RSS MB':>12}")
    print(
        f"{'client':28} {cpu_pct:10.2f} {1000 * r['cpu_s'] / elapsed:8.2f} {r['hwm_mb']:12.1f}"
        f"   (budget < {CPU_BUDGET:g}% and < {RSS_BUDGET_MB:g} MB)"
    )
    print(
        f"{'baseline: GET standings 1/s':28} {base_pct:10.2f} "
        f"{1000 * r['base_cpu_s'] / elapsed:8.2f} {r['base_hwm_mb']:12.1f}"
    )
    if r["base_cpu_s"] > 0:
        print(f"client / baseline CPU: {r['cpu_s'] / r['base_cpu_s']:.2f}x")
    feed = r["feed_cpu_s"]
    labels = {"per_frame": "feed alone: read per frame", "burst": "feed alone: 1 read/s"}
    for name, label in labels.items():
        print(f"{label:28} {100.0 * feed[name] / elapsed:10.2f}")
    if feed["per_frame"] > 0:
        print(
            f"push feed, one read a second / a read per frame (aiohttp) CPU: "
            f"{feed['burst'] / feed['per_frame']:.2f}"
        )
    print(f"client RSS now {r['rss_mb']:.1f} MB; server got {r['messages']} messages in window")
    if r["sent"]:
        messages, sent = r["sent"]
        print(f"client console: sent {messages} updates, {sent / 1000:.1f} kB in its lifetime")
    verdict = cpu_pct < CPU_BUDGET and r["hwm_mb"] < RSS_BUDGET_MB
    print(f"budget: {'MET' if verdict else 'MISSED'}")
    if r["messages"] == 0:
        print("warning: the server received nothing in the window; client log tail:")
        print("\n".join("  " + line for line in r["tail"]))


# --- the parts, in-process ----------------------------------------------------------------------


def _timed(fn, repeat: int) -> float:
    """Median ms of `fn()` over `repeat` runs."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    times.sort()
    return 1000 * times[len(times) // 2]


def measure_parts(cars: int, repeat: int = 60) -> list[tuple[str, float, str]]:
    """Per-part cost of one tick on the simulator's answers for a `cars`-car race."""
    import orjson

    from client.normalize import normalize
    from client.slim import Slimmer, slim
    from client.stream import Stream
    from schema import mergepatch
    from sim.engine import evaluate
    from sim.render import REST, TOPICS
    from sim.render_base import Scene
    from sim.script import Weekend
    from sim.synthetic import generate_session
    from sim.viewpoint import ViewMode, Viewpoint

    script = generate_session(seed=7, cars=cars, duration=86400)
    paths = (
        "/rest/watch/sessionInfo",
        "/rest/watch/standings",
        "/rest/sessions/GetGameState",
        "/rest/multiplayer/teams",
        "/rest/multiplayer/join/state",
        "/navigation/state",
    )

    def answers(et: float) -> tuple[dict[str, bytes], dict[str, bytes]]:
        live = evaluate(script, et)
        view = Viewpoint(index=0, player_slot=script.cars[0].entry.slot_id)
        scene = Scene(
            mode=ViewMode.DRIVING, view=view, live=live, script=script, weekend=Weekend([script])
        )
        rest = {p: orjson.dumps(REST[p].render(scene)) for p in paths}
        frames = {
            t: orjson.dumps(TOPICS[t].render(scene)) for t in ("LiveStandings", "SessionInfo")
        }
        return rest, frames

    ticks = [answers(3600.0 + i) for i in range(repeat + 1)]

    def parsed(i: int) -> dict:
        rest, frames = ticks[i]
        raw: dict[str, object] = {p: orjson.loads(b) for p, b in rest.items()}
        raw["ws:LiveStandings"] = orjson.loads(frames["LiveStandings"])
        raw["ws:SessionInfo"] = orjson.loads(frames["SessionInfo"])
        return raw

    raws = [parsed(i) for i in range(repeat + 1)]
    slimmer = Slimmer()
    states = [slim(normalize(r)) for r in raws]
    patches = [mergepatch.diff(states[i], states[i + 1]) for i in range(repeat)]
    rest_bytes = sum(len(b) for b in ticks[0][0].values())
    frame_bytes = sum(len(b) for b in ticks[0][1].values())
    k = iter(range(10**9))

    def step(fn):
        return lambda: fn(next(k) % repeat)

    def sequential(fn):
        """`fn(i)` for i = 1, 2, 3...: tick after tick, as the client runs it."""
        j = iter(range(1, 10**9))
        return lambda: fn(1 + (next(j) - 1) % repeat)

    states_by = Slimmer()  # consecutive Slimmer states share what held still
    slimmed = [states_by(r) for r in raws]
    second = _one_second_of_frames(ticks[0][1])
    rows = [
        (
            "orjson.loads REST answers",
            _timed(step(lambda i: [orjson.loads(b) for b in ticks[i][0].values()]), repeat),
            f"{len(paths)} answers, {rest_bytes / 1000:.0f} kB",
        ),
        (
            "orjson.loads pushed frames",
            _timed(step(lambda i: [orjson.loads(b) for b in ticks[i][1].values()]), repeat),
            f"newest of 2 topics, {frame_bytes / 1000:.0f} kB",
        ),
        (
            "push feed: 1 s of frames",
            _timed(lambda: _read_frames(second), repeat),
            f"20 frames, {len(second) / 1000:.0f} kB in one read (sans-I/O)",
        ),
        ("normalize", _timed(step(lambda i: normalize(raws[i])), repeat), ""),
        ("slim", _timed(step(lambda i: slim(normalize(raws[i]))), repeat), "(incl. normalize)"),
        ("Slimmer, tick after tick", _timed(sequential(lambda i: slimmer(raws[i])), repeat), ""),
        (
            "mergepatch.diff",
            _timed(step(lambda i: mergepatch.diff(states[i], states[i + 1])), repeat),
            f"patch ~{len(orjson.dumps(patches[0])) / 1000:.1f} kB",
        ),
        (
            "mergepatch.diff, Slimmer states",
            _timed(step(lambda i: mergepatch.diff(slimmed[i], slimmed[i + 1])), repeat),
            "(what held still is the same object)",
        ),
    ]
    stream = Stream("bench")
    stream.publish(states[0], 0.0, 0.0)
    j = iter(range(1, 10**9))

    def publish() -> None:
        i = next(j)
        stream.publish(states[i % (repeat + 1)], float(i), float(i))
        stream.ack(stream.seq)

    rows.append(("Stream.publish (diff+encode)", _timed(publish, repeat), ""))
    return rows


def _one_second_of_frames(frames: dict[str, bytes]) -> bytes:
    """What the game pushes in a second: ten frames of each topic, as websocket frames."""
    import orjson
    from websockets.frames import Frame, Opcode

    messages = [
        orjson.dumps({"body": orjson.Fragment(body), "messageType": "UPDATE", "topic": topic})
        for topic, body in frames.items()
    ]
    one = b"".join(
        Frame(Opcode.TEXT, data).serialize(mask=False, extensions=[]) for data in messages
    )
    return one * 10


def _read_frames(data: bytes) -> None:
    """One read's worth of frames through websockets' protocol into a feed (client.pushfeed)."""
    from websockets.client import ClientProtocol
    from websockets.protocol import State
    from websockets.uri import parse_uri

    from client.pushfeed import PushFeed

    feed = PushFeed("ws://game/")
    protocol = ClientProtocol(parse_uri("ws://game/"), state=State.OPEN, max_size=2**23)
    protocol.receive_data(data)
    for frame in protocol.events_received():
        feed.keep(frame.data, 0.0)
    assert len(feed.frames) == 2


def report_parts(rows: list[tuple[str, float, str]], cars: int) -> None:
    print(f"\nparts of one tick, in-process ({cars} cars, median):")
    for name, ms, note in rows:
        print(f"  {name:30} {ms:7.2f} ms  {note}")


# --- cProfile of the real tick against an in-process simulator ---------------------------------


async def _profile_ticks(cars: int, ticks: int) -> None:
    from client.normalize import normalize
    from client.reader import Reader
    from client.schedule import Schedule
    from client.slim import slim
    from client.stream import Stream
    from sim.script import Weekend
    from sim.server import Simulator
    from sim.synthetic import generate_session

    script = generate_session(seed=7, cars=cars, duration=86400)
    async with Simulator(Weekend([script]), viewpoints=1, speed=1.0, start_et=3600.0) as sim:
        vp = sim.viewpoints[0]
        reader = Reader(vp.rest_url, vp.ws_url, Schedule())
        stream = Stream("profile")
        try:
            loop = asyncio.get_running_loop()
            for i in range(ticks):
                obs = await reader.tick(loop.time())
                if obs.view.live and obs.et is not None:
                    for out in stream.publish(slim(normalize(obs.raw)), obs.et, float(i)):
                        stream.ack(out.seq)
                await asyncio.sleep(1.0)
        finally:
            await reader.close()


def profile(cars: int, ticks: int = 20) -> None:
    """cProfile of `ticks` real ticks (the sim runs in the same process: read the client's
    functions, not the totals)."""
    import cProfile
    import pstats

    prof = cProfile.Profile()
    prof.enable()
    asyncio.run(_profile_ticks(cars, ticks))
    prof.disable()
    stats = pstats.Stats(prof)
    stats.sort_stats("tottime").print_stats(r"client|schema|httpx|httpcore|websockets", 30)


# --- main ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--exe", default=os.environ.get("LMUST_CLIENT_EXE"), help="frozen client")
    p.add_argument("--cars", type=int, default=60)
    p.add_argument("--warmup", type=float, default=10.0)
    p.add_argument("--window", type=float, default=60.0)
    p.add_argument("--no-parts", action="store_true", help="skip the in-process parts")
    p.add_argument("--profile", action="store_true", help="cProfile 20 in-process ticks")
    args = p.parse_args([] if argv is None and __name__ != "__main__" else argv)
    if args.profile:
        profile(args.cars)
        return
    result = measure_processes(args.exe, args.cars, args.warmup, args.window)
    report_processes(result, args.exe, args.cars)
    if not args.no_parts:
        report_parts(measure_parts(args.cars), args.cars)


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
