-- Accepting a result in the one round trip its submission makes: the server verified the signature with the
-- key it remembers for this device and certificate, and checked the result; this function confirms in the
-- same statement everything that lives in the database, or changes nothing and returns 'look' (the server
-- then reads the rows and answers as before: duplicate, conflict, nonce or counter refusal).
-- The nonce: issued to this device for this transaction, unused, and the result created within its life
-- (plus the allowed clock skew). The device: not revoked, still on the certificate and signing key the
-- server used, counter increasing. Then the audit row. All or nothing, as in carrier_accept.
CREATE FUNCTION carrier_accept_current(p_device text, p_txn text, p_receipt text, p_accepted_ms bigint,
                                       p_sha256 text, p_nonce bytea, p_counter bigint, p_decision smallint,
                                       p_reasons text, p_liveness smallint, p_commitment bytea, p_signed bytea,
                                       p_cert_sha256 text, p_signing_key bytea, p_created_ms bigint,
                                       p_skew_ms bigint)
RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    UPDATE nonces SET used_by = p_txn
     WHERE nonce = p_nonce AND device_id = p_device AND transaction_id = p_txn AND used_by IS NULL
       AND issued_ms - p_skew_ms <= p_created_ms AND p_created_ms <= expires_ms + p_skew_ms;
    IF NOT FOUND THEN
        RETURN 'look';
    END IF;
    UPDATE devices SET last_counter = p_counter
     WHERE device_id = p_device AND last_counter < p_counter AND NOT revoked AND cert_sha256 = p_cert_sha256
       AND signing_key = p_signing_key;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'device % is not as the server saw it', p_device USING ERRCODE = 'EA409';
    END IF;
    INSERT INTO audit (device_id, transaction_id, receipt_id, accepted_ms, result_sha256, counter, decision,
                       reason_codes, liveness, embedding_commitment, signed_result)
    VALUES (p_device, p_txn, p_receipt, p_accepted_ms, p_sha256, p_counter, p_decision, p_reasons, p_liveness,
            p_commitment, p_signed)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'transaction % of % accepted before', p_txn, p_device USING ERRCODE = 'EA409';
    END IF;
    RETURN 'accepted';
END;
$$;
