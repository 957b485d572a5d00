-- IntelGraph 24.1.0: ingestion idempotency metadata tables (additive; 24.0.0 ignores them).
CREATE TABLE IF NOT EXISTS ingest_idempotency_keys (
    idempotency_key text PRIMARY KEY,
    event_id text NOT NULL,
    tenant text NOT NULL,
    batch_id text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS ingest_idempotency_keys_batch_id_idx ON ingest_idempotency_keys (batch_id);

CREATE TABLE IF NOT EXISTS ingest_batches (
    batch_id text PRIMARY KEY,
    tenant text NOT NULL,
    event_count integer NOT NULL,
    state text NOT NULL,
    backfilled_at timestamptz
);
