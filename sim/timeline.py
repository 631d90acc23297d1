"""The simulator's clock over a weekend: which session is on, at which ET, or loading.

Each session plays from ET 0 (or `start_et` for the first) to its `final_et()` at `speed` x
real time. Between sessions the game loads the next one for `weekend.transition_seconds` of
wall time (not scaled by speed: loading is real work). After the last session the clock stays
at its final ET with `over=True`.

The clock keeps an anchor (a position and the wall time it held) and walks forward from it, so
pausing, changing speed and jumping only move the anchor. `now` is injectable for tests.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sim.script import Weekend


@dataclass(frozen=True)
class WeekendPosition:
    """Where the weekend stands. While `loading`, `session_index` is the session being
    loaded and `et` is 0.0."""

    session_index: int
    et: float
    loading: bool
    over: bool


@dataclass(frozen=True)
class _Anchor:
    session_index: int
    et: float
    loading_left: float  # wall seconds of loading still to go before `session_index` starts
    wall: float


class WeekendClock:
    """Plays a `Weekend` against a monotonic clock, with pause, speed changes and jumps."""

    def __init__(
        self,
        weekend: Weekend,
        *,
        speed: float = 1.0,
        start_et: float = 0.0,
        start_session: int = 0,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        _check_speed(speed)
        self.weekend = weekend
        self._now = now
        self._speed = speed
        self._paused = False
        self._lock = threading.Lock()
        self._finals = [s.final_et() for s in weekend.sessions]
        index = min(max(0, start_session), max(0, len(weekend.sessions) - 1))
        self._anchor = _Anchor(index, start_et, 0.0, now())

    @property
    def speed(self) -> float:
        return self._speed

    @property
    def paused(self) -> bool:
        return self._paused

    def position(self) -> WeekendPosition:
        with self._lock:
            return self._position(self._now())

    def pause(self) -> None:
        with self._lock:
            if not self._paused:
                self._reanchor(self._now())
                self._paused = True

    def resume(self) -> None:
        with self._lock:
            if self._paused:
                a = self._anchor
                self._anchor = _Anchor(a.session_index, a.et, a.loading_left, self._now())
                self._paused = False

    def set_speed(self, speed: float) -> None:
        """Change the speed from now on; the position does not jump."""
        _check_speed(speed)
        with self._lock:
            self._reanchor(self._now())
            self._speed = speed

    def jump(self, session_index: int, et: float) -> None:
        """Go straight to `et` of session `session_index` (no loading)."""
        if not 0 <= session_index < len(self.weekend.sessions):
            raise IndexError(
                f"no session {session_index} in a weekend of {len(self.weekend.sessions)}"
            )
        with self._lock:
            self._anchor = _Anchor(session_index, max(0.0, et), 0.0, self._now())

    # -- internals ------------------------------------------------------------------------------

    def _reanchor(self, wall: float) -> None:
        pos = self._walk(wall)
        self._anchor = _Anchor(pos[0], pos[1], pos[2], wall)

    def _position(self, wall: float) -> WeekendPosition:
        index, et, loading_left = self._walk(wall)
        sessions = self.weekend.sessions
        if not sessions:
            return WeekendPosition(0, 0.0, False, True)
        over = index == len(sessions) - 1 and loading_left <= 0 and et >= self._finals[index]
        return WeekendPosition(index, 0.0 if loading_left > 0 else et, loading_left > 0, over)

    def _walk(self, wall: float) -> tuple[int, float, float]:
        """(session index, ET, loading left) at `wall`, walking forward from the anchor."""
        a = self._anchor
        index, et, loading_left = a.session_index, a.et, a.loading_left
        if self._paused or not self.weekend.sessions:
            return index, et, loading_left
        elapsed = max(0.0, wall - a.wall)
        last = len(self.weekend.sessions) - 1
        while True:
            if loading_left > 0:
                if elapsed < loading_left:
                    return index, 0.0, loading_left - elapsed
                elapsed -= loading_left
                loading_left = 0.0
            play = (self._finals[index] - et) / self._speed
            if elapsed < play or index == last:
                return index, min(self._finals[index], et + elapsed * self._speed), 0.0
            elapsed -= max(0.0, play)
            index, et = index + 1, 0.0
            loading_left = self.weekend.transition_seconds
            if loading_left <= 0:
                loading_left = 0.0


def _check_speed(speed: float) -> None:
    if not (speed > 0 and math.isfinite(speed)):
        raise ValueError(f"speed must be a positive number, not {speed!r}")
