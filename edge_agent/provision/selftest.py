"""``edge-agent selftest``: is this device fit to verify customers, and if not, what exactly is wrong.

Each check returns PASS, WARN (works, but needs attention soon) or FAIL
with one line a technician can act on. Checks never raise: an unexpected
error is that check's FAIL, and the remaining checks still run.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import shutil
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_agent.config import Config
from edge_agent.device import DeviceState
from edge_agent.errors import EdgeAgentError
from edge_agent.outbox.store import OutboxSummary

__all__ = ["FAIL", "FRAME_SHARES", "WARN", "CheckResult", "run_selftest"]

PASS, WARN, FAIL, SKIP = "PASS", "WARN", "FAIL", "SKIP"
MAX_SKEW_MS = 60_000  # the carrier tolerates 2 min on nonce freshness; fail well inside that
WARN_SKEW_MS = 5_000
CERT_WARN_DAYS = 30
MIN_FREE_BYTES = 64 * 1024 * 1024
CAMERA_FRAMES = 10
CAMERA_TIMEOUT_S = 10.0


@dataclass
class CheckResult:
    """One check's outcome: PASS, WARN, FAIL or SKIP, the line a technician acts on, and its figures."""

    name: str
    status: str
    detail: str
    seconds: float = 0.0
    data: dict[str, Any] = field(default_factory=dict)


Outcome = tuple[str, str, dict[str, Any]]


def _keys(state: DeviceState) -> Outcome:
    folder = state.root / "keys"
    if not folder.exists():
        return FAIL, f"no key folder {folder}: run edge-agent provision", {}
    problems = []
    if folder.stat().st_mode & 0o077:
        problems.append(f"{folder} is mode {folder.stat().st_mode & 0o777:o}, expected 700")
    names = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
    for name in names:
        st = (folder / name).stat()
        if st.st_mode & 0o077:
            problems.append(f"{name} is mode {st.st_mode & 0o777:o}, expected 600")
        if st.st_uid != os.getuid():
            problems.append(f"{name} belongs to uid {st.st_uid}, not to the agent (uid {os.getuid()})")
    for needed in ("signing.key", "commitment.secret", "tls.key"):
        if needed not in names:
            problems.append(f"{needed} missing")
    if problems:
        return FAIL, "; ".join(problems), {"keys": names}
    return PASS, f"{len(names)} keys, owner-only (0600 in a 0700 folder)", {"keys": names}


def _identity(state: DeviceState, now: dt.datetime) -> Outcome:
    from cryptography import x509

    ident = state.identity()
    cert = x509.load_pem_x509_certificate(ident.credentials.cert_pem)
    left = cert.not_valid_after_utc - now
    data = {"device_id": ident.device_id, "certificate_expires": cert.not_valid_after_utc.isoformat()}
    if left.total_seconds() <= 0:
        return FAIL, f"certificate expired on {cert.not_valid_after_utc:%Y-%m-%d}: run edge-agent rotate-keys", data
    if left.days < CERT_WARN_DAYS:
        return WARN, f"certificate expires in {left.days} days: run edge-agent rotate-keys", data
    return PASS, f"{ident.device_id}, certificate valid {left.days} more days", data


def _models(config: Config, state: DeviceState, trusted: Path) -> Outcome:
    from edge_agent.modelset.verify import verify_model_set

    out = verify_model_set(config.models.directory, state.root, trusted)
    if out["installed"] == "signed bundle":
        return PASS, f"signed set {out['version']} (key {out['signed_by']}): {out['files']} files verified", out
    if out["installed"] == "configured folder":
        return PASS, f"set {out['version']} from {out['path']}: {out['files']} files match the manifest", out
    return PASS, f"factory set {out['version']}: {out['files']} files match the manifest", out


# The share of liveness frames that run each model, as the session runs them on a loop as slow as a Pi's
# (bench/liveness.py --cost-only, every third frame of the real clips: docs/liveness-figures.json under
# cost/every_third_frame, which tests/test_selftest.py ties these to): the mesh on every frame, the detector
# every 5th frame and when the track is lost (the face is tracked by its mesh, vision/tracker.py), the eyelid
# model (two eyes) where openness is read, the embedder on the frames the continuity gate checks, the two PAD
# models on at most one frame in 3.
FRAME_SHARES = {"detect": 0.2, "eyes": 0.54, "embedded": 0.46, "pad": 0.34}


def _inference(config: Config, state: DeviceState) -> Outcome:
    """Each per-frame model on a synthetic input, median of 10, weighted by how often the liveness loop runs it,
    against the target's frame budget."""
    from edge_agent.modelset.install import model_directory
    from edge_agent.target import resolve_target
    from edge_agent.vision.manifest import Manifest
    from edge_agent.vision.pipeline import EMBEDDERS

    target = resolve_target(config.models.target)
    manifest = Manifest.load(model_directory(config.models.directory, state.root))
    keys = {"face_detection_short": FRAME_SHARES["detect"], "face_landmarks": 1.0,
            "eye_landmarks": 2 * FRAME_SHARES["eyes"],
            EMBEDDERS[config.models.precision]: FRAME_SHARES["embedded"],
            "antispoof_minifasnet_v2": FRAME_SHARES["pad"], "antispoof_minifasnet_v1se": FRAME_SHARES["pad"]}
    per_model = {}
    frame_ms = 0.0
    for key, calls in keys.items():
        model = manifest.load_model(key, num_threads=config.models.threads)
        inputs = [np.zeros(spec.shape, np.float32) for spec in model.inputs]
        model.run(*inputs)
        times = []
        for _ in range(10):
            t = time.perf_counter()
            model.run(*inputs)
            times.append((time.perf_counter() - t) * 1000)
        per_model[key] = round(statistics.median(times), 2)
        frame_ms += per_model[key] * calls
    if config.models.workers > 0:  # the loop thread runs detect and mesh; the workers the rest, beside it
        from edge_agent.liveness.workers import pooled_frame_ms

        pad = per_model["antispoof_minifasnet_v2"] + per_model["antispoof_minifasnet_v1se"]
        loop = per_model["face_detection_short"] * FRAME_SHARES["detect"] + per_model["face_landmarks"]
        frame_ms = pooled_frame_ms(loop, [(2 * per_model["eye_landmarks"], FRAME_SHARES["eyes"]),
                                          (per_model[EMBEDDERS[config.models.precision]], FRAME_SHARES["embedded"]),
                                          (pad, FRAME_SHARES["pad"])])
    # Inference is about 85 % of a frame (bench/run.py profile): leave the rest for our own processing.
    budget = target.frame_budget_ms * 0.85
    data = {"target": target.name, "threads": config.models.threads, "workers": config.models.workers,
            "per_model_ms": per_model,
            "inference_ms_per_frame": round(frame_ms, 1), "budget_ms": round(budget, 1)}
    detail = (f"{frame_ms:.1f} ms of inference per frame, budget {budget:.0f} ms "
              f"({target.name}, {target.fps:.0f} frames/s, {config.models.threads} threads, "
              f"{max(0, config.models.workers)} workers)")
    if frame_ms > budget:
        return FAIL, detail + ": too slow for live verification (another process hogging the CPU? throttling?)", data
    if frame_ms > budget * 0.7:
        return WARN, detail + ": little headroom", data
    return PASS, detail, data


def _camera(config: Config, state: DeviceState) -> Outcome:
    from edge_agent.camera.identity import PAIRING_FILE
    from edge_agent.camera.source import PiCameraSource, open_source
    from edge_agent.device import agent_lock
    from edge_agent.errors import AgentRunning
    from edge_agent.target import board_model

    cam = config.camera
    board = board_model()
    if cam.source == "picamera" and "Raspberry Pi" not in (board or ""):
        return SKIP, (f"camera.source is the Raspberry Pi camera but this board is not a Raspberry Pi "
                      f"({board or 'no /proc/device-tree/model'}): set camera.source to test another camera"), {}
    camera = cam.source
    try:
        with agent_lock(state.root, "selftest"):
            # The paired camera only: a virtual, unpaired or changed camera fails here with its reason.
            source = open_source(cam.source, width=cam.width, height=cam.height, fps=cam.fps,
                                 pairing=state.root / PAIRING_FILE)
            try:
                t0 = time.monotonic()
                shapes = []
                for frame, _t in source.frames():
                    shapes.append(frame.shape)
                    if len(shapes) >= CAMERA_FRAMES or time.monotonic() - t0 > CAMERA_TIMEOUT_S:
                        break
                elapsed = time.monotonic() - t0
                if isinstance(source, PiCameraSource) and source.model:
                    camera = f"Pi camera {source.model}"
            finally:
                source.close()
    except AgentRunning:
        return SKIP, "the running agent owns the camera; its Health reports camera problems per session", {}
    if len(shapes) < CAMERA_FRAMES:
        return FAIL, f"{cam.source}: only {len(shapes)} frames in {CAMERA_TIMEOUT_S:.0f} s", {}
    h, w = shapes[-1][:2]
    fps = len(shapes) / elapsed if elapsed > 0 else float("inf")
    data = {"source": cam.source, "camera": camera, "board": board, "width": w, "height": h, "frames": len(shapes),
            "fps": round(min(fps, 999), 1)}
    return PASS, f"{board or 'unknown board'}, {camera}: {len(shapes)} frames of {w}x{h}", data


def _read_outbox(state: DeviceState) -> OutboxSummary | None:
    from edge_agent.outbox.store import Outbox

    if not state.outbox_path.exists():
        return None
    box = Outbox(state.outbox_path)
    try:
        return box.summary()
    finally:
        box.close()


def _carrier(config: Config, state: DeviceState, backlog: int) -> Outcome:
    from edge_agent.carrier.client import CARRIER_ERRORS, CarrierClient

    ident = state.identity()
    target = config.carrier.target or ident.carrier_target
    client = CarrierClient(target, ident.credentials, deadline_s=config.carrier.deadline_s)
    try:
        t0 = time.time()
        resp = client.heartbeat(ident.device_id, int(t0 * 1000), backlog)
        t1 = time.time()
    except CARRIER_ERRORS as exc:
        return FAIL, f"{target} refused or unreachable with the device certificate: {exc.status} " \
                     f"{exc.detail}".strip(), {"target": target}
    finally:
        client.close()
    rtt_ms = (t1 - t0) * 1000
    skew = resp.server_time_unix_ms - (t0 * 1000 + rtt_ms / 2)
    data = {"target": target, "round_trip_ms": round(rtt_ms, 1), "clock_skew_ms": round(skew)}
    detail = f"{target} accepts the device certificate; round trip {rtt_ms:.0f} ms, clock skew {skew / 1000:+.1f} s"
    if abs(skew) > MAX_SKEW_MS:
        return FAIL, detail + ": fix the clock (timedatectl; is NTP reachable?)", data
    if abs(skew) > WARN_SKEW_MS:
        return WARN, detail + ": check NTP", data
    return PASS, detail, data


def _counter_mark(state: DeviceState) -> int:
    from edge_agent.outbox.store import COUNTER_FILE, read_counter_mark

    return read_counter_mark(state.root / COUNTER_FILE)


def _outbox(summary: OutboxSummary | None, now_ms: int, mark: int = 0) -> Outcome:
    last = summary.last_counter if summary is not None else 0
    if mark > last:
        return WARN, (f"the outbox was lost or replaced: this device signed results up to counter {mark}, the "
                      f"outbox holds {last}; undelivered results among them are gone (tell the carrier), new "
                      "results continue from the mark (docs/hostile-input.md#counter)"), {"counter_mark": mark,
                                                                                           "outbox_counter": last}
    if summary is None:
        return PASS, "empty (no results yet)", {"pending": 0}
    s = summary
    oldest_h = (now_ms - s.oldest_pending_ms) / 3_600_000 if s.oldest_pending_ms is not None else 0.0
    data = {"pending": s.pending, "rejected": s.rejected, "oldest_pending_hours": round(oldest_h, 2)}
    detail = f"{s.pending} pending, {s.rejected} rejected, {s.acknowledged} acknowledged"
    if s.rejected:
        return WARN, detail + ": the carrier refused some results (edge-agent status; tell the carrier)", data
    if s.pending and oldest_h > 1:
        return WARN, detail + f"; oldest waiting {oldest_h:.1f} h (carrier unreachable?)", data
    return PASS, detail, data


def _disk(state: DeviceState) -> Outcome:
    usage = shutil.disk_usage(state.root if state.root.exists() else state.root.parent)
    data = {"free_bytes": usage.free, "total_bytes": usage.total}
    detail = f"{usage.free / 1e6:.0f} MB free of {usage.total / 1e9:.1f} GB"
    if usage.free < 16 * 1024 * 1024:
        return FAIL, detail + ": the outbox refuses new results below 16 MB", data
    if usage.free < MIN_FREE_BYTES:
        return WARN, detail + ": free some space", data
    return PASS, detail, data


def run_selftest(config: Config, state_dir: Path, trusted: Path,
                 on_progress: Callable[[int, int, str, CheckResult | None], None] | None = None) -> list[CheckResult]:
    """Every check in order, each timed; ``on_progress`` hears before and after each, for a live display."""
    config = config.effective()
    state = DeviceState(state_dir)
    # Read once for both the heartbeat's backlog and the outbox check; a read error is the outbox check's FAIL
    # (not cached, so that check raises it again) and the heartbeat then reports no backlog.
    outbox = functools.cache(lambda: _read_outbox(state))

    def backlog() -> int:
        try:
            summary = outbox()
        except EdgeAgentError:
            return 0
        return summary.pending if summary else 0

    now = dt.datetime.now(dt.UTC)
    checks: list[tuple[str, Callable[[], Outcome]]] = [
        ("keys", lambda: _keys(state)),
        ("identity", lambda: _identity(state, now)),
        ("models", lambda: _models(config, state, trusted)),
        ("inference", lambda: _inference(config, state)),
        ("camera", lambda: _camera(config, state)),
        ("carrier", lambda: _carrier(config, state, backlog())),
        ("outbox", lambda: _outbox(outbox(), int(now.timestamp() * 1000), _counter_mark(state))),
        ("disk", lambda: _disk(state)),
    ]
    results = []
    for i, (name, fn) in enumerate(checks, 1):
        if on_progress:
            on_progress(i, len(checks), name, None)
        t0 = time.perf_counter()
        try:
            status, detail, data = fn()
        except EdgeAgentError as exc:
            status, detail, data = FAIL, f"{exc.code}: {exc}", {}
        except Exception as exc:  # a check must never stop the others
            status, detail, data = FAIL, f"unexpected {type(exc).__name__}: {exc}", {}
        result = CheckResult(name, status, detail, time.perf_counter() - t0, data)
        results.append(result)
        if on_progress:
            on_progress(i, len(checks), name, result)
    return results
