"""The read-only JSON API under /api/ for overlays and bots (documented in the README).

    /api/sessions                       stored sessions, newest first (filters, paging)
    /api/sessions/{id}                  one session's status entry (live or stored)
    /api/sessions/{id}/laps             laps (?car=), as the CSV export's rows
    /api/sessions/{id}/pit-stops        pit stops (?car=)
    /api/sessions/{id}/stints           stints (?car=)
    /api/sessions/{id}/results          the classification (rows of results.csv)
    /api/sessions/{id}/strategy         usage per lap, laps left, pit loss, drive times
    /api/tracks                         track names with stored sessions
    /api/tracks/{track}/best-laps       best laps per driver and car (filters, ?sort=)
    /api/tracks/{track}/pit-loss        pit stop loss learned from every stored stop there

Every answer is built by the same functions as the pages and the CSV downloads (`web.export`,
`web.history`, `web.analysis`). Errors are JSON `{"error", "status"}`: 400 names the bad
parameter, 404 the unknown session, car or track.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from web import export, history
from web.analysis.bestlaps import FilterError, parse_filters
from web.analysis.strategy import strategy
from web.routes import PageError, find_input, json_response
from web.views.model import SessionInput


def store_of(request: Request) -> Any:
    store = getattr(request.app.state.feed, "store", None)
    if store is None or getattr(store, "conn", None) is None:
        raise PageError(503, "The session store is not open.")
    return store


def setting(request: Request, name: str, default: Any) -> Any:
    config = getattr(request.app.state, "config", None)
    return getattr(config, name, default)


def filters_of(request: Request) -> Any:
    try:
        return parse_filters(request.query_params)
    except FilterError as exc:
        raise PageError(400, str(exc)) from None


async def session_with_tracker(request: Request) -> SessionInput:
    inp = await find_input(request, request.path_params["session_id"])
    if inp.tracker is None:
        raise PageError(404, "This session has no tracked facts yet.")
    return inp


def car_of(request: Request, inp: SessionInput) -> str | None:
    car = request.query_params.get("car") or None
    if car is not None and (inp.tracker is None or car not in inp.tracker.cars):
        raise PageError(404, f"No car {car!r} in this session.")
    return car


def _api(handler: Any) -> Any:
    async def endpoint(request: Request) -> Response:
        try:
            return json_response(await handler(request))
        except PageError as error:
            return json_response({"error": error.message, "status": error.status}, error.status)

    endpoint.__name__ = handler.__name__
    return endpoint


async def sessions(request: Request) -> dict[str, Any]:
    filters = filters_of(request)
    try:
        page, per_page = history.page_args(request.query_params)
    except ValueError as exc:
        raise PageError(400, str(exc)) from None
    return await history.list_sessions(store_of(request), filters, page, per_page)


async def session(request: Request) -> dict[str, Any]:
    inp = await find_input(request, request.path_params["session_id"])
    return {"session": inp.meta, "live": inp.live}


def table(name: str) -> Any:
    rows_of, _ = export.TABLES[name]

    async def handler(request: Request) -> dict[str, Any]:
        inp = await session_with_tracker(request)
        car = car_of(request, inp)
        return {"session_id": inp.session_id, name.replace("-", "_"): rows_of(inp.tracker, car)}

    handler.__name__ = f"api_{name.replace('-', '_')}"
    return handler


async def session_strategy(request: Request) -> dict[str, Any]:
    inp = await session_with_tracker(request)
    assert inp.tracker is not None
    limit = setting(request, "max_drive_time", None)
    return strategy(inp.tracker, inp.tracker.classification(), limit)


async def tracks(request: Request) -> dict[str, Any]:
    return {"tracks": await history.tracks(store_of(request))}


async def best_laps_model(request: Request) -> dict[str, Any]:
    """The best laps of the path's track under the query's filters (page and API)."""
    store = store_of(request)
    track = request.path_params["track"]
    known_tracks = await history.tracks(store)
    if track not in known_tracks:
        raise PageError(404, f"No stored session on track {track!r}.")
    filters = filters_of(request)
    sort = request.query_params.get("sort") or "time"
    try:
        model = await history.best_laps(
            store, track, filters, sort, setting(request, "known_drivers", ())
        )
    except FilterError as exc:
        raise PageError(400, str(exc)) from None
    model["tracks"] = known_tracks
    model["pit_loss"] = await history.track_pit_loss(store, track)
    return model


async def track_pit_loss(request: Request) -> dict[str, Any]:
    store = store_of(request)
    track = request.path_params["track"]
    if track not in await history.tracks(store):
        raise PageError(404, f"No stored session on track {track!r}.")
    return await history.track_pit_loss(store, track)


def routes() -> list[BaseRoute]:
    out: list[BaseRoute] = [
        Route("/api/sessions", _api(sessions), name="api_sessions"),
        Route("/api/sessions/{session_id}", _api(session), name="api_session"),
        Route("/api/sessions/{session_id}/strategy", _api(session_strategy), name="api_strategy"),
        Route("/api/tracks", _api(tracks), name="api_tracks"),
        Route("/api/tracks/{track}/best-laps", _api(best_laps_model), name="api_best_laps"),
        Route("/api/tracks/{track}/pit-loss", _api(track_pit_loss), name="api_pit_loss"),
    ]
    for name in export.TABLES:
        out.append(
            Route(f"/api/sessions/{{session_id}}/{name}", _api(table(name)), name=f"api_{name}")
        )
    return out
