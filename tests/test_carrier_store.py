"""The carrier stores themselves: migrations, retention, what the audit holds, a database that goes away."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import grpc
import pytest
from carrier_harness import StoreFactory, enrol_device, pg_url, start_carrier

from edge_agent.attest.result import encode_result
from edge_agent.clock import SystemClock
from edge_agent.reference_carrier.migrations import SchemaTooNew, migrations
from edge_agent.reference_carrier.server import open_store
from edge_agent.reference_carrier.store import StoreUnavailable

LEGACY_SCHEMA = """
CREATE TABLE tokens (token_sha256 TEXT PRIMARY KEY, expires_ms INTEGER NOT NULL, used INTEGER NOT NULL DEFAULT 0);
CREATE TABLE devices (device_id TEXT PRIMARY KEY, signing_key BLOB NOT NULL, revoked INTEGER NOT NULL DEFAULT 0,
                      last_counter INTEGER NOT NULL DEFAULT 0, cert_sha256 TEXT NOT NULL DEFAULT '',
                      prev_cert_sha256 TEXT NOT NULL DEFAULT '', rotation_key BLOB NOT NULL DEFAULT x'',
                      rotation_cert BLOB NOT NULL DEFAULT x'');
CREATE TABLE nonces (nonce BLOB PRIMARY KEY, device_id TEXT NOT NULL, issued_ms INTEGER NOT NULL,
                     expires_ms INTEGER NOT NULL, used_by TEXT);
CREATE TABLE audit (transaction_id TEXT PRIMARY KEY, device_id TEXT NOT NULL, receipt_id TEXT NOT NULL,
                    accepted_ms INTEGER NOT NULL, result_sha256 TEXT NOT NULL, counter INTEGER NOT NULL,
                    decision INTEGER NOT NULL, reason_codes TEXT NOT NULL, liveness INTEGER NOT NULL,
                    embedding_commitment BLOB NOT NULL);
INSERT INTO devices (device_id, signing_key, last_counter) VALUES ('dev-old', x'00', 7);
INSERT INTO audit VALUES ('t-old', 'dev-old', 'rcpt-old', 1, 'ab', 7, 1, 'face_match', 1, x'00');
"""


def test_sqlite_database_from_before_migrations_is_upgraded(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "carrier.db")
    db.executescript(LEGACY_SCHEMA)
    db.close()
    store = open_store(tmp_path)
    acc = store.acceptance("dev-old", "t-old")
    assert acc is not None and acc.receipt_id == "rcpt-old"
    assert store.device("dev-old").last_counter == 7  # type: ignore[union-attr]
    store.close()
    db = sqlite3.connect(tmp_path / "carrier.db")
    assert db.execute("PRAGMA user_version").fetchone()[0] == len(migrations("sqlite"))
    assert {r[1] for r in db.execute("PRAGMA table_info(audit)")} >= {"signed_result", "device_id"}
    db.close()
    open_store(tmp_path).close()  # opening again changes nothing


def test_database_newer_than_the_code_is_refused(tmp_path: Path, carrier_store: StoreFactory) -> None:
    url = carrier_store.url()
    open_store(tmp_path, url).close()
    if url is None:
        db = sqlite3.connect(tmp_path / "carrier.db")
        db.execute("PRAGMA user_version = 99")
        db.close()
    else:
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("INSERT INTO schema_version (version, name) VALUES (99, '0099_future.sql')")
    with pytest.raises(SchemaTooNew):
        open_store(tmp_path, url)


def test_replicas_starting_together_migrate_once(carrier_store: StoreFactory, tmp_path: Path) -> None:
    url = carrier_store.url() or f"sqlite:///{tmp_path / 'shared.db'}"
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def start() -> None:
        barrier.wait()
        try:
            open_store(tmp_path, url).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    if carrier_store.kind == "postgresql":
        import psycopg

        with psycopg.connect(url) as conn:
            versions = [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY version")]
        assert versions == [m.version for m in migrations("postgresql")]


def test_prune_removes_only_what_expired(carrier_store: StoreFactory, tmp_path: Path) -> None:
    store = open_store(tmp_path, carrier_store.url())
    store.add_device("d", bytes(32), "")
    store.add_nonce(b"o" * 32, "d", "t-old", 0, 1_000)
    store.add_nonce(b"n" * 32, "d", "t-new", 0, 10_000)
    store.add_token("old", 1_000)
    store.add_token("new", 10_000)
    report = store.prune(5_000, 5_000)
    assert (report.nonces, report.tokens) == (1, 1)
    assert store.nonce(b"o" * 32) is None and store.nonce(b"n" * 32) is not None
    assert not store.consume_token("old", 0) and store.consume_token("new", 0)
    store.close()


AUDIT_COLUMNS = {"device_id", "transaction_id", "receipt_id", "accepted_ms", "result_sha256", "counter", "decision",
                 "reason_codes", "liveness", "embedding_commitment", "signed_result"}


def test_audit_holds_the_signed_result_and_no_more(carrier_store: StoreFactory, tmp_path: Path) -> None:
    url = carrier_store.url()
    carrier = start_carrier(tmp_path / "c", store=url)
    try:
        dev = enrol_device(carrier)
        client = dev.client(carrier.target)
        nonce = bytes(client.get_nonce(dev.device_id, "t").nonce)
        signed = dev.sign(encode_result(dev.fields("t", nonce), 1, SystemClock().now_ms()))
        client.submit(signed)
    finally:
        carrier.stop()
    if url is None:
        db = sqlite3.connect(tmp_path / "c" / "carrier.db")
        columns = {r[1] for r in db.execute("PRAGMA table_info(audit)")}
        stored = db.execute("SELECT signed_result FROM audit").fetchone()[0]
    else:
        import psycopg

        with psycopg.connect(url) as conn:
            columns = {r[0] for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'audit' "
                "AND table_schema = current_schema()")}
            stored = conn.execute("SELECT signed_result FROM audit").fetchone()[0]  # type: ignore[index]
    assert columns == AUDIT_COLUMNS
    assert bytes(stored) == signed


def test_unreachable_postgresql_is_unavailable_not_a_traceback(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable):
        open_store(tmp_path, "postgresql://edge@127.0.0.1:1/carrier?connect_timeout=1")


def test_lost_database_connections_answer_unavailable_then_recover(tmp_path: Path) -> None:
    """Devices retry UNAVAILABLE; INTERNAL would make them mark the result rejected."""
    import psycopg

    factory = StoreFactory("postgresql")
    pg_url()
    carrier = start_carrier(tmp_path / "c", store=factory.url())
    try:
        dev = enrol_device(carrier)
        client = dev.client(carrier.target)
        with psycopg.connect(pg_url(), autocommit=True) as conn:
            killed = conn.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                  "WHERE application_name = 'edge-agent-carrier'").fetchone()
        assert killed is not None and killed[0] >= 1
        seen = []
        for _ in range(20):
            try:
                client.heartbeat(dev.device_id, 0, 0)
                seen.append("OK")
                break
            except grpc.RpcError as err:
                seen.append(err.code().name)  # type: ignore[attr-defined]
        assert seen[0] == "UNAVAILABLE" and seen[-1] == "OK", seen
        assert set(seen) <= {"UNAVAILABLE", "OK"}, seen
    finally:
        carrier.stop()
        factory.drop()


def test_nonce_issued_before_the_upgrade_still_serves_its_result(tmp_path: Path) -> None:
    """A result in flight across the upgrade to transaction-bound nonces is accepted, not lost."""
    carrier = start_carrier(tmp_path / "c")
    try:
        dev = enrol_device(carrier)
        db = sqlite3.connect(tmp_path / "c" / "carrier.db")
        now = SystemClock().now_ms()
        with db:  # as migration 0002 leaves a nonce issued by the old server
            db.execute("INSERT INTO nonces (nonce, device_id, transaction_id, issued_ms, expires_ms) "
                       "VALUES (?, ?, '', ?, ?)", (b"L" * 32, dev.device_id, now, now + 60_000))
        db.close()
        client = dev.client(carrier.target)
        signed = dev.sign(encode_result(dev.fields("in-flight", b"L" * 32), 1, now))
        assert not client.submit(signed).duplicate
        again = dev.sign(encode_result(dev.fields("another", b"L" * 32), 2, now))
        with pytest.raises(grpc.RpcError) as err:
            client.submit(again)
        assert err.value.details().startswith("nonce_used:")  # type: ignore[attr-defined]
    finally:
        carrier.stop()


def test_accept_current_changes_nothing_unless_all_is_as_expected(carrier_store: StoreFactory,
                                                                   tmp_path: Path) -> None:
    """The one-statement acceptance: any difference from what the server checked leaves every row as it was."""
    from edge_agent.reference_carrier.store import Acceptance, AuditRecord, Expected

    store = open_store(tmp_path, carrier_store.url())
    try:
        key = b"k" * 32
        store.add_device("dev-a", key, "cert-a")
        store.add_nonce(b"n" * 32, "dev-a", "t1", 1_000, 301_000)

        def record(counter: int = 3) -> AuditRecord:
            return AuditRecord(Acceptance("t1", "dev-a", f"rcpt-{counter}", 2_000, "ab" * 32), b"n" * 32, counter, 1,
                               "face_match", 1, b"c" * 32, b"signed")

        good = Expected("cert-a", key, 2_000, 120_000)
        for wrong in (Expected("cert-b", key, 2_000, 120_000), Expected("cert-a", b"x" * 32, 2_000, 120_000),
                      Expected("cert-a", key, 301_000 + 120_001, 120_000),
                      Expected("cert-a", key, 1_000 - 120_001, 120_000)):
            assert not store.accept_current(record(), wrong)
        assert store.audit_count() == 0
        assert store.device("dev-a").last_counter == 0  # type: ignore[union-attr]
        assert store.nonce(b"n" * 32).used_by is None  # type: ignore[union-attr]
        assert store.accept_current(record(), good)
        assert not store.accept_current(record(4), good)  # nonce used, transaction accepted: nothing changes
        assert store.audit_count() == 1
        assert store.device("dev-a").last_counter == 3  # type: ignore[union-attr]
        assert store.nonce(b"n" * 32).used_by == "t1"  # type: ignore[union-attr]
    finally:
        store.close()
