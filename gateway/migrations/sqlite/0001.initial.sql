-- The ledger, the built-in wallet and game sessions.

CREATE TABLE players (
    id INTEGER PRIMARY KEY,
    operator TEXT NOT NULL,
    external_id TEXT NOT NULL,
    blocked INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    UNIQUE (operator, external_id)
);

CREATE TABLE balances (
    player_id INTEGER NOT NULL REFERENCES players (id),
    currency TEXT NOT NULL,
    amount INTEGER NOT NULL CHECK (amount >= 0),
    PRIMARY KEY (player_id, currency)
);

CREATE TABLE game_sessions (
    id TEXT PRIMARY KEY,
    token TEXT NOT NULL UNIQUE,
    operator TEXT NOT NULL,
    player_id INTEGER NOT NULL REFERENCES players (id),
    provider TEXT NOT NULL,
    game TEXT NOT NULL,
    currency TEXT NOT NULL,
    mode TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

CREATE TABLE rounds (
    provider TEXT NOT NULL,
    round_id TEXT NOT NULL,
    player_id INTEGER NOT NULL REFERENCES players (id),
    closed INTEGER NOT NULL DEFAULT 0,
    opened_at TEXT NOT NULL,
    closed_at TEXT,
    PRIMARY KEY (provider, round_id)
);

-- AUTOINCREMENT: a row id is never reused, because the casino's wallet keys
-- its idempotency on it.
CREATE TABLE transactions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    provider TEXT NOT NULL,
    provider_transaction_id TEXT NOT NULL,
    operation TEXT NOT NULL,
    credit_kind TEXT,
    player_id INTEGER NOT NULL REFERENCES players (id),
    currency TEXT NOT NULL,
    amount INTEGER NOT NULL CHECK (amount >= 0),
    round_id TEXT,
    game TEXT,
    reference_transaction_id TEXT,
    refs TEXT,
    fingerprint TEXT NOT NULL,
    state TEXT NOT NULL,
    balance_after INTEGER,
    raw BLOB,
    processed_at TEXT NOT NULL,
    UNIQUE (provider, provider_transaction_id)
);

CREATE INDEX transactions_by_round ON transactions (provider, round_id);
CREATE INDEX transactions_by_time ON transactions (processed_at);
