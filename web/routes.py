"""The dashboard's HTTP routes: every page and its JSON twin, from the same view model.

    /                             sessions: live (updates itself) + all stored, with filters
    /sessions.json                the same as JSON
    /sessions/{id}[.json]         session header + standings (?group=class)
    /sessions/{id}/cars/{car}[.json], /sessions/{id}/map[.json], /sessions/{id}/feed[.json],
    /sessions/{id}/entries[.json] the other views, on the same protocol (`web.render`)

A session is looked up live first, then in the store (a finished session). Unknown ids are a
404 page (or JSON); bad parameters a 400 naming the parameter. The first render of a page holds
everything (it works without JavaScript); its websocket then keeps it fresh.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from web import history, render, sources
from web.views import sessions as sessions_view
from web.views.model import SessionInput

log = logging.getLogger(__name__)

# page path -> (view, query parameters the view's build takes)
SESSION_VIEWS: dict[str, tuple[str, tuple[str, ...]]] = {
    "": ("session", ("group",)),
    "/map": ("map", ("car",)),
    "/feed": ("feed", ("car", "car_class")),
    "/entries": ("entries", ()),
}


class PageError(Exception):
    """An answer that is not the page: a status and a message for the reader."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def json_response(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def error_response(error: PageError, as_json: bool) -> Response:
    if as_json:
        return json_response({"error": error.message, "status": error.status}, error.status)
    html = render.render_page("error.html", status=error.status, message=error.message)
    return HTMLResponse(html, status_code=error.status)


async def find_input(request: Request, session_id: str) -> SessionInput:
    """The input of a session, live or stored; PageError 404 when there is none."""
    feed = request.app.state.feed
    now = time.time()
    inp: SessionInput | None = None
    if hasattr(feed, "arbiter"):
        if getattr(feed, "store", None) is not None:
            inp = await history.session_input(feed, session_id, now)
        else:
            inp = sources.live_input(feed, session_id, now)
    if inp is None:
        raise PageError(404, f"No session {session_id!r}: it is neither live nor stored.")
    return inp


def view_params(request: Request, allowed: tuple[str, ...]) -> dict[str, str]:
    """The view's build parameters from the query string (empty values are left out)."""
    return {name: request.query_params[name] for name in allowed if request.query_params.get(name)}


def build_model(view: str, inp: SessionInput, params: dict[str, str]) -> dict[str, Any]:
    """The view model; a parameter the view rejects (ValueError) is a 400."""
    try:
        return render.view_module(view).build(inp, **params)
    except (ValueError, TypeError) as exc:
        raise PageError(400, str(exc)) from None


def answer(view: str, model: dict[str, Any], as_json: bool) -> Response:
    if as_json:
        return json_response(model)
    return HTMLResponse(render.page(view, model))


# --- handlers ------------------------------------------------------------------------------------


async def sessions_page(request: Request) -> Response:
    as_json = request.url.path.endswith(".json")
    try:
        model, stored = await sessions_models(request)
    except PageError as error:
        return error_response(error, as_json)
    if as_json:
        return json_response({**model, "stored": stored})
    return HTMLResponse(render.page("sessions", model, stored=stored))


async def sessions_models(request: Request) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The live list and the page of stored sessions the query asks for."""
    feed = request.app.state.feed
    try:
        filters = sessions_view.Filters.parse(request.query_params)
    except sessions_view.BadFilter as exc:
        raise PageError(400, str(exc)) from None
    inputs = sources.sessions_input(feed) if hasattr(feed, "arbiter") else []
    model = sessions_view.build(inputs)
    store = getattr(feed, "store", None)
    if store is None or getattr(store, "conn", None) is None:
        return model, None
    page_sql, count_sql, params = sessions_view.stored_query(filters)
    rows = sessions_view.stored_rows(await store.query(page_sql, params))
    (total,) = (await store.query(count_sql, params))[0]
    tracks = [r[0] for r in await store.query("SELECT DISTINCT track FROM sessions ORDER BY 1")]
    return model, sessions_view.stored_page(filters, rows, total, tracks)


def session_view_handler(suffix: str):
    view, allowed = SESSION_VIEWS[suffix]

    async def handler(request: Request) -> Response:
        as_json = request.url.path.endswith(".json")
        try:
            inp = await find_input(request, request.path_params["session_id"])
            model = build_model(view, inp, view_params(request, allowed))
        except PageError as error:
            return error_response(error, as_json)
        return answer(view, model, as_json)

    return handler


async def car_page(request: Request) -> Response:
    as_json = request.url.path.endswith(".json")
    car = request.path_params["car"]
    try:
        inp = await find_input(request, request.path_params["session_id"])
        if not _has_car(inp, car):
            raise PageError(404, f"No car {car!r} in this session.")
        model = build_model("car", inp, {"car": car})
    except PageError as error:
        return error_response(error, as_json)
    return answer("car", model, as_json)


def _has_car(inp: SessionInput, car: str) -> bool:
    if inp.tracker is not None and car in inp.tracker.cars:
        return True
    cars = inp.state.get("cars") if isinstance(inp.state, dict) else None
    return isinstance(cars, dict) and car in cars


def routes() -> list[BaseRoute]:
    """The dashboard's routes (the JSON twins first: `{id}` would also match "x.json")."""
    out: list[BaseRoute] = [
        Route("/", sessions_page, name="sessions"),
        Route("/sessions.json", sessions_page, name="sessions_json"),
        Route("/sessions/{session_id}/cars/{car}.json", car_page, name="car_json"),
        Route("/sessions/{session_id}/cars/{car}", car_page, name="car"),
    ]
    for suffix, (view, _) in SESSION_VIEWS.items():
        handler = session_view_handler(suffix)
        out.append(Route(f"/sessions/{{session_id}}{suffix}.json", handler, name=f"{view}_json"))
        out.append(Route(f"/sessions/{{session_id}}{suffix}", handler, name=view))
    return out
