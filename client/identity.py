"""The client's identity: one Ed25519 key pair, created on first run and kept in a PEM file.

The server knows a client by `wire.client_id(public_key)` (a hash of the raw 32-byte key, the
same in every implementation), and the key proves it with a signature of each connection's
fresh challenge. The private key never leaves this file; the file is readable by its owner only.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from schema import wire

log = logging.getLogger(__name__)


class IdentityError(Exception):
    """The key file exists but cannot be used; the message is one line saying what to do."""


@dataclass(frozen=True)
class Identity:
    """A loaded key pair: `public_key` (raw 32 bytes), `client_id`, `sign(data)`."""

    path: Path
    _key: Ed25519PrivateKey = field(repr=False)

    @classmethod
    def load_or_create(cls, path: Path) -> Identity:
        """The identity stored at `path`, creating a new one (and its folder) if there is none."""
        path = Path(path)
        if path.exists():
            return cls(path, _read_key(path))
        key = Ed25519PrivateKey.generate()
        _write_key(path, key)
        identity = cls(path, key)
        log.info("created a new client identity %s in %s", identity.client_id, path)
        return identity

    @property
    def public_key(self) -> bytes:
        return self._key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @property
    def client_id(self) -> str:
        return wire.client_id(self.public_key)

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)


def _read_key(path: Path) -> Ed25519PrivateKey:
    problem = f"{path} is not a usable client key; delete it to create a new identity"
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise IdentityError(f"cannot read the client key {path}: {exc.strerror}") from None
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise IdentityError(problem) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise IdentityError(problem)
    return key


def _write_key(path: Path, key: Ed25519PrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    # Create with 0600 from the start, so the key is never readable by others, even briefly.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
