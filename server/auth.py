"""Who may stream to this server: challenge-response with Ed25519 keys and an optional allow-list.

Each connection gets a fresh 32-byte nonce; the client signs `wire.auth_message(nonce, server id,
its public key)`. A signature is therefore only good for one connection to one server: an `auth`
answer copied from another connection fails because its nonce differs.

The allow-list holds client ids (`wire.client_id`: 32 hex digits, the first half of SHA-256 of
the raw public key; the client shows it on its console, the server logs it when it refuses one).
A base64 raw public key is accepted too and turned into its client id. Empty list: any client
with a valid key may stream.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

from schema import wire

_CLIENT_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class Challenge:
    """The nonce and server id one connection's client must sign."""

    server_id: str
    nonce: bytes = field(default_factory=lambda: secrets.token_bytes(wire.NONCE_BYTES))

    def message(self) -> dict:
        return wire.challenge(self.nonce, self.server_id)

    def verify(self, public_key: bytes, auth_msg: dict) -> bool:
        """True if the `auth` message is this key's signature of this challenge."""
        try:
            signature = wire.unb64(auth_msg["signature"], wire.SIGNATURE_BYTES)
        except wire.WireError:
            return False
        return wire.verify_auth(public_key, signature, self.nonce, self.server_id)


def normalize_allow_entry(entry: str) -> str:
    """A client id from an allow-list entry (a client id, or a base64 raw public key)."""
    if not isinstance(entry, str):
        raise ValueError(f"allow-list entry {entry!r} is not a string")
    text = entry.strip()
    if _CLIENT_ID.fullmatch(text.lower()):
        return text.lower()
    try:
        return wire.client_id(wire.unb64(text, wire.PUBLIC_KEY_BYTES))
    except wire.WireError:
        raise ValueError(
            f"allow-list entry {entry!r} is neither a client id (32 hex digits) "
            "nor a base64 public key"
        ) from None


def allowed(client_id: str, allow_list: tuple[str, ...] | frozenset[str]) -> bool:
    """An empty allow-list admits every authenticated client."""
    return not allow_list or client_id in allow_list
