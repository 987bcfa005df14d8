"""Durable outbox of signed results (SQLite, WAL, synchronous=FULL).

``put`` allocates the next device counter, signs the result and stores it in
one transaction; it returns only after the commit is on disk, so a result the
caller has been told about survives any crash. Records are never dropped for
size: when the disk (or the configured page budget) is full, ``put``
refuses with ``OutboxFull`` and older records stay. Records leave the
"pending" state only by a carrier acknowledgement or a carrier rejection;
``prune`` deletes acknowledged ones after a retention period, never a
pending or rejected one.

The device counter must never go back, not even when the outbox file is
lost or replaced (the carrier refuses a counter that does not increase, and
a payment terminal's transaction counter never restarts). With a
``counter_file`` (``STATE/counter``, beside, not inside, the database) each
``put`` first raises that file's high-water mark to the counter it is about
to use, durably, and counters continue from the higher of the file and the
database: a crash in between skips a number, never repeats one.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edge_agent.atomic import atomic_write
from edge_agent.attest.result import ResultFields, encode_result
from edge_agent.clock import Clock, SystemClock
from edge_agent.errors import DuplicateTransaction, OutboxCorrupt, OutboxError, OutboxFull
from edge_agent.faults import crash_point
from edge_agent.logs import log_event

__all__ = ["COUNTER_FILE", "DuplicateTransaction", "Outbox", "OutboxCorrupt", "OutboxError", "OutboxFull",
           "OutboxSummary", "Record", "read_counter_mark"]

log = logging.getLogger(__name__)

COUNTER_FILE = "counter"  # STATE/counter: the device counter's high-water mark, kept apart from outbox.db

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('last_counter', 0);
CREATE TABLE IF NOT EXISTS outbox (
    txn_id TEXT PRIMARY KEY,
    counter INTEGER NOT NULL UNIQUE,
    signed BLOB NOT NULL,
    digest TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'acked', 'rejected')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    acked_ms INTEGER,
    receipt TEXT
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (state, counter);
"""


@dataclass(frozen=True)
class Record:
    """One stored result: the signed bytes exactly as they will be sent, and its delivery state."""

    txn_id: str
    counter: int
    signed: bytes
    created_ms: int
    state: str
    attempts: int
    next_attempt_ms: int
    last_error: str | None
    receipt: str | None


@dataclass(frozen=True)
class OutboxSummary:
    """The outbox in numbers, for ``status`` and the self-test."""

    pending: int
    rejected: int
    acknowledged: int
    last_counter: int
    oldest_pending_ms: int | None


def _is_full(exc: sqlite3.Error) -> bool:
    return "full" in str(exc).lower()


NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def _private(path: Path) -> None:
    """The database file exists 0600 before SQLite opens it: SQLite gives -wal and -shm its mode, whatever the umask."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    for side in ("-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.chmod(f"{path}{side}", 0o600)


def read_counter_mark(path: Path) -> int:
    """The counter high-water mark in ``path`` (0 when absent); a damaged file stops signing, never guesses."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return 0
    except OSError as exc:
        raise OutboxCorrupt(f"counter file {path} cannot be read ({exc.strerror}); refusing to sign") from None
    if not text.strip().isdigit():
        raise OutboxCorrupt(f"counter file {path} is damaged; refusing to sign (see docs/hostile-input.md)")
    return int(text)


class Outbox:
    """The device's signed results from signing until the carrier acknowledges them, in one SQLite file."""

    def __init__(self, path: Path, *, clock: Clock | None = None, min_free_bytes: int = 16 * 1024 * 1024,
                 max_pages: int | None = None, counter_file: Path | None = None, min_free_inodes: int = 64) -> None:
        self.path = path
        self.counter_file = counter_file
        self.clock = clock or SystemClock()
        self.min_free_bytes = min_free_bytes
        self.min_free_inodes = min_free_inodes
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            _private(path)
        except OSError as exc:
            raise OutboxError(f"cannot open the outbox {path}: {exc.strerror}") from None
        try:
            self._db = sqlite3.connect(path, isolation_level=None, timeout=10, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            check = self._db.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise OutboxCorrupt(f"outbox {path} failed its integrity check ({check}); it was left untouched")
            self._db.executescript(_SCHEMA)
            if max_pages is not None:
                self._db.execute(f"PRAGMA max_page_count={int(max_pages)}")
        except sqlite3.DatabaseError as exc:
            raise OutboxCorrupt(f"outbox {path} is not a readable database ({exc}); it was left untouched") from exc
        if counter_file is not None:
            self._reconcile_counter(counter_file)

    def _reconcile_counter(self, counter_file: Path) -> None:
        mark, last = read_counter_mark(counter_file), self.last_counter()
        if mark > last:
            # the outbox was lost or replaced
            log_event(log, "outbox_counter_behind", logging.WARNING, last=last, mark=mark)
        elif last > mark:  # a counter file that never existed (upgrade) or was lost: the outbox is right
            atomic_write(counter_file, str(last).encode(), 0o600)

    def close(self) -> None:
        """Close the database; every committed record is already on disk."""
        self._db.close()

    def check_space(self) -> None:
        """OutboxFull when the outbox's file system is short of bytes or inodes (checked before each session)."""
        st = os.statvfs(self.path.parent)
        free = st.f_bavail * st.f_frsize
        if free < self.min_free_bytes:
            raise OutboxFull(f"only {free} bytes free under {self.path.parent}; refusing new results")
        if st.f_files and st.f_favail < self.min_free_inodes:  # f_files 0: the file system has no inode limit
            raise OutboxFull(f"only {st.f_favail} inodes free under {self.path.parent}; refusing new results")

    def _full_or_error(self, what: str, exc: Exception) -> OutboxError:
        """ENOSPC, EDQUOT, SQLITE_FULL or a file system found short now: OutboxFull; anything else: OutboxError."""
        full = (isinstance(exc, OSError) and exc.errno in NO_SPACE) or (isinstance(exc, sqlite3.Error)
                                                                        and _is_full(exc))
        if not full:
            try:
                self.check_space()
            except OutboxFull:
                full = True
        if full:
            return OutboxFull(f"{what}: no space or inodes left under {self.path.parent} ({exc}); older results "
                              "are kept")
        return OutboxError(f"{what}: {exc}")

    def put(self, fields: ResultFields, sign: Callable[[bytes], bytes]) -> Record:
        """Allocate a counter, sign and commit; return only once durable."""
        self.check_space()
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                if db.execute("SELECT 1 FROM outbox WHERE txn_id = ?", (fields.transaction_id,)).fetchone():
                    raise DuplicateTransaction(f"transaction {fields.transaction_id} already has a result")
                counter = db.execute("SELECT value FROM meta WHERE key = 'last_counter'").fetchone()[0] + 1
                if self.counter_file is not None:
                    counter = max(counter, read_counter_mark(self.counter_file) + 1)
                    atomic_write(self.counter_file, str(counter).encode(), 0o600)  # before use: skip, never repeat
                now = self.clock.now_ms()
                signed = sign(encode_result(fields, counter, now))
                db.execute(
                    "INSERT INTO outbox (txn_id, counter, signed, digest, created_ms, state) "
                    "VALUES (?, ?, ?, ?, ?, 'pending')",
                    (fields.transaction_id, counter, signed, hashlib.sha256(signed).hexdigest(), now),
                )
                db.execute("UPDATE meta SET value = ? WHERE key = 'last_counter'", (counter,))
                crash_point("outbox.put.before_commit")
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:  # SQLite has already rolled back after SQLITE_FULL
                    db.execute("ROLLBACK")
                raise
        except (sqlite3.Error, OSError) as exc:
            raise self._full_or_error("outbox write failed", exc) from exc
        crash_point("outbox.put.after_commit")
        return self.get(fields.transaction_id)

    def _rows(self, sql: str, args: tuple = ()) -> list[Record]:
        try:
            rows = self._db.execute(sql, args).fetchall()
        except sqlite3.DatabaseError as exc:
            raise OutboxCorrupt(f"outbox {self.path} cannot be read ({exc}); it was left untouched") from exc
        return [self._record(r) for r in rows]

    def _record(self, row: tuple) -> Record:
        txn, counter, signed, digest, created, state, attempts, nxt, err, receipt = row
        if not isinstance(signed, bytes) or hashlib.sha256(signed).hexdigest() != digest:
            raise OutboxCorrupt(f"outbox record {txn} does not match its digest; refusing to send it")
        return Record(txn, counter, bytes(signed), created, state, attempts, nxt, err, receipt)

    _COLS = "txn_id, counter, signed, digest, created_ms, state, attempts, next_attempt_ms, last_error, receipt"

    def get(self, txn_id: str) -> Record:
        """The record of ``txn_id``, its digest checked; KeyError when there is none."""
        rows = self._rows(f"SELECT {self._COLS} FROM outbox WHERE txn_id = ?", (txn_id,))
        if not rows:
            raise KeyError(txn_id)
        return rows[0]

    def next_pending(self) -> Record | None:
        """The oldest pending record: results go out strictly in counter order."""
        rows = self._rows(f"SELECT {self._COLS} FROM outbox WHERE state = 'pending' ORDER BY counter LIMIT 1")
        return rows[0] if rows else None

    def all(self) -> list[Record]:
        """Every record in counter order, each checked against its digest."""
        return self._rows(f"SELECT {self._COLS} FROM outbox ORDER BY counter")

    def _update(self, sql: str, args: tuple) -> None:
        try:
            self._db.execute(sql, args)
        except sqlite3.Error as exc:
            raise self._full_or_error("outbox update failed", exc) from exc

    def mark_acked(self, txn_id: str, receipt: str, acked_ms: int) -> None:
        """Record the carrier's receipt; only a pending record changes, so a rejected one stays rejected."""
        crash_point("outbox.ack.before_commit")
        self._update(
            "UPDATE outbox SET state = 'acked', receipt = ?, acked_ms = ?, last_error = NULL "
            "WHERE txn_id = ? AND state = 'pending'",
            (receipt, acked_ms, txn_id),
        )
        crash_point("outbox.ack.after_commit")

    def mark_retry(self, txn_id: str, error: str, next_attempt_ms: int) -> None:
        """Count a failed attempt and when to try again; the record stays pending."""
        self._update(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_ms = ? WHERE txn_id = ?",
            (error, next_attempt_ms, txn_id),
        )

    def mark_rejected(self, txn_id: str, error: str) -> None:
        """The carrier refused the record: it stops being sent and is kept, with why, for a technician."""
        self._update(
            "UPDATE outbox SET state = 'rejected', attempts = attempts + 1, last_error = ? WHERE txn_id = ?",
            (error, txn_id),
        )

    def prune(self, retention_ms: int) -> int:
        """Delete records the carrier acknowledged more than ``retention_ms`` ago; returns how many.

        The counter lives in ``meta`` (and the counter file), not in the records, so it is unaffected.
        """
        cutoff = self.clock.now_ms() - retention_ms
        try:
            return int(self._db.execute("DELETE FROM outbox WHERE state = 'acked' AND acked_ms < ?",
                                        (cutoff,)).rowcount)
        except sqlite3.Error as exc:
            raise OutboxError(f"outbox prune failed: {exc}") from exc

    def summary(self) -> OutboxSummary:
        """Counts for status and selftest; reads every record, so a corrupt one raises OutboxCorrupt here."""
        records = self.all()
        pending = [r.created_ms for r in records if r.state == "pending"]
        return OutboxSummary(pending=len(pending), rejected=sum(r.state == "rejected" for r in records),
                             acknowledged=sum(r.state == "acked" for r in records), last_counter=self.last_counter(),
                             oldest_pending_ms=min(pending) if pending else None)

    def backlog(self) -> int:
        """How many results still wait for the carrier."""
        return int(self._db.execute("SELECT COUNT(*) FROM outbox WHERE state = 'pending'").fetchone()[0])

    def last_acked_ms(self) -> int:
        """The carrier's acceptance time of the newest acknowledged result (0: none yet)."""
        row = self._db.execute("SELECT COALESCE(MAX(acked_ms), 0) FROM outbox WHERE state = 'acked'").fetchone()
        return int(row[0])

    def last_counter(self) -> int:
        """The last counter given to a result; pruning records never lowers it."""
        return int(self._db.execute("SELECT value FROM meta WHERE key = 'last_counter'").fetchone()[0])
