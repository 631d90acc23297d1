"""Turn the game's answers into one normalized `ClientState` document.

The client streams this document to the server as a snapshot and then as RFC 7386 merge patches
(`schema.mergepatch`). Two rules follow from that and shape everything below:

- **Collections are keyed, never listed.** A merge patch replaces a list wholesale, so a car that
  moves from P3 to P2 would resend the whole field. Every collection the game gives as a list is
  turned into an object keyed by a stable id: cars by car key, chat lines by timestamp, pit
  stops and usage rows by lap. Lists stay only where the game's list is one value (`sectorFlag`,
  `compoundNames`, usage `tyres`, role lists) or is static (the track map, sent once).
- **No `None` anywhere.** `null` in a merge patch means "delete", so every `null` the game sends
  (a key whose value is null, a null list item) is dropped, as are non-finite floats.
  `schema.mergepatch.assert_patchable` passes on every result.

`raw` maps an endpoint key (the constants below) to its parsed JSON answer, or to `None` when the
endpoint did not answer (error, timeout, empty body, literal `null`). A key that is absent means
"not asked this time" (the server's plan can switch endpoints off). Which previous answer to
reuse when an endpoint fails for a moment is the caller's decision: this function is pure and
sees only what it is given. Everything the game sends is kept verbatim (the game's own field
names, types and values) except for the re-keying described here.

The document (each top-level key is present only when there is something to put in it):

- `game`: what the game is doing, from GetGameState, `/navigation/state` and the join state:
    - `running` (always): any REST endpoint answered;
    - `screen`: `/navigation/state` `settingMode`, e.g. `"SETTING_DRIVING"`;
    - `replay`: `settingMode == "SETTING_REPLAY_PLAYBACK"` or GetGameState `isReplayActive`
      (a replay looks like a live race everywhere else);
    - `join_state`: the join state string, e.g. `"JOIN_JOINED_SERVER"`;
    - `online`: the teams endpoint answered an object (present when teams was asked);
    - `in_session`: sessionInfo answered an object (present when sessionInfo was asked);
    - from GetGameState: `multi_stint_state` (MultiStintState), `game_phase` (gamePhase,
      GPHASE_*), `team_vehicle_state`, `in_control` (inControlOfVehicle), `in_monitor`,
      `player_vehicle_loaded`, `race_finished`, `pit_state` (PitState), `pit_entry_dist`,
      `exit_garage_state`, `time_of_day`, `weather` (closeestWeatherNode, verbatim).
- `session`: the sessionInfo object verbatim (the game's field names), plus `ws`: the latest
  websocket SessionInfo body verbatim (its `gamePhase` is a string there) when `raw` has one.
  The client's reader does not pass it: it merges the pushed body into sessionInfo instead
  (`client.sessioninfo`), so the client's state has no `session.ws`.
- `cars`: `{car_key: {...standings row verbatim..., "ws": {...LiveStandings row...}}}` with
  `car_key = f"{slotID}-{vehicleFilename}"` (`client.carkey`); the websocket row is matched by
  its `slotID` and `vehFilename`. Ordered by slot.
- `teams`: the `/rest/multiplayer/teams` object verbatim (its maps are already keyed:
  `drivers` by name, `teams` by `utid<N>`); absent offline (the game answers `null`).
- `chat`: `{f"{timestamp}-{i}": {"message", "timestamp"}}`; `i` counts the different texts that
  share one timestamp (0 almost always). An identical line (same timestamp, same text) collapses
  into one. New lines only add keys; `timestamp` stays an exact int (> 2**53).
- `strategy`: `{team_key: {"name": team, "stops": {lap_key: entry}}}` from the game's list of
  `[team, [entry...]]` pairs. Team names are not unique (11 of 43 duplicated in a real sample),
  so `team_key` is the name, and the 2nd, 3rd... team of the same name gets `"<name>#2"`,
  `"<name>#3"` in the game's list order. Only the relative order of same-named teams has to be
  stable for keys to stay put (a position index `i:name` would move every key behind a team
  that joins or leaves). `lap_key` is `str(lap)`, likewise `"<lap>#2"` for a second entry of one
  lap.
- `usage`: `{driver: {lap_key: entry}}` from `/rest/strategy/usage` (drivers with `null` are
  left out), only each driver's newest `USAGE_LAPS` laps: the game's list grows by every lap of
  every car all race long (a 24-hour race: tens of thousands of rows, held by the client and by
  the server once per client), while everything that reads it wants the last lap or two (the
  tracker waits at most 5 laps for a lap's fuel; the standings show the newest fuel).
- `trackmap`: the `/rest/watch/trackmap` points list verbatim.

`/rest/watch/standings/history` is not part of the state: it travels once in a `backfill`
message (`schema.wire`). Unknown keys of `raw` are ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from client.carkey import standing_key, ws_standing_key

log = logging.getLogger(__name__)

SESSION_INFO = "/rest/watch/sessionInfo"
STANDINGS = "/rest/watch/standings"
GAME_STATE = "/rest/sessions/GetGameState"
TEAMS = "/rest/multiplayer/teams"
JOIN_STATE = "/rest/multiplayer/join/state"
CHAT = "/rest/chat/"
STRATEGY = "/rest/strategy/overall"
USAGE = "/rest/strategy/usage"
USAGE_LAPS = 10  # usage rows kept per driver (newest laps); the tracker waits at most 5
TRACKMAP = "/rest/watch/trackmap"
NAVIGATION = "/navigation/state"
WS_STANDINGS = "ws:LiveStandings"
WS_SESSION = "ws:SessionInfo"

REST_ENDPOINTS = (
    SESSION_INFO,
    STANDINGS,
    GAME_STATE,
    TEAMS,
    JOIN_STATE,
    CHAT,
    STRATEGY,
    USAGE,
    TRACKMAP,
    NAVIGATION,
)
WS_TOPICS = (WS_STANDINGS, WS_SESSION)
ENDPOINTS = REST_ENDPOINTS + WS_TOPICS

REPLAY_SCREEN = "SETTING_REPLAY_PLAYBACK"

# GetGameState field -> `game` key (values copied when not null).
_GAME_STATE_FIELDS = {
    "MultiStintState": "multi_stint_state",
    "gamePhase": "game_phase",
    "teamVehicleState": "team_vehicle_state",
    "inControlOfVehicle": "in_control",
    "inMonitor": "in_monitor",
    "playerVehicleLoaded": "player_vehicle_loaded",
    "raceFinished": "race_finished",
    "PitState": "pit_state",
    "PitEntryDist": "pit_entry_dist",
    "exitGarageState": "exit_garage_state",
    "timeOfDay": "time_of_day",
    "closeestWeatherNode": "weather",  # sic: the game's spelling
}

Raw = Mapping[str, object]


def normalize(raw: Raw) -> dict[str, Any]:
    """The ClientState document for one set of game answers (see the module docstring)."""
    return _build(raw, VERBATIM, None)


@dataclass(frozen=True)
class Shapers:
    """How the rows that change every tick are copied into the state.

    Each takes a row of the game (an object) and returns a new dict for the state (`VERBATIM`:
    `clean`, nulls and non-finite floats dropped; `game` gets the `game` section built here).
    `client.slim` passes shapers that clean, drop and round in one pass, so a tick copies each
    car once instead of twice.
    """

    car: Callable[[dict], dict]
    car_ws: Callable[[dict], dict]
    session: Callable[[dict], dict]
    session_ws: Callable[[dict], dict]
    game: Callable[[dict], dict]


class Normalizer:
    """`normalize` for one tick after another, reusing what did not change.

    The reader hands over the very same parsed object for an answer that was not asked again
    or came back byte for byte the same (teams, chat, strategy, usage, track map: most ticks).
    Their sections are then the very same objects as last tick instead of equal copies, which
    saves rebuilding them and lets `schema.mergepatch.diff` skip them by identity. Same result
    as `normalize` (as long as nobody mutates an answer or a state, which nothing does).
    """

    def __init__(self, shapers: Shapers | None = None) -> None:
        self.shapers = shapers or VERBATIM
        self._memo: dict[str, tuple[object, Any]] = {}  # endpoint -> (answer, section)

    def __call__(self, raw: Raw) -> dict[str, Any]:
        return _build(raw, self.shapers, self._memo)


def _build(raw: Raw, shapers: Shapers, memo: dict[str, tuple[object, Any]] | None) -> dict:
    def section(key: str, make: Callable[[object], Any]) -> Any:
        answer = raw.get(key)
        if memo is None:
            return make(answer)
        last = memo.get(key)
        if last is not None and last[0] is answer:
            return last[1]
        value = make(answer)
        memo[key] = (answer, value)
        return value

    state: dict[str, Any] = {"game": shapers.game(_game(raw))}
    sections: list[tuple[str, Any]] = [
        (
            "session",
            _session(raw.get(SESSION_INFO), _ws_body(raw.get(WS_SESSION)), shapers),
        ),
        ("cars", _cars(raw.get(STANDINGS), _ws_body(raw.get(WS_STANDINGS)), shapers)),
        ("teams", section(TEAMS, lambda v: clean(v) if type(v) is dict else None)),
        ("chat", section(CHAT, _chat)),
        ("strategy", section(STRATEGY, _strategy)),
        ("usage", section(USAGE, _usage)),
        ("trackmap", section(TRACKMAP, lambda v: clean(v) if type(v) is list else None)),
    ]
    for name, value in sections:
        if value:
            state[name] = value
    return state


# --- sections ------------------------------------------------------------------------------


def _game(raw: Raw) -> dict[str, Any]:
    game: dict[str, Any] = {
        "running": any(raw.get(endpoint) is not None for endpoint in REST_ENDPOINTS)
    }
    nav = raw.get(NAVIGATION)
    screen = nav.get("settingMode") if type(nav) is dict else None
    if type(screen) is str:
        game["screen"] = screen
    state = raw.get(GAME_STATE)
    state = state if type(state) is dict else None
    if screen is not None or state is not None:
        game["replay"] = screen == REPLAY_SCREEN or (
            state is not None and state.get("isReplayActive") is True
        )
    join = raw.get(JOIN_STATE)
    if type(join) is str:
        game["join_state"] = join
    if TEAMS in raw:
        game["online"] = type(raw[TEAMS]) is dict
    if SESSION_INFO in raw:
        game["in_session"] = type(raw[SESSION_INFO]) is dict
    if state is not None:
        for field, key in _GAME_STATE_FIELDS.items():
            value = clean(state.get(field))
            if value is not None:
                game[key] = value
    return game


def _session(info: object, ws_info: object, shapers: Shapers) -> dict[str, Any] | None:
    session = shapers.session(info) if type(info) is dict else {}
    if type(ws_info) is dict:
        session["ws"] = shapers.session_ws(ws_info)
    return session or None


def _cars(standings: object, ws_rows: object, shapers: Shapers) -> dict[str, Any] | None:
    """Cars keyed by car key, each the standings row with its websocket row under `ws`."""
    cars: dict[str, dict[str, Any]] = {}
    slots: dict[str, int] = {}
    for row in _rows(standings):
        key = standing_key(row)
        if key is None:
            log.debug("standings row without slotID/vehicleFilename skipped")
            continue
        if key in cars:
            log.warning("car %s listed twice in the standings; keeping the last row", key)
        cars[key] = shapers.car(row)
        slots[key] = row["slotID"]
    for row in _rows(ws_rows):
        key = ws_standing_key(row)
        if key is None:
            log.debug("LiveStandings row without slotID/vehFilename skipped")
            continue
        cars.setdefault(key, {})["ws"] = shapers.car_ws(row)
        slots.setdefault(key, row["slotID"])
    if not cars:
        return None
    order = sorted(cars, key=lambda k: (slots[k], k))
    if order == list(cars):  # the game lists by position, the state by slot: usually re-sorted
        return cars
    return {key: cars[key] for key in order}


def _chat(lines: object) -> dict[str, Any] | None:
    chat: dict[str, Any] = {}
    texts: dict[int, list[str]] = {}
    for line in _rows(lines):
        stamp, message = line.get("timestamp"), line.get("message")
        if type(stamp) is not int or type(message) is not str:
            log.debug("chat line without int timestamp and str message skipped")
            continue
        seen = texts.setdefault(stamp, [])
        if message in seen:
            continue
        chat[f"{stamp}-{len(seen)}"] = {"message": message, "timestamp": stamp}
        seen.append(message)
    return chat or None


def _strategy(teams: object) -> dict[str, Any] | None:
    if type(teams) is not list:
        return None
    strategy: dict[str, Any] = {}
    for item in teams:
        pair = _strategy_pair(item)
        if pair is None:
            log.debug("strategy item that is not a [team, [entries]] pair skipped")
            continue
        name, entries = pair
        strategy[_unique(name, strategy)] = {"name": name, "stops": _by_lap(entries)}
    return strategy or None


def _strategy_pair(item: object) -> tuple[str, list] | None:
    """The game's `[team, [entry...]]` tuple (or the `{name, strategy}` object form)."""
    if type(item) is list and len(item) == 2:
        name, entries = item
    elif type(item) is dict:
        name, entries = item.get("name"), item.get("strategy")
    else:
        return None
    if type(name) is not str:
        return None
    return name, entries if type(entries) is list else []


def _usage(usage: object) -> dict[str, Any] | None:
    if type(usage) is not dict:
        return None
    by_driver = {
        driver: _newest_laps(rows) for driver, rows in usage.items() if type(rows) is list and rows
    }
    return {driver: laps for driver, laps in by_driver.items() if laps} or None


def _newest_laps(rows: list) -> dict[str, Any]:
    """A driver's usage rows keyed by lap, the newest `USAGE_LAPS` laps only (module docstring)."""
    laps = sorted({row["lap"] for row in rows if type(row) is dict and type(row.get("lap")) is int})
    if len(laps) <= USAGE_LAPS:
        return _by_lap(rows)
    oldest = laps[-USAGE_LAPS]
    return _by_lap([row for row in rows if type(row) is dict and _lap(row) >= oldest])


def _lap(row: dict) -> int:
    lap = row.get("lap")
    return lap if type(lap) is int else -1


# --- helpers -------------------------------------------------------------------------------


def _ws_body(message: object) -> object:
    """A websocket topic's body; accepts the whole `{"messageType", "topic", "body"}` frame too."""
    if type(message) is dict and "messageType" in message and "body" in message:
        return message["body"]
    return message


def _rows(value: object) -> Iterable[dict]:
    if type(value) is not list:
        return ()
    return (row for row in value if type(row) is dict)


def _by_lap(entries: object) -> dict[str, Any]:
    return _keyed(_rows(entries), lambda entry: entry.get("lap"))


def _keyed(entries: Iterable[dict], field: Callable[[dict], object]) -> dict[str, Any]:
    """Entries keyed by `str(field)`, repeats suffixed `#2`, `#3`... in list order."""
    keyed: dict[str, Any] = {}
    for entry in entries:
        value = field(entry)
        if type(value) is not int:
            log.debug("entry without an int key skipped")
            continue
        keyed[_unique(str(value), keyed)] = clean(entry)
    return keyed


def _unique(base: str, taken: Mapping[str, object]) -> str:
    if base not in taken:
        return base
    n = 2
    while f"{base}#{n}" in taken:
        n += 1
    return f"{base}#{n}"


def clean(value: Any) -> Any:
    """`value` without nulls (dropped from objects and lists) and non-finite floats; a copy.

    Scalars are handled inline (no call per field): a 60-car tick has ~30,000 values.
    """
    kind = type(value)
    if kind is dict:
        return _clean_dict(value)
    if kind is list:
        return _clean_list(value)
    if kind is float and value - value != 0.0:  # inf - inf and nan - nan are nan
        return None
    return value


def _clean_dict(value: dict) -> dict:
    cleaned = {}
    for key, item in value.items():
        kind = type(item)
        if kind is str or kind is int or kind is bool:
            cleaned[key] = item
        elif kind is float:
            if item - item == 0.0:
                cleaned[key] = item
        elif kind is dict:
            cleaned[key] = _clean_dict(item)
        elif kind is list:
            cleaned[key] = _clean_list(item)
        elif item is not None:
            cleaned[key] = item
    return cleaned


def _clean_list(value: list) -> list:
    cleaned = []
    for item in value:
        kind = type(item)
        if kind is dict:
            cleaned.append(_clean_dict(item))
        elif kind is list:
            cleaned.append(_clean_list(item))
        elif kind is float:
            if item - item == 0.0:
                cleaned.append(item)
        elif item is not None:
            cleaned.append(item)
    return cleaned


def _same(game: dict) -> dict:
    return game


VERBATIM = Shapers(car=clean, car_ws=clean, session=clean, session_ws=clean, game=_same)
