"""The client answers the server's ask for the lap history once, and retries while it stands."""

from __future__ import annotations

from client.backfill import HISTORY, BackfillRequest


def plan(asked: bool) -> dict:
    return {"fetch": {HISTORY: asked, "/rest/chat/": True}, "role": "primary"}


def test_fetches_once_per_ask_and_retries_while_the_plan_still_asks():
    request = BackfillRequest(retry=10.0)
    assert not request.due({}, 0.0)
    assert not request.due(plan(False), 1.0)
    assert request.due(plan(True), 2.0)
    request.sent(2.0)
    assert not request.due(plan(True), 3.0)  # sent; waiting for the server to take it
    assert not request.due(plan(True), 11.9)
    assert request.due(plan(True), 12.0)  # not answered by a new plan yet: try again
    request.sent(12.0)
    assert not request.due(plan(False), 13.0)  # the server has it
    assert request.due(plan(True), 14.0)  # a new gap, a new ask: at once


def test_only_an_explicit_true_asks():
    request = BackfillRequest()
    assert not request.due({"fetch": {HISTORY: "yes"}}, 0.0)
    assert not request.due({"fetch": None}, 0.0)
    assert not request.due({"fetch": {}}, 0.0)
