"""What the game is doing, and whether its event time can be trusted (pure, explicit `now`).

The client must only stream a live session: a replay looks exactly like a race in every
endpoint except the navigation screen and GetGameState's `isReplayActive`, so `assess` checks
those first. And the game's event time (ET) jumps while it loads or restarts a session; the old
tracker skipped any tick whose ET did not advance exactly like the wall clock, which also threw
away the first tick of every session, every pause, time-accelerated sessions and slow answers.
`EventClock` only refuses what cannot be a race running at up to `max_speed` x real time, and
gives in to a new time base once it has been consistent for a few ticks.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from client.normalize import GAME_STATE, NAVIGATION, REPLAY_SCREEN, SESSION_INFO, STANDINGS, TEAMS

log = logging.getLogger(__name__)

LOADING_SCREEN = "SETTING_LOADING"
# MultiStintState values that mean "a session is loaded" (DISABLED means none, LOADING loading).
_SESSION_STINT_STATES = frozenset({"MONITOR_MENU", "DRIVING", "END_OF_RACE_GRACE", "PAUSED"})


class GameStatus(StrEnum):
    NOT_RUNNING = "not running"
    MENU = "menu"
    LOADING = "loading"
    IN_SESSION = "in session"
    REPLAY = "replay"


@dataclass(frozen=True)
class GameView:
    """The game's status at one tick, plus what the console and the schedule need to know."""

    status: GameStatus
    online: bool | None = None  # None: the teams endpoint was not asked
    track: str | None = None
    session: str | None = None  # e.g. "RACE1"
    server: str | None = None  # the game server's name, "-none-" offline
    cars: int = 0

    @property
    def live(self) -> bool:
        """True only for a live session: the one status whose data is streamed."""
        return self.status is GameStatus.IN_SESSION

    @property
    def race(self) -> bool:
        return bool(self.session and self.session.startswith("RACE"))

    @property
    def identity(self) -> tuple:
        """What makes two ticks "the same session" for the client (schedule and caches)."""
        return (self.status, self.server, self.track, self.session)

    @property
    def label(self) -> str:
        """`"RACE1 at Algarve International Circuit"` (what is known of it)."""
        if self.session and self.track:
            return f"{self.session} at {self.track}"
        return self.session or self.track or ""


def assess(raw: Mapping[str, object], *, refused: bool = False) -> GameView:
    """The game's status from one tick's raw answers (`client.normalize` endpoint keys).

    `refused`: the REST port refused the connection (the game is not running). Any answered
    REST endpoint means the game runs; a replay is recognized before anything else.
    """
    state = raw.get(GAME_STATE)
    state = state if type(state) is dict else None
    nav = raw.get(NAVIGATION)
    screen = nav.get("settingMode") if type(nav) is dict else None
    info = raw.get(SESSION_INFO)
    info = info if type(info) is dict else None
    answered = state is not None or screen is not None or info is not None
    if refused or not answered:
        return GameView(GameStatus.NOT_RUNNING)
    online = type(raw[TEAMS]) is dict if TEAMS in raw else None
    track = _text(info, "trackName")
    session = _text(info, "session")
    server = _text(info, "serverName")
    standings = raw.get(STANDINGS)
    cars = len(standings) if type(standings) is list else 0
    if not cars and info is not None and type(info.get("numberOfVehicles")) is int:
        cars = info["numberOfVehicles"]

    def view(status: GameStatus) -> GameView:
        return GameView(status, online, track, session, server, cars)

    if screen == REPLAY_SCREEN or (state is not None and state.get("isReplayActive") is True):
        return view(GameStatus.REPLAY)
    stint = state.get("MultiStintState") if state is not None else None
    if stint == "LOADING" or screen == LOADING_SCREEN:
        return view(GameStatus.LOADING)
    if info is not None:
        return view(GameStatus.IN_SESSION)
    if stint in _SESSION_STINT_STATES:  # a session is up but sessionInfo has not answered yet
        return view(GameStatus.LOADING)
    return view(GameStatus.MENU)


def event_time(raw: Mapping[str, object]) -> float | None:
    """sessionInfo `currentEventTime`, or None when there is none (or it is not a number)."""
    info = raw.get(SESSION_INFO)
    if type(info) is not dict:
        return None
    et = info.get("currentEventTime")
    if type(et) not in (int, float) or et != et:  # bool is excluded by the exact type check
        return None
    return float(et)


def _text(doc: Mapping | None, key: str) -> str | None:
    value = doc.get(key) if doc is not None else None
    return value if type(value) is str and value else None


class EventClock:
    """Guard against abnormal event-time jumps (loading, restarts, glitched answers).

    A tick is refused when its ET goes backwards by more than `tolerance`, or forward by more
    than `max(min_jump, 3 x wall seconds since the last accepted tick x max_speed)`. Pauses
    (ET standing still) are fine. After `rebase_after` consecutive refused ticks that agree with
    each other, their time base is adopted (a restarted session must not be blocked forever).
    The first tick after `reset()` (a new session) is always accepted.
    """

    def __init__(
        self,
        max_speed: float = 1.0,
        *,
        tolerance: float = 0.5,
        min_jump: float = 5.0,
        rebase_after: int = 3,
    ) -> None:
        if max_speed <= 0:
            raise ValueError("max_speed must be > 0")
        self.max_speed = max_speed
        self.tolerance = tolerance
        self.min_jump = min_jump
        self.rebase_after = max(1, rebase_after)
        self.refused = 0  # ticks refused so far (for logs and tests)
        self.reset()

    def reset(self) -> None:
        """Forget the time base: the next tick starts a new one."""
        self._base: tuple[float, float] | None = None
        self._candidate: tuple[float, float] | None = None
        self._agreeing = 0

    def _consistent(self, base: tuple[float, float], et: float, now: float) -> bool:
        base_et, base_now = base
        step = et - base_et
        wall = max(0.0, now - base_now)
        return -self.tolerance <= step <= max(self.min_jump, 3.0 * wall * self.max_speed)

    def accept(self, et: float, now: float) -> bool:
        """True when the tick at game time `et` (wall time `now`) can be trusted."""
        if self._base is None or self._consistent(self._base, et, now):
            self._base = (et, now)
            self._candidate, self._agreeing = None, 0
            return True
        if self._candidate is not None and self._consistent(self._candidate, et, now):
            self._agreeing += 1
        else:
            self._agreeing = 1
        self._candidate = (et, now)
        if self._agreeing >= self.rebase_after:
            log.info("event time re-based at ET %.1f after %d consistent ticks", et, self._agreeing)
            self._base = (et, now)
            self._candidate, self._agreeing = None, 0
            return True
        self.refused += 1
        log.debug("event time %.3f refused (base %s)", et, self._base)
        return False
