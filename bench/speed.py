#!/usr/bin/env python3
"""Per-stage latency, liveness-loop throughput, overhead profile and peak memory: ours (int8 / float, 1-4 threads)
beside dlib's pipeline.

Each configuration runs in its own subprocess, so its peak RSS is its own.
Stages are timed on a camera-sized frame (a deepface photo scaled to 640 px
wide and cropped to 4:3, as a Pi camera stream would deliver) over ``--runs`` repetitions after
warm-up; the median and the 90th percentile are reported. The liveness loop
runs a rendered live scene (the same photo animated through a challenge)
frame by frame, as the daemon does, and reports sustained frames per second
with and without MiniFASNet; "outside invoke" is the share of the loop's
time not spent inside the TFLite interpreter (pre/post-processing, copies,
Python). One verification end to end is: decode and analyse the reference
photo, the whole liveness session on the clip, match, sign and commit to a
real SQLite outbox. dlib's pipeline (HOG detector with one upsample,
5-point shape predictor, ResNet descriptor) runs on the same frame.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import RESULTS, DlibPipeline, deepface_dir

FRAME_WIDTH = 640
SEED = 3


def frame(path: Path, width: int = FRAME_WIDTH) -> np.ndarray:
    """The photo as a 4:3 camera frame (640x480 by default): scaled to the width, centre rows kept."""
    from edge_agent.vision.image import read_image

    rgb = read_image(path)
    h, w = rgb.shape[:2]
    rgb = cv2.resize(rgb, (width, round(h * width / w)), interpolation=cv2.INTER_AREA)
    rows = width * 3 // 4
    if rgb.shape[0] > rows:
        top = (rgb.shape[0] - rows) // 2
        rgb = np.ascontiguousarray(rgb[top:top + rows])
    return rgb


def timed(fn: Callable[[], object], runs: int, warmup: int = 3) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def _dlib_stages(rgb: np.ndarray, runs: int) -> dict[str, list[float]]:
    dl = DlibPipeline()
    det = dl.detector(rgb, 1)[0]
    shape = dl.predictor(rgb, det)
    return {
        "detect": timed(lambda: dl.detector(rgb, 1), runs),
        "landmarks": timed(lambda: dl.predictor(rgb, det), runs),
        "align+embed": timed(lambda: dl.encoder.compute_face_descriptor(rgb, shape), runs),
        "end to end (one frame)": timed(lambda: dl.embed(rgb), runs),
    }


def _logic_stage(pipe: Any, mesh: np.ndarray, contours: list[np.ndarray], runs: int) -> list[float]:
    """Pure-Python liveness logic per frame: pose, eye openness, parallax bookkeeping, state machine."""
    from edge_agent.liveness.challenge import Challenge, random_actions
    from edge_agent.liveness.parallax import ParallaxEvidence
    from edge_agent.liveness.signals import FrameSignals, head_pose
    from edge_agent.vision.eyes import openness

    challenge = Challenge(random_actions(random.Random(SEED)))
    parallax = ParallaxEvidence()
    clock = iter(range(0, 10**9, 66))

    def step() -> None:
        yaw, pitch, roll = head_pose(mesh, (480, 640))
        eye = (openness(contours[0]) + openness(contours[1])) / 2
        parallax.add(yaw, mesh)
        challenge.update(FrameSignals(next(clock), 1, eye, yaw, pitch, roll, 0.3, (0.5, 0.5), 0.99))

    return timed(step, runs)


def _models(pipe: Any, eyes: Any, antispoof: Any) -> list[Any]:
    models = [pipe.detector.short.model, pipe.landmarker.model, pipe.embedder.model, eyes.model]
    if pipe.detector.full is not None:
        models.append(pipe.detector.full.model)
    if antispoof is not None:
        models += [m for m, _ in antispoof.models]
    return models


def _loop(pipe: Any, eyes: Any, antispoof: Any, scene: Any) -> dict[str, float]:
    """One liveness session over the scene: sustained frames/s and the share of time outside invoke()."""
    from edge_agent.liveness.challenge import random_actions
    from edge_agent.verification import liveness_session

    models = _models(pipe, eyes, antispoof)
    for m in models:
        m.invoke_ms, m.invokes = 0.0, 0
    session = liveness_session(pipe, random_actions(random.Random(SEED)), antispoof=antispoof)
    t0 = time.perf_counter()
    result = session.run_to_end(scene)
    wall = (time.perf_counter() - t0) * 1000
    frames = result.frames
    invoke = sum(m.invoke_ms for m in models)
    return {"frames": frames, "fps": frames * 1000 / wall, "ms_per_frame": wall / frames,
            "invoke_ms_per_frame": invoke / frames, "outside_invoke_share": 1 - invoke / wall,
            "live": result.live}


def _verification(pipe: Any, eyes: Any, antispoof: Any, image: Path, scene: Any) -> float:
    """Decode + analyse the reference, the session on the clip, match, sign, commit to a real outbox."""
    from edge_agent.attest.keys import DeviceKeys, MemoryKeyStore
    from edge_agent.liveness.challenge import random_actions
    from edge_agent.outbox.store import Outbox
    from edge_agent.recorder import ResultRecorder
    from edge_agent.verification import decide_session, liveness_session, reference_of
    from edge_agent.vision.image import read_image

    with tempfile.TemporaryDirectory() as tmp:
        outbox = Outbox(Path(tmp) / "outbox.db")
        keys = DeviceKeys(MemoryKeyStore())
        keys.ensure()
        recorder = ResultRecorder("dev-bench", keys, outbox, pipe.manifest.sha256)
        t0 = time.perf_counter()
        reference = reference_of(pipe, read_image(image))
        session = liveness_session(pipe, random_actions(random.Random(SEED)), antispoof=antispoof)
        session.run_to_end(scene)
        decision = decide_session(session, reference)
        live, match = decision.live, decision.match
        recorder.record(f"txn-{time.monotonic_ns()}", os.urandom(32), match, live.embedding,
                        liveness=live.verdict, reasons=tuple(live.reasons))
        ms = (time.perf_counter() - t0) * 1000
        outbox.close()
    return ms


def _hotspots(pipe: Any, eyes: Any, antispoof: Any, scene: Any, top: int = 12) -> list[dict[str, Any]]:
    """Where the loop's time goes outside invoke(): cProfile's own-time ranking, invoke excluded."""
    prof = cProfile.Profile()
    prof.enable()
    _loop(pipe, eyes, antispoof, scene)
    prof.disable()
    stats = pstats.Stats(prof)
    rows = []
    total = 0.0
    for (file, line, fn), (_cc, nc, tt, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        total += tt
        if "Invoke" in fn:  # the interpreter itself: what the share outside invoke excludes
            continue
        rows.append({"function": f"{Path(file).name}:{line} {fn}", "calls": nc, "own_ms": tt * 1000})
    rows.sort(key=lambda r: -r["own_ms"])
    for r in rows:
        r["share"] = r["own_ms"] / (total * 1000)
    return rows[:top]


def worker(kind: str, threads: int, image: Path, runs: int, width: int, profile: bool) -> dict[str, Any]:
    rgb = frame(image, width)
    stages: dict[str, list[float]] = {}
    extra: dict[str, Any] = {}
    if kind == "dlib":
        stages = _dlib_stages(rgb, runs)
    else:
        from edge_agent.liveness.challenge import random_actions
        from edge_agent.simulation.scenes import Face3D, live_scene
        from edge_agent.vision.antispoof import AntiSpoof
        from edge_agent.vision.pipeline import FacePipeline

        t = time.perf_counter()
        pipe = FacePipeline.from_directory(precision=kind, num_threads=threads)
        antispoof = AntiSpoof.from_manifest(pipe.manifest)  # one thread, as the agent runs it
        load_ms = (time.perf_counter() - t) * 1000
        eyes = pipe.eye_landmarker()
        det = pipe.detector.detect(rgb)[0]
        mesh = pipe.landmarker.landmarks(rgb, det)
        contours = eyes.contours(rgb, mesh.points)
        chip = pipe.align(rgb, mesh.points)
        stages["detect (short range)"] = timed(lambda: pipe.detector.short.detect(rgb), runs)
        if pipe.detector.full is not None:
            full = pipe.detector.full
            stages["detect (full range)"] = timed(lambda: full.detect(rgb), runs)
        stages["landmarks (face mesh)"] = timed(lambda: pipe.landmarker.landmarks(rgb, det), runs)
        stages["eyes (blink)"] = timed(lambda: eyes.contours(rgb, mesh.points), runs)
        stages["align"] = timed(lambda: pipe.align(rgb, mesh.points), runs)
        stages["embed (chip + mirror)" if pipe.flip else "embed"] = timed(lambda: pipe.embed_chip(chip), runs)
        if antispoof is not None:
            stages["PAD (MiniFASNet x2)"] = timed(lambda: antispoof.real_score(rgb, det), max(3, runs // 5))
        stages["liveness logic"] = _logic_stage(pipe, mesh.points, contours, runs)
        stages["end to end (one frame)"] = timed(lambda: pipe.analyse(rgb), runs)
        stages["model load"] = [load_ms]
        face = Face3D(rgb, mesh.points)
        scene = live_scene(face, [a.value for a in random_actions(random.Random(SEED))])
        extra["loop"] = _loop(pipe, eyes, None, scene)
        if antispoof is not None:
            extra["loop_with_pad"] = _loop(pipe, eyes, antispoof, scene)
        n = max(1, min(5, runs // 10))
        stages["verification (reference + session + match + sign)"] = [
            _verification(pipe, eyes, antispoof, image, scene) for _ in range(n)]
        extra["scene_seconds"] = scene.times_ms[-1] / 1000
        if profile:
            extra["hotspots"] = _hotspots(pipe, eyes, antispoof, scene)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "kind": kind, "threads": threads, "runs": runs, "frame": list(rgb.shape[:2]),
        "median_ms": {k: statistics.median(v) for k, v in stages.items()},
        "p90_ms": {k: float(np.percentile(v, 90)) for k, v in stages.items()},
        "peak_rss_mb": peak_kb / 1024,
        **extra,
    }


def measure(image: Path, threads: list[int], runs: int, *, width: int = FRAME_WIDTH, dlib: bool = True,
            precisions: tuple[str, ...] = ("int8", "float"), profile_threads: int | None = None) -> list[dict]:
    configs = [(kind, t) for kind in precisions for t in threads]
    if dlib:
        configs.append(("dlib", 1))
    results = []
    for kind, t in configs:
        cmd = [sys.executable, __file__, "--worker", kind, str(t), "--runs", str(runs), "--image", str(image),
               "--frame-width", str(width)]
        if profile_threads == t and kind == precisions[0]:
            cmd.append("--profile")
        print(f"  speed: {kind} {t} thread(s)...", file=sys.stderr, flush=True)
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def label(r: dict) -> str:
    return f"{'dlib' if r['kind'] == 'dlib' else 'ours ' + r['kind']} {r['threads']}T"


def table(results: list[dict]) -> str:
    stages = list(dict.fromkeys(s for r in results for s in r["median_ms"]))
    lines = ["| stage (median ms, p90) | " + " | ".join(label(r) for r in results) + " |",
             "|---" * (len(results) + 1) + "|"]
    for s in stages:
        cells = [f"{r['median_ms'][s]:.1f} ({r['p90_ms'][s]:.1f})" if s in r["median_ms"] else "-" for r in results]
        lines.append(f"| {s} | " + " | ".join(cells) + " |")

    def row(name: str, fn: Callable[[dict], str]) -> None:
        lines.append(f"| {name} | " + " | ".join(fn(r) for r in results) + " |")

    row("liveness loop, frames/s (no PAD)", lambda r: f"{r['loop']['fps']:.1f}" if "loop" in r else "-")
    row("liveness loop, frames/s (with PAD)",
        lambda r: f"{r['loop_with_pad']['fps']:.1f}" if "loop_with_pad" in r else "-")
    row("outside invoke, share of loop time",
        lambda r: f"{r['loop']['outside_invoke_share']:.0%}" if "loop" in r else "-")
    row("peak RSS (MB)", lambda r: f"{r['peak_rss_mb']:.0f}")
    h, w = results[0]["frame"]
    return (f"Frame {w}x{h}, {results[0]['runs']} runs per stage after 3 warm-up runs "
            f"(PAD: runs/5; verification: up to 5 runs), {os.cpu_count()} CPU cores.\n\n" + "\n".join(lines))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--image", type=Path, default=None)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--frame-width", type=int, default=FRAME_WIDTH)
    ap.add_argument("--no-dlib", action="store_true")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--profile", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--worker", nargs=2, metavar=("KIND", "THREADS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    image = args.image or deepface_dir() / "img1.jpg"
    if args.worker:
        out = worker(args.worker[0], int(args.worker[1]), image, args.runs, args.frame_width, args.profile)
        print(json.dumps(out))
        return 0
    if not image.exists():
        print(f"no sample image at {image}; set EDGE_AGENT_DATA or pass --image", file=sys.stderr)
        return 2
    results = measure(image, args.threads, args.runs, width=args.frame_width, dlib=not args.no_dlib)
    text = table(results)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "speed.md").write_text(text + "\n")
    (args.out / "speed.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
