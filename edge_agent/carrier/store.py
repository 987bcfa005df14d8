"""The reference carrier's storage: devices, enrolment tokens, nonces, accepted results (audit).

``CarrierStore`` is the interface the server uses; ``SqliteCarrierStore`` is
the default. A carrier replacing it with its own database implements the same
methods; ``accept`` must be atomic (nonce consumption, counter advance and
audit record commit together or not at all). No biometric data is stored:
the audit record holds ids, decision, reason codes, liveness, counter, the
embedding commitment and the signed bytes' digest.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

__all__ = ["Acceptance", "CarrierStore", "Device", "NonceState", "SqliteCarrierStore"]


@dataclass(frozen=True)
class Device:
    device_id: str
    signing_public_key: bytes
    revoked: bool
    last_counter: int
    cert_sha256: str = ""  # the one TLS certificate this device may use now
    prev_cert_sha256: str = ""  # the certificate replaced by the last rotation (only to repeat that rotation)
    rotation_key: bytes = b""  # the last rotation's new signing key and certificate, to answer a repeat
    rotation_cert: bytes = b""


@dataclass(frozen=True)
class Acceptance:
    transaction_id: str
    device_id: str
    receipt_id: str
    accepted_at_ms: int
    result_sha256: str


@dataclass(frozen=True)
class NonceState:
    device_id: str
    expires_at_ms: int
    issued_at_ms: int
    used_by: str | None


class CarrierStore(Protocol):
    def add_token(self, token: str, expires_at_ms: int) -> None: ...
    def consume_token(self, token: str, now_ms: int) -> bool: ...
    def add_device(self, device_id: str, signing_public_key: bytes, cert_sha256: str) -> None: ...
    def rotate(self, device_id: str, signing_public_key: bytes, cert_pem: bytes, cert_sha256: str) -> None: ...
    def device(self, device_id: str) -> Device | None: ...
    def revoke(self, device_id: str) -> None: ...
    def add_nonce(self, nonce: bytes, device_id: str, issued_at_ms: int, expires_at_ms: int) -> None: ...
    def nonce(self, nonce: bytes) -> NonceState | None: ...
    def acceptance(self, transaction_id: str) -> Acceptance | None: ...
    def accept(self, acc: Acceptance, nonce: bytes, counter: int, decision: int, reasons: str, liveness: int,
               commitment: bytes) -> Acceptance: ...


def _h(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class StaleSubmission(Exception):
    """Raised by ``accept`` when the nonce was used or the counter moved on meanwhile (a race)."""


class SqliteCarrierStore:
    _SCHEMA = """
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
    """

    def __init__(self, path: Path | str) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=10)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(self._SCHEMA)

    def add_token(self, token: str, expires_at_ms: int) -> None:
        with self._lock:
            self._db.execute("INSERT INTO tokens (token_sha256, expires_ms) VALUES (?, ?)", (_h(token), expires_at_ms))

    def consume_token(self, token: str, now_ms: int) -> bool:
        with self._lock:
            cur = self._db.execute(
                "UPDATE tokens SET used = 1 WHERE token_sha256 = ? AND used = 0 AND expires_ms > ?",
                (_h(token), now_ms),
            )
            return cur.rowcount == 1

    def add_device(self, device_id: str, signing_public_key: bytes, cert_sha256: str) -> None:
        with self._lock:
            self._db.execute("INSERT INTO devices (device_id, signing_key, cert_sha256) VALUES (?, ?, ?)",
                             (device_id, signing_public_key, cert_sha256))

    def rotate(self, device_id: str, signing_public_key: bytes, cert_pem: bytes, cert_sha256: str) -> None:
        """One statement: the new key and certificate replace the old ones together."""
        with self._lock:
            self._db.execute(
                "UPDATE devices SET prev_cert_sha256 = cert_sha256, cert_sha256 = ?, signing_key = ?, "
                "rotation_key = ?, rotation_cert = ? WHERE device_id = ?",
                (cert_sha256, signing_public_key, signing_public_key, cert_pem, device_id))

    def device(self, device_id: str) -> Device | None:
        with self._lock:
            row = self._db.execute(
                "SELECT device_id, signing_key, revoked, last_counter, cert_sha256, prev_cert_sha256, rotation_key, "
                "rotation_cert FROM devices WHERE device_id = ?", (device_id,)
            ).fetchone()
        return Device(row[0], bytes(row[1]), bool(row[2]), row[3], row[4], row[5], bytes(row[6]),
                      bytes(row[7])) if row else None

    def revoke(self, device_id: str) -> None:
        with self._lock:
            self._db.execute("UPDATE devices SET revoked = 1 WHERE device_id = ?", (device_id,))

    def add_nonce(self, nonce: bytes, device_id: str, issued_at_ms: int, expires_at_ms: int) -> None:
        with self._lock:
            self._db.execute("INSERT INTO nonces VALUES (?, ?, ?, ?, NULL)",
                             (nonce, device_id, issued_at_ms, expires_at_ms))

    def nonce(self, nonce: bytes) -> NonceState | None:
        with self._lock:
            row = self._db.execute(
                "SELECT device_id, expires_ms, issued_ms, used_by FROM nonces WHERE nonce = ?", (nonce,)
            ).fetchone()
        return NonceState(row[0], row[1], row[2], row[3]) if row else None

    def acceptance(self, transaction_id: str) -> Acceptance | None:
        with self._lock:
            row = self._db.execute(
                "SELECT transaction_id, device_id, receipt_id, accepted_ms, result_sha256 FROM audit "
                "WHERE transaction_id = ?", (transaction_id,)
            ).fetchone()
        return Acceptance(*row) if row else None

    def accept(self, acc: Acceptance, nonce: bytes, counter: int, decision: int, reasons: str, liveness: int,
               commitment: bytes) -> Acceptance:
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                used = db.execute("UPDATE nonces SET used_by = ? WHERE nonce = ? AND used_by IS NULL",
                                  (acc.transaction_id, nonce)).rowcount
                moved = db.execute("UPDATE devices SET last_counter = ? WHERE device_id = ? AND last_counter < ?",
                                   (counter, acc.device_id, counter)).rowcount
                if used != 1 or moved != 1:
                    raise StaleSubmission("nonce used or counter not increasing")
                db.execute(
                    "INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (acc.transaction_id, acc.device_id, acc.receipt_id, acc.accepted_at_ms, acc.result_sha256,
                     counter, decision, reasons, liveness, commitment),
                )
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:  # SQLite has already rolled back after SQLITE_FULL
                    db.execute("ROLLBACK")
                raise
        return acc

    def audit_count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM audit").fetchone()[0])

    def audit_transactions(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT transaction_id FROM audit ORDER BY counter")]
