"""What the race looks like at one event time: the engine's output, the API layer's input.

`sim.engine.evaluate(script, et)` builds a `SessionLive`; `sim.render` shapes it into the game's
JSON for each endpoint and viewpoint. Nothing here is JSON-shaped yet: values are plain Python in
SI units, names follow racing terms. Cumulative sector splits are computed here once so that
REST and websocket renderings agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sim.script import CarScript, ChatLine, Conditions, Lap, PitVisit, SessionScript, Tyres

PIT_STATES = ("NONE", "REQUEST", "ENTERING", "STOPPED", "EXITING")


@dataclass
class CarLive:
    """One car at one ET. Times in seconds, distances in metres, -1 = no time."""

    script: CarScript
    slot_id: int
    driver: str
    position: int  # overall, 1-based
    class_position: int
    laps_completed: int
    lap_start_et: float  # ET when the current lap began
    time_into_lap: float
    lap_distance: float  # metres along the current lap
    sector: int  # 1, 2 or 3
    current_s1: float  # cumulative split of the current lap (-1 until reached)
    current_s2: float  # cumulative S1+S2 of the current lap (-1 until reached)
    last_lap_time: float  # -1 when none or invalid
    last_s1: float  # cumulative, -1 when missing
    last_s2: float  # cumulative, -1 when missing
    best_lap_time: float
    best_lap_s1: float  # cumulative splits of the best lap
    best_lap_s2: float
    best_sector1: float  # best individual S1
    best_sector2: float  # best S1 + best individual S2 (the game's cumulative convention)
    estimated_lap_time: float
    pit_state: str  # one of PIT_STATES
    pitting: bool  # in the pit lane (entering, stopped or exiting)
    in_garage: bool
    pitstops: int  # completed pit stops (stops in the box)
    penalties: int  # pending penalties
    penalty_kinds: dict[str, int]  # pending by kind: {"DT": n, "SG": n, "TIME": n}
    finish_status: str
    count_lap_flag: str
    fuel: float  # true fuel fraction (the API layer applies the player's "full tank" quirk)
    virtual_energy: float | None
    compounds: Tyres
    tyre_wear: tuple[float, float, float, float]  # % left
    laps_behind_leader: int
    laps_behind_next: int
    laps_behind_class_leader: int
    time_behind_leader: float
    time_behind_next: float
    time_behind_class_leader: float
    speed: float  # m/s
    x: float  # world position, metres (y is up)
    y: float
    z: float
    vx: float  # world velocity, m/s
    vy: float
    vz: float
    under_yellow: bool
    flag: str  # "GREEN" or "BLUE"
    headlights: bool
    stint: int  # 1-based stint number of the current driver's car
    completed_laps: list[Lap] = field(default_factory=list)  # laps done by this ET
    completed_pits: list[PitVisit] = field(default_factory=list)  # visits begun by this ET
    total_race_time: float = 0.0


@dataclass
class SessionLive:
    """The whole session at one ET."""

    script: SessionScript
    et: float
    phase: int  # GamePhase int 0..9
    time_remaining: float  # timeRemainingInGamePhase
    race_completion: float  # 0..1, -1 unknown
    sector_flags: tuple[str, str, str]
    conditions: Conditions
    time_of_day: float  # seconds of the day
    cars: list[CarLive]  # in position order
    chat: list[ChatLine]  # lines visible by this ET, oldest first
    finished: bool  # checkered shown

    def car(self, slot_id: int) -> CarLive | None:
        for car in self.cars:
            if car.slot_id == slot_id:
                return car
        return None
