"""The charts view: lap chart, gaps, lap times and conditions of a session, plus strategy.

The charts are drawn on the server (`web.analysis.charts.svg`), one part each, so the live hub
re-renders them as the race goes. The class shown is the focus car's (`car`, default the
overall leader) or `cls`; the focus car's stints are bands on the lap-time chart. The JSON twin
holds the series data, not the SVG.

`max_drive_time` (seconds, from the server config) is set with `configure` when the routes are
built: the live hub builds this view with the topic's parameters only.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from web.analysis.charts import conditions, racing, svg
from web.analysis.strategy import strategy
from web.views.carinfo import class_rank
from web.views.model import SessionInput
from web.views.results import header

TEMPLATE = "charts.html"

_settings: dict[str, float | None] = {"max_drive_time": None}


def configure(max_drive_time: float | None) -> None:
    """The drive time limit shown against each driver's total (None: totals only)."""
    _settings["max_drive_time"] = max_drive_time


def build(
    inp: SessionInput, car: str | None = None, cls: str | None = None, **params: Any
) -> dict[str, Any]:
    model: dict[str, Any] = {
        "session_id": inp.session_id,
        "header": header(inp),
        "classes": [],
        "car_class": None,
        "focus": None,
        "charts": [],
        "strategy": None,
    }
    tracker = inp.tracker
    if tracker is None or not tracker.cars:
        return model
    order = tracker.classification()
    classes = sorted({tracker.cars[k].car_class for k in order}, key=class_rank)
    if car is not None and car in tracker.cars:
        focus = car
        car_class = tracker.cars[car].car_class
    else:
        car_class = cls if cls in classes else tracker.cars[order[0]].car_class
        focus = next(k for k in order if tracker.cars[k].car_class == car_class)
    leaders = {
        name: next(k for k in order if tracker.cars[k].car_class == name) for name in classes
    }
    model.update(
        classes=[{"name": name, "leader": leaders[name]} for name in classes],
        car_class=car_class,
        focus=focus,
        charts=[
            racing.lap_chart(tracker, car_class, focus),
            racing.gap_chart(tracker, car_class, focus),
            racing.lap_times_chart(tracker, car_class, focus),
            conditions.temperature_chart(tracker),
            conditions.wetness_chart(tracker),
        ],
        strategy=strategy(tracker, order, _settings["max_drive_time"]),
    )
    return model


def parts(model: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    out: list[tuple[str, str, dict[str, Any]]] = [
        (f"chart-{chart['id']}", "chart", {"chart": chart, "svg": Markup(svg.render(chart))})
        for chart in model["charts"]
    ]
    if model["strategy"] is not None:
        out.append(
            (
                "strategy",
                "strategy",
                {"s": model["strategy"], "session_id": model["session_id"]},
            )
        )
    return out
