"""The reference carrier's storage: devices, enrolment tokens, nonces, accepted results (audit).

``CarrierStore`` is the interface the server uses. ``stores.open_store`` picks the
implementation from a URL: ``sqlite:///path`` (the default: demo, tests, one
replica) or ``postgresql://...`` (several replicas on one database, see
``pg_store``). Every guarantee is the database's, not the process's, so it
holds across replicas:

* a nonce is used once, by the device and transaction it was issued for;
* a device's counter only increases;
* a result is accepted once per (device, transaction): ``accept`` consumes the
  nonce, advances the counter and writes the audit row in one transaction, or
  does nothing and raises ``StaleSubmission``; ``accept_current`` does the same
  after checking in that transaction what the server would otherwise have read
  first (nonce, device, certificate, key), or does nothing and returns False;
* an enrolment token is consumed once.

No biometric data is stored: the audit row holds ids, decision, reason codes,
liveness, counter, the embedding commitment and the signed result bytes.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from edge_agent.errors import StaleSubmission, StoreUnavailable
from edge_agent.reference_carrier.migrations import migrate_sqlite

__all__ = ["Acceptance", "AuditRecord", "AuditedResult", "CarrierStore", "Device", "Expected", "NonceState",
           "PruneReport", "SqliteCarrierStore", "StaleSubmission", "StoreUnavailable", "token_digest"]


@dataclass(frozen=True)
class Device:
    """A device as the server checks it: its key, revocation, last accepted counter and certificates."""

    device_id: str
    signing_public_key: bytes
    revoked: bool
    last_counter: int
    cert_sha256: str = ""  # the one TLS certificate this device may use now
    prev_cert_sha256: str = ""  # the certificate replaced by the last rotation (only to repeat that rotation)
    rotation_key: bytes = b""  # the last rotation's new signing key and certificate, to answer a repeat
    rotation_cert: bytes = b""

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Device:
        """The device from its columns in table order (``device_id`` .. ``rotation_cert``), for either store."""
        return cls(row[0], bytes(row[1]), bool(row[2]), row[3], row[4], row[5], bytes(row[6]), bytes(row[7]))


@dataclass(frozen=True)
class Acceptance:
    """The receipt of an accepted result; ``result_sha256`` tells a resubmission from a conflicting result."""

    transaction_id: str
    device_id: str
    receipt_id: str
    accepted_at_ms: int
    result_sha256: str


@dataclass(frozen=True)
class AuditRecord:
    """One accepted result as the audit keeps it: the signed bytes and what the carrier queries by."""

    acceptance: Acceptance
    nonce: bytes
    counter: int
    decision: int
    reasons: str
    liveness: int
    commitment: bytes
    signed_result: bytes


@dataclass(frozen=True)
class AuditedResult:
    """An accepted result's signed bytes with where it stands in its device's history (for fleet reports)."""

    device_id: str
    counter: int
    accepted_at_ms: int
    signed_result: bytes


@dataclass(frozen=True)
class Expected:
    """What the server checked before ``accept_current``: it verified the signature with ``signing_key`` of the
    device on certificate ``cert_sha256``, for a result created at ``created_at_ms``; the nonce must cover
    that time within ``clock_skew_ms``."""

    cert_sha256: str
    signing_key: bytes
    created_at_ms: int
    clock_skew_ms: int


@dataclass(frozen=True)
class NonceState:
    """A nonce as issued: to which device, for which transaction, until when, and which transaction used it."""

    device_id: str
    transaction_id: str
    expires_at_ms: int
    issued_at_ms: int
    used_by: str | None


@dataclass(frozen=True)
class PruneReport:
    """How many expired nonces and tokens a prune deleted."""

    nonces: int
    tokens: int


class CarrierStore(Protocol):
    """What the server needs of its storage; each implementation keeps the guarantees above in its database."""

    def add_token(self, token: str, expires_at_ms: int) -> None:
        """Remember a one-time enrolment token (as its digest) until ``expires_at_ms``."""
        ...
    def consume_token(self, token: str, now_ms: int) -> bool:
        """Use up the token: True for the one call that finds it unused and unexpired."""
        ...
    def add_device(self, device_id: str, signing_public_key: bytes, cert_sha256: str) -> None:
        """A newly enrolled device, with its signing key and the fingerprint of its first certificate."""
        ...
    def rotate(self, device_id: str, signing_public_key: bytes, cert_pem: bytes, cert_sha256: str) -> None:
        """Replace the device's key and certificate together, keeping what a repeat of this rotation needs."""
        ...
    def device(self, device_id: str) -> Device | None:
        """The device, or None if no device of that id ever enrolled."""
        ...
    def revoke(self, device_id: str) -> None:
        """Revoke the device: every later call with its certificate is refused."""
        ...
    def add_nonce(self, nonce: bytes, device_id: str, transaction_id: str, issued_at_ms: int,
                  expires_at_ms: int) -> None:
        """Store a nonce without checks, for a device the server has just checked itself."""
        ...
    def issue_nonce(self, nonce: bytes, device_id: str, cert_sha256: str, transaction_id: str, issued_at_ms: int,
                    expires_at_ms: int) -> bool:
        """Store a nonce only for an enrolled, unrevoked device on certificate ``cert_sha256``; False: none stored."""
        ...
    def nonce(self, nonce: bytes) -> NonceState | None:
        """The nonce's state, or None if it was never issued (or was pruned)."""
        ...
    def acceptance(self, device_id: str, transaction_id: str) -> Acceptance | None:
        """This device's acceptance of the transaction, or None."""
        ...
    def acceptances(self, transaction_id: str) -> list[Acceptance]:
        """Every device's acceptance of this transaction id, by device (ids are only unique per device)."""
        ...
    def submission(self, device_id: str, transaction_id: str, nonce: bytes) -> tuple[
            Device | None, Acceptance | None, NonceState | None]:
        """What ``submit`` reads in one call: the device, its acceptance of the transaction, and the nonce."""
        ...
    def accept(self, record: AuditRecord) -> Acceptance:
        """Consume the nonce, advance the counter and write the audit row, all or nothing (``StaleSubmission``)."""
        ...
    def accept_current(self, record: AuditRecord, expected: Expected) -> bool:
        """Accept ``record`` only if everything is as ``expected`` (one round trip); False means take the full path."""
        ...
    def prune(self, nonces_expired_before_ms: int, tokens_expired_before_ms: int) -> PruneReport:
        """Delete nonces and tokens that expired before the given times; the audit is never pruned."""
        ...
    def audited_results(self, device_id: str | None, since_ms: int) -> Iterable[AuditedResult]:
        """Accepted results (of one device, or all) accepted at or after ``since_ms``, by device and counter."""
        ...
    def audit_count(self) -> int:
        """How many results were accepted, for tests to count deliveries."""
        ...
    def audit_transactions(self) -> list[str]:
        """The accepted transaction ids by device and counter, for tests to check order, loss and repeats."""
        ...
    def close(self) -> None:
        """Release the database connections."""
        ...


def token_digest(token: str) -> str:
    """Tokens are stored only as this SHA-256 digest, so a copy of the database enrols no device."""
    return hashlib.sha256(token.encode()).hexdigest()


def _set_wal(db: sqlite3.Connection, patience_s: float = 10.0) -> None:
    """WAL mode, waiting for other openers: switching the journal mode of a file that several processes open at
    once can answer "database is locked" at once instead of calling the busy handler (seen with 6 replicas
    starting together), so it is retried here like any other busy wait."""
    deadline = time.monotonic() + patience_s
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


class SqliteCarrierStore:
    """One file, one connection serialised by a lock: the demo and single-replica store."""

    def __init__(self, path: Path | str) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=10)
        _set_wal(self._db)
        self._db.execute("PRAGMA synchronous=FULL")
        migrate_sqlite(self._db)

    @contextmanager
    def _locked(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._db
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    raise StoreUnavailable(f"carrier database busy: {exc}") from None
                raise

    def close(self) -> None:
        """Close the connection, under the lock so no call is left mid-statement."""
        with self._lock:
            self._db.close()

    def add_token(self, token: str, expires_at_ms: int) -> None:
        """Stores the token's digest, not the token."""
        with self._locked() as db:
            db.execute("INSERT INTO tokens (token_sha256, expires_ms) VALUES (?, ?)", (token_digest(token),
                                                                                     expires_at_ms))

    def consume_token(self, token: str, now_ms: int) -> bool:
        """One ``UPDATE`` that matches only an unused, unexpired token."""
        with self._locked() as db:
            cur = db.execute("UPDATE tokens SET used = 1 WHERE token_sha256 = ? AND used = 0 AND expires_ms > ?",
                             (token_digest(token), now_ms))
            return cur.rowcount == 1

    def add_device(self, device_id: str, signing_public_key: bytes, cert_sha256: str) -> None:
        """A new row, unrevoked, its counter at 0."""
        with self._locked() as db:
            db.execute("INSERT INTO devices (device_id, signing_key, cert_sha256) VALUES (?, ?, ?)",
                       (device_id, signing_public_key, cert_sha256))

    def rotate(self, device_id: str, signing_public_key: bytes, cert_pem: bytes, cert_sha256: str) -> None:
        """One statement: the new key and certificate replace the old ones together."""
        with self._locked() as db:
            db.execute(
                "UPDATE devices SET prev_cert_sha256 = cert_sha256, cert_sha256 = ?, signing_key = ?, "
                "rotation_key = ?, rotation_cert = ? WHERE device_id = ?",
                (cert_sha256, signing_public_key, signing_public_key, cert_pem, device_id))

    def device(self, device_id: str) -> Device | None:
        """The row read under the lock, or None."""
        with self._locked() as db:
            row = db.execute(
                "SELECT device_id, signing_key, revoked, last_counter, cert_sha256, prev_cert_sha256, rotation_key, "
                "rotation_cert FROM devices WHERE device_id = ?", (device_id,)
            ).fetchone()
        return Device.from_row(row) if row else None

    def revoke(self, device_id: str) -> None:
        """Sets the flag; the row stays, so the device's calls answer ``device_revoked``."""
        with self._locked() as db:
            db.execute("UPDATE devices SET revoked = 1 WHERE device_id = ?", (device_id,))

    def add_nonce(self, nonce: bytes, device_id: str, transaction_id: str, issued_at_ms: int,
                  expires_at_ms: int) -> None:
        """Inserts the nonce with no device check (the server has made it)."""
        with self._locked() as db:
            db.execute("INSERT INTO nonces (nonce, device_id, transaction_id, issued_ms, expires_ms) "
                       "VALUES (?, ?, ?, ?, ?)", (nonce, device_id, transaction_id, issued_at_ms, expires_at_ms))

    def issue_nonce(self, nonce: bytes, device_id: str, cert_sha256: str, transaction_id: str, issued_at_ms: int,
                    expires_at_ms: int) -> bool:
        """Store the nonce if the device is enrolled, not revoked and ``cert_sha256`` is its current certificate."""
        with self._locked() as db:
            return db.execute(
                "INSERT INTO nonces (nonce, device_id, transaction_id, issued_ms, expires_ms) "
                "SELECT ?, device_id, ?, ?, ? FROM devices WHERE device_id = ? AND revoked = 0 AND cert_sha256 = ?",
                (nonce, transaction_id, issued_at_ms, expires_at_ms, device_id, cert_sha256)).rowcount == 1

    def nonce(self, nonce: bytes) -> NonceState | None:
        """The nonce's row, or None."""
        with self._locked() as db:
            row = db.execute("SELECT device_id, transaction_id, expires_ms, issued_ms, used_by FROM nonces "
                             "WHERE nonce = ?", (nonce,)).fetchone()
        return NonceState(*row) if row else None

    _ACCEPTANCE = "SELECT transaction_id, device_id, receipt_id, accepted_ms, result_sha256 FROM audit "

    def acceptance(self, device_id: str, transaction_id: str) -> Acceptance | None:
        """From the audit table, keyed on (device, transaction)."""
        with self._locked() as db:
            row = db.execute(self._ACCEPTANCE + "WHERE device_id = ? AND transaction_id = ?",
                             (device_id, transaction_id)).fetchone()
        return Acceptance(*row) if row else None

    def acceptances(self, transaction_id: str) -> list[Acceptance]:
        """From the audit table, ordered by device."""
        with self._locked() as db:
            rows = db.execute(self._ACCEPTANCE + "WHERE transaction_id = ? ORDER BY device_id",
                              (transaction_id,)).fetchall()
        return [Acceptance(*r) for r in rows]

    def submission(self, device_id: str, transaction_id: str, nonce: bytes) -> tuple[
            Device | None, Acceptance | None, NonceState | None]:
        """What ``submit`` needs in one call (one query on PostgreSQL): the device, its acceptance of the
        transaction and the nonce."""
        return self.device(device_id), self.acceptance(device_id, transaction_id), self.nonce(nonce)

    def accept(self, record: AuditRecord) -> Acceptance:
        """``_accept`` with nothing expected: ``BEGIN IMMEDIATE`` takes the file's write lock for all three writes."""
        if not self._accept(record, None):
            raise StaleSubmission("nonce used, counter not increasing or transaction already accepted")
        return record.acceptance

    def accept_current(self, record: AuditRecord, expected: Expected) -> bool:
        """Accept in one transaction if the device, key, nonce and counter are as expected; else change nothing."""
        return self._accept(record, expected)

    def _accept(self, record: AuditRecord, expected: Expected | None) -> bool:
        """Nonce, counter and audit row in one transaction; with ``expected``, only if all is as the server saw."""
        acc = record.acceptance
        nonce_sql = ("UPDATE nonces SET used_by = ? WHERE nonce = ? AND device_id = ? "
                     "AND transaction_id IN (?, '') AND used_by IS NULL")  # '': issued before 0002
        nonce_args: tuple[object, ...] = (acc.transaction_id, record.nonce, acc.device_id, acc.transaction_id)
        device_sql = "UPDATE devices SET last_counter = ? WHERE device_id = ? AND last_counter < ? AND revoked = 0"
        device_args: tuple[object, ...] = (record.counter, acc.device_id, record.counter)
        if expected is not None:
            nonce_sql += " AND issued_ms - ? <= ? AND ? <= expires_ms + ?"
            nonce_args += (expected.clock_skew_ms, expected.created_at_ms, expected.created_at_ms,
                           expected.clock_skew_ms)
            device_sql += " AND cert_sha256 = ? AND signing_key = ?"
            device_args += (expected.cert_sha256, expected.signing_key)
        with self._locked() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                if db.execute(nonce_sql, nonce_args).rowcount != 1 or db.execute(device_sql,
                                                                                 device_args).rowcount != 1:
                    db.execute("ROLLBACK")
                    return False
                inserted = db.execute(
                    "INSERT INTO audit (device_id, transaction_id, receipt_id, accepted_ms, result_sha256, counter, "
                    "decision, reason_codes, liveness, embedding_commitment, signed_result) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (acc.device_id, acc.transaction_id, acc.receipt_id, acc.accepted_at_ms, acc.result_sha256,
                     record.counter, record.decision, record.reasons, record.liveness, record.commitment,
                     record.signed_result)).rowcount
                db.execute("COMMIT" if inserted == 1 else "ROLLBACK")  # not inserted: accepted before
                return inserted == 1
            except BaseException:
                if db.in_transaction:  # SQLite has already rolled back after SQLITE_FULL
                    db.execute("ROLLBACK")
                raise

    def prune(self, nonces_expired_before_ms: int, tokens_expired_before_ms: int) -> PruneReport:
        """Two ``DELETE``s under the lock; the audit table is left alone."""
        with self._locked() as db:
            nonces = db.execute("DELETE FROM nonces WHERE expires_ms < ?", (nonces_expired_before_ms,)).rowcount
            tokens = db.execute("DELETE FROM tokens WHERE expires_ms < ?", (tokens_expired_before_ms,)).rowcount
        return PruneReport(nonces, tokens)

    def audited_results(self, device_id: str | None, since_ms: int) -> list[AuditedResult]:
        """From the audit table, by device and counter; read whole under the lock, which a generator would hold
        against the carrier's writes while the caller works (SQLite serves one box, not a fleet)."""
        with self._locked() as db:
            rows = db.execute("SELECT device_id, counter, accepted_ms, signed_result FROM audit "
                              "WHERE (? IS NULL OR device_id = ?) AND accepted_ms >= ? ORDER BY device_id, counter",
                              (device_id, device_id, since_ms)).fetchall()
        return [AuditedResult(r[0], r[1], r[2], bytes(r[3])) for r in rows]

    def audit_count(self) -> int:
        """Rows of the audit table."""
        with self._locked() as db:
            return int(db.execute("SELECT COUNT(*) FROM audit").fetchone()[0])

    def audit_transactions(self) -> list[str]:
        """From the audit table, by device and counter."""
        with self._locked() as db:
            return [r[0] for r in db.execute("SELECT transaction_id FROM audit ORDER BY device_id, counter")]
