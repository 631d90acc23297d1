"""The client's settings: `lmust-client.toml`, written with defaults and comments on first run.

A team member downloads one executable and runs it beside the game. The one thing they must set
is the server's address, and they will type it the way they got it ("race.example.org:5000",
"https://race.example.org/", ...), so `normalize_server_url` accepts every reasonable form and
turns it into the websocket URL the uplink needs, or fails with one line that says what is wrong.

Where the file lives: beside the executable when frozen by PyInstaller (a double-clicked .exe
runs with an unpredictable current directory), else in the current directory, or `--config`.
Command-line flags override the file. A broken file is a `ConfigError` naming file, line and key.
"""

from __future__ import annotations

import getpass
import logging
import math
import os
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

log = logging.getLogger(__name__)

CONFIG_NAME = "lmust-client.toml"
KEY_NAME = "lmust-client.key"
WS_PATH = "/ws/client"
DEFAULT_GAME_URL = "http://127.0.0.1:6397"
DEFAULT_GAME_WS_URL = "ws://127.0.0.1:6398/websocket/ui"
DEFAULT_TICK = 1.0
DEFAULT_MAX_TIME_SCALE = 1.0

_SCHEMES = {"ws": "ws", "wss": "wss", "http": "ws", "https": "wss"}
_HOST_RE = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?)$")

TEMPLATE = """\
# LMU Session Tracker client settings. Lines starting with # are comments.
# Command-line flags (see `lmust-client --help`) override what is set here.

# The tracker server to send to (ask your team's admin). Accepted forms:
# "race.example.org:5000", "http://race.example.org:5000", "https://race.example.org",
# or a full "wss://race.example.org/ws/client". Required.
server_url = {server_url}

# Your name as the dashboard shows it next to what your game sees.
name = {name}

# The game's REST API (Le Mans Ultimate listens on port 6397 on this computer).
game_url = {game_url}

# The game's push websocket (port 6398).
game_ws_url = {game_ws_url}

# This client's private key (created on first run). The server knows the client by it:
# keep the file, and give its ID to the server's admin if the server uses an allow-list.
key_file = {key_file}

# Seconds between two updates sent to the server.
tick = {tick}

# Highest game-time speed-up to accept: 1 for the real game. Event times that jump faster than
# this are ignored as glitches until they settle. Raise it for the simulator (e.g. 10).
max_time_scale = {max_time_scale}

# A file to write the log to, in addition to the console ("" = no log file).
log_file = {log_file}
"""

_TYPES: dict[str, tuple[type, ...]] = {
    "server_url": (str,),
    "name": (str,),
    "game_url": (str,),
    "game_ws_url": (str,),
    "key_file": (str,),
    "tick": (int, float),
    "max_time_scale": (int, float),
    "log_file": (str,),
}


class ConfigError(Exception):
    """A setting is missing or wrong; the message is one line a user can act on."""


@dataclass(frozen=True)
class ClientConfig:
    """Every setting, resolved: URLs normalized, paths absolute."""

    path: Path
    server_url: str  # normalized ws(s) URL, "" when not set yet
    name: str
    game_url: str
    game_ws_url: str
    key_file: Path
    tick: float = DEFAULT_TICK
    max_time_scale: float = DEFAULT_MAX_TIME_SCALE
    log_file: Path | None = None
    verbose: bool = False
    created: bool = False  # the file was written by this run (first run)


def default_config_path() -> Path:
    """Beside the executable when frozen (PyInstaller), else in the current directory."""
    if getattr(sys, "frozen", False):
        return Path(sys.executable).resolve().parent / CONFIG_NAME
    return Path.cwd() / CONFIG_NAME


def default_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user database entry (containers): not worth failing over
        return os.environ.get("USERNAME") or os.environ.get("USER") or "driver"


def normalize_server_url(text: str) -> str:
    """The websocket URL of a server address as a user would write it.

    `race.example.org:5000` and `http://race.example.org:5000` give
    `ws://race.example.org:5000/ws/client`; `https://...` gives `wss://...`. A ws/wss URL keeps
    its path (a reverse proxy may serve the tracker elsewhere); an http(s) URL's path is the
    site's prefix, and `/ws/client` is added unless it is already there.
    """
    given = text
    text = (text or "").strip()
    if not text:
        raise ConfigError("the server address is empty: set server_url or pass --server")
    if any(ch.isspace() for ch in text):
        raise ConfigError(f"the server address {given!r} contains spaces")
    scheme_given = "://" in text
    if not scheme_given:
        text = "ws://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"the server address {given!r} is not a valid URL: {exc}") from None
    scheme = _SCHEMES.get(parts.scheme.lower())
    if scheme is None:
        raise ConfigError(
            f"the server address {given!r} uses {parts.scheme!r}: use ws://, wss://, http:// "
            "or https://"
        )
    if parts.query or parts.fragment or text.rstrip("/").endswith(("?", "#")):
        raise ConfigError(f"the server address {given!r} must not have a query or fragment")
    if parts.username is not None or parts.password is not None:
        raise ConfigError(f"the server address {given!r} must not contain a user name")
    host = parts.hostname or ""
    shown_host = f"[{host}]" if ":" in host else host
    if not host or not _HOST_RE.match(shown_host):
        raise ConfigError(f"the server address {given!r} has no valid host name")
    if port == 0:
        raise ConfigError(f"the server address {given!r} has port 0")
    netloc = shown_host.lower() + (f":{port}" if port is not None else "")
    path = re.sub(r"/+$", "", parts.path)
    if parts.scheme.lower() in ("http", "https") or not scheme_given:
        if not path.endswith(WS_PATH):
            path += WS_PATH
    elif not path:
        path = WS_PATH
    return urlunsplit((scheme, netloc, path, "", ""))


_HTTP = ("http", "https")
_WS = ("ws", "wss")


def _check_url(value: str, key: str, schemes: tuple[str, ...]) -> str:
    value = value.strip()
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise ConfigError(f"{key} {value!r} is not a valid URL: {exc}") from None
    if parts.scheme not in schemes or not parts.hostname:
        raise ConfigError(f"{key} {value!r} must be a {' or '.join(schemes)} URL with a host")
    return value.rstrip("/") if parts.scheme.startswith("http") else value


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    escaped = "".join(ch if ch >= " " else f"\\u{ord(ch):04x}" for ch in escaped)
    return f'"{escaped}"'


def render_defaults() -> str:
    """The first-run file: every setting at its default, with its comment."""
    return TEMPLATE.format(
        server_url=_toml_string(""),
        name=_toml_string(default_name()),
        game_url=_toml_string(DEFAULT_GAME_URL),
        game_ws_url=_toml_string(DEFAULT_GAME_WS_URL),
        key_file=_toml_string(KEY_NAME),
        tick=repr(DEFAULT_TICK),
        max_time_scale=repr(DEFAULT_MAX_TIME_SCALE),
        log_file=_toml_string(""),
    )


def _line_of(text: str, key: str) -> int | None:
    pattern = re.compile(rf"^[ \t]*{re.escape(key)}[ \t]*=", re.MULTILINE)
    match = pattern.search(text)
    return text.count("\n", 0, match.start()) + 1 if match else None


def read_file(path: Path, origins: dict[str, str] | None = None) -> dict[str, Any]:
    """The settings in a file, type-checked; `ConfigError` names the file, line and key.

    `origins` (if given) receives "file, line N" for each key, for later value errors.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: syntax error: {exc}") from None
    for key, value in data.items():
        line = _line_of(text, key)
        where = f"{path}, line {line}" if line else str(path)
        if origins is not None:
            origins[key] = where
        if key not in _TYPES:
            raise ConfigError(f"{where}: unknown setting {key!r} (known: {', '.join(_TYPES)})")
        types = _TYPES[key]
        if type(value) not in types:
            wanted = "a number" if float in types else "a quoted string"
            raise ConfigError(f"{where}: {key} must be {wanted}, not {value!r}")
    return data


def load(
    path: Path | None = None,
    *,
    overrides: dict[str, Any] | None = None,
    write_if_missing: bool = True,
) -> ClientConfig:
    """The settings from `path` (default: `default_config_path()`), then `overrides` (flags).

    When the file does not exist it is written with every default (first run) and loading goes
    on. `overrides` maps setting names to values; None values are ignored.
    """
    path = (path or default_config_path()).expanduser().resolve()
    created = False
    if not path.exists() and write_if_missing:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(render_defaults(), encoding="utf-8")
            created = True
            log.info("wrote the default settings to %s", path)
        except OSError as exc:
            raise ConfigError(f"{path}: cannot write the default settings: {exc}") from None
    origins: dict[str, str] = {}
    data = read_file(path, origins) if path.exists() else {}
    for key, value in (overrides or {}).items():
        if value is not None:
            data[key] = value
            origins[key] = f"command line ({key})"
    return _resolve(path, data, created, origins)


def _resolve(
    path: Path, data: dict[str, Any], created: bool, origins: dict[str, str]
) -> ClientConfig:
    def checked(key: str, check):
        try:
            return check()
        except ConfigError as exc:
            raise ConfigError(f"{origins.get(key, str(path))}: {exc}") from None

    server = str(data.get("server_url", "")).strip()
    server_url = checked("server_url", lambda: normalize_server_url(server) if server else "")
    name = str(data.get("name") or "").strip() or default_name()
    game_url = checked(
        "game_url",
        lambda: _check_url(str(data.get("game_url") or DEFAULT_GAME_URL), "game_url", _HTTP),
    )
    game_ws_url = checked(
        "game_ws_url",
        lambda: _check_url(str(data.get("game_ws_url") or DEFAULT_GAME_WS_URL), "game_ws_url", _WS),
    )
    key_file = _beside(path, str(data.get("key_file") or KEY_NAME))
    tick = checked("tick", lambda: _number(data.get("tick", DEFAULT_TICK), "tick", 0.1, 60.0))
    scale = checked(
        "max_time_scale",
        lambda: _number(
            data.get("max_time_scale", DEFAULT_MAX_TIME_SCALE), "max_time_scale", 0.1, 1000.0
        ),
    )
    log_file = str(data.get("log_file") or "").strip()
    return ClientConfig(
        path=path,
        server_url=server_url,
        name=name,
        game_url=game_url,
        game_ws_url=game_ws_url,
        key_file=key_file,
        tick=tick,
        max_time_scale=scale,
        log_file=_beside(path, log_file) if log_file else None,
        verbose=bool(data.get("verbose", False)),
        created=created,
    )


def _beside(config_path: Path, value: str) -> Path:
    """A path from the settings; relative ones are relative to the settings file."""
    found = Path(value).expanduser()
    return found if found.is_absolute() else config_path.parent / found


def _number(value: Any, key: str, low: float, high: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key} must be a number, not {value!r}") from None
    if not math.isfinite(number) or not low <= number <= high:
        raise ConfigError(f"{key} must be between {low:g} and {high:g}, not {value!r}")
    return number


__all__ = [
    "CONFIG_NAME",
    "ClientConfig",
    "ConfigError",
    "default_config_path",
    "load",
    "normalize_server_url",
    "read_file",
    "render_defaults",
]
