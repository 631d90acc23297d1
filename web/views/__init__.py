"""Pure view models of the dashboard: a `SessionInput` in, a JSON-ready dict out.

The JSON twin of a page is its view model as is; the HTML page is a template rendering the same
dict. Nothing here reads a clock, a socket or the database.
"""
