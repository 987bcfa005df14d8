"""The outbox on a real SQLite file: order, durability, refusal when full, corruption found loudly."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge_agent.attest.result import ResultFields, parse_signed, sign_result, verify_signed_result
from edge_agent.clock import FakeClock
from edge_agent.outbox.store import DuplicateTransaction, Outbox, OutboxCorrupt, OutboxFull

KEY = Ed25519PrivateKey.generate()


def fields(txn: str) -> ResultFields:
    return ResultFields(txn, "dev-1", b"n" * 32, "a" * 64, True)


def sign(b: bytes) -> bytes:
    return sign_result(KEY, b)


def test_counters_increase_and_order_is_kept(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", clock=FakeClock())
    recs = [box.put(fields(f"t{i}"), sign) for i in range(5)]
    assert [r.counter for r in recs] == [1, 2, 3, 4, 5]
    assert verify_signed_result(parse_signed(recs[2].signed), KEY.public_key()).counter == 3
    assert box.next_pending().txn_id == "t0"  # type: ignore[union-attr]
    box.mark_acked("t0", "r", 1)
    assert box.next_pending().txn_id == "t1"  # type: ignore[union-attr]
    assert box.backlog() == 4


def test_put_is_durable_across_reopen(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    box.put(fields("a"), sign)
    box.close()
    again = Outbox(tmp_path / "o.db")
    assert again.get("a").state == "pending"
    assert again.put(fields("b"), sign).counter == 2
    assert (tmp_path / "o.db").stat().st_mode & 0o777 == 0o600


def test_duplicate_transaction_keeps_the_first(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    first = box.put(fields("a"), sign)
    with pytest.raises(DuplicateTransaction):
        box.put(fields("a"), sign)
    assert box.get("a") == first
    assert box.last_counter() == 1


def test_full_outbox_refuses_new_results_and_keeps_old_ones(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", max_pages=12)
    stored = []
    with pytest.raises(OutboxFull):
        for i in range(10_000):
            stored.append(box.put(fields(f"t{i}"), sign).txn_id)
    assert len(stored) > 3
    assert [r.txn_id for r in box.all()] == stored
    assert box.last_counter() == len(stored)


def test_low_disk_space_refuses(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", min_free_bytes=2**62)
    with pytest.raises(OutboxFull, match="bytes free"):
        box.put(fields("a"), sign)


def test_garbage_file_is_reported_not_replaced(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    path.write_bytes(b"definitely not sqlite" * 100)
    with pytest.raises(OutboxCorrupt, match="left untouched"):
        Outbox(path)
    assert path.read_bytes().startswith(b"definitely not sqlite")


def test_torn_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    box = Outbox(path)
    for i in range(200):
        box.put(fields(f"t{i}"), sign)
    box._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    box.close()
    data = bytearray(path.read_bytes())
    for off in range(4096 * 2, len(data), 4096):  # scribble over every b-tree page but the first two
        data[off + 8: off + 40] = b"\xff" * 32
    path.write_bytes(bytes(data))
    with pytest.raises(OutboxCorrupt):
        box = Outbox(path)
        box.all()


def test_tampered_record_is_refused(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    box.put(fields("a"), sign)
    db = sqlite3.connect(tmp_path / "o.db")
    db.execute("UPDATE outbox SET signed = CAST(x'00' || signed AS BLOB)")
    db.commit()
    with pytest.raises(OutboxCorrupt, match="digest"):
        box.next_pending()
