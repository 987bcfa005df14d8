"""Versioned schema migrations for the carrier store: numbered SQL files, applied in order, once.

``sqlite/NNNN_name.sql`` and ``postgresql/NNNN_name.sql`` are the schema's
history; a database records the last version applied (SQLite: ``PRAGMA
user_version``; PostgreSQL: the ``schema_version`` table). Each step runs in
a transaction with its version stamp, so a crash leaves the previous version
intact. On PostgreSQL a transaction-scoped advisory lock serialises replicas
that start at the same moment: one migrates, the others wait and find nothing
left to do. A database newer than this code is refused rather than used.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

from edge_agent.errors import SchemaTooNew

if TYPE_CHECKING:
    import psycopg

__all__ = ["SchemaTooNew", "migrate_postgres", "migrate_sqlite", "migrations"]

# Any constant will do; it only has to differ from other advisory locks taken on the same database.
ADVISORY_LOCK_KEY = 0x0EDCA_0001
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True)
class Migration:
    """One numbered SQL file of a dialect's schema history."""

    version: int
    name: str
    sql: str


def migrations(dialect: str) -> list[Migration]:
    """The migrations for ``dialect`` ("sqlite" or "postgresql"), in version order, numbered 1..N without gaps."""
    folder = resources.files(__package__).joinpath(dialect)
    found = []
    for entry in folder.iterdir():
        m = _NAME.match(entry.name)
        if m:
            found.append(Migration(int(m.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort(key=lambda x: x.version)
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise AssertionError(f"{dialect} migrations are not numbered 1..N: {[m.name for m in found]}")
    return found


def _statements(sql: str) -> list[str]:
    """Split a migration into statements (our SQL files end each statement with ';' at the end of a line)."""
    lines = [ln for ln in sql.splitlines() if not ln.lstrip().startswith("--")]
    return [s.strip() for s in re.split(r";\s*$", "\n".join(lines), flags=re.M) if s.strip()]


def _check_not_newer(current: int, latest: int) -> None:
    if current > latest:
        raise SchemaTooNew(f"the carrier database is at schema version {current}; this code knows up to {latest} "
                           "(upgrade the carrier before using this database)")


def migrate_sqlite(db: sqlite3.Connection) -> int:
    """Bring a SQLite database (autocommit connection) to the latest version; returns that version."""
    steps = migrations("sqlite")
    for step in steps:
        db.execute("BEGIN IMMEDIATE")  # the write lock: another process migrating waits here
        try:
            current = int(db.execute("PRAGMA user_version").fetchone()[0])
            _check_not_newer(current, len(steps))
            if current < step.version:
                for stmt in _statements(step.sql):
                    db.execute(stmt)
                db.execute(f"PRAGMA user_version = {step.version:d}")
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
    return len(steps)


def migrate_postgres(conn: psycopg.Connection[Any]) -> int:
    """Bring a PostgreSQL database to the latest version in one transaction under an advisory lock."""
    steps = migrations("postgresql")
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_LOCK_KEY,))
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY, name text NOT NULL, "
                     "applied_at timestamptz NOT NULL DEFAULT now())")
        row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
        current = int(row[0]) if row else 0
        _check_not_newer(current, len(steps))
        for step in steps[current:]:
            conn.execute(step.sql.encode())  # the whole file as one simple query (function bodies hold ';')
            conn.execute("INSERT INTO schema_version (version, name) VALUES (%s, %s)", (step.version, step.name))
    return len(steps)
