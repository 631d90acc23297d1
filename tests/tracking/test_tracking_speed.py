"""The tracker's cost per observation of a full 60-car grid (prints the measurement with -s)."""

from __future__ import annotations

import time

from sim_observations import Observer, ets

from server.tracking.tracker import Tracker
from sim.synthetic import generate_session

CARS = 60
BUDGET = 1e-3  # s per observation, on average


def test_observe_of_a_sixty_car_state_costs_well_under_a_millisecond():
    script = generate_session(seed=2, cars=CARS, duration=7200)
    observer = Observer(script, slow_every=10.0)
    moments = ets(2400.0, 2700.0, 1.0)  # 5 minutes of racing: laps, stops, swaps
    states = [observer.state(et) for et in moments]
    assert len(states[0]["cars"]) == CARS
    tracker = Tracker(script.session, script.track.length)
    tracker.observe(states[0], moments[0])  # the first sight of every car is not the common case
    events = 0
    costs = []
    for et, state in zip(moments[1:], states[1:], strict=True):
        started = time.perf_counter()
        events += len(tracker.observe(state, et))
        costs.append(time.perf_counter() - started)
    average = sum(costs) / len(costs)
    worst = max(costs)
    print(
        f"\nobserve, {CARS} cars: {average * 1e3:.3f} ms on average, {worst * 1e3:.3f} ms at most"
        f" ({len(costs)} observations, {events} events)"
    )
    assert events > 100  # laps were completed and stops made during the measurement
    assert average < BUDGET / 2
