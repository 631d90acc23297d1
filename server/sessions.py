"""Session identity: what one client's state says about the session it is in.

The arbiter never trusts one field. A game session is identified by its **key** (game server
name and port, track, session type; for offline sessions the one client that plays it) and
confirmed by its **event clock** (ET can only move forward, at most as fast as the wall clock
allows) and its **entry list** (most car keys in common). This module turns a normalized client
state (`client/normalize.py`) into a `Reading` and holds the small rules that compare readings;
it keeps no state and does no I/O.

Why a reading can be "not settled": while the game loads the next session it can report the
new phase with the old standings (the older tracker's "starting but cars finished" case, which
made it create empty extra sessions), or no cars at all. Such a reading places the client in no
session; the client waits until its data is consistent again (see `unsettled`).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

# sessionInfo gamePhase (GamePhase int)
PHASE_STARTING = 0
PHASE_COUNTDOWN = 4
PHASE_GREEN = 5
PHASE_CHECKERED = 8
PHASE_PAUSED = 9

OFFLINE_SERVER_NAMES = ("", "-none-")  # what the game reports outside multiplayer
# A car cannot have taken the flag before the green flag: such rows are the previous session's.
FINISHED_STATUSES = ("FSTAT_FINISHED", "FSTAT_CHECKERED")
# Weekend order: a session links to the previous one on the same server when its rank is not
# lower (practice -> qualifying -> warmup -> race; a restart keeps the rank).
_RANKS = (("TESTDAY", 0), ("PRACTICE", 1), ("QUALIFY", 2), ("WARMUP", 3), ("RACE", 4))
_SESSION_RE = re.compile(r"([A-Z]+?)(\d*)")


@dataclass(frozen=True)
class SessionKey:
    """What must be equal for two readings to be the same session.

    `server`/`port` are None offline; `owner` (the client id) is set only offline, because an
    offline session runs inside one player's game and nobody else can see it.
    """

    online: bool
    server: str | None
    port: int | None
    track: str
    session_type: str
    owner: str | None = None

    @property
    def venue(self) -> tuple:
        """The game server (or offline player) and track: sessions of one event share it."""
        return (self.online, self.server, self.port, self.owner, self.track)

    @property
    def host(self) -> tuple:
        """The game server (offline: the player's game): it runs one session at a time."""
        return (self.online, self.server, self.port, self.owner)


@dataclass(frozen=True)
class Reading:
    """One client's view of its session at one event time."""

    key: SessionKey
    et: float
    phase: int | None
    cars: frozenset[str]
    player_car: str | None
    remaining: float | None  # ET seconds until the session's end, as far as the game says
    unsettled: str | None = None  # why this reading cannot place the client (None: it can)

    @property
    def before_green(self) -> bool:
        return self.phase is not None and self.phase <= PHASE_COUNTDOWN

    @property
    def checkered(self) -> bool:
        return self.phase == PHASE_CHECKERED


def absence(state: dict[str, Any]) -> str | None:
    """Why a client is in no session at all (None: its state carries a session).

    Replay playback is checked first: a replay looks like a live race everywhere else, and
    feeding it would rewrite a finished (or a running) session with old data.
    """
    game = state.get("game") if type(state.get("game")) is dict else {}
    if game.get("replay") is True:
        return "replay"
    if game.get("running") is False:
        return "game_closed"
    session = state.get("session")
    if type(session) is not dict or game.get("in_session") is False:
        return "no_session"
    if type(session.get("trackName")) is not str or type(session.get("session")) is not str:
        return "no_session"
    return None


def is_online(state: dict[str, Any]) -> bool:
    """Online when the multiplayer teams answered; without that answer, by the game server."""
    game = state.get("game") if type(state.get("game")) is dict else {}
    if type(state.get("teams")) is dict:
        return True
    if type(game.get("online")) is bool:
        return game["online"]
    session = state.get("session") or {}
    name, port = session.get("serverName"), session.get("serverPort")
    return type(port) is int and port > 0 and name not in OFFLINE_SERVER_NAMES


def read(state: dict[str, Any], et: float, client_id: str) -> Reading | None:
    """The reading of a state that carries a session (None when `absence(state)` says not)."""
    if absence(state) is not None:
        return None
    session: dict[str, Any] = state["session"]
    online = is_online(state)
    if online:
        server = session.get("serverName")
        port = session.get("serverPort")
        key = SessionKey(
            True,
            server if type(server) is str else None,
            port if type(port) is int else None,
            session["trackName"],
            session["session"],
        )
    else:
        key = SessionKey(False, None, None, session["trackName"], session["session"], client_id)
    cars = state.get("cars") if type(state.get("cars")) is dict else {}
    phase = session.get("gamePhase")
    phase = phase if type(phase) is int else None
    player = next((k for k, row in cars.items() if type(row) is dict and row.get("player")), None)
    reading = Reading(
        key=key,
        et=float(et),
        phase=phase,
        cars=frozenset(cars),
        player_car=player,
        remaining=remaining(session, float(et)),
    )
    why = unsettled(reading, cars)
    if why is not None:
        return Reading(**{**reading.__dict__, "unsettled": why})
    return reading


def unsettled(reading: Reading, cars: dict[str, Any]) -> str | None:
    """Why this reading cannot be placed yet, or None.

    - no cars: the standings are loading; nothing to compare the entry list with;
    - before the green flag with cars that already finished: the standings are the previous
      session's while the game loads the next one. Only FINISHED/CHECKERED count: a DQ or DNF
      before the start is real (the older client's rule dropped those too).
    """
    if not cars:
        return "no_cars"
    if reading.before_green:
        for row in cars.values():
            if type(row) is dict and row.get("finishStatus") in FINISHED_STATUSES:
                return "stale_cars"
    return None


def remaining(session: dict[str, Any], et: float) -> float | None:
    """ET seconds the session still runs: the larger of the phase's remaining time and the
    time to the session's end (the phase timer alone is short before the green flag)."""
    candidates = []
    phase_left = session.get("timeRemainingInGamePhase")
    if isinstance(phase_left, int | float) and phase_left >= 0:
        candidates.append(float(phase_left))
    end = session.get("endEventTime")
    if not isinstance(end, int | float) or end <= 0:
        end = session.get("maxTime")
    if isinstance(end, int | float) and end > 0:
        candidates.append(max(0.0, float(end) - et))
    return max(candidates) if candidates else None


def entries_similar(a: frozenset[str], b: frozenset[str], overlap: float) -> bool:
    """Most car keys in common, measured against the smaller list.

    Against the smaller list so that cars joining or leaving an online session mid-way never
    fork it (the older tracker locked such sessions to one client); an empty list says nothing.
    """
    if not a or not b:
        return True
    return len(a & b) >= overlap * min(len(a), len(b))


def rank(session_type: str) -> int:
    """Order of a session type in a race weekend (unknown types rank with practice)."""
    match = _SESSION_RE.fullmatch(session_type)
    name = match.group(1) if match else session_type
    return dict(_RANKS).get(name, 1)


def session_id(now: float, sequence: int, entropy: bytes) -> str:
    """A UUIDv7-like id: 48-bit Unix milliseconds, version 7, then a sequence and entropy.

    32 lowercase hex digits like the older tracker's ids, so ids sort by creation time; the
    sequence keeps ids of one millisecond in creation order.
    """
    ms = max(0, int(now * 1000)) & ((1 << 48) - 1)
    seq = sequence & 0xFFF
    tail = int.from_bytes(entropy[:8].ljust(8, b"\0"), "big") & ((1 << 62) - 1)
    value = (ms << 80) | (0x7 << 76) | (seq << 64) | (0b10 << 62) | tail
    return f"{value:032x}"
