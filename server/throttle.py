"""Per-address limits on new client connections (pure: the caller passes `now`).

Why: before a connection has authenticated, the server spends a task, a socket and an Ed25519
verification on it for up to `handshake_timeout` seconds, for anyone who can reach the port.
One address may therefore hold only `max_pending` unauthenticated connections at once and open
new ones at `rate` per second on average (a token bucket of `burst`). Authenticated connections
no longer count as pending, so a team's clients behind one address are never limited while
they stream; a flood from one address does not touch connections from any other.
"""

from __future__ import annotations

from dataclasses import dataclass

PRUNE_ABOVE = 1024  # addresses remembered before idle ones are forgotten


@dataclass
class _Address:
    tokens: float
    at: float
    pending: int = 0
    refused: int = 0  # refusals since the last admitted connection


class HandshakeLimiter:
    """Admits or refuses a new connection from an address; `done` when it has authenticated
    or gone away."""

    def __init__(self, max_pending: int, rate: float, burst: int) -> None:
        if max_pending < 1 or rate <= 0 or burst < 1:
            raise ValueError("max_pending and burst must be >= 1 and rate > 0")
        self.max_pending, self.rate, self.burst = max_pending, float(rate), burst
        self._addresses: dict[str, _Address] = {}

    def admit(self, address: str, now: float) -> str | None:
        """None if a handshake from `address` may start now (then call `done` later), else
        the reason it may not, for the close frame."""
        entry = self._addresses.get(address)
        if entry is None:
            if len(self._addresses) >= PRUNE_ABOVE:
                self._prune(now)
            entry = self._addresses[address] = _Address(float(self.burst), now)
        entry.tokens = min(float(self.burst), entry.tokens + (now - entry.at) * self.rate)
        entry.at = now
        if entry.pending >= self.max_pending:
            entry.refused += 1
            return f"too many unauthenticated connections from {address}; retry later"
        if entry.tokens < 1.0:
            entry.refused += 1
            return f"too many new connections from {address}; retry later"
        entry.tokens -= 1.0
        entry.pending += 1
        entry.refused = 0
        return None

    def done(self, address: str) -> None:
        """The handshake of an admitted connection is over (authenticated or not)."""
        entry = self._addresses.get(address)
        if entry is not None and entry.pending > 0:
            entry.pending -= 1

    def refused(self, address: str) -> int:
        """Refusals of `address` since it was last admitted (1: the first of a burst)."""
        entry = self._addresses.get(address)
        return entry.refused if entry is not None else 0

    def pending(self, address: str) -> int:
        entry = self._addresses.get(address)
        return entry.pending if entry is not None else 0

    def _prune(self, now: float) -> None:
        """Forget addresses with nothing pending whose bucket has refilled (they are idle)."""
        idle = [
            address
            for address, entry in self._addresses.items()
            if entry.pending == 0 and entry.tokens + (now - entry.at) * self.rate >= self.burst
        ]
        for address in idle:
            del self._addresses[address]
