"""The client's main loop: read the game, decide what to send, hand it to the uplink.

Every `tick` seconds (fixed rate; a late tick re-anchors instead of bursting):
reader tick -> game status -> `normalize` -> `slim` -> `uplink.publish(state, et)`.

Only a live session is streamed. Outside one (game not running, menu, loading, replay) the
client publishes the `game` part alone, so the server knows where this client is without
recording anything; a replay never sends `session` or `cars`. A live tick whose event time is
implausible (`EventClock`) is skipped. The server's plan is applied to the schedule whenever it
changes. The uplink's `run()` goes on alongside; SIGINT/SIGTERM/SIGHUP (and SIGBREAK, the
console window closing, on Windows) close the uplink, the push feed and the HTTP client.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib.metadata
import logging
import signal
from collections.abc import Callable, Mapping
from typing import Any

from client.backfill import BackfillRequest
from client.config import ClientConfig
from client.console import Console
from client.gamewatch import EventClock
from client.normalize import normalize
from client.reader import Observation, Reader
from client.schedule import Schedule
from client.slim import Slimmer, slim

log = logging.getLogger(__name__)

NOT_IN_SESSION_ET = -1.0  # the wire's `et` for a state read outside a session
# Changes every tick but means nothing outside a live session.
_IDLE_GAME_NOISE = ("time_of_day",)

EXIT_OK = 0
EXIT_REJECTED = 3


def client_version() -> str:
    try:
        return importlib.metadata.version("lmu-session-tracker")
    except importlib.metadata.PackageNotFoundError:
        return "0.0.0"


def publication(
    obs: Observation,
    clock: EventClock,
    now: float,
    build: Callable[[Mapping[str, object]], dict[str, Any]] | None = None,
) -> tuple[dict[str, Any], float] | None:
    """What to publish for one observation: `(state, et)`, or None to skip the tick.

    A live session gives the whole slimmed state (if its ET is plausible), made by `build`
    (default `slim(normalize(raw))`; the app passes its `Slimmer`, same result, cheaper);
    anything else gives `{"game": {...}}` only, with et -1.
    """
    if obs.new_session:
        clock.reset()
    if obs.view.live:
        if obs.et is None or not clock.accept(obs.et, now):
            return None
        state = build(obs.raw) if build is not None else slim(normalize(obs.raw))
        return state, obs.et
    clock.reset()
    return idle_state(obs.raw), NOT_IN_SESSION_ET


def idle_state(raw: Mapping[str, object]) -> dict[str, Any]:
    """`{"game": ...}` alone: where the game is, without any session data."""
    game = slim({"game": normalize(raw)["game"]})["game"]
    for key in _IDLE_GAME_NOISE:
        game.pop(key, None)
    return {"game": game}


def freeze_startup_heap() -> None:
    """Keep the garbage collector's full passes off what was built at start (modules, schemas).

    Everything imported and built before the first tick lives as long as the process; without
    this every full collection walks it again (~17 ms each, about 0.5 ms a second measured).
    """
    gc.collect()
    gc.freeze()


class ClientApp:
    """The running client: one reader, one uplink, one console."""

    def __init__(
        self,
        config: ClientConfig,
        *,
        uplink: Any = None,
        reader: Reader | None = None,
        console: Console | None = None,
        identity: Any = None,
    ) -> None:
        self.config = config
        self.schedule = Schedule(tick=config.tick)
        self.reader = reader or Reader(config.game_url, config.game_ws_url, self.schedule)
        if reader is not None:
            self.schedule = reader.schedule
        self.clock = EventClock(max_speed=config.max_time_scale)
        self.slimmer = Slimmer()  # the state of each tick, reusing what did not change
        self.backfill = BackfillRequest()  # the server's ask for the lap history after a gap
        self.backfills_sent = 0
        self.identity = identity
        self.console = console or Console(
            key_file=str(config.key_file),
            client_id=identity.client_id if identity is not None else None,
        )
        self.uplink = uplink
        self._plan: Mapping | None = None
        self._stop = asyncio.Event()
        self.exit_code = EXIT_OK
        self.ticks = 0
        self.published = 0

    # --- wiring ----------------------------------------------------------------------------

    def make_uplink(self) -> Any:
        """The real uplink to the configured server (imported late: it is another module)."""
        from client.identity import Identity
        from client.uplink import Uplink

        if self.identity is None:
            self.identity = Identity.load_or_create(self.config.key_file)
            self.console.client_id = self.identity.client_id
        return Uplink(
            self.config.server_url,
            self.identity,
            client_version=client_version(),
            name=self.config.name,
            on_status=self.on_uplink_status,
        )

    def on_uplink_status(self, status: Any) -> None:
        self.console.uplink(status)
        if status.state == "rejected":
            log.error("the server rejected this client: %s", status.error)
            self.exit_code = EXIT_REJECTED
            self._stop.set()

    def stop(self) -> None:
        """Ask the loop to end (signal handlers call this)."""
        self._stop.set()

    # --- run -------------------------------------------------------------------------------

    async def run(self, *, handle_signals: bool = True) -> int:
        """Run until stopped; returns the process exit code."""
        if self.uplink is None:
            self.uplink = self.make_uplink()
        freeze_startup_heap()
        uplink_task = asyncio.create_task(self.uplink.run(), name="uplink")
        removers = self._install_signals() if handle_signals else []
        try:
            await self._loop(uplink_task)
        finally:
            for remove in removers:
                remove()
            await self._shutdown(uplink_task)
        return self.exit_code

    async def _loop(self, uplink_task: asyncio.Task) -> None:
        loop = asyncio.get_running_loop()
        tick = self.config.tick
        next_tick = loop.time()
        while not self._stop.is_set():
            if uplink_task.done():
                self._uplink_ended(uplink_task)
                break
            try:
                await self.step(loop.time())
            except Exception:  # one bad tick must not end the client
                log.exception("tick failed")
            next_tick += tick
            delay = next_tick - loop.time()
            if delay < 0:
                next_tick = loop.time()  # fell behind: re-anchor instead of bursting
                delay = 0.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)

    async def step(self, now: float) -> None:
        """One tick: read, decide, publish, apply the plan, update the console."""
        obs = await self.reader.tick(now)
        self.ticks += 1
        self.console.game(obs.view)
        out = publication(obs, self.clock, now, self.slimmer)
        if out is not None:
            state, et = out
            self.uplink.publish(state, et)
            self.published += 1
        plan = self.uplink.plan
        if plan != self._plan:
            self._plan = plan
            self.schedule.apply_plan(plan)
            log.info("server plan applied: %s", plan)
        if obs.view.live and obs.et is not None and self.backfill.due(plan, now):
            self.backfill.sent(now)
            history = await self.reader.history()
            if history is not None:
                log.info("sending the game's lap history (%d cars) for a backfill", len(history))
                self.uplink.publish_backfill(history, obs.et)
                self.backfills_sent += 1
        status = self.uplink.status
        self.console.traffic(status.messages_sent, status.bytes_sent)

    def _uplink_ended(self, task: asyncio.Task) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("the uplink stopped: %s", exc, exc_info=exc)
            if self.exit_code == EXIT_OK:
                self.exit_code = 1

    async def _shutdown(self, uplink_task: asyncio.Task) -> None:
        log.info("client stopping")
        try:
            await asyncio.wait_for(self.uplink.close("client stopping"), 5.0)
        except Exception as exc:
            log.warning("closing the uplink: %s", exc or type(exc).__name__)
        if not uplink_task.done():
            uplink_task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await uplink_task
        await self.reader.close()
        status = getattr(self.uplink, "status", None)
        if status is not None:
            self.console.traffic(status.messages_sent, status.bytes_sent, force=True)

    def _install_signals(self) -> list:
        """Stop on SIGINT/SIGTERM/SIGHUP; on Windows SIGBREAK (console closed, Ctrl+Break)."""
        loop = asyncio.get_running_loop()
        removers = []
        names = ("SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK")
        for name in names:
            sig = getattr(signal, name, None)
            if sig is None:
                continue
            try:
                loop.add_signal_handler(sig, self._on_signal, name)
                removers.append(lambda sig=sig: loop.remove_signal_handler(sig))
            except (NotImplementedError, RuntimeError, ValueError):
                # Windows' loops have no add_signal_handler: plain handlers, thread-safe wakeup.
                try:
                    previous = signal.signal(
                        sig, lambda *_a, n=name: loop.call_soon_threadsafe(self._on_signal, n)
                    )
                except (OSError, ValueError):
                    continue
                removers.append(lambda sig=sig, p=previous: signal.signal(sig, p))
        return removers

    def _on_signal(self, name: str) -> None:
        log.info("%s received", name)
        self._stop.set()
