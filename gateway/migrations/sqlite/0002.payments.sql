-- Payments: deposits and payouts, their state history, the providers'
-- webhook events (the dedup key), the built-in wallet's movements, and the
-- outbox of the casino's notifications.
-- depends: 0001.initial

CREATE TABLE payments (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    operator TEXT NOT NULL,
    player TEXT NOT NULL,
    amount INTEGER NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL,
    method TEXT NOT NULL,
    country TEXT,
    reference TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    request TEXT NOT NULL,
    provider TEXT,
    provider_reference TEXT,
    state TEXT NOT NULL,
    settled_amount INTEGER,
    next_action TEXT,
    failure_code TEXT,
    failure_message TEXT,
    refund_requested_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (operator, idempotency_key)
);

CREATE INDEX payments_by_provider_reference ON payments (provider, provider_reference);

CREATE TABLE payment_state_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    payment_id TEXT NOT NULL REFERENCES payments (id),
    from_state TEXT,
    to_state TEXT NOT NULL,
    outcome TEXT NOT NULL,
    source TEXT NOT NULL,
    event_id TEXT,
    reason TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);

CREATE INDEX payment_state_history_by_payment ON payment_state_history (payment_id);

CREATE TABLE payment_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    provider TEXT NOT NULL,
    event_id TEXT NOT NULL,
    payment_id TEXT REFERENCES payments (id),
    state TEXT NOT NULL,
    received_at TEXT NOT NULL,
    UNIQUE (provider, event_id)
);

CREATE TABLE payment_movements (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    payment_id TEXT NOT NULL REFERENCES payments (id),
    effect TEXT NOT NULL,
    wanted INTEGER NOT NULL CHECK (wanted >= 0),
    operation TEXT NOT NULL,
    ledger_key TEXT NOT NULL,
    amount INTEGER NOT NULL CHECK (amount >= 0),
    attempt INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL,
    taken INTEGER NOT NULL DEFAULT 0,
    shortfall INTEGER NOT NULL DEFAULT 0,
    status TEXT,
    created_at TEXT NOT NULL,
    settled_at TEXT,
    UNIQUE (payment_id, effect)
);

CREATE INDEX payment_movements_pending ON payment_movements (state);

CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    notification_id TEXT NOT NULL UNIQUE,
    payment_id TEXT NOT NULL REFERENCES payments (id),
    operator TEXT NOT NULL,
    payload TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    delivered_at TEXT,
    last_error TEXT,
    created_at TEXT NOT NULL
);

CREATE INDEX outbox_due ON outbox (delivered_at, next_attempt_at);
CREATE INDEX outbox_by_payment ON outbox (payment_id, id);
