"""The sender outlives a full disk: a tiny tmpfs state folder is filled (bytes, then inodes) and freed again.

Before, one write error under the outbox killed the sender thread for good: results stayed pending until a
restart while Health said healthy. Now every result is delivered once the disk is freed and the carrier is
back, by the same thread; meanwhile Health names the fault, a full disk is refused before a session starts,
and no inodes is ``outbox_full``, not ``UNKNOWN [Errno 28]``. Needs root (mount).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from carrier_harness import Device, enrol_device, start_carrier

from edge_agent._proto import agent_pb2 as apb
from edge_agent.attest.keys import DeviceKeys, MemoryKeyStore
from edge_agent.carrier.sender import Sender, SenderWatch
from edge_agent.config import Config
from edge_agent.errors import OutboxFull
from edge_agent.outbox.store import Outbox
from edge_agent.recorder import ResultRecorder
from edge_agent.service.daemon import Agent

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounts a tmpfs: needs root")


@pytest.fixture
def tiny(tmp_path: Path) -> Iterator[Path]:
    """A 6 MB, 48-inode tmpfs as the device's state folder."""
    mnt = tmp_path / "state"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m,nr_inodes=48,mode=0700", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(folder: Path) -> list[Path]:
    """Take every free block, then every free inode, under ``folder``; returns what to delete to free them."""
    made = [folder / "filler"]
    with open(made[0], "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
        with contextlib.suppress(OSError):
            f.close()
    for i in range(10_000):
        try:
            (folder / f"inode-{i}").touch()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
            break
        made.append(folder / f"inode-{i}")
    return made


def wait(what: str, ok: Callable[[], object], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not ok():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@needs_root
def test_a_full_disk_does_not_stop_delivery_and_every_result_arrives_without_a_restart(tmp_path: Path,
                                                                                       tiny: Path) -> None:
    carrier = start_carrier(tmp_path / "c")
    port, enroll_port = carrier.server.port, carrier.server.enroll_port
    dev = enrol_device(carrier)
    client = dev.carrier_client(carrier.target, deadline_s=2)
    nonces = {f"t{i}": bytes(client.get_nonce(dev.device_id, f"t{i}").nonce) for i in range(10)}
    box = Outbox(tiny / "outbox.db", counter_file=tiny / "counter", min_free_bytes=512 * 1024, min_free_inodes=4)
    sender = Sender(Outbox(tiny / "outbox.db"), client.submit, base_ms=100, cap_ms=1000)
    stop = threading.Event()
    thread = threading.Thread(target=sender.run, args=(stop,), kwargs={"idle_s": 0.1}, daemon=True)
    thread.start()
    watch = SenderWatch(sender, thread, stuck_after_s=60)
    try:
        box.put(dev.fields("t0", nonces["t0"]), dev.sign)
        wait("t0 acknowledged", lambda: box.get("t0").state == "acked")
        carrier.stop()
        for txn in ("t1", "t2", "t3", "t4"):
            box.put(dev.fields(txn, nonces[txn]), dev.sign)
        wait("a retry recorded", lambda: box.get("t1").attempts >= 1)
        made = fill(tiny)
        with pytest.raises(OutboxFull, match=r"bytes free|inodes free"):
            box.put(dev.fields("t5", nonces["t5"]), dev.sign)
        wait("the sender to hit the full disk", lambda: sender.failures > 0)
        assert thread.is_alive() and watch.alive()
        assert watch.problem().startswith("sender_failing") and "outbox_full" in watch.problem()
        for path in made:
            path.unlink()
        carrier = start_carrier(tmp_path / "c", port=port, enroll_port=enroll_port)
        for txn in ("t5", "t6", "t7", "t8", "t9"):
            box.put(dev.fields(txn, nonces[txn]), dev.sign)
        wait("every result delivered", lambda: box.backlog() == 0, timeout=90)
        assert [r.state for r in box.all()] == ["acked"] * 10 and all(r.receipt for r in box.all())
        assert thread.is_alive() and watch.problem() == ""
    finally:
        stop.set()
        thread.join(10)
        carrier.stop()
        box.close()


@needs_root
def test_no_inodes_is_outbox_full_and_a_session_is_refused_before_the_challenge(tmp_path: Path, tiny: Path) -> None:
    keys = DeviceKeys(MemoryKeyStore())
    keys.ensure()
    box = Outbox(tiny / "outbox.db", counter_file=tiny / "counter", min_free_bytes=64 * 1024, min_free_inodes=4)
    recorder = ResultRecorder("dev-full", keys, box, "0" * 64)
    agent = Agent(Config(), object(), recorder, None, "dev-full", lambda: None)  # type: ignore[arg-type,return-value]
    for i in range(10_000):  # inodes only: bytes stay free
        try:
            (tiny / f"inode-{i}").touch()
        except OSError:
            break
    with pytest.raises(OutboxFull, match="inodes"):
        box.check_space()
    device = Device("dev-full", keys, None)  # type: ignore[arg-type]
    with pytest.raises(OutboxFull):  # was an OSError from the counter file: UNKNOWN [Errno 28]
        box.put(device.fields("t1", b"n" * 32), device.sign)
    request = apb.StartRequest(transaction_id="t-full", reference_photo=b"\xff\xd8", carrier_nonce=b"")
    with pytest.raises(OutboxFull):  # before the camera opens, not after the customer's whole challenge
        next(agent._start(request, None))  # type: ignore[arg-type]
    box.close()


def test_health_names_a_dead_or_stuck_sender_and_the_watchdog_sees_it(tmp_path: Path) -> None:
    sender = Sender(Outbox(tmp_path / "outbox.db"), lambda b: None)  # type: ignore[arg-type,return-value]
    dead = threading.Thread(target=lambda: None)
    dead.start()
    dead.join()
    agent = Agent(Config(), None, None, None, "dev", lambda: None)  # type: ignore[arg-type,return-value]
    assert agent.Health(apb.HealthRequest(), None).healthy  # type: ignore[arg-type]
    agent.sender_watch = SenderWatch(sender, dead)
    health = agent.Health(apb.HealthRequest(), None)  # type: ignore[arg-type]
    assert not health.healthy and health.problems[0].startswith("sender_dead")
    assert not agent.sender_watch.alive()
    stop = threading.Event()
    running = threading.Thread(target=stop.wait)
    running.start()
    try:
        stuck = SenderWatch(sender, running, stuck_after_s=0.2)
        assert stuck.alive() and stuck.problem() == ""
        time.sleep(0.3)
        assert not stuck.alive() and stuck.problem().startswith("sender_stuck")
    finally:
        stop.set()


def test_a_sender_round_that_raises_anything_is_logged_and_retried(tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    box = Outbox(tmp_path / "outbox.db")
    sender = Sender(box, lambda b: None, base_ms=20, cap_ms=50)  # type: ignore[arg-type,return-value]
    calls = {"n": 0}
    real = box.next_pending

    def flaky() -> object:
        calls["n"] += 1
        if calls["n"] <= 3:
            raise RuntimeError("a bug in a round")
        return real()

    box.next_pending = flaky  # type: ignore[method-assign,assignment]
    stop = threading.Event()
    thread = threading.Thread(target=sender.run, args=(stop,), kwargs={"idle_s": 0.05})
    thread.start()
    wait("rounds after the failures", lambda: calls["n"] > 5, timeout=20)
    assert thread.is_alive() and sender.failures == 0
    stop.set()
    thread.join(5)
    assert "sender_error" in caplog.text and "Traceback" not in caplog.text


def test_outbox_files_are_0600_whatever_the_umask(tmp_path: Path) -> None:
    keys = DeviceKeys(MemoryKeyStore())
    keys.ensure()
    old = os.umask(0)
    try:
        box = Outbox(tmp_path / "outbox.db", min_free_bytes=0)
        ResultRecorder("dev-mode", keys, box, "0" * 64)
        box._db.execute("UPDATE meta SET value = value WHERE key = 'last_counter'")
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    finally:
        os.umask(old)
        box.close()
    assert {"outbox.db", "outbox.db-wal", "outbox.db-shm"} <= set(modes)
    assert set(modes.values()) == {0o600}, modes
