"""Roles in a session and what each role reads: the content of a client's `plan`.

The **primary** is the session's driving client (its observations are the ones fed to the
tracker); the others are **secondaries**, standing by to take over within one update. Only the
primary reads chat: chat is the same for everyone and costs the game a request. Every client
reads its own team's strategy and usage, because that data is private to its team (see
`server.private_parts`), but slowly: it changes once a lap. A client asked to backfill reads
the game's lap history once.
"""

from __future__ import annotations

from typing import Any

PRIMARY = "primary"
SECONDARY = "secondary"

CHAT = "/rest/chat/"
STRATEGY = "/rest/strategy/overall"
USAGE = "/rest/strategy/usage"
HISTORY = "/rest/watch/standings/history"

TEAM_PRIVATE_INTERVAL = 10.0  # seconds between strategy/usage reads of a secondary


def plan_fields(role: str | None, session: str | None, *, backfill: bool = False) -> dict:
    """Keyword arguments for `schema.wire.plan`: `fetch`, and `intervals`/`role`/`session`.

    Outside a session (`role` None) the client keeps its defaults for everything.
    """
    fields: dict[str, Any] = {"fetch": {}}
    if role is not None:
        fields["role"] = role
        fields["fetch"] = {CHAT: role == PRIMARY, STRATEGY: True, USAGE: True}
        if role == SECONDARY:
            fields["intervals"] = {STRATEGY: TEAM_PRIVATE_INTERVAL, USAGE: TEAM_PRIVATE_INTERVAL}
    if session is not None:
        fields["session"] = session
    if backfill:
        fields["fetch"][HISTORY] = True
    return fields
