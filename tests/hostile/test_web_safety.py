"""Web safety over a real server: security headers on every answer (errors too), and every text
from the game escaped on every page, whoever wrote it."""

from __future__ import annotations

import asyncio
import socket
import time
import urllib.parse

import httpx
import pytest
import uvicorn
from hostile_harness import (
    FAST_ARBITER,
    LiveServer,
    identity,
    next_address,
    open_from,
    race_state,
)
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from schema import wire
from schema.mergepatch import diff
from web.security import CONTENT_SECURITY_POLICY, SecurityHeaders

EXPECTED = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}
# What a hostile game server, team or driver could name itself.
ATTACKS = (
    '<script>alert("xss")</script>',
    '"><img src=x onerror=alert(1)>',
    "' onmouseover='alert(2)",
    "</textarea><svg onload=alert(3)>",
)
RAW_MARKERS = ("<script>alert", "<img src=x", "onmouseover='alert", "<svg onload")


def assert_safe_headers(answer: httpx.Response) -> None:
    for name, value in EXPECTED.items():
        assert answer.headers.get_list(name) == [value], (answer.request.url, name)


def test_the_policy_is_the_one_the_dashboard_is_built_for():
    directives = dict(d.strip().split(" ", 1) for d in CONTENT_SECURITY_POLICY.split(";"))
    assert directives == {
        "default-src": "'self'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": "'self' data:",
        "connect-src": "'self'",
        "frame-ancestors": "'none'",
        "base-uri": "'none'",
        "form-action": "'self'",
    }
    assert "unsafe" not in CONTENT_SECURITY_POLICY


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    live = LiveServer(tmp_path_factory.mktemp("web"), neighbour=False, arbiter=FAST_ARBITER).start()
    yield live
    live.stop()


def test_every_http_answer_carries_the_security_headers(server):
    requests = [
        ("GET", "/"),
        ("GET", "/status"),
        ("GET", "/status.json"),
        ("GET", "/healthz"),
        ("HEAD", "/healthz"),
        ("GET", "/no/such/page"),  # 404
        ("POST", "/healthz"),  # 405
        ("GET", "/admin/allow-list"),  # 403: no admin token configured
        ("GET", "/static/app.css"),
        ("GET", "/static/vendor/htmx.min.js"),
        ("GET", "/static/../server/config.py"),
        ("GET", "/ws/client"),  # a plain GET to a websocket route
    ]
    statuses = {}
    for method, path in requests:
        answer = httpx.request(method, server.http + path, timeout=10)
        statuses[method, path] = answer.status_code
        assert_safe_headers(answer)
    assert statuses["GET", "/healthz"] == 200 and statuses["GET", "/no/such/page"] == 404
    assert statuses["POST", "/healthz"] == 405 and statuses["GET", "/admin/allow-list"] == 403
    assert statuses["GET", "/static/../server/config.py"] in (400, 403, 404)


def test_an_error_inside_a_route_still_gets_the_headers():
    async def boom(request):
        raise RuntimeError("a bug in a route")

    async def ok(request):
        return PlainTextResponse("fine", headers={"X-Frame-Options": "SAMEORIGIN"})

    app = Starlette(
        routes=[Route("/boom", boom), Route("/ok", ok)], middleware=[Middleware(SecurityHeaders)]
    )

    async def scenario():
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="off"))
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            await asyncio.sleep(0.02)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                return await http.get("/boom"), await http.get("/ok")
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, 10)

    boom_answer, ok_answer = asyncio.run(scenario())
    assert boom_answer.status_code == 500 and "a bug" not in boom_answer.text
    assert_safe_headers(boom_answer)
    # a route's own stricter or different value is kept, never doubled
    assert ok_answer.headers.get_list("x-frame-options") == ["SAMEORIGIN"]
    assert ok_answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY


def hostile_state(et: float) -> dict:
    """A real race state whose every name shown to people is an attack."""
    state = race_state(31, et, track="Circuit of the Americas")
    state["session"]["serverName"] = ATTACKS[0]
    for i, car in enumerate(state["cars"].values()):
        attack = ATTACKS[i % len(ATTACKS)]
        for field in ("driverName", "fullTeamName", "vehicleName", "carNumber"):
            car[field] = f"{attack} {field}"
        ws = car.get("ws")
        if isinstance(ws, dict):
            for field in ("driverName", "teamName", "vehicleName"):
                ws[field] = f"{attack} ws {field}"
    state["chat"] = {
        f"{17363594748430956 + i}-0": {"message": f"X: {a}", "timestamp": 17363594748430956 + i}
        for i, a in enumerate(ATTACKS)
    }
    return state


def test_every_text_from_the_game_is_escaped_on_every_page(server):
    with open_from(server, next_address()) as ws:
        ws.send(wire.encode(wire.hello(identity().public_key, "x", ATTACKS[1])).decode())
        ws.close()  # a refused handshake: the name must not matter
    who = identity()
    ws = open_from(server, next_address())
    hello = wire.hello(who.public_key, "hostile-1", ATTACKS[1][:60])
    ws.send(wire.encode(hello).decode())
    challenge = wire.decode(ws.recv(timeout=10), sender="server")
    nonce = wire.unb64(challenge["nonce"], wire.NONCE_BYTES)
    signature = who.sign(wire.auth_message(nonce, challenge["server"], who.public_key))
    ws.send(wire.encode(wire.auth(signature)).decode())
    assert wire.decode(ws.recv(timeout=10), sender="server")["type"] == "welcome"
    previous = None
    for seq, et in enumerate(range(200, 500, 20), start=1):
        state = hostile_state(float(et))
        if previous is None:
            msg = wire.snapshot("s", seq, float(et), time.time(), state)
        else:
            msg = wire.patch("s", seq, float(et), time.time(), diff(previous, state) or {})
        previous = state
        ws.send(wire.encode(msg).decode())
        while (answer := wire.decode(ws.recv(timeout=10), sender="server"))["type"] != "ack":
            assert answer["type"] == "plan", answer
        if seq == 1:
            time.sleep(0.3)  # the arbiter confirms a new session with a second reading
    sessions = [s for s in server.status()["sessions"] if s["track"] == "Circuit of the Americas"]
    assert sessions, "the hostile race did not become a session"
    sid = sessions[0]["session_id"]
    car = urllib.parse.quote(next(iter(previous["cars"])), safe="")
    base = f"/sessions/{sid}"
    pages = ["/", "/status", base, f"{base}/entries", f"{base}/feed", f"{base}/map",
             f"{base}/cars/{car}"]  # fmt: skip
    shown = {}
    for path in pages:
        answer = httpx.get(server.http + path, timeout=10)
        assert answer.status_code in (200, 404), (path, answer.status_code)
        assert_safe_headers(answer)
        if answer.status_code == 200:
            shown[path] = answer.text
            for marker in RAW_MARKERS:
                assert marker not in answer.text, (path, marker)
    # the live fragments the viewers' websocket sends are the same views: escaped too
    if any(getattr(r, "path", None) == "/ws/view" for r in server.app.router.routes):
        key = urllib.parse.quote(next(iter(previous["cars"])), safe="")
        for query in ("view=sessions", f"view=session&session={sid}",
                      f"view=entries&session={sid}", f"view=feed&session={sid}",
                      f"view=map&session={sid}", f"view=car&session={sid}&car={key}"):  # fmt: skip
            with open_from(server, next_address(), f"/ws/view?{query}") as viewer:
                refresh = viewer.recv(timeout=10)
            assert "hx-swap-oob" in refresh, query
            shown[f"/ws/view?{query}"] = refresh
            for marker in RAW_MARKERS:
                assert marker not in refresh, (query, marker)
    ws.close()
    assert "/status" in shown or "/" in shown
    # the names did reach the pages, escaped (the client's name is on the status page)
    status_page = shown.get("/status") or shown["/"]
    assert "&#34;&gt;&lt;img src=x" in status_page or "&quot;&gt;&lt;img src=x" in status_page
    if f"/sessions/{sid}" in shown:
        assert "&lt;script&gt;" in shown[f"/sessions/{sid}"] + shown.get(
            f"/sessions/{sid}/entries", ""
        )
