-- IntelGraph 24.0.0 base schema.
CREATE TABLE IF NOT EXISTS entities (
    id text PRIMARY KEY,
    tenant text NOT NULL,
    region text,
    data jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS ingest_events (
    id bigserial PRIMARY KEY,
    event_id text NOT NULL,
    tenant text NOT NULL,
    batch_id text NOT NULL,
    payload jsonb NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS ingest_events_batch_id_idx ON ingest_events (batch_id);
