"""Which camera each device's accepted results came from, as runs: the fleet-side half of camera pairing.

A device refuses frames from a camera other than the one it paired, until a
technician pairs again (``edge-agent camera pair``), and signs the paired
camera's digest into every result (``Result.camera_sha256``). A device
cannot see who re-paired it. The carrier can: a change of digest in a
device's history is either a technician's visit or a swapped capture device
(an injection attack, CEN/TS 18099). This module finds those changes, and
the operations team checks each against the store's work orders.

Pure logic over the audit's signed bytes, which were verified when they were
accepted; nothing here trusts them for anything but this report.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from edge_agent.attest.result import MalformedResult, parse_result, parse_signed
from edge_agent.reference_carrier.store import AuditedResult

__all__ = ["CameraRun", "camera_runs", "changed_devices"]


@dataclass(frozen=True)
class CameraRun:
    """Consecutive accepted results of one device that carried the same camera digest."""

    device_id: str
    camera_sha256: str  # hex; "" for results made from a file (the demo), "unreadable" if the bytes do not parse
    first_counter: int
    last_counter: int
    first_accepted_ms: int
    last_accepted_ms: int
    results: int


def _digest(signed_result: bytes) -> str:
    try:
        return parse_result(parse_signed(signed_result).result).camera_sha256.hex()
    except MalformedResult:
        return "unreadable"


def camera_runs(rows: Iterable[AuditedResult]) -> list[CameraRun]:
    """Runs of one digest, in each device's counter order (``rows`` as the store returns them: by device and
    counter). A camera swapped and swapped back gives three runs, not two cameras."""
    runs: list[CameraRun] = []
    for row in rows:
        digest = _digest(row.signed_result)
        last = runs[-1] if runs else None
        if last is not None and last.device_id == row.device_id and last.camera_sha256 == digest:
            runs[-1] = CameraRun(last.device_id, digest, last.first_counter, row.counter, last.first_accepted_ms,
                                 row.accepted_at_ms, last.results + 1)
        else:
            runs.append(CameraRun(row.device_id, digest, row.counter, row.counter, row.accepted_at_ms,
                                  row.accepted_at_ms, 1))
    return runs


def changed_devices(runs: list[CameraRun]) -> list[str]:
    """Devices whose results came from more than one run of cameras, in the order they first appear."""
    return [device for device, count in Counter(run.device_id for run in runs).items() if count > 1]
