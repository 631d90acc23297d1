-- Tracked sessions: who fed them, the tracker's events (the source of truth a restart replays)
-- and query tables derived from those events, written in the same transaction as the events.

CREATE TABLE sessions (
    session_id    TEXT PRIMARY KEY,           -- the arbiter's id (UUIDv7-like, 32 hex digits)
    event_id      TEXT NOT NULL,              -- shared by the sessions of one race weekend
    online        INTEGER NOT NULL,
    server_name   TEXT,                       -- the game server (NULL offline)
    server_port   INTEGER,
    track         TEXT NOT NULL,
    session_type  TEXT NOT NULL,              -- e.g. PRACTICE1, QUALIFY1, RACE1
    track_length  REAL NOT NULL DEFAULT 0,    -- metres (sessionInfo lapDistance)
    created_at    REAL NOT NULL,              -- unix time
    closed_at     REAL,                       -- NULL while live
    closed_reason TEXT,
    last_et       REAL,                       -- ET of the last fed observation
    last_fed_at   REAL,                       -- unix time of the last fed observation
    phase         INTEGER,                    -- gamePhase
    record        TEXT NOT NULL               -- the arbiter's SessionRecord as JSON (restore)
);
CREATE INDEX sessions_by_track ON sessions (track, created_at);
CREATE INDEX sessions_by_date ON sessions (created_at);
CREATE INDEX sessions_by_event ON sessions (event_id);
CREATE INDEX sessions_live ON sessions (closed_at) WHERE closed_at IS NULL;

-- Who fed a session and how their roles changed: one row per arbiter action about a client.
CREATE TABLE session_clients (
    session_id  TEXT NOT NULL REFERENCES sessions (session_id) ON DELETE CASCADE,
    at          REAL NOT NULL,                -- unix time
    et          REAL,                         -- the session's ET at that moment
    client_id   TEXT NOT NULL,
    name        TEXT,
    change      TEXT NOT NULL,                -- joined | left | driving
    role        TEXT,                         -- primary | secondary (joined, driving)
    reason      TEXT
);
CREATE INDEX session_clients_by_session ON session_clients (session_id, client_id);

-- The tracker's events, append-only; `payload` is the event as JSON without `et` and `kind`.
CREATE TABLE events (
    session_id  TEXT NOT NULL REFERENCES sessions (session_id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,             -- 1, 2, 3... per session, in the tracker's order
    et          REAL NOT NULL,
    kind        TEXT NOT NULL,
    payload     TEXT NOT NULL,
    PRIMARY KEY (session_id, seq)
) WITHOUT ROWID;

CREATE TABLE cars (
    session_id    TEXT NOT NULL REFERENCES sessions (session_id) ON DELETE CASCADE,
    car           TEXT NOT NULL,              -- car key "<slotID>-<vehicleFilename>"
    slot          INTEGER NOT NULL,
    number        TEXT NOT NULL,
    team          TEXT NOT NULL,
    car_class     TEXT NOT NULL,
    vehicle       TEXT NOT NULL,
    vehicle_name  TEXT NOT NULL,
    grid          INTEGER,
    driver        TEXT,                       -- current driver
    laps          INTEGER NOT NULL DEFAULT 0,
    pit_stops     INTEGER NOT NULL DEFAULT 0,
    finish_status TEXT,
    PRIMARY KEY (session_id, car)
) WITHOUT ROWID;
CREATE INDEX cars_by_class ON cars (car_class, session_id);

CREATE TABLE laps (
    session_id     TEXT NOT NULL REFERENCES sessions (session_id) ON DELETE CASCADE,
    car            TEXT NOT NULL,
    lap            INTEGER NOT NULL,
    driver         TEXT NOT NULL,
    lap_time       REAL NOT NULL,             -- -1: no time
    s1             REAL NOT NULL,
    s2             REAL NOT NULL,
    s3             REAL NOT NULL,
    valid          INTEGER NOT NULL,
    position       INTEGER,
    class_position INTEGER,
    pit            INTEGER NOT NULL,
    garage         INTEGER NOT NULL,
    fuel           REAL,
    ve             REAL,
    compounds      TEXT,                      -- "FL,FR,RL,RR"
    start_et       REAL,
    end_et         REAL,
    source         TEXT NOT NULL,             -- live | late | history
    et             REAL NOT NULL,             -- ET of the observation that revealed it
    PRIMARY KEY (session_id, car, lap)
) WITHOUT ROWID;
-- best laps per track and class: sessions_by_track -> cars_by_class -> this
CREATE INDEX laps_best ON laps (session_id, car, lap_time) WHERE valid = 1 AND lap_time > 0;

CREATE TABLE pit_stops (
    session_id      TEXT NOT NULL REFERENCES sessions (session_id) ON DELETE CASCADE,
    car             TEXT NOT NULL,
    stop            INTEGER NOT NULL,         -- 1-based per car
    lap             INTEGER NOT NULL,
    entry_et        REAL,
    stop_et         REAL,
    release_et      REAL,
    exit_et         REAL,
    garage_in_et    REAL,
    garage_out_et   REAL,
    stationary_time REAL,
    drive_through   INTEGER NOT NULL,
    garage          INTEGER NOT NULL,
    driver_swap     INTEGER NOT NULL,
    penalty_served  TEXT,
    service_time    REAL,
    fuel            REAL,
    ve              REAL,
    tyres_changed   TEXT,                     -- "1,1,0,0"
    compounds       TEXT,
    closed          INTEGER NOT NULL,
    PRIMARY KEY (session_id, car, stop)
) WITHOUT ROWID;

CREATE TABLE stints (
    session_id  TEXT NOT NULL REFERENCES sessions (session_id) ON DELETE CASCADE,
    car         TEXT NOT NULL,
    stint       INTEGER NOT NULL,
    driver      TEXT NOT NULL,
    start_et    REAL NOT NULL,
    end_et      REAL,
    ended_by    TEXT,
    first_lap   INTEGER,
    last_lap    INTEGER,
    laps        INTEGER NOT NULL,
    valid_laps  INTEGER NOT NULL,
    best_lap    REAL,
    average_lap REAL,
    stops       INTEGER NOT NULL,
    duration    REAL NOT NULL,
    PRIMARY KEY (session_id, car, stint)
) WITHOUT ROWID;

-- Chat lines exactly as the game stamped them (100-ns ticks, beyond a double's precision).
CREATE TABLE chat (
    session_id  TEXT NOT NULL REFERENCES sessions (session_id) ON DELETE CASCADE,
    ticks       INTEGER NOT NULL,
    n           INTEGER NOT NULL,             -- lines of one timestamp with different texts
    message     TEXT NOT NULL,
    et          REAL NOT NULL,                -- ET of the observation that brought it
    PRIMARY KEY (session_id, ticks, n)
) WITHOUT ROWID;

CREATE TABLE conditions (
    session_id     TEXT NOT NULL REFERENCES sessions (session_id) ON DELETE CASCADE,
    et             REAL NOT NULL,
    air_temp       REAL,
    track_temp     REAL,
    raining        REAL,
    dark_cloud     REAL,
    wetness_avg    REAL,
    wetness_min    REAL,
    wetness_max    REAL,
    time_remaining REAL,
    phase          INTEGER
);
CREATE INDEX conditions_by_session ON conditions (session_id, et);

-- Human lines: the tracker's feed items and the arbiter's client joins/leaves.
CREATE TABLE feed (
    session_id  TEXT NOT NULL REFERENCES sessions (session_id) ON DELETE CASCADE,
    et          REAL NOT NULL,
    kind        TEXT NOT NULL,
    car         TEXT,
    text        TEXT NOT NULL
);
CREATE INDEX feed_by_session ON feed (session_id, et);
