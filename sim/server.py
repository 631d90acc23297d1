"""The simulator as a running service: viewpoints' REST and websocket ports, the control API.

    async with Simulator(weekend, viewpoints=3, speed=10.0) as sim:
        sim.viewpoints[0].rest_url   # "http://127.0.0.1:54012"
        await sim.set_state(1, "closed")
        sim.set_faults(2, {"endpoint": "standings", "http500": 0.5})

Every viewpoint serves the same race (one clock, one evaluation per tick) with its own private
data. The control API (`/sim/status`, `/sim/viewpoints/{n}`, `/sim/viewpoints/{n}/faults`,
`/sim/clock`) lets a test or a person change states, faults and time while clients are connected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sim.faults import Faults, FaultSpecError
from sim.script import Weekend
from sim.server_feed import RaceFeed
from sim.server_net import HttpServer
from sim.server_rest import rest_app
from sim.server_ws import WS_PATH, PushServer
from sim.viewpoint import Viewpoint, ViewState, pick_player_slots

log = logging.getLogger(__name__)

PROGRESS_EVERY = 60.0  # seconds of wall time between progress log lines


@dataclass
class ViewpointHandle:
    """A running viewpoint: its model, its servers and its faults."""

    view: Viewpoint
    host: str
    rest: HttpServer
    push: PushServer
    faults: Faults

    @property
    def index(self) -> int:
        return self.view.index

    @property
    def rest_port(self) -> int:
        return self.rest.port

    @property
    def ws_port(self) -> int:
        return self.push.port

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.rest.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.push.port}{WS_PATH}"

    @property
    def state(self) -> ViewState:
        return self.view.state

    @property
    def player_slot(self) -> int:
        return self.view.player_slot


def _make_clock(weekend: Weekend, speed: float, start_et: float, start_session: int):
    from sim.timeline import WeekendClock

    return WeekendClock(weekend, speed=speed, start_et=start_et, start_session=start_session)


def _engine_evaluate():
    from sim.engine import evaluate

    return evaluate


class Simulator:
    """Serve a weekend to several simulated games. Use as `async with Simulator(...) as sim`."""

    def __init__(
        self,
        weekend: Weekend,
        *,
        viewpoints: int | list[Viewpoint | int] = 1,
        speed: float = 1.0,
        start_et: float = 0.0,
        start_session: int = 0,
        host: str = "127.0.0.1",
        control_port: int | None = 0,
        clock=None,
        evaluate=None,
    ) -> None:
        self.weekend = weekend
        self.host = host
        self.speed = float(speed)
        self.paused = False
        self.clock = clock or _make_clock(weekend, speed, start_et, start_session)
        self.feed = RaceFeed(weekend, self.clock, evaluate or _engine_evaluate())
        self.viewpoints: list[ViewpointHandle] = []
        for view in self._views(viewpoints):
            self._add(view)
        self._control = (
            HttpServer(control_app(self), host, control_port, "sim-control")
            if control_port is not None
            else None
        )
        self._monitor: asyncio.Task | None = None
        self._lock = asyncio.Lock()

    def _views(self, spec: int | list[Viewpoint | int]) -> list[Viewpoint]:
        first = self.weekend.sessions[0]
        if isinstance(spec, int):
            return [
                Viewpoint(index=i, player_slot=s)
                for i, s in enumerate(pick_player_slots(first, spec))
            ]
        views = []
        for i, item in enumerate(spec):
            if isinstance(item, Viewpoint):
                item.index = i
                views.append(item)
            else:
                views.append(Viewpoint(index=i, player_slot=int(item)))
        return views

    def _add(self, view: Viewpoint) -> None:
        handle_faults = Faults.parse(view.faults, salt=view.index)

        def faults_of(index: int = view.index) -> Faults:
            return self.viewpoints[index].faults

        handle = ViewpointHandle(
            view=view,
            host=self.host,
            rest=HttpServer(
                rest_app(self.feed, view, faults_of),
                self.host,
                view.rest_port,
                f"sim-rest-{view.index}",
            ),
            push=PushServer(self.feed, view, faults_of, self.host, view.ws_port),
            faults=handle_faults,
        )
        self.viewpoints.append(handle)

    # --- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    async def start(self) -> None:
        try:
            if self._control is not None:
                await self._control.start()
            for handle in self.viewpoints:
                if handle.view.state is not ViewState.CLOSED:
                    await self._open(handle)
        except BaseException:
            await self.stop()
            raise
        for handle in self.viewpoints:
            log.info(
                "viewpoint %d: REST %s  websocket %s  player slot %d (%s)",
                handle.index,
                handle.rest_url,
                handle.ws_url,
                handle.player_slot,
                handle.view.name_in(self.weekend.sessions[0]),
            )
        if self._control is not None:
            log.info("control API: %s/sim/status", self.control_url)
        self._monitor = asyncio.create_task(self._watch(), name="sim-monitor")

    async def stop(self) -> None:
        if self._monitor is not None:
            self._monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._monitor
            self._monitor = None
        for handle in self.viewpoints:
            await self._close(handle)
        if self._control is not None:
            await self._control.stop()

    async def _open(self, handle: ViewpointHandle) -> None:
        if not handle.rest.running:
            await handle.rest.start()
            handle.view.rest_port = handle.rest.port
        if not handle.push.running:
            await handle.push.start()
            handle.view.ws_port = handle.push.port

    async def _close(self, handle: ViewpointHandle) -> None:
        await handle.push.stop()
        await handle.rest.stop()

    @property
    def control_url(self) -> str | None:
        if self._control is None:
            return None
        return f"http://{self.host}:{self._control.port}"

    # --- control -----------------------------------------------------------------------------

    async def set_state(self, index: int, state: str | ViewState) -> None:
        """Move a viewpoint to session / menu / closed / replay (closed really stops listening)."""
        new = ViewState(state)
        async with self._lock:
            handle = self.viewpoints[index]
            old = handle.view.state
            handle.view.state = new
            if new is ViewState.CLOSED:
                await self._close(handle)
            elif old is ViewState.CLOSED or not handle.rest.running:
                await self._open(handle)
        log.info("viewpoint %d: %s -> %s", index, old.value, new.value)

    def set_faults(self, index: int, spec: dict | None) -> None:
        """Replace a viewpoint's faults (`{}` or None clears them)."""
        faults = Faults.parse(spec, salt=index)
        self.viewpoints[index].faults = faults
        self.viewpoints[index].view.faults = dict(spec or {})
        log.info("viewpoint %d: faults %s", index, spec or "cleared")

    def set_speed(self, speed: float) -> None:
        self.clock.set_speed(float(speed))
        self.speed = float(speed)

    def pause(self, paused: bool = True) -> None:
        if paused:
            self.clock.pause()
        else:
            self.clock.resume()
        self.paused = paused

    def jump(self, session: int, et: float) -> None:
        self.clock.jump(int(session), float(et))

    def status(self) -> dict:
        frame = self.feed.frame()
        script = self.feed.script(frame.session_index)
        return {
            "clock": {
                "session": frame.session_index,
                "sessionType": script.session,
                "track": script.track.name,
                "et": frame.et,
                "loading": frame.loading,
                "over": frame.over,
                "speed": self.speed,
                "paused": self.paused,
            },
            "sessions": [
                {"index": i, "session": s.session, "track": s.track.name, "cars": len(s.cars)}
                for i, s in enumerate(self.weekend.sessions)
            ],
            "viewpoints": [
                {
                    "index": h.index,
                    "restPort": h.rest_port,
                    "wsPort": h.ws_port,
                    "restUrl": h.rest_url,
                    "wsUrl": h.ws_url,
                    "playerSlot": h.player_slot,
                    "playerName": h.view.name_in(script),
                    "state": h.view.state.value,
                    "mode": h.view.mode(frame.live, loading=frame.loading).value,
                    "faults": h.view.faults,
                }
                for h in self.viewpoints
            ],
            "evaluations": self.feed.evaluations,
        }

    # --- logging -----------------------------------------------------------------------------

    async def _watch(self) -> None:
        """Log session changes and, every minute of wall time, the race's progress."""
        last_session = None
        last_progress = time.monotonic()
        while True:
            try:
                frame = self.feed.frame()
                script = self.feed.script(frame.session_index)
                now = (frame.session_index, frame.loading)
                if now != last_session:
                    last_session = now
                    log.info(
                        "session %d: %s %s at %s, %d cars%s",
                        frame.session_index,
                        "loading" if frame.loading else "now",
                        script.session,
                        script.track.name,
                        len(script.cars),
                        " (online)" if script.online else " (offline)",
                    )
                if time.monotonic() - last_progress >= PROGRESS_EVERY:
                    last_progress = time.monotonic()
                    log.info("progress: %s", progress_line(frame, script))
            except Exception:  # keep serving even if a log line fails
                log.exception("monitor failed")
            await asyncio.sleep(0.5)


def progress_line(frame, script) -> str:
    if frame.live is None or not frame.live.cars:
        return f"{script.session} ET {frame.et:.0f} (loading)"
    leader = frame.live.cars[0]
    return (
        f"{script.session} ET {frame.et:.0f}/{script.max_time:.0f} leader "
        f"#{leader.script.entry.car_number} {leader.script.entry.team_name} "
        f"({leader.driver}) {leader.laps_completed} laps"
    )


# --- control API -----------------------------------------------------------------------------


def control_app(sim: Simulator) -> Starlette:
    async def status(_: Request) -> JSONResponse:
        return JSONResponse(sim.status())

    async def _json(request: Request) -> dict:
        try:
            body = await request.json()
        except ValueError as exc:
            raise FaultSpecError(f"body is not JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise FaultSpecError("body must be a JSON object")
        return body

    def _index(request: Request) -> int:
        index = int(request.path_params["n"])
        if not 0 <= index < len(sim.viewpoints):
            raise IndexError(f"no viewpoint {index}")
        return index

    async def viewpoint_state(request: Request) -> JSONResponse:
        try:
            index = _index(request)
            body = await _json(request)
            await sim.set_state(index, body.get("state", ""))
        except IndexError as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(sim.status()["viewpoints"][index])

    async def viewpoint_faults(request: Request) -> JSONResponse:
        try:
            index = _index(request)
            sim.set_faults(index, await _json(request))
        except IndexError as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(sim.status()["viewpoints"][index])

    async def clock(request: Request) -> JSONResponse:
        try:
            body = await _json(request)
            if "speed" in body:
                sim.set_speed(float(body["speed"]))
            if "pause" in body:
                sim.pause(bool(body["pause"]))
            if "jump" in body:
                jump = body["jump"]
                sim.jump(int(jump.get("session", 0)), float(jump["et"]))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            return JSONResponse({"error": f"bad clock request: {exc}"}, status_code=400)
        return JSONResponse(sim.status()["clock"])

    return Starlette(
        routes=[
            Route("/sim/status", status, methods=["GET"]),
            Route("/sim/viewpoints/{n:int}", viewpoint_state, methods=["POST"]),
            Route("/sim/viewpoints/{n:int}/faults", viewpoint_faults, methods=["POST"]),
            Route("/sim/clock", clock, methods=["POST"]),
        ]
    )
