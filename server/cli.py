"""`lmust-server`: run the LMU Session Tracker server (uvicorn) with a config file and flags."""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import os
import socket
import sys
from pathlib import Path

import uvicorn

from server.app import create_app, uvicorn_config
from server.arbiter import ArbiterConfig
from server.config import ConfigError, ServerConfig, load_config
from server.core import LiveSessions

log = logging.getLogger("server")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="lmust-server",
        description="LMU Session Tracker server: clients stream the game's state to it.",
    )
    parser.add_argument("--host", help="address to listen on (default 0.0.0.0)")
    parser.add_argument("--port", type=int, help="port to listen on (default 5000)")
    parser.add_argument("--data-dir", type=Path, help="folder of the database (default ./data)")
    parser.add_argument(
        "--config", type=Path, help="settings file (default ./lmust-server.toml if present)"
    )
    parser.add_argument(
        "--allow",
        action="append",
        metavar="CLIENT_ID",
        help="accept only these clients (repeatable; adds to the config's allow_list)",
    )
    parser.add_argument(
        "--max-time-scale",
        type=float,
        default=1.0,
        metavar="X",
        help="accept game clocks running up to X times real time (a fast simulator; default 1)",
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="log debug details")
    return parser.parse_args(argv)


def build_config(args: argparse.Namespace) -> ServerConfig:
    config = load_config(args.config, host=args.host, port=args.port, data_dir=args.data_dir)
    if args.allow:
        config = config.with_overrides(allow_list=(*config.allow_list, *args.allow))
    return config


def check_data_dir(config: ServerConfig) -> None:
    """Fail early, in one line, if the database cannot be written."""
    folder = config.database.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the data folder {folder}: {exc.strerror}") from None
    if not os.access(folder, os.W_OK) or (
        config.database.exists() and not os.access(config.database, os.W_OK)
    ):
        raise ConfigError(f"the data folder {folder} is not writable")


def bind(config: ServerConfig) -> socket.socket:
    """The listening socket, bound here so a busy port is a clear error, not a traceback."""
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted connections only when the
    # listening socket says TCP; without it small writes wait ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((config.host, config.port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(f"port {config.port} on {config.host} is already in use") from None
        raise ConfigError(f"cannot listen on {config.host}:{config.port}: {exc.strerror}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        config = build_config(args)
        check_data_dir(config)
        sock = bind(config)
    except ConfigError as exc:
        print(f"lmust-server: {exc}", file=sys.stderr)
        return 2
    host = "localhost" if config.host in ("0.0.0.0", "::") else config.host
    port = sock.getsockname()[1]
    log.info("database: %s", config.database.resolve())
    log.info(
        "serving on http://%s:%d/ (clients connect to ws://%s:%d/ws/client)", host, port, host, port
    )
    if config.allow_list:
        log.info("allow-list: %d client id(s)", len(config.allow_list))
    feed = LiveSessions(ArbiterConfig(max_rate=args.max_time_scale), database=config.database)
    server = uvicorn.Server(uvicorn_config(config, create_app(config, feed)))
    try:
        asyncio.run(server.serve(sockets=[sock]))
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0 if server.started else 1  # not started: uvicorn logged why (e.g. the database)


if __name__ == "__main__":
    raise SystemExit(main())
