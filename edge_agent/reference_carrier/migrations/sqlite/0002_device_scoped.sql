-- Transactions belong to a device: acceptance is keyed on (device, transaction), every nonce is bound to
-- the transaction it was requested for, and the audit keeps the signed result itself as proof.
ALTER TABLE nonces ADD COLUMN transaction_id TEXT NOT NULL DEFAULT '';
CREATE INDEX nonces_expiry ON nonces (expires_ms);
CREATE TABLE audit_v2 (device_id TEXT NOT NULL, transaction_id TEXT NOT NULL, receipt_id TEXT NOT NULL,
                       accepted_ms INTEGER NOT NULL, result_sha256 TEXT NOT NULL, counter INTEGER NOT NULL,
                       decision INTEGER NOT NULL, reason_codes TEXT NOT NULL, liveness INTEGER NOT NULL,
                       embedding_commitment BLOB NOT NULL, signed_result BLOB NOT NULL DEFAULT x'',
                       PRIMARY KEY (device_id, transaction_id), UNIQUE (device_id, counter));
INSERT INTO audit_v2 (device_id, transaction_id, receipt_id, accepted_ms, result_sha256, counter, decision,
                      reason_codes, liveness, embedding_commitment)
    SELECT device_id, transaction_id, receipt_id, accepted_ms, result_sha256, counter, decision, reason_codes,
           liveness, embedding_commitment FROM audit;
DROP TABLE audit;
ALTER TABLE audit_v2 RENAME TO audit;
CREATE INDEX audit_transaction ON audit (transaction_id);
CREATE INDEX audit_accepted ON audit (accepted_ms);
CREATE INDEX tokens_expiry ON tokens (expires_ms);
