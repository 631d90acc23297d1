"""Run `lmust-client` with its wall clock off by N seconds: `python skewed_clock.py N -- ARGS`.

A test hook that lives with the tests, not in the client: before the client is imported, this
process's `time.time` / `time.time_ns` are made to read N seconds ahead (or behind, N < 0) of
the machine's clock, as a PC whose clock is wrong would. Everything in the client that reads the
wall clock goes through them (the stream's `sent_at` and outbox ages, the log's timestamps);
monotonic timers (asyncio, websockets' pings) are not wall-clock time and stay as they are.
"""

from __future__ import annotations

import sys
import time


def skew(offset: float) -> None:
    real_time, real_time_ns = time.time, time.time_ns
    time.time = lambda: real_time() + offset
    time.time_ns = lambda: real_time_ns() + int(offset * 1e9)


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[1] != "--":
        print("usage: skewed_clock.py OFFSET_SECONDS -- CLIENT_ARGS...", file=sys.stderr)
        return 2
    skew(float(argv[0]))
    from client.cli import main as client_main

    return client_main(argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
