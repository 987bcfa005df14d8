-- The reference carrier's schema on PostgreSQL. No biometric data: the audit keeps the signed result
-- (which carries only the embedding commitment) and the columns the carrier queries by.
CREATE TABLE tokens (
    token_sha256 text PRIMARY KEY,                 -- the token itself is never stored
    expires_ms   bigint NOT NULL,
    used         boolean NOT NULL DEFAULT false
);
CREATE INDEX tokens_expiry ON tokens (expires_ms);

CREATE TABLE devices (
    device_id        text PRIMARY KEY,
    signing_key      bytea NOT NULL CHECK (length(signing_key) = 32),
    revoked          boolean NOT NULL DEFAULT false,
    last_counter     bigint NOT NULL DEFAULT 0 CHECK (last_counter >= 0),
    cert_sha256      text NOT NULL DEFAULT '',
    prev_cert_sha256 text NOT NULL DEFAULT '',
    rotation_key     bytea NOT NULL DEFAULT '',
    rotation_cert    bytea NOT NULL DEFAULT ''
);

CREATE TABLE nonces (
    nonce          bytea PRIMARY KEY,
    device_id      text NOT NULL,
    transaction_id text NOT NULL,
    issued_ms      bigint NOT NULL,
    expires_ms     bigint NOT NULL,
    used_by        text
);
CREATE INDEX nonces_expiry ON nonces (expires_ms);

CREATE TABLE audit (
    device_id            text NOT NULL,
    transaction_id       text NOT NULL,
    receipt_id           text NOT NULL UNIQUE,
    accepted_ms          bigint NOT NULL,
    result_sha256        text NOT NULL,
    counter              bigint NOT NULL,
    decision             smallint NOT NULL,
    reason_codes         text NOT NULL,
    liveness             smallint NOT NULL,
    embedding_commitment bytea NOT NULL,
    signed_result        bytea NOT NULL,
    PRIMARY KEY (device_id, transaction_id),
    UNIQUE (device_id, counter)
);
CREATE INDEX audit_transaction ON audit (transaction_id);
CREATE INDEX audit_accepted ON audit (accepted_ms);
