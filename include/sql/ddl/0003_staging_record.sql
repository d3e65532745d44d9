-- Append-only staging of source records (DESIGN §2.1). One row per distinct version of a
-- record; re-staging a version already here is a no-op (ON CONFLICT DO NOTHING on the key).
CREATE TABLE staging.record (
    staging_id        bigint GENERATED ALWAYS AS IDENTITY,
    source_system     text        NOT NULL,
    entity            text        NOT NULL,
    source_id         text        NOT NULL,
    source_version    text        NOT NULL,           -- vendor updated-at or version stamp
    source_updated_at timestamptz,
    payload           jsonb       NOT NULL,
    payload_hash      text        NOT NULL,           -- sha256 of the canonical payload
    batch_id          bigint      NOT NULL REFERENCES ops.batch (batch_id),
    loaded_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (staging_id),
    UNIQUE (source_system, entity, source_id, payload_hash)
);
CREATE INDEX record_batch_idx ON staging.record (batch_id);
CREATE INDEX record_source_idx ON staging.record (source_system, entity, source_id, source_updated_at DESC);
