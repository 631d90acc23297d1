"""The pure parts of the defences: the handshake limiter, the admin token checks, the config."""

from __future__ import annotations

import pytest

from server import throttle
from server.admin import AdminError, bearer, driver_name, token_matches
from server.config import ConfigError, ServerConfig
from server.throttle import HandshakeLimiter
from web.security import with_security_headers


def test_pending_handshakes_are_limited_per_address_and_freed_when_done():
    limiter = HandshakeLimiter(max_pending=2, rate=100.0, burst=100)
    assert limiter.admit("a", 0.0) is None and limiter.admit("a", 0.0) is None
    reason = limiter.admit("a", 0.0)
    assert reason is not None and "unauthenticated" in reason and "a" in reason
    assert limiter.refused("a") == 1
    assert limiter.admit("b", 0.0) is None  # another address is not affected
    limiter.done("a")
    assert limiter.admit("a", 0.0) is None and limiter.refused("a") == 0
    limiter.done("zz")  # unknown: harmless
    assert limiter.pending("a") == 2


def test_new_connections_follow_a_token_bucket():
    limiter = HandshakeLimiter(max_pending=100, rate=2.0, burst=3)
    for _ in range(3):
        assert limiter.admit("a", 10.0) is None
        limiter.done("a")
    assert "new connections" in (limiter.admit("a", 10.0) or "")
    assert limiter.admit("a", 10.2) is not None  # 0.4 of a token: not yet
    assert limiter.admit("a", 10.5) is None  # 1 token back after 0.5 s at 2/s
    limiter.done("a")
    for _ in range(3):  # a long pause refills the bucket to `burst`, never more
        assert limiter.admit("a", 1000.0) is None
        limiter.done("a")
    assert limiter.admit("a", 1000.0) is not None


def test_idle_addresses_are_forgotten_so_the_table_stays_bounded(monkeypatch):
    monkeypatch.setattr(throttle, "PRUNE_ABOVE", 10)
    limiter = HandshakeLimiter(max_pending=5, rate=1.0, burst=2)
    for i in range(10):
        assert limiter.admit(f"10.0.0.{i}", 0.0) is None
        if i:
            limiter.done(f"10.0.0.{i}")
    assert limiter.admit("10.0.1.1", 100.0) is None  # prunes the idle ones first
    assert len(limiter._addresses) == 2  # the one still pending, and the newcomer
    assert limiter.pending("10.0.0.0") == 1


def test_bad_limiter_settings_are_refused():
    with pytest.raises(ValueError):
        HandshakeLimiter(max_pending=0, rate=1.0, burst=1)
    for settings in ({"max_pending_handshakes": 0}, {"handshake_burst": 1.5},
                     {"handshake_rate": 0}, {"handshake_rate": "fast"}):  # fmt: skip
        with pytest.raises(ConfigError):
            ServerConfig().with_overrides(**settings)


def test_admin_token_checks():
    assert token_matches("a" * 20, "a" * 20)
    assert not token_matches("a" * 19, "a" * 20) and not token_matches("", "a" * 20)
    assert not token_matches("\udcff", "a" * 20)  # a lone surrogate does not crash it
    assert bearer("Bearer abc") == "abc" and bearer("bearer  abc ") == "abc"
    assert bearer("Basic abc") is None and bearer("Bearer") is None and bearer(None) is None
    with pytest.raises(ConfigError) as err:
        ServerConfig().with_overrides(admin_token="short")
    assert "16" in str(err.value)
    with pytest.raises(ConfigError):
        ServerConfig().with_overrides(admin_token=" " + "x" * 20)
    config = ServerConfig().with_overrides(admin_token="x" * 20)
    assert "x" * 20 not in repr(config)


def test_driver_names():
    assert driver_name("  Zoë  ") == "Zoë"
    for bad in (None, 3, "", "  ", "x" * 65, "a\nb", "a\u202eb", "a\x00b"):
        with pytest.raises(AdminError):
            driver_name(bad)


def test_security_headers_are_added_once():
    headers = with_security_headers([(b"X-Frame-Options", b"SAMEORIGIN")])
    names = [name.lower() for name, _ in headers]
    assert names.count(b"x-frame-options") == 1 and (b"X-Frame-Options", b"SAMEORIGIN") in headers
    assert b"content-security-policy" in names and b"x-content-type-options" in names
