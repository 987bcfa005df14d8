-- The schema as first shipped (IF NOT EXISTS: a database created before migrations adopts it as version 1).
CREATE TABLE IF NOT EXISTS tokens (token_sha256 TEXT PRIMARY KEY, expires_ms INTEGER NOT NULL,
                                   used INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS devices (device_id TEXT PRIMARY KEY, signing_key BLOB NOT NULL,
                                    revoked INTEGER NOT NULL DEFAULT 0, last_counter INTEGER NOT NULL DEFAULT 0,
                                    cert_sha256 TEXT NOT NULL DEFAULT '',
                                    prev_cert_sha256 TEXT NOT NULL DEFAULT '',
                                    rotation_key BLOB NOT NULL DEFAULT x'',
                                    rotation_cert BLOB NOT NULL DEFAULT x'');
CREATE TABLE IF NOT EXISTS nonces (nonce BLOB PRIMARY KEY, device_id TEXT NOT NULL, issued_ms INTEGER NOT NULL,
                                   expires_ms INTEGER NOT NULL, used_by TEXT);
CREATE TABLE IF NOT EXISTS audit (transaction_id TEXT PRIMARY KEY, device_id TEXT NOT NULL,
                                  receipt_id TEXT NOT NULL, accepted_ms INTEGER NOT NULL,
                                  result_sha256 TEXT NOT NULL, counter INTEGER NOT NULL,
                                  decision INTEGER NOT NULL, reason_codes TEXT NOT NULL,
                                  liveness INTEGER NOT NULL, embedding_commitment BLOB NOT NULL);
