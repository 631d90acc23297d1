"""A race script: everything that happens in one session, decided before it is played.

Both sources of a race produce scripts: the seeded synthetic generator (`sim.synthetic`) and the
replay of a recorded session (`sim.replay`). The engine (`sim.engine`) evaluates a script at any
event time (ET, seconds of session time) without keeping state, so the simulator can start at any
ET, run at any speed and serve several viewpoints from one script.

Conventions (they mirror the game's API, see the notes on the LMU API):
- ET is the session's `currentEventTime`. Laps and pit visits are stamped in ET.
- `-1` means "no time" in values the game reports (`lap_time`, `sector_times`).
- Sector times here are *individual* sector durations; the API layer turns them into the game's
  cumulative splits (`lastSectorTime2 = S1 + S2`).
- Fractions (fuel, virtual energy) are 0..1; virtual energy is `None` for cars without it.
- Tyre compounds are listed front-left, front-right, rear-left, rear-right.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

CAR_CLASSES = ("Hyper", "LMP2_ELMS", "LMP2", "LMP3", "GTE", "GT3")
COMPOUNDS = ("Soft", "Medium", "Hard", "Wet")

# GamePhase as /rest/watch/sessionInfo reports it (an int).
PHASE_STARTING = 0
PHASE_RECON = 1
PHASE_GRID = 2
PHASE_FORMATION = 3
PHASE_COUNTDOWN = 4
PHASE_GREEN = 5
PHASE_FCY = 6
PHASE_STOPPED = 7
PHASE_CHECKERED = 8
PHASE_PAUSED = 9

Tyres = tuple[str, str, str, str]


@dataclass(frozen=True)
class Member:
    """One member of a team's entry, as /rest/multiplayer/teams lists it."""

    name: str
    badge: str = "none"
    nationality: str = ""
    roles: tuple[str, ...] = ("Driver",)


@dataclass
class Entry:
    """One car of the entry list: identity fields shared by standings and the team list."""

    slot_id: int  # standings slotID (0-based)
    vehicle_file: str  # e.g. "397_24_MCLAREN" (standings vehicleFilename)
    vehicle_name: str  # e.g. "Iron Dames 2024 #85:LM"
    team_name: str  # fullTeamName and the team list's name
    car_class: str  # one of CAR_CLASSES
    car_number: str  # string, may have leading zeros ("04")
    car_id: str = ""  # standings carId (40 hex chars)
    team_id: str = ""  # multiplayer team `Id` (uuid or digit string)
    team_slot: int | None = None  # utid<N> key; None = same as slot_id (hosted servers offset it)
    members: list[Member] = field(default_factory=list)
    upgrade_pack: str = "0" * 32
    pit_group: str = ""
    has_virtual_energy: bool = True
    steam_ids: dict[str, int] = field(default_factory=dict)  # driver name -> Steam id (0 = AI)

    @property
    def utid(self) -> int:
        return self.slot_id if self.team_slot is None else self.team_slot


@dataclass
class Lap:
    """One completed lap of one car.

    `sectors` are the true durations the car needed (always > 0; they move the car). What the
    game *reports* can differ: `lap_time` is -1 for a lap that does not count, and a reported
    sector can be -1 (the game's "valid lap with a missing sector" quirk).
    """

    number: int  # lapsCompleted once this lap is done (1-based)
    start_et: float  # ET at the line when the lap began (standings lapStartET)
    sectors: tuple[float, float, float]
    lap_time: float  # reported lastLapTime; -1 = no time
    sector_times: tuple[float, float, float]  # reported individual sectors; -1 = missing
    driver: str
    fuel_end: float  # fuel fraction at the line
    ve_end: float | None  # virtual energy fraction at the line (None: car has none)
    compounds: Tyres
    position: int = 0  # overall position at the line; 0 = let the engine work it out
    tyre_wear_end: tuple[float, float, float, float] = (100.0, 100.0, 100.0, 100.0)  # % left

    @property
    def duration(self) -> float:
        return self.sectors[0] + self.sectors[1] + self.sectors[2]

    @property
    def end_et(self) -> float:
        return self.start_et + self.duration


@dataclass
class PitVisit:
    """One visit to the pit lane or the garage.

    The pit state the game reports follows the times: REQUEST from `request_et`, ENTERING from
    `entry_et`, STOPPED from `stop_et`, EXITING from `release_et`, NONE from `exit_et` (or it
    stays EXITING when `stuck_exiting`, a known game quirk, until the next request). A garage
    visit has `garage_in_et`/`garage_out_et` (the car sits in its garage stall in between).
    A driver-through penalty has no stop. Times that do not happen are None.
    """

    lap: int  # lap being driven when the car entered (lapsCompleted + 1)
    request_et: float | None = None
    entry_et: float | None = None
    stop_et: float | None = None
    release_et: float | None = None
    exit_et: float | None = None
    garage_in_et: float | None = None
    garage_out_et: float | None = None
    swap_et: float | None = None
    driver_in: str | None = None  # driver after the swap (None: no swap)
    penalty_served: str | None = None  # "DT", "SG", "TIME" or None
    fuel_after: float | None = None  # fraction after service (None: no refuel)
    ve_after: float | None = None
    tyres_changed: tuple[bool, bool, bool, bool] = (False, False, False, False)
    compounds_after: Tyres | None = None
    stuck_exiting: bool = False

    @property
    def start_et(self) -> float:
        """First moment the visit shows in the pit state (request, entry or garage)."""
        times = [t for t in (self.request_et, self.entry_et, self.garage_in_et) if t is not None]
        return min(times) if times else float("inf")

    @property
    def end_et(self) -> float:
        times = [t for t in (self.exit_et, self.garage_out_et, self.release_et) if t is not None]
        return max(times) if times else self.start_et

    @property
    def stationary_time(self) -> float:
        if self.stop_et is None or self.release_et is None:
            return 0.0
        return max(0.0, self.release_et - self.stop_et)


@dataclass
class Penalty:
    """A penalty given to a car; the pending count drops when it is served."""

    et: float
    kind: str  # "DT" (drive-through), "SG" (stop-and-go), "TIME"
    served_et: float | None = None


@dataclass
class CarScript:
    """Everything one car does in a session."""

    entry: Entry
    laps: list[Lap] = field(default_factory=list)  # ordered by number
    pits: list[PitVisit] = field(default_factory=list)  # ordered by start_et
    penalties: list[Penalty] = field(default_factory=list)
    first_driver: str = ""
    start_fuel: float = 1.0
    start_ve: float | None = 1.0
    start_compounds: Tyres = ("Medium", "Medium", "Medium", "Medium")
    grid_position: int = -1  # standings `qualification` (-1 = none)
    start_in_garage: bool = False  # sits in the garage until its first lap or garage_out
    finish_status: str = "FSTAT_NONE"  # final status: FSTAT_FINISHED / FSTAT_DNF / FSTAT_DQ
    finish_et: float | None = None  # when finish_status applies (None: never)
    count_lap_flag: str = "COUNT_LAP_AND_TIME"

    def __post_init__(self) -> None:
        self._starts: list[float] = [lap.start_et for lap in self.laps]

    def reindex(self) -> None:
        """Call after changing `laps` so the engine's lookups stay right."""
        self.laps.sort(key=lambda lap: lap.number)
        self._starts = [lap.start_et for lap in self.laps]

    def laps_started_by(self, et: float) -> int:
        """How many laps began at or before `et` (index of the current lap + 1)."""
        return bisect.bisect_right(self._starts, et)


@dataclass(frozen=True)
class PhaseChange:
    et: float
    phase: int  # GamePhase int 0..9


@dataclass(frozen=True)
class Conditions:
    """Weather and track conditions from `et` on (the engine interpolates between samples)."""

    et: float
    ambient_temp: float
    track_temp: float
    raining: float  # 0..1
    dark_cloud: float  # 0..1
    wetness_avg: float  # 0..1
    wetness_min: float
    wetness_max: float
    wind_speed: float = 0.0  # m/s
    wind_dir: tuple[float, float] = (0.0, 1.0)  # unit vector (x, z)


@dataclass(frozen=True)
class SectorFlags:
    et: float
    flags: tuple[str, str, str]  # each UNKNOWN / YELLOW / RED / CHECKERED


@dataclass(frozen=True)
class ChatLine:
    et: float  # when it appears in /rest/chat/
    message: str  # "<Initial> <Surname>: <text>"
    timestamp: int  # 100-ns ticks since the Unix epoch, as the game sends it


@dataclass(frozen=True)
class TrackPoint:
    x: float
    y: float
    z: float
    type: int  # 0 racing line, 1 pit lane, 2.. grid and pit-box markers


@dataclass
class Track:
    """The circuit: its name, length, map and where sectors and the pit lane are."""

    name: str
    length: float  # metres (sessionInfo lapDistance)
    points: list[TrackPoint]  # /rest/watch/trackmap answer; type-0 points go round the lap
    sector_ends: tuple[float, float] = (0.33, 0.66)  # S1 and S2 ends as fractions of a lap
    pit_entry: float = 0.95  # pit-lane entry, fraction of a lap
    pit_exit: float = 0.06  # pit-lane exit, fraction of the next lap
    pit_box: float = 0.99  # where boxes are, fraction of a lap (past 1.0: after the line)


@dataclass
class SessionScript:
    """One session (practice, qualifying, race...) from the first ET to the last."""

    session: str  # "PRACTICE1", "QUALIFY1", "RACE1", ...
    track: Track
    cars: list[CarScript]
    max_time: float  # session length (s)
    start_et: float = 30.0  # sessionInfo startEventTime (green for timed sessions)
    end_et: float | None = None  # sessionInfo endEventTime (None: = max_time)
    maximum_laps: int = 4294967295
    phases: list[PhaseChange] = field(default_factory=list)  # ordered by et
    conditions: list[Conditions] = field(default_factory=list)  # ordered by et
    sector_flags: list[SectorFlags] = field(default_factory=list)  # ordered by et
    chat: list[ChatLine] = field(default_factory=list)  # ordered by et
    online: bool = True
    server_name: str = "LMUST Sim Server"
    server_port: int = 54290
    max_players: int = 40
    password_protected: bool = False
    num_red_lights: int = 5
    time_of_day_start: float = 12 * 3600.0  # seconds of the day at ET 0
    time_of_day_rate: float = 1.0  # game-day seconds per ET second
    weather_nodes: list[dict] = field(default_factory=list)  # GetGameState closeestWeatherNode
    last_et: float | None = None  # ET after which the session is over (None: derived)

    @property
    def is_race(self) -> bool:
        return self.session.startswith("RACE")

    def phase_at(self, et: float) -> int:
        idx = bisect.bisect_right([p.et for p in self.phases], et) - 1
        return self.phases[idx].phase if idx >= 0 else PHASE_STARTING

    def checkered_et(self) -> float | None:
        for change in self.phases:
            if change.phase == PHASE_CHECKERED:
                return change.et
        return None

    def final_et(self) -> float:
        """The last ET the session is played to (a little after the last car is done)."""
        if self.last_et is not None:
            return self.last_et
        ends = [lap.end_et for car in self.cars for lap in car.laps[-1:]]
        checkered = self.checkered_et() or self.max_time
        return max([checkered, *ends]) + 30.0


@dataclass
class Weekend:
    """Sessions played in sequence, as the game moves from practice to qualifying to race.

    Between two sessions the game loads the next one for `transition_seconds` of wall time
    (at 1x): the session info goes away and the game state reports loading.
    """

    sessions: list[SessionScript]
    transition_seconds: float = 20.0
