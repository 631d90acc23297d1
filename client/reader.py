"""The game reader: poll the REST endpoints the schedule says are due, keep the push feed.

One tick reads what the game pushed since the last tick (`client.pushfeed` reads the socket in
one burst per tick), asks the due endpoints concurrently over keep-alive connections
(`client.gamelink`), takes the newest websocket frame per topic, and returns an `Observation`:
the raw answers `client.normalize` expects (the last good answer stands in for an endpoint that
was not due), the game's status and its event time.

Cheap on purpose (the client must stay far below 1% of a core): the push feed keeps only the
newest raw text per topic and parses it at tick time; schema validation runs on an endpoint's
first answer per session, when the shape of its answer (its keys) changes, and every
`VALIDATE_EVERY`-th answer, never on every tick. While the pushed SessionInfo is fresh and as new
as the standings, it stands in for REST sessionInfo, which is then read only every 10 s or when
the push shows a sign of a phase change (`client.sessioninfo`); the observation's sessionInfo is
the merge of both, and the pushed copy is not passed on separately. A violation is logged once per
(document, field path) with the offending value, and the data still flows.

"No answer" (None): an empty body, a non-200, a timeout, invalid JSON. An empty body is the
game's way of saying "nothing here" (sessionInfo in the menu) and counts at once; a timeout or
an error is a hiccup, so the last good answer is reused for up to `STALE_AFTER` seconds so one
slow reply does not make every car vanish from the stream.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import orjson

import schema
from client.gamelink import GET_ERRORS, GameHttp, Refused
from client.gamewatch import GameStatus, GameView, assess, event_time
from client.normalize import GAME_STATE, SESSION_INFO, STANDINGS, WS_SESSION, WS_STANDINGS
from client.pushfeed import PushFeed
from client.schedule import RATES, Schedule
from client.sessioninfo import REST_EVERY, WS_FRESH, Marks, merge, settled

HISTORY_PATH = "/rest/watch/standings/history"
log = logging.getLogger(__name__)

HTTP_TIMEOUT = 2.0
VALIDATE_EVERY = 60  # answers of one endpoint between two routine validations
STALE_AFTER = 5.0  # seconds a last good answer may stand in for a failing endpoint
TOPICS = {WS_STANDINGS: "LiveStandings", WS_SESSION: "SessionInfo"}
PASSED_ON = {WS_STANDINGS: "LiveStandings"}  # pushed SessionInfo is merged into sessionInfo
__all__ = ["Observation", "PushFeed", "Reader"]  # PushFeed lives in client.pushfeed
_INDEX_RE = re.compile(r"/\d+(?=/|$)")


@dataclass
class Observation:
    """One tick of the game as the reader saw it."""

    now: float
    raw: dict[str, object]  # endpoint -> parsed answer or None; absent: not in scope
    view: GameView
    et: float | None
    asked: set[str] = field(default_factory=set)  # endpoints requested this tick
    new_session: bool = False  # the session (or the game's status) changed at this tick

    @property
    def status(self) -> GameStatus:
        return self.view.status


@dataclass
class _Answer:
    value: object
    at: float


class _Validator:
    """Validate answers now and then; log each (document, path) violation once."""

    def __init__(self) -> None:
        self._shapes: dict[str, tuple] = {}
        self._count: dict[str, int] = {}
        self._logged: set[tuple[str, str]] = set()
        self.validations = 0

    def new_session(self) -> None:
        self._shapes.clear()
        self._count.clear()

    @staticmethod
    def _shape(doc: object) -> tuple:
        if type(doc) is dict:
            return ("o", frozenset(doc) if len(doc) < 64 else len(doc) > 0)
        if type(doc) is list:
            first = doc[0] if doc else None
            return ("a", frozenset(first) if type(first) is dict else type(first).__name__)
        return (type(doc).__name__,)

    def check(self, endpoint: str, document: str, doc: object) -> None:
        shape = self._shape(doc)
        count = self._count.get(endpoint, 0)
        self._count[endpoint] = count + 1
        if self._shapes.get(endpoint) == shape and count % VALIDATE_EVERY:
            return
        self._shapes[endpoint] = shape
        self.validations += 1
        for violation in schema.validate(document, doc):
            path = _INDEX_RE.sub("/*", violation.path)
            if (document, path) in self._logged:
                continue
            self._logged.add((document, path))
            log.warning(
                "the game's %s answer does not match what this client knows: %s%s: %s "
                "(value %s); carrying on with what can be read",
                endpoint,
                document,
                path or "/",
                violation.message,
                violation.value,
            )


class Reader:
    """The game's REST API and push feed, read at the pace of a `Schedule`."""

    def __init__(
        self,
        game_url: str,
        game_ws_url: str | None,
        schedule: Schedule,
        *,
        timeout: float = HTTP_TIMEOUT,
        stale_after: float = STALE_AFTER,
    ) -> None:
        self.game_url = game_url.rstrip("/")
        self.schedule = schedule
        self.stale_after = stale_after
        self._http = GameHttp(self.game_url, timeout)
        self.feed = PushFeed(game_ws_url) if game_ws_url else None
        self._answers: dict[str, _Answer] = {}
        self._ws_parsed: dict[str, tuple[str | bytes, object]] = {}
        self._validator = _Validator()
        self._failure_kinds: set[tuple[str, str]] = set()
        self._identity: tuple | None = None
        self._refused = False  # GetGameState's connection was refused at this tick
        self._pushed_info: dict | None = None  # pushed SessionInfo body standing in for REST
        self._marks: Marks | None = None  # signs at the last REST sessionInfo answer
        self._merged: tuple[object, object, dict] | None = None  # (rest, pushed, merged)
        self.requests = 0  # REST requests so far (tests count them)

    @property
    def validations(self) -> int:
        return self._validator.validations

    async def close(self) -> None:
        if self.feed is not None:
            await self.feed.close()
        await self._http.close()

    # --- one tick --------------------------------------------------------------------------

    async def tick(self, now: float | None = None) -> Observation:
        """Ask what is due, take the newest pushed frames, assess the game.

        A change of the game's status or session can bring endpoints into scope (standings once
        a session is up): they are asked in a further round of the same tick.
        """
        if self.feed is not None:
            self.feed.start()
            await self.feed.catch_up()
        now = time.monotonic() if now is None else now
        asked: set[str] = set()
        self._refused = False
        new_session = False
        for _round in range(4):
            due = self.schedule.due(now) - asked
            if not due:
                break
            await self._fetch(due, now)
            asked |= due
            self._pace_session_info(SESSION_INFO in due, now)
            view = assess(self._raw(now), refused=self._refused)
            new_session = self._session_check(view, now) or new_session
            self._set_context(view)
        raw = self._raw(now)
        view = assess(raw, refused=self._refused)
        new_session = self._session_check(view, now) or new_session
        self._set_context(view)
        return Observation(now, raw, view, event_time(raw), asked, new_session)

    def _pace_session_info(self, answered: bool, now: float) -> None:
        """Let the pushed SessionInfo stand in for REST sessionInfo, or not (module docstring).

        `answered`: REST sessionInfo was asked in this round. Standing in holds REST off to
        `REST_EVERY`; a sign of change hurries it (asked in the next round of this tick); not
        standing in makes it due at once and every tick again.
        """
        pushed = self._fresh_pushed_info()
        rest = self._answers.get(SESSION_INFO)
        rest_value = rest.value if rest is not None else None
        game_state = self._answers.get(GAME_STATE)
        marks = Marks.of(pushed, game_state.value if game_state is not None else None)
        if answered:  # a failed read keeps the last answer a while: not a fresh mark then
            fresh = rest is not None and rest.at == now and type(rest_value) is dict
            self._marks = marks if fresh else None
        standings = self._answers.get(STANDINGS)
        if settled(pushed, rest_value, standings.value if standings is not None else None):
            self._pushed_info = pushed
            self.schedule.hold_off(SESSION_INFO, REST_EVERY)
            if self._marks is None or self._marks.changed(marks):
                self.schedule.hurry(SESSION_INFO)
        else:
            self._pushed_info = None
            self.schedule.hold_off(SESSION_INFO, None)

    def _fresh_pushed_info(self) -> dict | None:
        """The pushed SessionInfo body if a frame came within `WS_FRESH` s (and may be used)."""
        if self.feed is None or not self.schedule.in_scope(WS_SESSION):
            return None
        item = self.feed.frames.get(TOPICS[WS_SESSION])
        if item is None or time.monotonic() - item[1] > WS_FRESH:
            return None
        message = self._parse_frame(WS_SESSION, TOPICS[WS_SESSION], item[0])
        body = message.get("body") if type(message) is dict else None
        return body if type(body) is dict else None

    def _set_context(self, view: GameView) -> None:
        self.schedule.set_context(
            running=view.status is not GameStatus.NOT_RUNNING,
            in_session=view.live,
            race=view.race,
        )

    def _session_check(self, view: GameView, now: float) -> bool:
        """On a new session or status: periods back to base, old answers dropped."""
        identity = view.identity
        if identity == self._identity:
            return False
        self._identity = identity
        log.debug("game: %s", identity)
        self._set_context(view)
        self.schedule.session_changed(now)
        self._validator.new_session()
        # Answers from before this tick belong to the previous session.
        self._answers = {k: a for k, a in self._answers.items() if a.at >= now}
        return True

    async def _fetch(self, endpoints: set[str], now: float) -> None:
        """Ask `endpoints` concurrently and keep their answers."""
        ordered = sorted(endpoints)
        results = await asyncio.gather(*(self._get(path) for path in ordered))
        for path, (body, doc, kind) in zip(ordered, results, strict=True):
            self.requests += 1
            self.schedule.answered(path, now, body if kind is None else None)
            if kind is None:
                self._answers[path] = _Answer(self._checked(path, doc), now)
                continue
            if kind == "refused":
                self._refused = self._refused or path == GAME_STATE
            last = self._answers.get(path)
            stale_after = self.stale_after + self.schedule.held_off(path)
            if kind in ("empty", "refused") or last is None or now - last.at > stale_after:
                self._answers[path] = _Answer(None, now)

    async def history(self) -> dict | None:
        """The game's lap history (`/rest/watch/standings/history`), read once for a backfill."""
        _body, doc, failure = await self._get(HISTORY_PATH)
        if failure is not None:
            return None
        doc = self._checked(HISTORY_PATH, doc)
        return doc if isinstance(doc, dict) else None

    async def _get(self, path: str) -> tuple[bytes | None, object, str | None]:
        """(body, parsed body, None) for a good answer, else (None, None, kind of failure).

        The body is parsed here, once: a 60-car standings answer costs ~0.2 ms to parse."""
        try:
            status, body = await self._http.get(path)
        except Refused:
            return None, None, "refused"
        except TimeoutError:
            return self._failed(path, "timeout", "no answer within the timeout")
        except GET_ERRORS as exc:
            return self._failed(path, "error", f"{type(exc).__name__}: {exc}")
        if status != 200:
            return self._failed(path, f"http{status}", f"answered HTTP {status}")
        if not body.strip():
            return None, None, "empty"
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            return self._failed(path, "json", "answered something that is not JSON")
        return body, doc, None

    def _failed(self, path: str, kind: str, text: str) -> tuple[None, None, str]:
        if (path, kind) not in self._failure_kinds:
            self._failure_kinds.add((path, kind))
            log.warning("the game's %s %s; using its last answer for now", path, text)
        else:
            log.debug("the game's %s %s", path, text)
        return None, None, kind

    def _checked(self, path: str, doc: object) -> object:
        """`doc`, validated now and then against the endpoint's schema (`_Validator`)."""
        document = schema.ENDPOINTS.get(path)
        if document is not None:
            self._validator.check(path, document, doc)
        return doc

    def _raw(self, now: float) -> dict[str, object]:
        raw: dict[str, object] = {}
        for path in RATES:
            if not self.schedule.in_scope(path):
                continue
            answer = self._answers.get(path)
            if answer is not None:
                raw[path] = answer.value
        if self.feed is not None:
            mono = time.monotonic()
            for key, topic in PASSED_ON.items():
                if not self.schedule.in_scope(key):
                    continue
                frame = self.feed.newest(topic, mono)
                if frame is not None:
                    raw[key] = self._parse_frame(key, topic, frame)
        info = raw.get(SESSION_INFO)
        if self._pushed_info is not None and type(info) is dict:
            raw[SESSION_INFO] = self._merge_info(info, self._pushed_info)
        return raw

    def _merge_info(self, rest: dict, pushed: dict) -> dict:
        """`merge(rest, pushed)`, the same object while neither changed (ticks in a pause)."""
        last = self._merged
        if last is not None and last[0] is rest and last[1] is pushed:
            return last[2]
        merged = merge(rest, pushed)
        self._merged = (rest, pushed, merged)
        return merged

    def _parse_frame(self, key: str, topic: str, frame: str | bytes) -> object:
        cached = self._ws_parsed.get(key)
        if cached is not None and cached[0] is frame:
            return cached[1]
        try:
            doc = orjson.loads(frame)
        except orjson.JSONDecodeError:
            self._failed(key, "json", "pushed something that is not JSON")
            doc = None
        if doc is not None:
            self._validator.check(key, schema.WEBSOCKET_TOPICS[topic], doc)
        self._ws_parsed[key] = (frame, doc)
        return doc


def answers_by_path(raw: Mapping[str, object]) -> dict[str, object]:
    """The REST answers of an observation (for debugging dumps)."""
    return {k: v for k, v in raw.items() if k.startswith("/")}
