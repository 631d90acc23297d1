"""What a team member sees in the client's window: one line per change, not a wall of logs.

The line texts are pure functions (`game_line`, `uplink_line`, `traffic_line`) so tests pin
them; `Console` remembers the last line of each kind and prints only when it changes, and the
traffic line at most once a minute and only when something was sent since.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable
from typing import Any

from client.gamewatch import GameStatus, GameView

TRAFFIC_EVERY = 60.0  # seconds between two "sent ... so far" lines at most


def game_line(view: GameView) -> str:
    status = view.status
    if status is GameStatus.NOT_RUNNING:
        return "waiting for the game (not running)"
    if status is GameStatus.MENU:
        return "game in the menu"
    if status is GameStatus.LOADING:
        return "game loading a session" + (f": {view.label}" if view.label else "")
    if status is GameStatus.REPLAY:
        return "replay playback: not streaming"
    where = view.label or "a session"
    detail = []
    if view.online is not None:
        detail.append("online" if view.online else "offline")
    if view.cars:
        detail.append(f"{view.cars} car" + ("s" if view.cars != 1 else ""))
    return f"in session: {where}" + (f" ({', '.join(detail)})" if detail else "")


def _size(n: int) -> str:
    if n < 1000:
        return f"{n} B"
    if n < 1_000_000:
        return f"{n / 1000:.1f} kB"
    if n < 1_000_000_000:
        return f"{n / 1_000_000:.1f} MB"
    return f"{n / 1_000_000_000:.2f} GB"


def uplink_line(status: Any, key_file: str | None = None, client_id: str | None = None) -> str:
    """The line for an `UplinkStatus` (duck-typed: state, url, role, reconnect_in, error)."""
    state = status.state
    url = status.url
    if state == "connected":
        role = f" as {status.role}" if status.role else ""
        return f"connected to {url}{role}"
    if state == "connecting":
        return f"connecting to {url}"
    if state == "reconnecting":
        wait = status.reconnect_in
        when = f"reconnecting in {wait:.0f} s" if wait is not None else "reconnecting"
        why = f" ({status.error})" if status.error else ""
        return f"server unreachable, {when}{why}"
    if state == "rejected":
        return rejected_line(url, status.error, key_file, client_id)
    if state == "closed":
        return f"disconnected from {url}"
    return f"{state}: {url}"


def rejected_line(
    url: str, error: str | None, key_file: str | None = None, client_id: str | None = None
) -> str:
    """The fatal line when the server refuses this client."""
    text = error or ""
    if "forbidden" in text or "allow" in text or "not accepted" in text or not text:
        ident = f" (ID {client_id})" if client_id else ""
        key = f"; key file {key_file}" if key_file else ""
        return (
            f"the server at {url} does not accept this client's key{ident}: "
            f"ask its admin to add it{key}"
        )
    return f"the server at {url} refused this client: {text}"


def traffic_line(messages: int, sent_bytes: int) -> str:
    return f"sent {messages:,} update{'s' if messages != 1 else ''} ({_size(sent_bytes)}) so far"


class Console:
    """Print a status line when the game's or the uplink's state changes."""

    def __init__(
        self,
        write: Callable[[str], None] | None = None,
        *,
        key_file: str | None = None,
        client_id: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._write = write or _print
        self.key_file = key_file
        self.client_id = client_id
        self._clock = clock
        self._game: str | None = None
        self._uplink: str | None = None
        self._traffic: tuple[int, int] | None = None
        self._traffic_at = clock()
        self.lines: list[str] = []  # everything shown (tests and the final summary read it)

    def say(self, line: str) -> None:
        self.lines.append(line)
        self._write(line)

    def game(self, view: GameView) -> None:
        line = game_line(view)
        if line != self._game:
            self._game = line
            self.say(line)

    def uplink(self, status: Any) -> None:
        line = uplink_line(status, self.key_file, self.client_id)
        if line != self._uplink:
            self._uplink = line
            self.say(line)

    def traffic(self, messages: int, sent_bytes: int, *, force: bool = False) -> None:
        """Every `TRAFFIC_EVERY` seconds at most, only when it changed."""
        now = self._clock()
        if not force and now - self._traffic_at < TRAFFIC_EVERY:
            return
        if (messages, sent_bytes) == self._traffic or messages == 0:
            return
        self._traffic = (messages, sent_bytes)
        self._traffic_at = now
        self.say(traffic_line(messages, sent_bytes))


def _print(line: str) -> None:
    stamp = time.strftime("%H:%M:%S")
    # No console (windowless run, closed pipe): nothing to do.
    with contextlib.suppress(OSError, ValueError):
        print(f"{stamp}  {line}", flush=True)


def fatal(line: str) -> None:
    """One clear line on stderr for an error that stops the client."""
    print(f"error: {line}", file=sys.stderr, flush=True)
