"""The game's API as pure functions: REST path or websocket topic + `Scene` -> JSON-able body.

Every REST endpoint the simulator serves is listed in `REST`; every websocket topic in `TOPICS`.
The server looks documents up here, the tests render them directly. `serialize` turns a body into
the exact bytes the game sends (orjson, keys in the game's alphabetical order, empty body for
`EMPTY`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import orjson

from sim import render_session, render_standings, render_team
from sim.render_base import EMPTY, Scene
from sim.script import SessionScript, Weekend
from sim.viewpoint import Viewpoint, ViewState


@dataclass(frozen=True)
class Endpoint:
    path: str
    document: str  # schema document name
    render: Callable[[Scene], object]


REST: dict[str, Endpoint] = {
    e.path: e
    for e in (
        Endpoint("/rest/watch/sessionInfo", "sessionInfo", render_session.session_info),
        Endpoint("/rest/watch/standings", "standings", render_standings.standings),
        Endpoint(
            "/rest/watch/standings/history",
            "standingsHistory",
            render_standings.standings_history,
        ),
        Endpoint("/rest/watch/trackmap", "trackmap", render_session.trackmap),
        Endpoint("/rest/sessions/GetGameState", "gameState", render_session.game_state),
        Endpoint(
            "/rest/sessions/GetSessionsInfoForEvent",
            "sessionsInfoForEvent",
            render_session.sessions_info_for_event,
        ),
        Endpoint("/rest/multiplayer/teams", "multiplayerTeams", render_team.multiplayer_teams),
        Endpoint("/rest/multiplayer/join/state", "joinState", render_session.join_state),
        Endpoint("/rest/chat/", "chat", render_session.chat),
        Endpoint("/rest/strategy/overall", "strategyOverall", render_team.strategy_overall),
        Endpoint("/rest/strategy/usage", "strategyUsage", render_team.strategy_usage),
        Endpoint("/navigation/state", "navigationState", render_session.navigation_state),
    )
}

# Websocket topic -> (body renderer, schema document name of the whole UPDATE message).
TOPICS: dict[str, Endpoint] = {
    "LiveStandings": Endpoint("LiveStandings", "wsLiveStandings", render_standings.live_standings),
    "SessionInfo": Endpoint("SessionInfo", "wsSessionInfo", render_session.ws_session_info),
}


def render(path: str, scene: Scene) -> object:
    """The body the game answers on a REST path (KeyError for paths the game does not serve)."""
    return REST[path].render(scene)


def render_topic(topic: str, scene: Scene) -> dict | None:
    """The websocket UPDATE message for a topic, or None when the game pushes nothing."""
    body = TOPICS[topic].render(scene)
    if body is None:
        return None
    return {"body": body, "messageType": "UPDATE", "topic": topic}


def game_answers(
    script: SessionScript,
    et: float,
    *,
    player_slot: int = 0,
    index: int = 0,
    state: ViewState = ViewState.SESSION,
    paths: Iterable[str] | None = None,
) -> dict[str, object]:
    """Everything one team member's game answers at `et`, as a client reads it in one tick.

    REST paths map to their parsed body (None where the game sends an empty body); the push
    channel's topics map to their UPDATE message under `"ws:<topic>"`. Tests, benchmarks and
    harnesses build client states from this instead of each wiring a `Scene` themselves.
    """
    from sim.engine import evaluate  # the engine is only needed here, not to render a Scene

    live = evaluate(script, et)
    view = Viewpoint(index=index, player_slot=player_slot, state=state)
    mode = view.mode(live, loading=False)
    scene = Scene(
        mode=mode,
        view=view,
        live=live if mode.in_session else None,
        script=script,
        weekend=Weekend([script]),
    )
    answers: dict[str, object] = {}
    for path in REST if paths is None else paths:
        body = REST[path].render(scene)
        answers[path] = None if body is EMPTY else body
    for topic in TOPICS:
        answers[f"ws:{topic}"] = render_topic(topic, scene)
    return answers


def serialize(body: object) -> bytes:
    """Exact response bytes: UTF-8 JSON with sorted keys like the game, or b"" for EMPTY."""
    if body is EMPTY:
        return b""
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


__all__ = [
    "EMPTY",
    "REST",
    "TOPICS",
    "Endpoint",
    "Scene",
    "game_answers",
    "render",
    "render_topic",
    "serialize",
]
