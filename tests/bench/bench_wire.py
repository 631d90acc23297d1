"""Wire budget: bytes per minute a client sends for a 35-car race, against the older tracker.

The older tracker's client POSTed the full standings, session info, game state and teams (plus
join state) every second. This client sends one snapshot, then RFC 7386 merge patches of a
slimmed, normalized state. Both are measured in the same run from the same game answers:
the simulator's JSON for a 35-car race (the recorded Algarve race when the reference database is
beside the repo, else a synthetic 35-car race), one tick per second of game time, for several
minutes of racing. Budget: at most 10% of the older tracker's bytes.
"""

from __future__ import annotations

import time
from pathlib import Path

import orjson

from client.normalize import normalize
from client.slim import slim
from client.stream import Stream
from sim.engine import evaluate
from sim.render import REST, TOPICS
from sim.render_base import Scene
from sim.script import Weekend
from sim.synthetic import generate_session
from sim.viewpoint import ViewMode, Viewpoint

REPO = Path(__file__).resolve().parents[2]
RECORDED = REPO / ".." / "shared" / "data" / "recorded-sessions.db"
ALGARVE_RACE = "019d4a8b64b3704d95586c0be94e8a0d"
MINUTES = 5
OLD_TRACKER_PATHS = (
    "/rest/watch/sessionInfo",
    "/rest/watch/standings",
    "/rest/sessions/GetGameState",
    "/rest/multiplayer/teams",
    "/rest/multiplayer/join/state",
)
CLIENT_PATHS = (*OLD_TRACKER_PATHS, "/navigation/state")


def race_script():
    if RECORDED.exists():
        from sim.replay import load_session

        return load_session(RECORDED, ALGARVE_RACE), "recorded Algarve race (35 cars)"
    return generate_session(seed=3, cars=35, duration=14400), "synthetic race (35 cars)"


def game_answers(script, et: float) -> dict:
    live = evaluate(script, et)
    view = Viewpoint(index=0, player_slot=script.cars[0].entry.slot_id)
    scene = Scene(
        mode=ViewMode.DRIVING, view=view, live=live, script=script, weekend=Weekend([script])
    )
    raw = {path: REST[path].render(scene) for path in CLIENT_PATHS}
    raw["ws:LiveStandings"] = TOPICS["LiveStandings"].render(scene)
    raw["ws:SessionInfo"] = TOPICS["SessionInfo"].render(scene)
    return raw


def main() -> None:
    script, label = race_script()
    start = 3600.0
    ticks = MINUTES * 60
    old_bytes = new_bytes = messages = 0
    stream = Stream("bench", max_bytes=1 << 30, max_age=1e9)
    started = time.process_time()
    for i in range(ticks):
        et = start + i
        raw = game_answers(script, et)
        # the older tracker: one POST body with these documents every second (camelCase keys,
        # indented JSON in reality; compact here, which favours the baseline)
        old_bytes += len(orjson.dumps({path: raw[path] for path in OLD_TRACKER_PATHS}))
        state = slim(normalize(raw))
        for sent in stream.publish(state, et, now=float(i)):
            new_bytes += len(sent.data)
            messages += 1
            stream.ack(sent.seq)
    cpu = time.process_time() - started
    per_min_old = old_bytes / MINUTES
    per_min_new = new_bytes / MINUTES
    print(f"source: {label}, {MINUTES} min of racing from ET {start:.0f}, one tick per second")
    print(f"older tracker (full documents every second): {per_min_old / 1e6:8.2f} MB per minute")
    print(
        f"this client (snapshot + merge patches):      {per_min_new / 1e6:8.3f} MB per minute "
        f"({messages} messages)"
    )
    print(f"ratio: {per_min_new / per_min_old * 100:.1f}% of the older tracker (budget: <= 10%)")
    print(f"(simulating + normalizing + diffing took {cpu:.1f} s of CPU for {ticks} ticks)")


if __name__ == "__main__":
    main()
