"""When to send the game's lap history to the server (a backfill), decided from its plan.

After a gap in a session (no client fed it for a while), the server's plan switches
`/rest/watch/standings/history` on for the client that returned. The client then reads that
endpoint once and sends it in a `backfill` message; the server keeps the switch on until the
backfill arrives and then sends a plan without it. Pure: `due(plan, now)` says whether to fetch
now; a failed or unacknowledged attempt is retried every `retry` seconds while the plan asks.
"""

from __future__ import annotations

from collections.abc import Mapping

HISTORY = "/rest/watch/standings/history"


class BackfillRequest:
    """Tracks the server's ask for the lap history and paces the answers to it."""

    def __init__(self, retry: float = 10.0) -> None:
        self.retry = retry
        self._last_sent: float | None = None

    def due(self, plan: Mapping, now: float) -> bool:
        fetch = plan.get("fetch") if isinstance(plan, Mapping) else None
        asked = isinstance(fetch, Mapping) and fetch.get(HISTORY) is True
        if not asked:
            self._last_sent = None  # answered (or never asked): the next ask is fresh
            return False
        return self._last_sent is None or now - self._last_sent >= self.retry

    def sent(self, now: float) -> None:
        self._last_sent = now
