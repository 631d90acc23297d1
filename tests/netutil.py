"""Helpers the suites share: a free local port, and a coroutine run to completion with a bound.

Importable as `netutil` from every suite: `tests/` has no `__init__.py`, so pytest puts it on
`sys.path` for `tests/conftest.py`.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Coroutine
from typing import Any


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_bounded(coro: Coroutine[Any, Any, Any], timeout: float) -> Any:
    """`asyncio.run(coro)`, failing with TimeoutError after `timeout` seconds (a hung server
    or socket fails its test instead of the whole run)."""

    async def bounded() -> Any:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())
