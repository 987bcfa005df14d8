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


def test_a_lost_outbox_does_not_restart_the_counter_and_the_carrier_accepts(tmp_path: Path) -> None:
    from carrier_harness import enrol_device, start_carrier

    from edge_agent.outbox.store import read_counter_mark

    carrier = start_carrier(tmp_path / "carrier")
    try:
        device = enrol_device(carrier)
        client = device.client(carrier.target)
        mark = tmp_path / "state" / "counter"
        mark.parent.mkdir()

        def deliver(box: Outbox, txn: str) -> int:
            nonce = bytes(client.get_nonce(device.device_id, txn).nonce)
            rec = box.put(device.fields(txn, nonce), device.sign)
            client.submit(rec.signed)
            return rec.counter

        box = Outbox(tmp_path / "state" / "outbox.db", counter_file=mark)
        assert [deliver(box, f"t{i}") for i in range(3)] == [1, 2, 3]
        box.close()
        for f in (tmp_path / "state").glob("outbox.db*"):  # a technician "resets" the outbox
            f.unlink()
        again = Outbox(tmp_path / "state" / "outbox.db", counter_file=mark)
        assert again.last_counter() == 0 and read_counter_mark(mark) == 3
        assert deliver(again, "t3") == 4  # accepted: the carrier saw the counter increase
        assert carrier.service.store.acceptance(device.device_id, "t3") is not None
        client.close()
    finally:
        carrier.server.stop(None)


def test_the_counter_mark_is_raised_before_the_counter_is_used_and_a_damaged_one_stops_signing(
        tmp_path: Path) -> None:
    mark = tmp_path / "counter"
    box = Outbox(tmp_path / "o.db", counter_file=mark)
    box.put(fields("a"), sign)
    assert mark.read_text() == "1" and mark.stat().st_mode & 0o777 == 0o600

    def crash(body: bytes) -> bytes:
        raise RuntimeError("power cut while signing")

    with pytest.raises(RuntimeError):
        box.put(fields("b"), crash)
    assert mark.read_text() == "2" and box.last_counter() == 1  # the mark moved first: 2 is skipped, never reused
    assert box.put(fields("b"), sign).counter == 3
    mark.write_text("garbage")
    with pytest.raises(OutboxCorrupt, match="counter file"):
        box.put(fields("c"), sign)
    old = Outbox(tmp_path / "old.db")  # an outbox from before the counter file: the file is created from it
    old.put(fields("x"), sign)
    old.close()
    Outbox(tmp_path / "old.db", counter_file=tmp_path / "new-counter")
    assert (tmp_path / "new-counter").read_text() == "1"


def test_prune_deletes_only_acknowledged_records_past_the_retention(tmp_path: Path) -> None:
    clock = FakeClock()
    box = Outbox(tmp_path / "o.db", clock=clock)
    for txn in ("acked-old", "acked-new", "rejected", "pending"):
        box.put(fields(txn), sign)
    day = 86_400_000
    box.mark_acked("acked-old", "r1", clock.now_ms())
    box.mark_rejected("rejected", "FAILED_PRECONDITION: nonce")
    clock.advance(10 * day)
    box.mark_acked("acked-new", "r2", clock.now_ms())
    assert box.prune(5 * day) == 1
    assert [r.txn_id for r in box.all()] == ["acked-new", "rejected", "pending"]
    assert box.last_counter() == 4 and box.put(fields("next"), sign).counter == 5
