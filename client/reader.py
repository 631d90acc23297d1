"""The game reader: poll the REST endpoints the schedule says are due, keep the push feed.

One tick asks the due endpoints concurrently over one keep-alive HTTP client, takes the newest
websocket frame per topic, and returns an `Observation`: the raw answers `client.normalize`
expects (the last good answer stands in for an endpoint that was not due), the game's status
and its event time.

Cheap on purpose (the client must stay far below 1% of a core): the push feed keeps only the
newest raw text per topic and parses it at tick time; schema validation runs on an endpoint's
first answer per session, when the shape of its answer (its keys) changes, and every
`VALIDATE_EVERY`-th answer, never on every tick. A violation is logged once per
(document, field path) with the offending value, and the data still flows.

"No answer" (None): an empty body, a non-200, a timeout, invalid JSON. An empty body is the
game's way of saying "nothing here" (sessionInfo in the menu) and counts at once; a timeout or
an error is a hiccup, so the last good answer is reused for up to `STALE_AFTER` seconds so one
slow reply does not make every car vanish from the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx
import orjson
from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

import schema
from client.gamewatch import GameStatus, GameView, assess, event_time
from client.normalize import GAME_STATE, WS_SESSION, WS_STANDINGS
from client.schedule import RATES, Schedule

HISTORY_PATH = "/rest/watch/standings/history"
log = logging.getLogger(__name__)

HTTP_TIMEOUT = 2.0
VALIDATE_EVERY = 60  # answers of one endpoint between two routine validations
STALE_AFTER = 5.0  # seconds a last good answer may stand in for a failing endpoint
WS_STALE_AFTER = 3.0  # a pushed frame older than this is not used (the game stopped pushing)
WS_SILENCE = 30.0  # reconnect when the game pushed nothing for this long
WS_BACKOFF = (1.0, 2.0, 4.0, 8.0, 15.0)
TOPICS = {WS_STANDINGS: "LiveStandings", WS_SESSION: "SessionInfo"}
_TOPIC_RE = re.compile(rb'"topic"\s*:\s*"(LiveStandings|SessionInfo)"')
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


class PushFeed:
    """The game's push websocket: subscribe, keep the newest raw frame per topic, reconnect."""

    def __init__(self, url: str, topics: tuple[str, ...] = tuple(TOPICS.values())) -> None:
        self.url = url
        self.topics = topics
        self.frames: dict[str, tuple[bytes, float]] = {}  # topic -> (raw, monotonic time)
        self.connected = False
        self.connects = 0
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="game-push-feed")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        self.connected = False

    def newest(self, topic: str, now: float) -> bytes | None:
        item = self.frames.get(topic)
        if item is None or now - item[1] > WS_STALE_AFTER:
            return None
        return item[0]

    @staticmethod
    def topic_of(frame: bytes) -> str | None:
        """The topic of an UPDATE frame without parsing its body.

        Quotes inside JSON strings are escaped, so `"topic":"..."` can only be a key; the game
        writes keys in order, so it is near the end: look there first.
        """
        match = _TOPIC_RE.search(frame, max(0, len(frame) - 64)) or _TOPIC_RE.search(frame)
        return match.group(1).decode() if match else None

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                async with connect(
                    self.url,
                    open_timeout=HTTP_TIMEOUT,
                    ping_interval=None,
                    max_size=2**23,
                    compression=None,  # inflating 20 frames a second would cost more than all else
                ) as ws:
                    self.connected = True
                    self.connects += 1
                    failures = 0
                    log.debug("push feed connected to %s", self.url)
                    for topic in self.topics:
                        await ws.send(orjson.dumps({"messageType": "SUB", "topic": topic}).decode())
                    while True:
                        frame = await asyncio.wait_for(ws.recv(decode=False), WS_SILENCE)
                        topic = self.topic_of(frame)
                        if topic is not None:
                            self.frames[topic] = (frame, time.monotonic())
            except asyncio.CancelledError:
                raise
            except (OSError, TimeoutError, WebSocketException) as exc:
                log.debug("push feed %s: %s", self.url, exc or type(exc).__name__)
            except Exception:
                log.exception("push feed failed")
            self.connected = False
            delay = WS_BACKOFF[min(failures, len(WS_BACKOFF) - 1)]
            failures += 1
            await asyncio.sleep(delay)


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
        self._http = httpx.AsyncClient(
            base_url=self.game_url,
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=12, max_keepalive_connections=12),
            headers={"accept": "application/json"},
        )
        self.feed = PushFeed(game_ws_url) if game_ws_url else None
        self._answers: dict[str, _Answer] = {}
        self._ws_parsed: dict[str, tuple[bytes, object]] = {}
        self._validator = _Validator()
        self._failure_kinds: set[tuple[str, str]] = set()
        self._identity: tuple | None = None
        self._refused = False  # GetGameState's connection was refused at this tick
        self.requests = 0  # REST requests so far (tests count them)

    @property
    def validations(self) -> int:
        return self._validator.validations

    async def close(self) -> None:
        if self.feed is not None:
            await self.feed.close()
        await self._http.aclose()

    # --- one tick --------------------------------------------------------------------------

    async def tick(self, now: float | None = None) -> Observation:
        """Ask what is due, take the newest pushed frames, assess the game.

        A change of the game's status or session can bring endpoints into scope (standings once
        a session is up): they are asked in a further round of the same tick.
        """
        if self.feed is not None:
            self.feed.start()
        now = time.monotonic() if now is None else now
        asked: set[str] = set()
        self._refused = False
        new_session = False
        for _round in range(3):
            due = self.schedule.due(now) - asked
            if not due:
                break
            await self._fetch(due, now)
            asked |= due
            view = assess(self._raw(now), refused=self._refused)
            new_session = self._session_check(view, now) or new_session
            self._set_context(view)
        raw = self._raw(now)
        view = assess(raw, refused=self._refused)
        new_session = self._session_check(view, now) or new_session
        self._set_context(view)
        return Observation(now, raw, view, event_time(raw), asked, new_session)

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
        for path, (body, kind) in zip(ordered, results, strict=True):
            self.requests += 1
            self.schedule.answered(path, now, body if kind is None else None)
            if kind is None:
                self._answers[path] = _Answer(self._parse(path, body), now)
                continue
            if kind == "refused":
                self._refused = self._refused or path == GAME_STATE
            last = self._answers.get(path)
            if kind in ("empty", "refused") or last is None or now - last.at > self.stale_after:
                self._answers[path] = _Answer(None, now)

    async def history(self) -> dict | None:
        """The game's lap history (`/rest/watch/standings/history`), read once for a backfill."""
        body, _failure = await self._get(HISTORY_PATH)
        if body is None:
            return None
        doc = self._parse(HISTORY_PATH, body)
        return doc if isinstance(doc, dict) else None

    async def _get(self, path: str) -> tuple[bytes | None, str | None]:
        """(body, None) for a good answer, else (None, kind of failure)."""
        try:
            response = await self._http.get(path)
        except httpx.ConnectError:
            return None, "refused"
        except httpx.TimeoutException:
            return self._failed(path, "timeout", "no answer within the timeout")
        except httpx.HTTPError as exc:
            return self._failed(path, "error", f"{type(exc).__name__}: {exc}")
        if response.status_code != 200:
            return self._failed(
                path, f"http{response.status_code}", f"answered HTTP {response.status_code}"
            )
        body = response.content
        if not body.strip():
            return None, "empty"
        try:
            orjson.loads(body)
        except orjson.JSONDecodeError:
            return self._failed(path, "json", "answered something that is not JSON")
        return body, None

    def _failed(self, path: str, kind: str, text: str) -> tuple[None, str]:
        if (path, kind) not in self._failure_kinds:
            self._failure_kinds.add((path, kind))
            log.warning("the game's %s %s; using its last answer for now", path, text)
        else:
            log.debug("the game's %s %s", path, text)
        return None, kind

    def _parse(self, path: str, body: bytes) -> object:
        doc = orjson.loads(body)
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
            for key, topic in TOPICS.items():
                if not self.schedule.in_scope(key):
                    continue
                frame = self.feed.newest(topic, mono)
                if frame is not None:
                    raw[key] = self._parse_frame(key, topic, frame)
        return raw

    def _parse_frame(self, key: str, topic: str, frame: bytes) -> object:
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
