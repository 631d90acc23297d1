"""Slim a normalized state before it is sent: no per-tick noise, no float jitter (pure).

Every tick the game reports values that change although nothing happened that the server could
not work out itself, and floats whose last digits wobble. Either would put every car into every
patch. The rules below remove that; the server must know them to reconstruct what it needs.

Dropped (`DROPPED_CAR_FIELDS`, `DROPPED_WS_FIELDS`):
- `cars.*.timeIntoLap`: equals `session.currentEventTime - cars.*.lapStartET` (the server
  recomputes it from the tick's ET).
- `cars.*.carAcceleration`, `cars.*.pathLateral`, `cars.*.trackEdge`: physics noise nothing uses.
- `cars.*.ws.posX/posY/posZ`, `ws.lapDist`, `ws.localVelX/Y/Z`, `ws.timeIntoLap`,
  `ws.timeBehindLeader`, `ws.timeBehindNext`: the websocket copies of REST fields (`carPosition`,
  `lapDistance`, `carVelocity`, `timeIntoLap`, `timeBehindLeader`, `timeBehindNext`);
  `ws.gapToClassLeader`, `ws.gapToRelativeTxt`: the same gaps as text ("+42.743");
  `ws.totalRaceTime` (the ET less the race start) and `ws.calculatedRaceLaps` (the game's running
  estimate of the race distance): both change for every car at every tick and nothing reads them.
  These six were a third of what changed per car per tick at 1x.

Rounded (`ROUNDING`: field -> decimals, per section; only floats are touched, ints stay ints):
- positions and velocities to 0.1 m and 0.1 m/s (`carPosition`, `carVelocity`, `windSpeed`);
- distances to 0.1 m (`lapDistance`, `pitLapDistance`, `pit_entry_dist`);
- times to 1 ms (lap, sector and gap times, ETs, time of day, time remaining);
- fractions to 4 decimals (fuel, virtual energy, wetness, race completion), the websocket's
  virtual energy percent to 2; temperatures to 0.01 degC.
- Sentinels stay exact: `-1` and `0` are never produced by rounding a value that was not
  already `-1` or `0` (e.g. a fuel fraction of 0.00003 is kept as is), and `-0.0` becomes `0.0`.

Everything else passes through unchanged; the result never holds None (`assert_patchable`).

Two ways to apply the rules, with the same result: `slim(state)` on a normalized state, and
`Slimmer()(raw)` == `slim(normalize(raw))`, which the client runs every tick: it cleans, drops
and rounds each row in one pass while normalizing (one copy of each car instead of two),
reuses the sections whose answers did not change (`client.normalize.Normalizer`) and, per car,
last tick's shaped row when only its moving fields changed (`RowReuse`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from operator import itemgetter
from typing import Any

import orjson

from client.normalize import Normalizer, Shapers, clean

DROPPED_CAR_FIELDS = frozenset({"timeIntoLap", "carAcceleration", "pathLateral", "trackEdge"})
DROPPED_WS_FIELDS = frozenset(
    {
        *("posX", "posY", "posZ", "lapDist", "localVelX", "localVelY", "localVelZ", "timeIntoLap"),
        *("timeBehindLeader", "timeBehindNext", "gapToClassLeader", "gapToRelativeTxt"),
        *("totalRaceTime", "calculatedRaceLaps"),
    }
)

METRES = 1  # decimals: 0.1 m, 0.1 m/s
MS = 3  # 1 ms
FRACTION = 4

_CAR_TIMES = (
    "bestLapSectorTime1",
    "bestLapSectorTime2",
    "bestLapTime",
    "bestSectorTime1",
    "bestSectorTime2",
    "currentSectorTime1",
    "currentSectorTime2",
    "estimatedLapTime",
    "lapStartET",
    "lastLapTime",
    "lastSectorTime1",
    "lastSectorTime2",
    "timeBehindClassLeader",
    "timeBehindLeader",
    "timeBehindNext",
)
_WS_TIMES = (
    "bestIndividualTimeSector1",
    "bestIndividualTimeSector2",
    "bestLapTime",
    "bestLapTimeS1",
    "bestLapTimeS2",
    "currentLapTimeS1",
    "currentLapTimeS2",
    "lastLapTime",
    "lastLapTimeS1",
    "lastLapTimeS2",
    "timeBehindLeader",
    "timeBehindNext",
    "totalRaceTime",
)
_SESSION_TIMES = (
    "currentEventTime",
    "endEventTime",
    "maxTime",
    "startEventTime",
    "timeRemainingInGamePhase",
)

#: Section -> {field: decimals}; a nested object's fields are all rounded to its decimals.
ROUNDING: Mapping[str, Mapping[str, int]] = {
    "car": {
        **dict.fromkeys(_CAR_TIMES, MS),
        "carPosition": METRES,
        "carVelocity": METRES,
        "lapDistance": METRES,
        "pitLapDistance": METRES,
        "fuelFraction": FRACTION,
        "veFraction": FRACTION,
    },
    "ws": {
        **dict.fromkeys(_WS_TIMES, MS),
        "calculatedRaceLaps": FRACTION,
        "virtualEnergy": 2,
    },
    "session": {
        **dict.fromkeys(_SESSION_TIMES, MS),
        "ambientTemp": 2,
        "trackTemp": 2,
        "averagePathWetness": FRACTION,
        "minPathWetness": FRACTION,
        "maxPathWetness": FRACTION,
        "darkCloud": FRACTION,
        "raining": FRACTION,
        "raceCompletion": FRACTION,
        "windSpeed": METRES,
    },
    "game": {"time_of_day": MS, "pit_entry_dist": METRES},
}

_CAR = ROUNDING["car"]
_WS = ROUNDING["ws"]


_SCALES = tuple(10.0**d for d in range(10))
_FAST_BELOW = 1e9  # |value x 10**decimals| under this: the product is exact enough (< 1e-6 off)
_TIE_LOW, _TIE_HIGH = 0.5 - 1e-6, 0.5 + 1e-6  # a scaled fraction between these may be a tie


def fast_round(value: float, decimals: int) -> float:
    """`round(value, decimals)`, the same float, several times faster (thousands a tick).

    `round(x, n)` finds the correctly rounded decimal through a decimal string. Scaling by
    10**n, rounding to an integer and scaling back gives the same float whenever the scaled
    value is not within 1e-6 of a tie (its error is far below that under `_FAST_BELOW`); the
    rest (ties, huge values, NaN and infinities) goes to `round` itself.
    """
    scale = _SCALES[decimals]
    scaled = value * scale
    if -_FAST_BELOW < scaled < _FAST_BELOW:
        floor = scaled // 1.0
        if scaled - floor < _TIE_LOW:
            return floor / scale
        if scaled - floor > _TIE_HIGH:
            return (floor + 1.0) / scale
    return round(value, decimals)


def round_value(value: Any, decimals: int) -> Any:
    """`value` rounded if it is a float (recursively inside objects); sentinels stay exact."""
    kind = type(value)
    if kind is float:
        rounded = fast_round(value, decimals)
        if (rounded == 0.0 or rounded == -1.0) and value != rounded:
            return value  # never round a real value onto a sentinel
        return rounded + 0.0  # -0.0 -> 0.0
    if kind is dict:
        return {k: round_value(v, decimals) for k, v in value.items()}
    return value


def _round_fields(row: Mapping[str, Any], rules: Mapping[str, int], drop: frozenset) -> dict:
    out = {}
    for key, value in row.items():
        if key in drop:
            continue
        decimals = rules.get(key)
        out[key] = value if decimals is None else round_value(value, decimals)
    return out


def slim_car(car: Mapping[str, Any]) -> dict[str, Any]:
    out = _round_fields(car, _CAR, DROPPED_CAR_FIELDS)
    ws = out.get("ws")
    if type(ws) is dict:
        out["ws"] = _round_fields(ws, _WS, DROPPED_WS_FIELDS)
    return out


def slim(state: Mapping[str, Any]) -> dict[str, Any]:
    """A slimmed copy of a normalized state (see the module docstring for every rule)."""
    out = dict(state)
    cars = state.get("cars")
    if type(cars) is dict:
        out["cars"] = {key: slim_car(car) for key, car in cars.items()}
    session = state.get("session")
    if type(session) is dict:
        slimmed = _round_fields(session, ROUNDING["session"], frozenset())
        ws = session.get("ws")
        if type(ws) is dict:
            slimmed["ws"] = _round_fields(ws, ROUNDING["session"], frozenset())
        out["session"] = slimmed
    game = state.get("game")
    if type(game) is dict:
        out["game"] = _round_fields(game, ROUNDING["game"], frozenset())
    return out


# --- one pass: clean (as `normalize` does), drop and round --------------------------------------


def _shaped(row: Mapping[str, Any], rules: Mapping[str, int], drop: frozenset) -> dict:
    """`_round_fields(clean(row), rules, drop)` in one pass (the rounding of `round_value`).

    `fast_round` is written out inline: ~2,400 floats a tick are rounded here, and the call
    would cost as much as the rounding.
    """
    out = {}
    rule = rules.get
    scales = _SCALES
    for key, value in row.items():
        if key in drop:
            continue
        kind = type(value)
        if kind is float:
            if value - value != 0.0:  # NaN or infinite: dropped like null
                continue
            decimals = rule(key)
            if decimals is not None:
                scale = scales[decimals]
                scaled = value * scale
                floor = scaled // 1.0
                if not -_FAST_BELOW < scaled < _FAST_BELOW:
                    rounded = round(value, decimals)
                elif scaled - floor < _TIE_LOW:
                    rounded = floor / scale
                elif scaled - floor > _TIE_HIGH:
                    rounded = (floor + 1.0) / scale
                else:
                    rounded = round(value, decimals)
                if (rounded != 0.0 and rounded != -1.0) or value == rounded:
                    value = rounded + 0.0  # -0.0 -> 0.0
        elif kind is dict:
            value = clean(value)
            decimals = rule(key)
            if decimals is not None:
                value = round_value(value, decimals)
        elif kind is list:
            value = clean(value)
        elif value is None:
            continue
        out[key] = value
    return out


_GONE = object()  # a value the shaping drops (null, NaN, infinite)


class _Every:
    """Rules giving every field the same decimals (a nested object: `carPosition`...)."""

    __slots__ = ("decimals",)

    def __init__(self, decimals: int | None) -> None:
        self.decimals = decimals

    def get(self, _key: str, _default: object = None) -> int | None:
        return self.decimals


_EVERY = {d: _Every(d) for d in (None, *range(len(_SCALES)))}


def _shaped_value(key: str, value: Any, rules: Mapping[str, int]) -> Any:
    """What `_shaped` makes of one field (`_GONE`: it drops it), for the few fields that
    `RowReuse` reshapes."""
    kind = type(value)
    if kind is float:
        if value - value != 0.0:
            return _GONE
        decimals = rules.get(key)
        return value if decimals is None else round_value(value, decimals)
    if kind is dict:
        return _shaped(value, _EVERY[rules.get(key)], _NO_DROP)
    if kind is list:
        return clean(value)
    return _GONE if value is None else value


# --- tick after tick: reuse what held still -----------------------------------------------------

#: The fields of a car's standings row that change at every tick while the car moves.
FAST_CAR_FIELDS = frozenset(
    {
        *("carPosition", "carVelocity", "lapDistance"),
        *("timeBehindLeader", "timeBehindNext", "timeBehindClassLeader"),
    }
)
_GETTERS_KEPT = 64  # distinct field lists remembered (the game's rows share one or two)


class RowReuse:
    """Shape car rows tick after tick, reusing last tick's result for what held still.

    A car's row (by `slotID`) with the same fields as last tick and byte-for-byte the same
    values outside `fast` (compared as one orjson encoding, so 1 and 1.0 differ, as the patch
    would) shapes to last tick's dict except for the `fast` fields. Those alone are reshaped:
    without `fast` fields that is last tick's very dict (the patch skips it by identity),
    otherwise a copy with those reshaped, the others still the same objects (the patch skips
    each by identity). Anything else (a field added, gone, turned null, or a value that orjson
    cannot encode) is shaped in full; a row without `fast` fields that comes out equal to last
    tick's is then last tick's object. So the result always equals `_shaped(row, rules, drop)`
    (key order included, but for that last case); `fast` only decides how often the cheap way
    applies. Profiled on a 60-car race, shaping and
    diffing every car were ~40% of the client's CPU; the websocket rows hold still for seconds
    and a standings row moves ~6 of its ~60 fields.
    """

    def __init__(
        self, rules: Mapping[str, int], drop: frozenset, fast: frozenset = frozenset()
    ) -> None:
        self.rules = rules
        self.drop = drop
        self.fast = fast
        self.reused = 0  # rows that took the cheap way (for tests and benchmarks)
        self._last: dict[object, tuple[tuple, bytes, dict]] = {}
        self._getters: dict[tuple, Callable[[dict], object]] = {}

    def __call__(self, row: dict) -> dict:
        keys = tuple(row)
        signature = self._signature(keys, row)
        slot = row.get("slotID")
        last = self._last.get(slot)
        if signature is not None and last is not None and last[0] == keys and last[1] == signature:
            out = self._refreshed(last[2], row)
            if out is not None:
                self.reused += 1
                self._last[slot] = (keys, signature, out)
                return out
        out = _shaped(row, self.rules, self.drop)
        if not self.fast and last is not None and last[2] == out:
            # Equal once shaped (a change the rounding hid): last tick's object, so the patch
            # skips it. Equal as Python compares: a value that changes only its JSON type
            # (1 to 1.0) keeps last tick's form until something else in the row changes.
            out = last[2]
        if signature is not None and type(slot) is int:
            self._last[slot] = (keys, signature, out)
        return out

    def _signature(self, keys: tuple, row: dict) -> bytes | None:
        """The values of the slow fields, encoded (None: not encodable, e.g. a huge int)."""
        getter = self._getters.get(keys)
        if getter is None:
            if len(self._getters) >= _GETTERS_KEPT:
                self._getters.clear()
            slow = [key for key in keys if key not in self.fast and key not in self.drop]
            getter = self._getters[keys] = itemgetter(*slow) if slow else (lambda _row: ())
        try:
            return orjson.dumps(getter(row))
        except (TypeError, orjson.JSONEncodeError):
            return None

    def _refreshed(self, last: dict, row: dict) -> dict | None:
        """`last` with the fast fields of `row` reshaped; None if one of them came or went.

        Unchanged fast values are not looked for: the patch compares them anyway."""
        if not self.fast:
            return last
        out = last.copy()
        rules = self.rules
        for key in self.fast:
            if key not in row:
                continue  # then it was not there last tick either (same fields)
            value = _shaped_value(key, row[key], rules)
            if value is _GONE or key not in last:
                return None  # the key would move or go: shape in full (same key order)
            out[key] = value
        return out


_NO_DROP: frozenset = frozenset()
_SESSION = ROUNDING["session"]
_GAME = ROUNDING["game"]


def _slim_shapers() -> Shapers:
    return Shapers(
        car=RowReuse(_CAR, DROPPED_CAR_FIELDS, FAST_CAR_FIELDS),
        car_ws=RowReuse(_WS, DROPPED_WS_FIELDS),
        session=lambda row: _shaped(row, _SESSION, _NO_DROP),
        session_ws=lambda row: _shaped(row, _SESSION, _NO_DROP),
        game=lambda game: _round_fields(game, _GAME, _NO_DROP),
    )


class Slimmer(Normalizer):
    """`slim(normalize(raw))` for one tick after another, in one pass (see the module doc)."""

    def __init__(self) -> None:
        super().__init__(_slim_shapers())


def time_into_lap(et: float, lap_start_et: float) -> float:
    """What the server computes for a dropped `timeIntoLap` (rounded like the other times)."""
    return round(max(0.0, et - lap_start_et), MS)
