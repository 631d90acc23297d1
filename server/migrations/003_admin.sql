-- What the admin API manages: client ids allowed to stream (beside the config file's
-- allow_list, which is still honoured) and the known drivers of the best-laps page.

CREATE TABLE allowed_clients (
    client_id   TEXT PRIMARY KEY,           -- wire.client_id: 32 lowercase hex digits
    note        TEXT,                       -- who it is, as the admin wrote it
    added_at    REAL NOT NULL               -- unix time
);

CREATE TABLE known_drivers (
    name        TEXT PRIMARY KEY
);
