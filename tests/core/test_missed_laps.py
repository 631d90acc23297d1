"""Laps skipped between two observations (a stalled client, a fast game) are asked for: the
driving client gets a plan with the lap history on, at most once per interval, none left out."""

from __future__ import annotations

import asyncio

from client.backfill import HISTORY
from client.slim import Slimmer
from server import core
from server.arbiter import ArbiterConfig
from server.core import LiveSessions
from server.feed import ClientInfo, Observation
from sim.render import game_answers
from sim.synthetic import generate_session


def test_skipped_laps_ask_for_the_history_once_per_interval_and_none_is_left_out(tmp_path):
    script = generate_session(seed=5, cars=6, duration=3600)
    slim = Slimmer()
    clock = [1000.0]
    client = ClientInfo("c" * 32, "member", "127.0.0.1", 0.0)

    def obs(seq: int, et: float) -> Observation:
        state = slim(game_answers(script, et))
        return Observation(client, "s1", seq, et, clock[0], clock[0], "patch", state, {})

    async def scenario() -> list[bool]:
        feed = LiveSessions(ArbiterConfig(max_rate=1000.0), database=tmp_path / "lmust.db",
                            clock=lambda: clock[0])  # fmt: skip
        await feed.start()
        asks: list[bool] = []
        try:
            await feed.connected(client)
            seq, et = 0, 30.0  # before anyone completed a lap: no first-contact backfill
            for step in (1.0,) * 8 + (400.0,) + (1.0,) * 3 + (400.0,) + (1.0,) * 3:
                seq, et = seq + 1, et + step
                clock[0] += 1.0 if step == 1.0 else 5.0  # a stall of a few seconds
                await feed.observe(obs(seq, et))
                asks.append(feed.plan_for(client.client_id)["fetch"].get(HISTORY) is True)
                if asks[-1]:
                    feed._backfill_wanted.discard(client.client_id)  # as if answered
            clock[0] += core.MISSED_BACKFILL_INTERVAL
            seq, et = seq + 1, et + 1.0
            await feed.observe(obs(seq, et))
            asks.append(feed.plan_for(client.client_id)["fetch"].get(HISTORY) is True)
        finally:
            await feed.stop()
        return asks

    asks = asyncio.run(scenario())
    assert not any(asks[:8]), "no lap skipped yet: no ask"
    assert asks[8], "the first skip asks for the history at once"
    assert not any(asks[9:16]), "a second skip within the interval waits"
    assert asks[16], "the waiting skip is asked for after the interval"
