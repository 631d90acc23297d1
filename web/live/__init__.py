"""Live pages: the hub that renders each watched view once per change, and `/ws/view`.

Modules: `topics` (the pure core: topic keys, diffs, the coalescing mailbox), `hub` (renders
and fan-out in the event loop), `endpoint` (the websocket route), `frames` (uvicorn protocol
writing one shared, compressed-once frame per message to every viewer).

Wiring (server/app.py)::

    hub = live.hub_for(feed)               # listens to the feed's committed changes
    routes = [..., *live.routes(hub)]      # /ws/view
    status["live"] = hub.stats()           # viewers, topics, renders, bytes sent, ...
    uvicorn.Config(..., ws=FanoutProtocol) # web.live.frames: shared frames
    hub.close()                            # on shutdown
"""

from __future__ import annotations

from typing import Any

from web.live.endpoint import routes
from web.live.hub import Hub, UnknownTopic, Viewer
from web.live.topics import VIEWS, TopicKey, topic_key

__all__ = ["VIEWS", "Hub", "TopicKey", "UnknownTopic", "Viewer", "hub_for", "routes", "topic_key"]


def feed_source(feed: Any):
    """The hub's `source` for a `LiveSessions`: the live input of a topic, or None."""
    from web import sources

    def source(key: TopicKey, now: float) -> Any:
        if key.session_id is None:
            sessions_input = getattr(sources, "sessions_input", None)
            if sessions_input is None:
                raise UnknownTopic("the sessions list is not live")
            return sessions_input(feed, now)
        inp = sources.live_input(feed, key.session_id, now)
        if inp is not None and key.car is not None and not has_car(inp, key.car):
            raise UnknownTopic(f"unknown car {key.car}")
        return inp

    return source


def has_car(inp: Any, car: str) -> bool:
    """Does the session know this car (the tracker has it, or the latest state shows it)?"""
    if inp.tracker is not None and car in inp.tracker.cars:
        return True
    cars = inp.state.get("cars") if isinstance(inp.state, dict) else None
    return isinstance(cars, dict) and car in cars


def hub_for(feed: Any) -> Hub:
    """A hub rendering with `web.render.fragments` from `feed`, told of its changes."""
    from web.render import fragments

    hub = Hub(feed_source(feed), fragments)
    listen = getattr(feed, "listen", None)
    if listen is not None:
        listen(hub.session_changed)
    return hub
