"""sessionInfo from the push feed: when REST must still be asked, and the merged object (pure).

The game pushes its SessionInfo ten times a second with the fields of the REST answer, except
one: `gamePhase` is an int 0..9 over REST (Green, FCY, SessionStopped, Paused...) but a coarse
string in the push (BEFORE, FORMATION, GREEN, CHECKERED). Asking REST every tick as well costs
a GET and a parse a second for nothing, so while the push flows the client builds `session`
from the newest pushed body, keeps `gamePhase` from the last REST answer, and asks REST only
every `REST_EVERY` seconds, or at once when the push shows a sign that the phase may have
changed (`Marks`).

The push may stand in only when it is as new as this tick's REST answers (`coherent`): the
game pushes every 100 ms of wall time, which is fresh at 1x but several ticks old when the
game runs faster than real time. Its event time is checked against the standings, where
`lapStartET + timeIntoLap` is the event time the standings were read at.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

WS_FRESH = 1.5  # s: a pushed frame older than this no longer stands in for REST
REST_EVERY = 10.0  # s between REST sessionInfo reads while the push stands in
COHERENCE = 0.5  # s of event time the push may be off the standings' event time
CLOCK_SLACK = 1.0  # s the phase clock may be off its expected value
#: Fields whose pushed value means less than the REST one (the coarse phase string).
REST_ONLY = frozenset({"gamePhase"})
#: Pushed phases whose REST phase changes only with a visible sign: GREEN is Green, FCY or
#: SessionStopped (the sector flags, the yellow flag state, GetGameState tell), CHECKERED is
#: Checkered. BEFORE and FORMATION hide Starting/Grid/Formation/Countdown/Paused changes: REST
#: is asked every tick there.
SETTLED_PHASES = frozenset({"GREEN", "CHECKERED"})
_PUSHED_SIGNS = (
    "gamePhase",
    "yellowFlagState",
    "session",
    "trackName",
    "serverName",
    "numRedLights",
    "startLightFrame",
)
_GAME_STATE_SIGNS = ("gamePhase", "MultiStintState", "isReplayActive", "raceFinished")


def merge(rest: Mapping[str, object], pushed: Mapping[str, object]) -> dict[str, object]:
    """The REST answer's fields updated by the pushed ones, except `REST_ONLY`."""
    merged = dict(rest)
    for key, value in pushed.items():
        if key not in REST_ONLY:
            merged[key] = value
    return merged


def standings_et(standings: object) -> float | None:
    """The event time the standings were read at (the latest `lapStartET + timeIntoLap`)."""
    if type(standings) is not list:
        return None
    best = None
    for row in standings:
        if type(row) is not dict:
            continue
        start, into = row.get("lapStartET"), row.get("timeIntoLap")
        if type(start) in (int, float) and type(into) in (int, float):
            et = start + into
            if best is None or et > best:
                best = et
    return best


def _number(doc: Mapping[str, object], key: str) -> float | None:
    value = doc.get(key)
    return float(value) if type(value) in (int, float) else None


def coherent(pushed: Mapping[str, object], standings: object) -> bool:
    """Whether the pushed body is as new as the standings (see the module docstring)."""
    pushed_et, read_et = _number(pushed, "currentEventTime"), standings_et(standings)
    return pushed_et is not None and read_et is not None and abs(pushed_et - read_et) <= COHERENCE


def settled(pushed: Mapping[str, object] | None, rest: object, standings: object) -> bool:
    """Whether the push may stand in for REST sessionInfo at this tick."""
    return (
        pushed is not None
        and type(rest) is dict
        and pushed.get("gamePhase") in SETTLED_PHASES
        and coherent(pushed, standings)
    )


@dataclass(frozen=True)
class Marks:
    """What the push and GetGameState showed when REST sessionInfo was last read."""

    signs: tuple
    et: float | None
    remaining: float | None

    @classmethod
    def of(cls, pushed: Mapping[str, object] | None, game_state: object) -> Marks:
        pushed = pushed or {}
        state = game_state if type(game_state) is dict else {}
        flags = pushed.get("sectorFlag")
        signs = (
            *(pushed.get(k) for k in _PUSHED_SIGNS),
            tuple(flags) if type(flags) is list else flags,
            *(state.get(k) for k in _GAME_STATE_SIGNS),
        )
        return cls(
            signs, _number(pushed, "currentEventTime"), _number(pushed, "timeRemainingInGamePhase")
        )

    def changed(self, now: Marks) -> bool:
        """A sign changed, or the phase clock jumped (a new phase restarts it): ask REST."""
        if now.signs != self.signs:
            return True
        if None in (self.et, self.remaining, now.et, now.remaining):
            return False
        frozen = now.remaining - self.remaining  # type: ignore[operator]
        counting = frozen + (now.et - self.et)  # type: ignore[operator]
        return abs(frozen) > CLOCK_SLACK and abs(counting) > CLOCK_SLACK
