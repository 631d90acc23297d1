"""`lmust-client`: run the client beside the game (settings in lmust-client.toml, flags override).

Exit codes: 0 stopped normally, 2 bad settings, 3 the server refused this client's key,
1 anything else that stopped it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from client import config as config_mod
from client.console import fatal

log = logging.getLogger("client")

EXIT_CONFIG = 2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lmust-client",
        description=(
            "LMU Session Tracker client: reads Le Mans Ultimate's local API while you race "
            "and streams what it sees to your team's tracker server. Settings live in "
            f"{config_mod.CONFIG_NAME} (written with defaults and comments on first run); "
            "the options below override it."
        ),
    )
    p.add_argument(
        "--config",
        metavar="PATH",
        type=Path,
        help=f"settings file (default: {config_mod.CONFIG_NAME} beside the program, or in the "
        "current directory when run from source)",
    )
    p.add_argument(
        "--server",
        metavar="URL",
        help="the tracker server, e.g. race.example.org:5000 or https://race.example.org "
        "(setting server_url)",
    )
    p.add_argument("--name", help="your name as the dashboard shows it (setting name)")
    p.add_argument(
        "--game",
        metavar="URL",
        help=f"the game's REST API (setting game_url, default {config_mod.DEFAULT_GAME_URL})",
    )
    p.add_argument(
        "--game-ws",
        metavar="URL",
        help="the game's push websocket "
        f"(setting game_ws_url, default {config_mod.DEFAULT_GAME_WS_URL})",
    )
    p.add_argument(
        "--key-file",
        metavar="PATH",
        help="this client's private key, created on first run (setting key_file)",
    )
    p.add_argument(
        "--tick", type=float, help="seconds between two updates sent (setting tick, default 1)"
    )
    p.add_argument(
        "--max-time-scale",
        type=float,
        metavar="X",
        help="highest game-time speed-up accepted: 1 for the game, more for the simulator "
        "(setting max_time_scale)",
    )
    p.add_argument("--log-file", metavar="PATH", help="also write the log here (setting log_file)")
    p.add_argument(
        "--verbose", "-v", action="store_true", help="log everything (DEBUG) with detail"
    )
    return p


def setup_logging(verbose: bool, log_file: Path | None) -> None:
    """Console: warnings only (the status lines say the rest) or DEBUG with --verbose."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.DEBUG if verbose else logging.WARNING)
    detail = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
    console.setFormatter(logging.Formatter(detail if verbose else "%(levelname)s: %(message)s"))
    root.addHandler(console)
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(log_file, encoding="utf-8")
        file_handler.setFormatter(logging.Formatter(detail))
        root.addHandler(file_handler)
    for noisy in ("httpx", "httpcore", "websockets"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    overrides = {
        "server_url": args.server,
        "name": args.name,
        "game_url": args.game,
        "game_ws_url": args.game_ws,
        "key_file": args.key_file,
        "tick": args.tick,
        "max_time_scale": args.max_time_scale,
        "log_file": args.log_file,
        "verbose": args.verbose or None,
    }
    try:
        config = config_mod.load(args.config, overrides=overrides)
    except config_mod.ConfigError as exc:
        fatal(str(exc))
        return EXIT_CONFIG
    try:
        setup_logging(config.verbose, config.log_file)
    except OSError as exc:
        fatal(f"cannot open the log file {config.log_file}: {exc.strerror or exc}")
        return EXIT_CONFIG
    if config.created:
        print(f"wrote the default settings to {config.path}", flush=True)
    if not config.server_url:
        fatal(f"no server set: put server_url in {config.path} or pass --server URL")
        return EXIT_CONFIG
    from client.app import ClientApp
    from client.identity import Identity, IdentityError

    try:
        identity = Identity.load_or_create(config.key_file)
    except (IdentityError, OSError) as exc:
        fatal(f"cannot use the key file {config.key_file}: {exc}")
        return EXIT_CONFIG
    app = ClientApp(config, identity=identity)
    app.console.say(f"client {identity.client_id} ({config.name}), key file {config.key_file}")
    log.info(
        "settings from %s; server %s; game %s", config.path, config.server_url, config.game_url
    )
    try:
        return asyncio.run(app.run())
    except KeyboardInterrupt:  # a second Ctrl+C while shutting down
        return 0
