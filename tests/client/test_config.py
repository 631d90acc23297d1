"""Client settings: server address forms, the first-run file, flag overrides, clear errors."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest

from client import config
from client.cli import main
from client.config import ConfigError, load, normalize_server_url


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("race.example.org:5000", "ws://race.example.org:5000/ws/client"),
        ("race.example.org", "ws://race.example.org/ws/client"),
        ("http://race.example.org:5000", "ws://race.example.org:5000/ws/client"),
        ("http://race.example.org:5000/", "ws://race.example.org:5000/ws/client"),
        ("https://race.example.org", "wss://race.example.org/ws/client"),
        ("HTTPS://Race.Example.org///", "wss://race.example.org/ws/client"),
        ("https://example.org/tracker/", "wss://example.org/tracker/ws/client"),
        ("https://example.org/ws/client", "wss://example.org/ws/client"),
        ("ws://race.example.org:5000", "ws://race.example.org:5000/ws/client"),
        ("wss://race.example.org/custom/path/", "wss://race.example.org/custom/path"),
        ("  ws://10.0.0.5:8080/ws/client  ", "ws://10.0.0.5:8080/ws/client"),
        ("[::1]:5000", "ws://[::1]:5000/ws/client"),
        ("localhost:5000\n", "ws://localhost:5000/ws/client"),
    ],
)
def test_server_url_forms(text, url):
    assert normalize_server_url(text) == url


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("ftp://x.org", "'ftp'"),
        ("http://race.example.org:5000/?a=1", "query"),
        ("ws://race example.org", "spaces"),
        ("http://user:pw@race.example.org", "user name"),
        ("http://race.example.org:99999", "not a valid URL"),
        ("http://:5000", "host"),
        ("http://bad_host!:5000", "host"),
        ("ws://x.org#frag", "fragment"),
    ],
)
def test_server_url_nonsense_is_one_clear_line(text, words):
    with pytest.raises(ConfigError) as err:
        normalize_server_url(text)
    message = str(err.value)
    assert words in message
    assert "\n" not in message


def test_first_run_writes_commented_defaults_and_rereads_them(tmp_path):
    path = tmp_path / "lmust-client.toml"
    first = load(path)
    assert first.created and path.exists()
    text = path.read_text(encoding="utf-8")
    data = tomllib.loads(text)
    assert set(data) == {
        "server_url",
        "name",
        "game_url",
        "game_ws_url",
        "key_file",
        "tick",
        "max_time_scale",
        "log_file",
    }
    lines = text.splitlines()
    for key in data:  # a comment right above every setting
        index = next(i for i, line in enumerate(lines) if line.startswith(f"{key} ="))
        assert lines[index - 1].startswith("#"), key
    again = load(path)
    assert not again.created
    assert again == config.ClientConfig(**{**first.__dict__, "created": False})
    assert first.server_url == ""
    assert first.game_url == "http://127.0.0.1:6397"
    assert first.game_ws_url == "ws://127.0.0.1:6398/websocket/ui"
    assert first.key_file == tmp_path / "lmust-client.key"
    assert first.tick == 1.0 and first.log_file is None


def test_values_from_the_file_and_flag_overrides(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(
        'server_url = "race.example.org:5000"\nname = "Sarah"\ntick = 2\n'
        'key_file = "keys/me.key"\nlog_file = "client.log"\n',
        encoding="utf-8",
    )
    cfg = load(path)
    assert cfg.server_url == "ws://race.example.org:5000/ws/client"
    assert cfg.name == "Sarah" and cfg.tick == 2.0
    assert cfg.key_file == tmp_path / "keys" / "me.key"
    assert cfg.log_file == tmp_path / "client.log"
    cfg = load(
        path,
        overrides={
            "server_url": "https://other.org",
            "name": "Bob",
            "game_url": "http://127.0.0.1:7000/",
            "tick": None,
        },
    )
    assert cfg.server_url == "wss://other.org/ws/client"
    assert cfg.name == "Bob" and cfg.tick == 2.0
    assert cfg.game_url == "http://127.0.0.1:7000"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ('name = "x"\ntick = "fast"\n', ["line 2", "tick", "number"]),
        ('name = "x"\n\nserver_url = 5000\n', ["line 3", "server_url", "quoted string"]),
        ('name = "x\n', ["syntax error", "line 1"]),
        ('colour = "red"\n', ["line 1", "unknown setting 'colour'"]),
        ("tick = 0\n", ["tick", "between"]),
        ('game_url = "ws://127.0.0.1:6397"\n', ["game_url", "http"]),
    ],
)
def test_broken_file_names_file_line_and_key(tmp_path, body, words):
    path = tmp_path / "broken.toml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load(path)
    message = str(err.value)
    assert str(path) in message
    for word in words:
        assert word in message


def test_frozen_executable_keeps_its_settings_beside_it(tmp_path, monkeypatch):
    exe = tmp_path / "dist" / "lmust-client.exe"
    exe.parent.mkdir()
    exe.write_bytes(b"")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(exe))
    assert config.default_config_path() == exe.parent / "lmust-client.toml"
    monkeypatch.setattr(sys, "frozen", False)
    monkeypatch.chdir(tmp_path)
    assert config.default_config_path() == Path(tmp_path) / "lmust-client.toml"


def test_cli_help_and_config_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--server", "--name", "--game", "--game-ws", "--config", "--verbose"):
        assert flag in text
    path = tmp_path / "new.toml"
    assert main(["--config", str(path)]) == 2  # first run: file written, no server yet
    captured = capsys.readouterr()
    assert path.exists() and "server_url" in captured.err
    assert main(["--config", str(path), "--server", "ftp://nope"]) == 2
    assert "ftp" in capsys.readouterr().err
