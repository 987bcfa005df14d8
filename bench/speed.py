#!/usr/bin/env python3
"""Per-stage latency and peak memory of our pipeline (int8 / float, 1 / 2 threads) beside dlib's.

Each configuration runs in its own subprocess, so its peak RSS is its own.
Stages are timed on a camera-sized frame (a deepface photo scaled to 640 px
wide, as a Pi camera stream would deliver) over ``--runs`` repetitions after
warm-up; the median and the 90th percentile are reported. dlib's pipeline
(HOG detector with one upsample, 5-point shape predictor, ResNet descriptor)
runs on the same frame.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import RESULTS, DlibPipeline, deepface_dir

FRAME_WIDTH = 640


def frame(path: Path) -> np.ndarray:
    from edge_agent.vision.image import read_image

    rgb = read_image(path)
    h, w = rgb.shape[:2]
    return cv2.resize(rgb, (FRAME_WIDTH, round(h * FRAME_WIDTH / w)), interpolation=cv2.INTER_AREA)


def timed(fn, runs: int) -> list[float]:
    for _ in range(3):
        fn()
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def worker(kind: str, threads: int, image: Path, runs: int) -> dict:
    rgb = frame(image)
    stages: dict[str, list[float]] = {}
    if kind == "dlib":
        dl = DlibPipeline()
        det = dl.detector(rgb, 1)[0]
        shape = dl.predictor(rgb, det)
        stages["detect"] = timed(lambda: dl.detector(rgb, 1), runs)
        stages["landmarks"] = timed(lambda: dl.predictor(rgb, det), runs)
        stages["align+embed"] = timed(lambda: dl.encoder.compute_face_descriptor(rgb, shape), runs)
        stages["end to end"] = timed(lambda: dl.embed(rgb), runs)
    else:
        from edge_agent.vision.align import extract_chip, five_points
        from edge_agent.vision.pipeline import FacePipeline

        t = time.perf_counter()
        pipe = FacePipeline.from_directory(precision=kind, num_threads=threads)
        load_ms = (time.perf_counter() - t) * 1000
        det = pipe.detector.detect(rgb)[0]
        mesh = pipe.landmarker.landmarks(rgb, det)
        pts = five_points(mesh.points)
        chip = extract_chip(rgb, pts)
        stages["detect (short range)"] = timed(lambda: pipe.detector.short.detect(rgb), runs)
        if pipe.detector.full is not None:
            full = pipe.detector.full
            stages["detect (full range)"] = timed(lambda: full.detect(rgb), runs)
        stages["landmarks"] = timed(lambda: pipe.landmarker.landmarks(rgb, det), runs)
        stages["align"] = timed(lambda: extract_chip(rgb, pts), runs)
        stages["embed"] = timed(lambda: pipe.embedder.embed(chip), runs)
        stages["end to end"] = timed(lambda: pipe.analyse(rgb), runs)
        stages["model load"] = [load_ms]
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "kind": kind, "threads": threads, "runs": runs, "frame": list(rgb.shape[:2]),
        "median_ms": {k: statistics.median(v) for k, v in stages.items()},
        "p90_ms": {k: float(np.percentile(v, 90)) for k, v in stages.items()},
        "peak_rss_mb": peak_kb / 1024,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--image", type=Path, default=None)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--no-dlib", action="store_true")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--worker", nargs=2, metavar=("KIND", "THREADS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    image = args.image or deepface_dir() / "img1.jpg"
    if args.worker:
        print(json.dumps(worker(args.worker[0], int(args.worker[1]), image, args.runs)))
        return 0
    if not image.exists():
        print(f"no sample image at {image}; set EDGE_AGENT_DATA or pass --image", file=sys.stderr)
        return 2

    configs = [(kind, t) for kind in ("int8", "float") for t in args.threads]
    if not args.no_dlib:
        configs.append(("dlib", 1))
    results = []
    for kind, threads in configs:
        cmd = [sys.executable, __file__, "--worker", kind, str(threads), "--runs", str(args.runs)]
        cmd += ["--image", str(image)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))

    stages = list(dict.fromkeys(s for r in results for s in r["median_ms"]))
    head = "| stage (median ms, p90) | " + " | ".join(
        f"{'dlib' if r['kind'] == 'dlib' else 'ours ' + r['kind']} {r['threads']}T" for r in results) + " |"
    lines = [head, "|---" * (len(results) + 1) + "|"]
    for s in stages:
        cells = [f"{r['median_ms'][s]:.1f} ({r['p90_ms'][s]:.1f})" if s in r["median_ms"] else "-" for r in results]
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    lines.append("| peak RSS (MB) | " + " | ".join(f"{r['peak_rss_mb']:.0f}" for r in results) + " |")
    h, w = results[0]["frame"]
    table = f"Frame {w}x{h}, {args.runs} runs per stage after 3 warm-up runs.\n\n" + "\n".join(lines)
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "speed.md").write_text(table + "\n")
    (args.out / "speed.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
