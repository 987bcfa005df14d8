"""``apt purge`` (debian/postrm) never deletes results the carrier has not acknowledged.

The maintainer script is run as written, its three absolute paths pointed into tmp (so the test touches
nothing of the machine's): pending results keep the state folder, renamed, with the decommission hint;
an outbox that cannot be read is kept too; a delivered outbox is purged as before.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from carrier_harness import Device

from edge_agent.attest.keys import DeviceKeys, MemoryKeyStore
from edge_agent.clock import SystemClock
from edge_agent.outbox.store import Outbox

POSTRM = Path(__file__).resolve().parents[1] / "debian" / "postrm"


def purge(root: Path) -> subprocess.CompletedProcess[str]:
    script = POSTRM.read_text()
    for path in ("/var/lib/edge-agent", "/etc/edge-agent", "/run/edge-agent"):
        assert path in script
        script = script.replace(path, str(root) + path)
    (root / "postrm").write_text(script)
    return subprocess.run(["sh", str(root / "postrm"), "purge"], capture_output=True, text=True, timeout=60)


def state_with(root: Path, pending: int, acked: int) -> Path:
    state = root / "var/lib/edge-agent"
    (root / "etc/edge-agent").mkdir(parents=True)
    keys = DeviceKeys(MemoryKeyStore())
    keys.ensure()
    device = Device("dev-purge", keys, None)  # type: ignore[arg-type]
    box = Outbox(state / "outbox.db", min_free_bytes=0)
    for i in range(pending + acked):
        box.put(device.fields(f"t{i}", b"n" * 32), device.sign)
        if i < acked:
            box.mark_acked(f"t{i}", f"rcpt-{i}", SystemClock().now_ms())
    box.close()
    return state


def test_purge_keeps_undelivered_results_and_says_where(tmp_path: Path) -> None:
    state = state_with(tmp_path, pending=2, acked=1)
    proc = purge(tmp_path)
    assert proc.returncode == 0, proc.stderr
    kept = list(state.parent.glob("edge-agent.undelivered-*"))
    assert not state.exists() and len(kept) == 1 and (kept[0] / "outbox.db").is_file()
    assert Outbox(kept[0] / "outbox.db").backlog() == 2
    assert "2 undelivered result(s)" in proc.stderr and str(kept[0]) in proc.stderr
    assert "edge-agent decommission" in proc.stderr
    assert not (tmp_path / "etc/edge-agent").exists()


def test_purge_keeps_an_outbox_it_cannot_read(tmp_path: Path) -> None:
    state = tmp_path / "var/lib/edge-agent"
    state.mkdir(parents=True)
    (state / "outbox.db").write_bytes(b"not a database")
    proc = purge(tmp_path)
    assert proc.returncode == 0 and "unknown undelivered" in proc.stderr
    assert list(state.parent.glob("edge-agent.undelivered-*")) and not state.exists()


def test_purge_deletes_a_delivered_state(tmp_path: Path) -> None:
    state = state_with(tmp_path, pending=0, acked=2)
    proc = purge(tmp_path)
    assert proc.returncode == 0 and proc.stderr == ""
    assert not state.exists() and not list(state.parent.glob("edge-agent.undelivered-*"))
