"""The server's settings: defaults, then an optional `lmust-server.toml`, then command-line flags.

Example `lmust-server.toml` (every key optional):

    host = "0.0.0.0"
    port = 5000
    data_dir = "./data"            # the SQLite database lives here unless db_path says otherwise
    db_path = "./data/lmust.db"
    allow_list = ["1a2b3c4d5e6f708192a3b4c5d6e7f801"]   # client ids; empty: every client with a key
    max_message_bytes = 1048576
    server_id = "my-team-server"   # default: a random id stored in the database on first start
    handshake_timeout = 10.0
    max_pending_handshakes = 8     # per address: connections not yet authenticated, at once
    handshake_rate = 5.0           # per address: new connections per second (on average)...
    handshake_burst = 20           # ...with bursts up to this many
    admin_token = "..."            # enables /admin/*; or set LMUST_ADMIN_TOKEN (16+ characters)
    known_drivers = ["Ann Driver"] # best laps: known drivers (when the DB has no known_drivers)
    max_drive_time = 14400         # seconds one driver may drive (shown against drive times)
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from schema import wire

DEFAULT_CONFIG_FILE = "lmust-server.toml"
ADMIN_TOKEN_ENV = "LMUST_ADMIN_TOKEN"
MIN_ADMIN_TOKEN = 16  # characters: long enough that guessing over HTTP is hopeless


class ConfigError(Exception):
    """The configuration cannot be used; the message is one line naming the file and key."""


@dataclass(frozen=True)
class ServerConfig:
    host: str = "0.0.0.0"
    port: int = 5000
    data_dir: Path = Path("data")
    db_path: Path | None = None  # None: data_dir / "lmust.db"
    allow_list: tuple[str, ...] = field(default_factory=tuple)  # client ids; empty: everyone
    max_message_bytes: int = wire.MAX_MESSAGE_BYTES
    server_id: str | None = None  # None: the id stored in the database (made on first start)
    handshake_timeout: float = 10.0
    # Per remote address, against a flood of connections (unauthenticated ones cost the most).
    max_pending_handshakes: int = 8  # connections of one address not yet authenticated
    handshake_rate: float = 5.0  # new connections per second of one address, on average
    handshake_burst: int = 20  # ... and at most this many at once
    admin_token: str | None = field(default=None, repr=False)  # None: the admin API is off
    # The analysis pages (web/): known drivers of the best-laps page when the database has no
    # known_drivers table, and a drive time limit per driver (seconds; None: totals only).
    known_drivers: tuple[str, ...] = field(default_factory=tuple)
    max_drive_time: float | None = None

    @property
    def database(self) -> Path:
        return self.db_path if self.db_path is not None else self.data_dir / "lmust.db"

    def with_overrides(self, **values: Any) -> ServerConfig:
        """A copy with the given settings (None values are left as they were)."""
        return _checked(replace(self, **{k: v for k, v in values.items() if v is not None}))


def load_config(path: Path | None = None, **overrides: Any) -> ServerConfig:
    """Defaults, then the TOML file (if `path` is given, or `lmust-server.toml` exists here),
    then `overrides` (command-line flags; None means "not given")."""
    config = ServerConfig()
    if path is None and Path(DEFAULT_CONFIG_FILE).is_file():
        path = Path(DEFAULT_CONFIG_FILE)
    if path is not None:
        config = _from_file(Path(path), config)
    token = os.environ.get(ADMIN_TOKEN_ENV)
    if token:
        try:
            config = _checked(replace(config, admin_token=token))
        except ConfigError as exc:
            raise ConfigError(f"{ADMIN_TOKEN_ENV}: {exc}") from None
    return config.with_overrides(**overrides)


def _from_file(path: Path, config: ServerConfig) -> ServerConfig:
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    known = {f.name for f in fields(ServerConfig)}
    unknown = sorted(set(doc) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) {', '.join(unknown)}")
    values: dict[str, Any] = dict(doc)
    base = path.parent
    for key in ("data_dir", "db_path"):
        if key in values:
            if not isinstance(values[key], str):
                raise ConfigError(f"{path}: {key} must be a string")
            values[key] = base / Path(values[key]).expanduser()
    if "known_drivers" in values:
        names = values["known_drivers"]
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ConfigError(f"{path}: known_drivers must be a list of driver names")
        values["known_drivers"] = tuple(names)
    if "allow_list" in values:
        if not isinstance(values["allow_list"], list):
            raise ConfigError(f"{path}: allow_list must be a list of client ids")
        values["allow_list"] = tuple(values["allow_list"])
    try:
        return _checked(replace(config, **values))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _checked(config: ServerConfig) -> ServerConfig:
    from server.auth import normalize_allow_entry  # auth checks what a client id looks like

    if not isinstance(config.port, int) or not 0 <= config.port <= 65535:
        raise ConfigError(f"port must be 0..65535, not {config.port!r}")
    if not isinstance(config.max_message_bytes, int) or config.max_message_bytes < 1024:
        raise ConfigError("max_message_bytes must be an integer of at least 1024")
    if not isinstance(config.handshake_timeout, int | float) or config.handshake_timeout <= 0:
        raise ConfigError("handshake_timeout must be a positive number of seconds")
    for name in ("max_pending_handshakes", "handshake_burst"):
        value = getattr(config, name)
        if type(value) is not int or value < 1:
            raise ConfigError(f"{name} must be a whole number of at least 1")
    if not isinstance(config.handshake_rate, int | float) or not config.handshake_rate > 0:
        raise ConfigError("handshake_rate must be a positive number of connections per second")
    token = config.admin_token
    if token is not None and (
        not isinstance(token, str) or len(token) < MIN_ADMIN_TOKEN or token != token.strip()
    ):
        raise ConfigError(
            f"admin_token must be a string of at least {MIN_ADMIN_TOKEN} characters without "
            "surrounding spaces (make one with: python -c \"import secrets; "
            "print(secrets.token_urlsafe(24))\")"
        )
    limit = config.max_drive_time
    if limit is not None and (type(limit) not in (int, float) or not limit > 0):
        raise ConfigError("max_drive_time must be a positive number of seconds")
    if config.server_id is not None and not 0 < len(config.server_id.encode()) <= 64:
        raise ConfigError("server_id must be 1..64 bytes")
    try:
        allow = tuple(normalize_allow_entry(entry) for entry in config.allow_list)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return replace(config, data_dir=Path(config.data_dir), allow_list=allow)
