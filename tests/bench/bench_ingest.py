"""Ingest throughput: client updates per second one server process absorbs, tracking and
storage on, for 60-car sessions; and the server's CPU per update.

One `python -m server` process (SQLite in a temporary folder). Another process runs `CLIENTS`
raw websocket clients, each the only client of its own 60-car race (a different game server
port each): the handshake, a snapshot, then pre-built merge patches of a synthetic race observed
every second of ET, as fast as the server acks them (up to `WINDOW` unacked per client). Every
update goes ingest -> arbiter -> tracker -> store (committed) -> ack. The server's CPU time is
read from /proc before and after.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests" / "tracking"))
sys.path.insert(0, str(REPO / "tests"))  # netutil, shared with the test suites

from netutil import free_port  # noqa: E402

CARS = 60
CLIENTS = (1, 4, 8)
MEASURE = 8.0  # wall seconds measured per run (after the warm-up)
WARMUP = 3.0  # the arbiter confirms a new session after 2 s
WINDOW = 16  # unacked messages per client
STATES = 3000  # ET seconds of race per client (one state per second)


def build_race() -> list[tuple[float, dict]]:
    """A snapshot and the merge patches of a synthetic 60-car race, one state per ET second
    (rendered once; every client sends the same race as another game server)."""
    from sim_observations import Observer, ets

    from schema import mergepatch
    from sim.synthetic import generate_session

    script = generate_session(seed=33, cars=CARS, duration=STATES + 600)
    observer = Observer(script, slow_every=10.0)
    out, previous = [], None
    for et in ets(script.start_et, script.start_et + STATES, 1.0):
        state = observer.state(et)
        out.append((et, state if previous is None else mergepatch.diff(previous, state)))
        previous = state
    return out


def encode_messages(race: list[tuple[float, dict]], index: int) -> list[bytes]:
    """Client `index`'s messages: its own stream, its race on its own game server port."""
    import copy

    from schema import wire

    stream = f"bench-{index}"
    out = []
    for seq, (et, doc) in enumerate(race, start=1):
        if seq == 1:
            doc = copy.deepcopy(doc)
            doc["session"]["serverPort"] = 20000 + index
            msg = wire.snapshot(stream, seq, et, time.time(), doc)
        else:
            msg = wire.patch(stream, seq, et, time.time(), doc)
        out.append(wire.encode(msg))
    return out


async def one_client(url: str, index: int, messages: list[bytes], stop_at: float, counts):
    from websockets.asyncio.client import connect

    from client.identity import Identity
    from schema import wire

    folder = Path(tempfile.mkdtemp())
    identity = Identity.load_or_create(folder / "key")
    async with connect(url, max_size=None, open_timeout=10) as ws:
        await ws.send(wire.encode(wire.hello(identity.public_key, "bench", f"bench {index}")))
        challenge = wire.decode(await ws.recv(), sender="server")
        nonce = wire.unb64(challenge["nonce"], wire.NONCE_BYTES)
        signed = wire.auth_message(nonce, challenge["server"], identity.public_key)
        await ws.send(wire.encode(wire.auth(identity.sign(signed))))
        welcome = wire.decode(await ws.recv(), sender="server")
        assert welcome["type"] == "welcome", welcome
        acked = 0
        sent = 0
        window = asyncio.Semaphore(WINDOW)

        async def receive():
            nonlocal acked
            async for raw in ws:
                msg = wire.decode(raw, sender="server")
                if msg["type"] == "ack":
                    for _ in range(msg["seq"] - acked):
                        window.release()
                    acked = max(acked, msg["seq"])
                    counts[index] = acked
                elif msg["type"] in ("error", "resync"):
                    raise RuntimeError(f"server said {msg}")

        receiver = asyncio.create_task(receive())
        try:
            while time.time() < stop_at and sent < len(messages):
                await window.acquire()
                await ws.send(messages[sent])
                sent += 1
            while acked < sent and time.time() < stop_at + 5:
                await asyncio.sleep(0.01)
        finally:
            receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await receiver


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_once(clients: int) -> dict:
    folder = Path(tempfile.mkdtemp())
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "server", "--host", "127.0.0.1", "--port", str(port),
         "--data-dir", str(folder), "--max-time-scale", "100000"],
        cwd=folder, env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        import httpx

        deadline = time.time() + 15
        while time.time() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        context = multiprocessing.get_context("fork")
        manager = context.Manager()
        counts = manager.dict()
        prep = 2.0 + 1.0 * clients  # encoding the messages
        start_at = time.time() + prep
        stop_at = start_at + WARMUP + MEASURE
        procs = [
            context.Process(
                target=_delayed,
                args=(
                    f"ws://127.0.0.1:{port}/ws/client",
                    i,
                    start_at,
                    stop_at,
                    counts,
                ),
            )
            for i in range(clients)
        ]
        for p in procs:
            p.start()
        while time.time() < start_at + WARMUP:
            time.sleep(0.05)
        first, cpu0, t0 = sum(counts.values()), cpu_seconds(server.pid), time.time()
        while time.time() < stop_at and not any(n >= len(_RACE) for n in counts.values()):
            time.sleep(0.05)
        last, cpu1, t1 = sum(counts.values()), cpu_seconds(server.pid), time.time()
        for p in procs:
            p.join(30)
        updates = last - first
        return {
            "clients": clients,
            "updates": updates,
            "rate": updates / (t1 - t0),
            "seconds": t1 - t0,
            "cpu": (cpu1 - cpu0) / (t1 - t0) * MEASURE,
            "cpu_per_update": (cpu1 - cpu0) / updates if updates else float("nan"),
            "db_bytes": (folder / "lmust.db").stat().st_size,
        }
    finally:
        server.terminate()
        server.wait(10)


_RACE: list[tuple[float, dict]] = []  # built in the parent, inherited by the forked clients


def _delayed(url: str, index: int, start_at: float, stop_at: float, counts) -> None:
    messages = encode_messages(_RACE, index)
    while time.time() < start_at:
        time.sleep(0.01)
    asyncio.run(one_client(url, index, messages, stop_at, counts))


def main() -> None:
    _RACE[:] = build_race()
    print(f"{CARS}-car sessions, one client per session, up to {WINDOW} unacked per client;")
    print(f"measured over {MEASURE:g} s after {WARMUP:g} s of warm-up")
    print(f"{'clients':>8} {'updates/s':>10} {'server CPU':>11} {'CPU/update':>11}")
    for clients in CLIENTS:
        r = run_once(clients)
        print(
            f"{r['clients']:>8} {r['rate']:>10.0f} {r['cpu'] / MEASURE * 100:>10.0f}% "
            f"{r['cpu_per_update'] * 1e3:>9.2f}ms  ({r['updates']} updates in "
            f"{r['seconds']:.1f} s)",
            flush=True,
        )


if __name__ == "__main__":
    main()
