#!/usr/bin/env python3
"""Before and after in one run: the liveness loop's CPU per frame on this tree and on an earlier commit.

The issue's figures, one command (x86, one interpreter thread, the first 100 frames of each real clip, PAD
on, fed every frame and every third frame as a 25 frames/s camera and a loop at 8.3 frames/s see it)::

    bench/cost_ab.py --before 919cb4b [--workers 2] [--rounds 2]

The earlier commit is checked out in a temporary git worktree; each (tree, rate) is measured in its own
process, before and after alternating round by round so that a change in the machine's load falls on
both. Per frame: the process's CPU (every thread: the loop, the worker pool, the runtimes' own) and the
loop thread's CPU, with the load average printed beside each figure. Nothing is recorded: a figure
for the docs comes from ``bench/liveness.py --cost-only --figures`` on a quiet machine (it refuses
timings at a load average above 1.5).

The child measures with its own loop over the tree's ``LivenessSession._frame`` (present at every commit
since the cost bench exists), so both trees are timed by the same code.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import inspect, itertools, json, os, random, sys, time
import numpy as np
from bench.common import data_root
from edge_agent.camera.files import iter_frames
from edge_agent.liveness.challenge import random_actions
from edge_agent.liveness.session import LivenessSession
from edge_agent.vision.antispoof import AntiSpoof
from edge_agent.vision.pipeline import FacePipeline
step, workers = int(sys.argv[1]), int(sys.argv[2])
pipeline = FacePipeline.from_directory(num_threads=1)
pad = AntiSpoof.require(pipeline.manifest)
kwargs = {}
if workers and "workers" in inspect.signature(LivenessSession).parameters:
    from edge_agent.liveness.workers import StageWorkers
    kwargs["workers"] = StageWorkers(workers)
real = data_root() / "video" / "real"
proc, loop = [], []
for name in json.loads((real / "labels.json").read_text())["clips"]:
    session = LivenessSession(pipeline, pipeline.eye_landmarker(), random_actions(random.Random(0)),
                              antispoof=pad, **kwargs)
    frames = list(itertools.islice(iter_frames(real / name), 0, 100 * step, step))
    for rgb, t in frames:
        p0, l0 = time.process_time(), time.thread_time()
        session._frame(rgb, t)
        proc.append((time.process_time() - p0) * 1000)
        loop.append((time.thread_time() - l0) * 1000)
print(json.dumps({"frames": len(proc), "process_ms": float(np.mean(proc)), "loop_ms": float(np.mean(loop)),
                  "load": os.getloadavg()[0]}))
"""


def measure(tree: Path, step: int, workers: int) -> dict[str, float]:
    """One (tree, rate) in a fresh process importing that tree's code."""
    env = {**os.environ, "PYTHONPATH": str(tree), "EDGE_AGENT_DATA": os.environ.get(
        "EDGE_AGENT_DATA", str(ROOT.parent / "shared" / "data"))}
    out = subprocess.run([sys.executable, "-c", CHILD, str(step), str(workers)], cwd=tree, env=env,
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default="main", help="the earlier commit (default: main)")
    ap.add_argument("--workers", type=int, default=0, help="this tree's worker pool (0: all on the loop thread)")
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="cost-ab-") as tmp:
        before = Path(tmp) / "before"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(before), args.before],
                       check=True, capture_output=True)
        try:
            print("| tree | fed every | frames | process CPU ms/frame | loop thread CPU ms/frame | load (1 min) |")
            print("|---|---|---|---|---|---|")
            for _ in range(args.rounds):
                for step in (1, 3):
                    for label, tree, workers in ((f"before ({args.before})", before, 0),
                                                 ("after (this tree)", ROOT, args.workers)):
                        load0 = os.getloadavg()[0]
                        r = measure(tree, step, workers)
                        print(f"| {label} | {step} | {r['frames']} | {r['process_ms']:.2f} | {r['loop_ms']:.2f} | "
                              f"{load0:.2f} -> {r['load']:.2f} |", flush=True)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(before)], check=False,
                           capture_output=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
