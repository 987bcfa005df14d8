"""The carrier store on PostgreSQL, shared by any number of stateless carrier replicas.

Every guarantee is one statement's or one transaction's, never a lock in this
process: a token is consumed by ``UPDATE ... WHERE NOT used``; ``accept``
consumes the nonce (``UPDATE ... WHERE used_by IS NULL``), advances the
counter (``UPDATE ... WHERE last_counter < new``) and inserts the audit row
(primary key (device, transaction), unique (device, counter)) in one
statement, the ``carrier_accept`` function (one round trip, its own READ
COMMITTED transaction). Row locks make a concurrent second attempt wait, then
re-check its WHERE clause against the committed row and change nothing, so
exactly one of two replicas racing for a nonce wins.

A database that cannot be reached surfaces as ``StoreUnavailable`` (the
server answers UNAVAILABLE, which devices retry), never as a rejection.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg_pool import ConnectionPool, PoolTimeout

from edge_agent.reference_carrier.migrations import migrate_postgres
from edge_agent.reference_carrier.store import (
    Acceptance,
    AuditedResult,
    AuditRecord,
    Device,
    Expected,
    NonceState,
    PruneReport,
    StaleSubmission,
    StoreUnavailable,
    token_digest,
)

__all__ = ["PostgresCarrierStore"]

Conn = psycopg.Connection[tuple[Any, ...]]
COUNTER_MOVED_ON = "EA409"  # raised by carrier_accept
APPLICATION_NAME = "edge-agent-carrier"


class PostgresCarrierStore:
    """``CarrierStore`` on a connection pool to one PostgreSQL database that any number of replicas share."""

    def __init__(self, url: str, *, min_size: int = 2, max_size: int = 16, timeout_s: float = 5.0) -> None:
        url = url.replace("postgres://", "postgresql://", 1)
        connect = {"autocommit": True, "connect_timeout": max(1, int(timeout_s)),
                   "application_name": APPLICATION_NAME}  # how operators find the carrier in pg_stat_activity
        try:  # one plain connection first: a clear error at once, and the schema before any request
            with psycopg.connect(url, **connect) as conn:  # type: ignore[arg-type]
                migrate_postgres(conn)
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"cannot connect to the carrier database: {exc}".strip()) from None
        self._pool: ConnectionPool[Conn] = ConnectionPool(
            url, min_size=min_size, max_size=max_size, timeout=timeout_s, open=False, kwargs=connect,
            name="carrier-store")
        try:
            self._pool.open(wait=True, timeout=timeout_s)
        except PoolTimeout as exc:
            self._pool.close()
            raise StoreUnavailable(f"cannot connect to the carrier database: {exc}") from None

    @contextmanager
    def _conn(self) -> Iterator[Conn]:
        try:
            with self._pool.connection() as conn:
                yield conn
        except (PoolTimeout, psycopg.OperationalError) as exc:
            raise StoreUnavailable(f"carrier database unavailable: {exc}") from None

    def close(self) -> None:
        """Close the pool and its connections."""
        self._pool.close()

    def add_token(self, token: str, expires_at_ms: int) -> None:
        """Stores the token's digest, not the token."""
        with self._conn() as c:
            c.execute("INSERT INTO tokens (token_sha256, expires_ms) VALUES (%s, %s)",
                      (token_digest(token), expires_at_ms))

    def consume_token(self, token: str, now_ms: int) -> bool:
        """One ``UPDATE ... WHERE NOT used``: of replicas racing for a token, exactly one wins."""
        with self._conn() as c:
            cur = c.execute("UPDATE tokens SET used = true WHERE token_sha256 = %s AND NOT used AND expires_ms > %s",
                            (token_digest(token), now_ms))
            return cur.rowcount == 1

    def add_device(self, device_id: str, signing_public_key: bytes, cert_sha256: str) -> None:
        """A new row, unrevoked, its counter at 0."""
        with self._conn() as c:
            c.execute("INSERT INTO devices (device_id, signing_key, cert_sha256) VALUES (%s, %s, %s)",
                      (device_id, signing_public_key, cert_sha256))

    def rotate(self, device_id: str, signing_public_key: bytes, cert_pem: bytes, cert_sha256: str) -> None:
        """One statement: the new key and certificate replace the old ones together."""
        with self._conn() as c:
            c.execute("UPDATE devices SET prev_cert_sha256 = cert_sha256, cert_sha256 = %s, signing_key = %s, "
                      "rotation_key = %s, rotation_cert = %s WHERE device_id = %s",
                      (cert_sha256, signing_public_key, signing_public_key, cert_pem, device_id))

    def device(self, device_id: str) -> Device | None:
        """The device's row, or None."""
        with self._conn() as c:
            row = c.execute("SELECT device_id, signing_key, revoked, last_counter, cert_sha256, prev_cert_sha256, "
                            "rotation_key, rotation_cert FROM devices WHERE device_id = %s", (device_id,)).fetchone()
        return Device.from_row(row) if row else None

    def revoke(self, device_id: str) -> None:
        """Sets the flag; the row stays, so the device's calls answer ``device_revoked``."""
        with self._conn() as c:
            c.execute("UPDATE devices SET revoked = true WHERE device_id = %s", (device_id,))

    def add_nonce(self, nonce: bytes, device_id: str, transaction_id: str, issued_at_ms: int,
                  expires_at_ms: int) -> None:
        """Inserts the nonce with no device check (the server has made it)."""
        with self._conn() as c:
            c.execute("INSERT INTO nonces (nonce, device_id, transaction_id, issued_ms, expires_ms) "
                      "VALUES (%s, %s, %s, %s, %s)", (nonce, device_id, transaction_id, issued_at_ms, expires_at_ms))

    def issue_nonce(self, nonce: bytes, device_id: str, cert_sha256: str, transaction_id: str, issued_at_ms: int,
                    expires_at_ms: int) -> bool:
        """One ``INSERT ... SELECT`` from the device's row: nothing is stored unless the device qualifies."""
        with self._conn() as c:
            return c.execute(
                "INSERT INTO nonces (nonce, device_id, transaction_id, issued_ms, expires_ms) "
                "SELECT %s, device_id, %s, %s, %s FROM devices WHERE device_id = %s AND NOT revoked "
                "AND cert_sha256 = %s",
                (nonce, transaction_id, issued_at_ms, expires_at_ms, device_id, cert_sha256)).rowcount == 1

    def nonce(self, nonce: bytes) -> NonceState | None:
        """The nonce's row, or None."""
        with self._conn() as c:
            row = c.execute("SELECT device_id, transaction_id, expires_ms, issued_ms, used_by FROM nonces "
                            "WHERE nonce = %s", (nonce,)).fetchone()
        return NonceState(*row) if row else None

    def acceptance(self, device_id: str, transaction_id: str) -> Acceptance | None:
        """From the audit table, keyed on (device, transaction)."""
        with self._conn() as c:
            row = c.execute("SELECT transaction_id, device_id, receipt_id, accepted_ms, result_sha256 FROM audit "
                            "WHERE device_id = %s AND transaction_id = %s", (device_id, transaction_id)).fetchone()
        return Acceptance(*row) if row else None

    def acceptances(self, transaction_id: str) -> list[Acceptance]:
        """From the audit table, ordered by device."""
        with self._conn() as c:
            rows = c.execute("SELECT transaction_id, device_id, receipt_id, accepted_ms, result_sha256 FROM audit "
                             "WHERE transaction_id = %s ORDER BY device_id", (transaction_id,)).fetchall()
        return [Acceptance(*r) for r in rows]

    def submission(self, device_id: str, transaction_id: str, nonce: bytes) -> tuple[
            Device | None, Acceptance | None, NonceState | None]:
        """One query, one round trip: the three rows LEFT JOINed onto a single row, each None when absent."""
        with self._conn() as c:
            row = c.execute(
                "SELECT d.device_id, d.signing_key, d.revoked, d.last_counter, d.cert_sha256, d.prev_cert_sha256, "
                "d.rotation_key, d.rotation_cert, a.receipt_id, a.accepted_ms, a.result_sha256, n.device_id, "
                "n.transaction_id, n.expires_ms, n.issued_ms, n.used_by FROM (SELECT 1) AS one "
                "LEFT JOIN devices d ON d.device_id = %s "
                "LEFT JOIN audit a ON a.device_id = %s AND a.transaction_id = %s "
                "LEFT JOIN nonces n ON n.nonce = %s", (device_id, device_id, transaction_id, nonce)).fetchone()
        assert row is not None
        dev = Device.from_row(row[:8]) if row[0] is not None else None
        acc = Acceptance(transaction_id, device_id, row[8], row[9], row[10]) if row[8] is not None else None
        state = NonceState(row[11], row[12], row[13], row[14], row[15]) if row[11] is not None else None
        return dev, acc, state

    def accept(self, record: AuditRecord) -> Acceptance:
        """One statement, one round trip: ``carrier_accept`` (migration 0002) does it all or nothing."""
        acc = record.acceptance
        with self._conn() as c:
            try:
                row = c.execute(
                    "SELECT carrier_accept(%s, %s, %s, %s::bigint, %s, %s, %s::bigint, %s::smallint, %s, "
                    "%s::smallint, %s, %s)",
                    _audit_args(record)).fetchone()
            except pg_errors.UniqueViolation:
                raise StaleSubmission("transaction already accepted") from None
            except psycopg.DatabaseError as exc:
                if exc.sqlstate == COUNTER_MOVED_ON:
                    raise StaleSubmission("counter moved on meanwhile") from None
                raise
        if row is None or row[0] != "accepted":
            raise StaleSubmission("nonce used meanwhile")
        return acc

    def accept_current(self, record: AuditRecord, expected: Expected) -> bool:
        """One round trip: ``carrier_accept_current`` (migration 0003) accepts, or changes nothing."""
        with self._conn() as c:
            try:
                row = c.execute(
                    "SELECT carrier_accept_current(%s, %s, %s, %s::bigint, %s, %s, %s::bigint, %s::smallint, %s, "
                    "%s::smallint, %s, %s, %s, %s, %s::bigint, %s::bigint)",
                    (*_audit_args(record), expected.cert_sha256, expected.signing_key,
                     expected.created_at_ms, expected.clock_skew_ms)).fetchone()
            except psycopg.DatabaseError as exc:
                if exc.sqlstate == COUNTER_MOVED_ON:  # rolled back: the device or the audit is not as expected
                    return False
                raise
        return row is not None and row[0] == "accepted"

    def prune(self, nonces_expired_before_ms: int, tokens_expired_before_ms: int) -> PruneReport:
        """Two ``DELETE``s; the audit table is left alone."""
        with self._conn() as c:
            nonces = c.execute("DELETE FROM nonces WHERE expires_ms < %s", (nonces_expired_before_ms,)).rowcount
            tokens = c.execute("DELETE FROM tokens WHERE expires_ms < %s", (tokens_expired_before_ms,)).rowcount
        return PruneReport(nonces, tokens)

    def audited_results(self, device_id: str | None, since_ms: int) -> Iterator[AuditedResult]:
        """From the audit table, by device and counter, through a server-side cursor: a fleet's whole audit
        streams in batches instead of arriving in memory at once."""
        with self._conn() as c, c.transaction(), c.cursor(name="audited_results") as cur:
            cur.itersize = 2000
            cur.execute("SELECT device_id, counter, accepted_ms, signed_result FROM audit "
                        "WHERE (%s::text IS NULL OR device_id = %s) AND accepted_ms >= %s "
                        "ORDER BY device_id, counter", (device_id, device_id, since_ms))
            for r in cur:
                yield AuditedResult(r[0], r[1], r[2], bytes(r[3]))

    def audit_count(self) -> int:
        """Rows of the audit table."""
        with self._conn() as c:
            row = c.execute("SELECT count(*) FROM audit").fetchone()
        return int(row[0]) if row else 0

    def audit_transactions(self) -> list[str]:
        """From the audit table, by device and counter."""
        with self._conn() as c:
            return [r[0] for r in c.execute("SELECT transaction_id FROM audit ORDER BY device_id, counter")]


def _audit_args(record: AuditRecord) -> tuple[Any, ...]:
    """The first twelve arguments of ``carrier_accept`` and ``carrier_accept_current``, in their order."""
    acc = record.acceptance
    return (acc.device_id, acc.transaction_id, acc.receipt_id, acc.accepted_at_ms, acc.result_sha256,
            record.nonce, record.counter, record.decision, record.reasons, record.liveness,
            record.commitment, record.signed_result)
