-- Clients that ever authenticated, their streams (last acked seq), and server-wide settings.

CREATE TABLE clients (
    client_id   TEXT PRIMARY KEY,           -- wire.client_id(public_key): 32 hex digits
    public_key  BLOB NOT NULL,              -- raw 32-byte Ed25519 key
    name        TEXT,                       -- display name from the last hello
    first_seen  REAL NOT NULL,              -- unix time
    last_seen   REAL NOT NULL
);

CREATE TABLE streams (
    stream      TEXT NOT NULL,
    client_id   TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    last_seq    INTEGER NOT NULL DEFAULT 0, -- last seq applied and acked
    updated_at  REAL NOT NULL,
    PRIMARY KEY (client_id, stream)
);

CREATE TABLE server_meta (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL
);
