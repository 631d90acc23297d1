"""One race for every viewpoint: the clock, one evaluation per tick, cached documents.

Ten clients polling five viewpoints must not re-run the engine or re-render: the race is
evaluated once per quantized ET (0.1 s of game time) and each viewpoint's document is rendered
once per tick and kept as bytes until the tick changes.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from sim.render import REST, Scene, render_topic, serialize
from sim.script import SessionScript, Weekend
from sim.snapshot import SessionLive
from sim.viewpoint import ViewMode, Viewpoint

log = logging.getLogger(__name__)

ET_QUANTUM = 0.1  # seconds of game time per rendered tick


@dataclass(frozen=True)
class Frame:
    """Where the weekend is at one tick."""

    session_index: int
    et: float
    loading: bool
    over: bool
    live: SessionLive | None

    @property
    def key(self) -> tuple:
        return (self.session_index, self.et, self.loading)


def quantize(et: float) -> float:
    return round(math.floor(et / ET_QUANTUM + 1e-6) * ET_QUANTUM, 3)


class RaceFeed:
    """The shared race: weekend + clock -> frames -> per-viewpoint documents (cached)."""

    def __init__(self, weekend: Weekend, clock, evaluate) -> None:
        self.weekend = weekend
        self.clock = clock
        self._evaluate = evaluate
        self._frame: Frame | None = None
        self._docs: dict[tuple, tuple[object, bytes]] = {}
        self._topics: dict[tuple, tuple[dict | None, str | None]] = {}
        self.evaluations = 0  # engine calls so far (tests check the sharing)
        self.renders = 0  # documents rendered so far

    def script(self, index: int) -> SessionScript:
        return self.weekend.sessions[min(index, len(self.weekend.sessions) - 1)]

    def frame(self) -> Frame:
        pos = self.clock.position()
        et = quantize(pos.et)
        key = (pos.session_index, et, bool(pos.loading))
        if self._frame is not None and self._frame.key == key:
            return self._frame
        live = None
        if not pos.loading:
            live = self._evaluate(self.script(pos.session_index), et)
            self.evaluations += 1
        self._frame = Frame(pos.session_index, et, bool(pos.loading), bool(pos.over), live)
        self._docs.clear()
        self._topics.clear()
        return self._frame

    def scene(self, view: Viewpoint, frame: Frame | None = None) -> Scene:
        frame = frame or self.frame()
        mode = view.mode(frame.live, loading=frame.loading)
        live = frame.live if mode.in_session else None
        return Scene(
            mode=mode,
            view=view,
            live=live,
            script=self.script(frame.session_index),
            weekend=self.weekend,
        )

    def document(self, view: Viewpoint, path: str) -> tuple[object, bytes]:
        """(body, bytes) of a REST endpoint for a viewpoint at the current tick."""
        frame = self.frame()
        mode = view.mode(frame.live, loading=frame.loading)
        key = (view.index, path, mode, view.player_slot, view.player_name)
        cached = self._docs.get(key)
        if cached is None:
            body = REST[path].render(self.scene(view, frame))
            cached = (body, serialize(body))
            self._docs[key] = cached
            self.renders += 1
        return cached

    def topic(self, view: Viewpoint, topic: str) -> tuple[dict | None, str | None]:
        """(message, text) of a websocket UPDATE for a viewpoint, (None, None) when silent."""
        frame = self.frame()
        mode = view.mode(frame.live, loading=frame.loading)
        if not mode.in_session or mode is ViewMode.CLOSED:
            return None, None
        key = (view.index, topic, mode, view.player_slot, view.player_name)
        cached = self._topics.get(key)
        if cached is None:
            message = render_topic(topic, self.scene(view, frame))
            text = serialize(message).decode() if message is not None else None
            cached = self._topics[key] = (message, text)
            self.renders += 1
        return cached
