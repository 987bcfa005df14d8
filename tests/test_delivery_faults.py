"""Delivery under faults: a carrier that is down, then up; a device killed at every step of put/submit/ack.

Every test that talks to a carrier runs on both carrier stores (SQLite, PostgreSQL).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from carrier_harness import StoreFactory, enrol_device, start_carrier

from edge_agent.attest.keys import FileKeyStore
from edge_agent.carrier.sender import Sender
from edge_agent.clock import FakeClock, SystemClock
from edge_agent.outbox.store import Outbox
from edge_agent.reference_carrier.server import ServerConfig

WORKER = Path(__file__).with_name("outbox_worker.py")
CRASH_POINTS = [
    "outbox.put.before_commit", "outbox.put.after_commit", "sender.before_submit",
    "sender.after_submit", "outbox.ack.before_commit", "outbox.ack.after_commit",
]


def test_carrier_down_for_the_whole_run_then_up(tmp_path: Path, carrier_store: StoreFactory) -> None:
    carrier = start_carrier(tmp_path / "c", store=carrier_store.url())
    port, enroll_port = carrier.server.port, carrier.server.enroll_port
    dev = enrol_device(carrier)
    client = dev.carrier_client(carrier.target, deadline_s=2)
    nonces = {f"t{i}": bytes(client.get_nonce(dev.device_id, f"t{i}").nonce) for i in range(20)}
    carrier.stop()

    clock = FakeClock(SystemClock().now_ms())
    box = Outbox(tmp_path / "outbox.db", clock=clock)
    sender = Sender(box, client.submit, clock=clock)
    for txn, nonce in nonces.items():
        box.put(dev.fields(txn, nonce), dev.sign)
        assert sender.drain().waiting
    for _ in range(8):  # hours of outage, as far as the backoff can tell
        clock.advance(3_600_000)
        assert sender.drain().waiting
    rec = box.next_pending()
    assert rec is not None and rec.attempts >= 5 and "UNAVAILABLE" in (rec.last_error or "")
    assert box.backlog() == 20

    carrier = start_carrier(tmp_path / "c", store=carrier_store.url(), port=port, enroll_port=enroll_port)
    try:
        acked = rejected = 0
        deadline = time.monotonic() + 30
        while box.backlog() and time.monotonic() < deadline:  # the channel reconnects after its own backoff
            clock.advance(120_000)
            report = sender.drain()
            acked, rejected = acked + report.acked, rejected + report.rejected
            time.sleep(0.2)
        assert (acked, rejected) == (20, 0)
        assert box.backlog() == 0
        assert carrier.service.store.audit_transactions() == list(nonces)  # type: ignore[attr-defined]
        # Everything again: the carrier answers duplicates with the original receipts, stores nothing new.
        for r in box.all():
            assert client.submit(r.signed).duplicate
        assert carrier.service.store.audit_count() == 20  # type: ignore[attr-defined]
    finally:
        carrier.stop()


def test_non_retryable_rejection_is_kept_and_does_not_block(tmp_path: Path, carrier_store: StoreFactory) -> None:
    carrier = start_carrier(tmp_path / "c", store=carrier_store.url())
    try:
        dev = enrol_device(carrier)
        client = dev.carrier_client(carrier.target)
        box = Outbox(tmp_path / "outbox.db")
        box.put(dev.fields("bad", b"x" * 32), dev.sign)  # a nonce the carrier never issued
        box.put(dev.fields("good", bytes(client.get_nonce(dev.device_id, "good").nonce)), dev.sign)
        report = Sender(box, client.submit).drain()
        assert (report.acked, report.rejected) == (1, 1)
        bad = box.get("bad")
        assert bad.state == "rejected" and "FAILED_PRECONDITION" in (bad.last_error or "")
    finally:
        carrier.stop()


def test_backoff_has_jitter_and_a_cap() -> None:
    import random

    s = Sender(None, lambda b: None, rng=random.Random(1), base_ms=500, cap_ms=60_000)  # type: ignore[arg-type]
    waits = [s.backoff_ms(a) for a in range(40)]
    assert max(waits) <= 60_000
    assert len(set(waits)) == len(waits)


def _device_state(tmp_path: Path, carrier) -> tuple[Path, str]:
    dev = enrol_device(carrier)
    state = tmp_path / "device"
    store = FileKeyStore(state / "keys")
    for name in dev.keys.store.names():
        store.put(name, dev.keys.store.get(name))  # type: ignore[arg-type]
    for name, data in (("ca.pem", dev.creds.ca_pem), ("tls.key", dev.creds.key_pem), ("tls.pem", dev.creds.cert_pem)):
        (state / name).write_bytes(data)
    return state, dev.device_id


def _run_worker(state: Path, target: str, device_id: str, prefix: str, count: int,
                crash: str | None) -> tuple[int, list[str]]:
    env = dict(os.environ)
    env.pop("EDGE_AGENT_CRASH_AT", None)
    if crash:
        env["EDGE_AGENT_CRASH_AT"] = crash
    proc = subprocess.run(
        [sys.executable, str(WORKER), "--state", str(state), "--target", target, "--device-id", device_id,
         "--prefix", prefix, "--count", str(count)],
        capture_output=True, text=True, env=env, timeout=120,
    )
    acked = [line.split()[1] for line in proc.stdout.splitlines() if line.startswith("ACKED ")]
    return proc.returncode, acked


@pytest.mark.slow
def test_sigkill_at_every_step_loses_nothing_and_duplicates_nothing(tmp_path: Path,
                                                                   carrier_store: StoreFactory) -> None:
    # One device asks for several hundred nonces in a few seconds here, far past the per-device rate limit a
    # store device meets (reference_carrier/ratelimit.py): this test is about crashes, so the limit is lifted.
    unlimited = ServerConfig(nonce_rate_per_s=10_000.0, nonce_burst=10_000.0)
    carrier = start_carrier(tmp_path / "c", store=carrier_store.url(), config=unlimited)
    try:
        state, device_id = _device_state(tmp_path, carrier)
        told_safe: list[str] = []
        kills = 0
        for rnd in range(9):
            for point in CRASH_POINTS:
                for nth in range(1, 5):
                    code, acked = _run_worker(state, carrier.target, device_id, f"r{rnd}-{point}-{nth}", 4,
                                              f"{point}@{nth}")
                    assert code == -signal.SIGKILL, f"{point}@{nth} did not fire"
                    kills += 1
                    told_safe += acked
        code, _ = _run_worker(state, carrier.target, device_id, "recovery", 0, None)
        assert code == 0
        assert kills >= 200

        box = Outbox(state / "outbox.db")
        records = {r.txn_id: r for r in box.all()}
        accepted = carrier.service.store.audit_transactions()  # type: ignore[attr-defined]
        # Nothing acknowledged to the caller is lost: stored, delivered, accepted.
        assert set(told_safe) <= set(records)
        assert all(records[t].state == "acked" for t in told_safe)
        assert set(told_safe) <= set(accepted)
        # Nothing accepted twice, nothing unknown accepted, nothing rejected.
        assert len(accepted) == len(set(accepted))
        assert set(accepted) == {t for t, r in records.items() if r.state == "acked"}
        assert all(r.state == "acked" for r in records.values())
        counters = [r.counter for r in box.all()]
        assert counters == sorted(set(counters))
        print(f"\n[kill test] {kills} SIGKILLs, {len(told_safe)} results acknowledged, {len(accepted)} accepted once")
    finally:
        carrier.stop()


def test_encode_result_has_no_embedding_field() -> None:
    """The wire form carries only the 32-byte commitment, never the vector (structural check)."""
    from edge_agent._proto import carrier_pb2 as pb

    names = {f.name for f in pb.Result.DESCRIPTOR.fields}
    assert not any("embedding" in n and n != "embedding_commitment" for n in names)
    assert not any(word in n for n in names for word in ("image", "photo", "crop", "frame"))


def test_background_sender_delivers_while_results_arrive(tmp_path: Path, carrier_store: StoreFactory) -> None:
    import threading

    carrier = start_carrier(tmp_path / "c", store=carrier_store.url())
    try:
        dev = enrol_device(carrier)
        client = dev.carrier_client(carrier.target)
        box = Outbox(tmp_path / "outbox.db")
        sender = Sender(Outbox(tmp_path / "outbox.db"), client.submit)  # its own connection, as in the daemon
        stop = threading.Event()
        thread = threading.Thread(target=sender.run, args=(stop, 0.05))
        thread.start()
        for i in range(10):
            box.put(dev.fields(f"t{i}", bytes(client.get_nonce(dev.device_id, f"t{i}").nonce)), dev.sign)
        deadline = time.monotonic() + 20
        while box.backlog() and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()
        thread.join(5)
        assert not thread.is_alive()
        assert box.backlog() == 0
        assert carrier.service.store.audit_count() == 10  # type: ignore[attr-defined]
    finally:
        carrier.stop()
