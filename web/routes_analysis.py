"""The analysis pages and downloads (issue 6); the lead mounts `routes()` in the app.

    /sessions/{id}/results[.json]       the classification, per class (live view "results")
    /sessions/{id}/charts[.json]        charts and strategy (live view "charts"; ?car=, ?cls=)
    /sessions/{id}/laps.csv, pit-stops.csv, stints.csv, results.csv   downloads (?car=)
    /tracks/{track}/best-laps[.json]    best laps of a track (filters, ?sort=)
    /api/...                            the JSON API (`web.api`)

Pages and JSON twins come from the same view model (`web.render`); the CSV from the same rows
as the API (`web.export`). The time a page took to build and render is logged at debug level and
sent as a `Server-Timing` header (the benchmark reads it).
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from web import api, export, render
from web.routes import PageError, error_response, json_response
from web.views import charts as charts_view

log = logging.getLogger(__name__)

VIEW_PARAMS = {"results": (), "charts": ("car", "cls")}


def _timed(response: Response, started: float) -> Response:
    elapsed = (time.perf_counter() - started) * 1000
    response.headers["Server-Timing"] = f"app;dur={elapsed:.1f}"
    return response


def view_page(view: str) -> Any:
    async def handler(request: Request) -> Response:
        started = time.perf_counter()
        as_json = request.url.path.endswith(".json")
        try:
            if view == "charts":
                charts_view.configure(api.setting(request, "max_drive_time", None))
            inp = await api.session_with_tracker(request)
            params = {
                name: request.query_params[name]
                for name in VIEW_PARAMS[view]
                if request.query_params.get(name)
            }
            module = render.view_module(view)
            model = module.build(inp, **params)
        except PageError as error:
            return error_response(error, as_json)
        if as_json:
            return _timed(json_response(model), started)
        html = render.page(view, model, parts=module.parts(model))
        return _timed(HTMLResponse(html), started)

    handler.__name__ = f"{view}_page"
    return handler


def csv_download(name: str) -> Any:
    rows_of, columns = export.TABLES[name]

    async def handler(request: Request) -> Response:
        started = time.perf_counter()
        try:
            inp = await api.session_with_tracker(request)
            car = api.car_of(request, inp)
        except PageError as error:
            return error_response(error, False)
        text = export.to_csv(rows_of(inp.tracker, car), columns)
        filename = f"{inp.session_id}-{name}.csv"
        response = Response(
            text,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
        return _timed(response, started)

    handler.__name__ = f"{name.replace('-', '_')}_csv"
    return handler


async def best_laps_page(request: Request) -> Response:
    started = time.perf_counter()
    as_json = request.url.path.endswith(".json")
    try:
        model = await api.best_laps_model(request)
        if not as_json:
            model.update(await _page_extras(request, model))
    except PageError as error:
        return error_response(error, as_json)
    if as_json:
        return _timed(json_response(model), started)
    return _timed(HTMLResponse(render.render_page("bestlaps.html", model=model)), started)


async def _page_extras(request: Request, model: dict[str, Any]) -> dict[str, Any]:
    """What only the HTML page needs: the classes to offer and the query for sort links."""
    store = api.store_of(request)
    rows = await store.query(
        "SELECT DISTINCT c.car_class FROM cars c JOIN sessions s ON s.session_id = c.session_id "
        "WHERE s.track = ? ORDER BY 1",
        (model["track"],),
    )
    items = [(k, v) for k, v in request.query_params.multi_items() if v]
    return {
        "all_classes": [r[0] for r in rows],
        "query": {k: request.query_params.get(k, "") for k in ("since", "until")},
        "query_string": urlencode(items),
        "sort_query": urlencode([(k, v) for k, v in items if k != "sort"]),
    }


def routes() -> list[BaseRoute]:
    out: list[BaseRoute] = []
    for view in VIEW_PARAMS:
        handler = view_page(view)
        out.append(Route(f"/sessions/{{session_id}}/{view}.json", handler, name=f"{view}_json"))
        out.append(Route(f"/sessions/{{session_id}}/{view}", handler, name=view))
    for name in export.TABLES:
        out.append(
            Route(f"/sessions/{{session_id}}/{name}.csv", csv_download(name), name=f"{name}_csv")
        )
    out.append(Route("/tracks/{track}/best-laps.json", best_laps_page, name="best_laps_json"))
    out.append(Route("/tracks/{track}/best-laps", best_laps_page, name="best_laps"))
    return out + api.routes()
