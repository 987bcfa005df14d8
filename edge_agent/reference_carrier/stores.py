"""Which carrier store a URL names: SQLite for one replica, PostgreSQL for several.

Its own module so that neither store imports the other (``pg_store`` builds
on ``store``'s records; only this factory knows both).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from edge_agent.errors import UnsupportedStore
from edge_agent.reference_carrier.store import CarrierStore, SqliteCarrierStore

__all__ = ["open_store"]


def open_store(url: str) -> CarrierStore:
    """The store a URL names: ``sqlite:///relative/or//absolute/path`` or ``postgresql://user@host:port/db``."""
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        path = url[len("sqlite:///"):] if url.startswith("sqlite:///") else ""
        if not path:
            raise UnsupportedStore(f"a SQLite store URL is sqlite:///path, not {url!r}")
        return SqliteCarrierStore(Path(path))
    if scheme in ("postgresql", "postgres"):
        # psycopg is the optional [carrier] extra: imported only when a PostgreSQL store is asked for
        from edge_agent.reference_carrier.pg_store import PostgresCarrierStore

        return PostgresCarrierStore(url)
    raise UnsupportedStore(f"carrier store URL {url!r}: use sqlite:///path or postgresql://...")
