"""The client's REST link to the game: GETs over kept-alive connections (aiohttp).

Why aiohttp: the client's budget is under 1% of a core and it makes ~4 GETs a second of up to
150 kB. aiohttp parses HTTP in C; measured against the simulator (60 cars) a GET costs less than
half the CPU it costs through httpx/httpcore. The push websocket is `client.pushfeed`; the link
to the tracker server (`client.uplink`) is on `websockets`.

The session is created lazily inside the running event loop (aiohttp wants it made there).
"""

from __future__ import annotations

import logging

import aiohttp

log = logging.getLogger(__name__)


class Refused(ConnectionError):
    """Nothing listens on the game's port (the game is not running)."""


#: What a GET can raise besides `Refused` and `TimeoutError` (a hiccup, not a verdict).
GET_ERRORS = (aiohttp.ClientError, OSError)


class GameHttp:
    """GETs to the game's REST API over a few keep-alive connections."""

    def __init__(self, base_url: str, timeout: float) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=None, connect=timeout, sock_read=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._urls: dict[str, str] = {}

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=12, ttl_dns_cache=300),
                timeout=self._timeout,
                headers={"Accept": "application/json"},
                skip_auto_headers=("User-Agent",),
            )
        return self._session

    async def get(self, path: str) -> tuple[int, bytes]:
        """(HTTP status, body) of `GET path`; raises `Refused`, `TimeoutError` or `GET_ERRORS`."""
        url = self._urls.get(path)
        if url is None:
            url = self._urls[path] = self.base_url + path
        try:
            async with self._client().get(url, allow_redirects=False) as response:
                return response.status, await response.read()
        except aiohttp.ClientConnectorError as exc:
            raise Refused(str(exc)) from None
        except aiohttp.ServerTimeoutError as exc:
            raise TimeoutError(str(exc)) from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
