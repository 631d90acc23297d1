"""Charts of a session as data (JSON-ready dicts) and as SVG drawn on the server.

Each chart module builds a `Chart` dict from tracker facts: `{"id", "title", "x", "y", "series",
"bands"}`, every series `{"key", "label", "class_id", "points": [[x, y], ...], "marks": [[x, y,
kind], ...]}`. `svg.render(chart)` draws any of them: one `<g data-series=...>` per series (its
points in a `<polyline>`, its count in `data-points`), colours by CSS classes only, so the page
needs no chart script and stays within a strict Content-Security-Policy.
"""
