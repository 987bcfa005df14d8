-- Accepting a result in one round trip: consume the nonce, advance the counter, write the audit row.
-- Called as one statement (its own transaction): a counter that moved on or a second acceptance of the
-- same (device, transaction) raises, and the whole call is rolled back, nonce included.
CREATE FUNCTION carrier_accept(p_device text, p_txn text, p_receipt text, p_accepted_ms bigint, p_sha256 text,
                               p_nonce bytea, p_counter bigint, p_decision smallint, p_reasons text,
                               p_liveness smallint, p_commitment bytea, p_signed bytea)
RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    UPDATE nonces SET used_by = p_txn
     WHERE nonce = p_nonce AND device_id = p_device AND transaction_id = p_txn AND used_by IS NULL;
    IF NOT FOUND THEN
        RETURN 'nonce_used';
    END IF;
    UPDATE devices SET last_counter = p_counter
     WHERE device_id = p_device AND last_counter < p_counter AND NOT revoked;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'counter of % moved on', p_device USING ERRCODE = 'EA409';
    END IF;
    INSERT INTO audit (device_id, transaction_id, receipt_id, accepted_ms, result_sha256, counter, decision,
                       reason_codes, liveness, embedding_commitment, signed_result)
    VALUES (p_device, p_txn, p_receipt, p_accepted_ms, p_sha256, p_counter, p_decision, p_reasons, p_liveness,
            p_commitment, p_signed);  -- unique_violation (23505) when (device, transaction) was accepted
    RETURN 'accepted';
END;
$$;
