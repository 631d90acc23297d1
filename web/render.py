"""Rendering: view models to HTML pages and to out-of-band fragments, with the same macros.

Every view is a module `web.views.<name>` with:
- `TEMPLATE`: its page template (extends base.html);
- `build(inp, **params) -> dict`: the view model (also the page's JSON twin);
- `parts(model) -> list[tuple[element_id, macro, kwargs]]`: the live elements of the page, each
  rendered by a macro of `templates/parts/<name>.html` taking `oob` (bool) plus the kwargs.

The page renders those macros with `oob=False`; `fragments` renders them with `oob=True` (the
element carries `hx-swap-oob="true"` and replaces the element of the same id in the browser). A
page and its live updates therefore can never disagree about markup. Ids are stable (see `slug`).
"""

from __future__ import annotations

import importlib
import re
from functools import cache
from importlib import resources
from types import ModuleType
from typing import Any

import jinja2

VIEW_NAMES = ("sessions", "session", "car", "map", "feed", "entries", "results", "charts")

_UNSAFE_ID = re.compile(r"[^A-Za-z0-9_-]")


def slug(key: str) -> str:
    """An element-id-safe form of a car key or name (stable: same key, same slug)."""
    return _UNSAFE_ID.sub("_", key)


@cache
def environment() -> jinja2.Environment:
    folder = resources.files("web").joinpath("templates")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)),
        autoescape=True,  # every text is escaped: names come from the game
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["slug"] = slug
    from web import format as fmt  # the formatting filters live with the formatting rules

    env.filters.update(fmt.FILTERS)
    return env


def view_module(view: str) -> ModuleType:
    if view not in VIEW_NAMES:
        raise KeyError(f"unknown view {view!r}")
    return importlib.import_module(f"web.views.{view}")


def render_page(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


def page(view: str, model: dict[str, Any], **context: Any) -> str:
    """The full HTML page of a view model."""
    module = view_module(view)
    return render_page(module.TEMPLATE, model=model, **context)


def fragments(view: str, inp: Any, **params: Any) -> dict[str, str]:
    """Element id -> out-of-band HTML of every live element of `view` for `inp`."""
    module = view_module(view)
    model = module.build(inp, **params)
    return model_fragments(view, model)


def model_fragments(view: str, model: dict[str, Any]) -> dict[str, str]:
    module = view_module(view)
    macros = environment().get_template(f"parts/{view}.html").module
    return {
        element_id: str(getattr(macros, macro)(oob=True, **kwargs))
        for element_id, macro, kwargs in module.parts(model)
    }
