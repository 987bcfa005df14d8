#!/usr/bin/env python3
"""Verification accuracy on lfw-dev, side by side in one run: SFace (float, int8), the old dlib port, dlib itself.

Protocol: a fixed sample of lfw-dev people (picked by a hash of the name,
people with at least two photos), up to ``--per-person`` photos each, and
*every* pair among those photos: same folder = genuine, different = impostor.
A few hundred photos thus give ~10^5 impostor pairs, enough to read FNMR at
FMR 1e-4, at a cost every system (dlib's included, ~0.3 s a photo) can pay.
Each photo is embedded once as a probe and once as a reference of each
format: ``photo``, and ``id-chip`` (the reference made into a 102x126, 1 KB
JPEG 2000 portrait first; see ``edge_agent/matching/idchip.py``). For a pair
(a, b) with a < b, a is the reference.

Figures per system and reference format: EER, FNMR at FMR 1e-3 and 1e-4,
FNMR/FMR at the shipped threshold (ours only), FTE (photos refused, as
reference and as probe) and ms per photo on one thread (mean, including
detection; on a shared machine). Refused photos count as non-matches. A DET
plot of every curve goes beside the table. The full 60,109-pair figures of
the default embedder come from ``tools/calibrate_threshold.py``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import report as plots
from bench.common import RESULTS, DlibPipeline, data_root
from edge_agent.errors import EdgeAgentError
from edge_agent.matching.evaluate import (
    Job,
    Outcome,
    Scores,
    all_pairs,
    embed_images,
    jobs_for,
    report,
    sample_images,
    score_pairs,
)
from edge_agent.matching.idchip import to_id_chip
from edge_agent.vision.align import arcface_points
from edge_agent.vision.image import read_image
from edge_agent.vision.pipeline import EMBEDDERS, REFERENCE_FORMATS, FacePipeline

OURS = {"SFace float16": "float", "SFace int8": "int8", "dlib port int8 (old default)": "dlib-int8"}
DLIB = "dlib face_recognition (HOG + 5 points + ResNet)"


def dlib_outcomes(jobs: list[Job], root: Path) -> dict[Job, Outcome]:
    """dlib's own pipeline on the same jobs; chip references are cut with our eyes, so all see the same bytes."""
    dl = DlibPipeline()
    eyes_from = FacePipeline.from_directory(num_threads=1)
    out: dict[Job, Outcome] = {}
    for path, role in jobs:
        try:
            rgb = read_image(root / path)
            if role == "id-chip":
                pts = arcface_points(eyes_from.landmarker.landmarks(rgb, eyes_from.find_face(rgb)).points)
                rgb = to_id_chip(rgb, pts[0], pts[1])
        except EdgeAgentError as exc:
            out[(path, role)] = (None, exc.code, 0.0)
            continue
        t = time.process_time()
        vec, _ = dl.embed(rgb)
        ms = (time.process_time() - t) * 1000
        out[(path, role)] = (vec, None, ms) if vec is not None else (None, "no_face", ms)
    return out


def fte(outcomes: dict[Job, Outcome], role: str) -> tuple[float, Counter[str]]:
    codes = [o[1] for (_, r), o in outcomes.items() if r == role]
    refused = Counter(str(c) for c in codes if c is not None)
    return sum(refused.values()) / max(1, len(codes)), refused


def evaluate(root: Path, *, people: int, per_person: int, systems: list[str], threads: int = 1,
             ) -> tuple[dict[str, Any], str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Report per system and format, the Markdown table, and DET curves (refusals drawn at the lowest score)."""
    images = sample_images(root, people, per_person)
    pairs = all_pairs(images)
    jobs = sorted({j for fmt in REFERENCE_FORMATS for j in jobs_for(pairs, fmt)})
    result: dict[str, Any] = {"images": len(images), "people": len({i.split("/")[0] for i in images}),
                              "genuine": sum(p.same for p in pairs), "impostor": sum(not p.same for p in pairs),
                              "systems": {}}
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    lines = ["| system | reference | EER | FNMR @ FMR 1e-3 | FNMR @ FMR 1e-4 | at shipped threshold: FNMR / FMR "
             "| FTE (reference) | FTE (probe) | ms per photo, 1 thread |", "|---|---|---|---|---|---|---|---|---|"]
    for name in systems:
        print(f"  accuracy: {name} on {len(jobs)} images x roles...", file=sys.stderr, flush=True)
        if name == DLIB:
            outcomes = dlib_outcomes(jobs, root)
            thresholds: dict[str, float | None] = {fmt: None for fmt in REFERENCE_FORMATS}
        else:
            outcomes = embed_images(jobs, root, precision=OURS[name], threads=threads)
            pipe_manifest = FacePipeline.from_directory(precision=OURS[name], num_threads=1).manifest
            thresholds = {fmt: _threshold(pipe_manifest, OURS[name], fmt) for fmt in REFERENCE_FORMATS}
        probe_fte, probe_refused = fte(outcomes, "photo")
        ms = float(np.mean([o[2] for (_, r), o in outcomes.items() if r == "photo"]))
        result["systems"][name] = {"fte_probe": probe_fte, "refused_probe": dict(probe_refused), "ms_per_photo": ms}
        for fmt in REFERENCE_FORMATS:
            scores = score_pairs(pairs, outcomes, fmt)
            ref_fte, _ = fte(outcomes, fmt)
            t = thresholds[fmt]
            out = report(scores, t if t is not None else 0.0)
            result["systems"][name][fmt] = {**out, "fte_reference": ref_fte,
                                            "threshold": out["threshold"] if t is not None else None}
            at = f"{out['fnmr']:.2%} / {out['fmr']:.4%} (t={t:.3f})" if t is not None else "n/a"
            lines.append(f"| {name} | {fmt} | {out['eer']:.2%} | {out['fnmr_at_fmr']['0.001']:.2%} | "
                         f"{out['fnmr_at_fmr']['0.0001']:.2%} | {at} | {ref_fte:.2%} | {probe_fte:.2%} | {ms:.0f} |")
            curves[f"{name}, {fmt}"] = _curve(scores)
    return result, "\n".join(lines), curves


def _threshold(manifest: Any, precision: str, fmt: str) -> float | None:
    try:
        return float(manifest.threshold(EMBEDDERS[precision], fmt))
    except EdgeAgentError:
        return None


def _curve(scores: Scores) -> tuple[np.ndarray, np.ndarray]:
    both = np.concatenate([scores.genuine, scores.impostor])
    floor = float(both[np.isfinite(both)].min()) - 1.0 if np.isfinite(both).any() else -2.0
    return (np.where(np.isfinite(scores.genuine), scores.genuine, floor),
            np.where(np.isfinite(scores.impostor), scores.impostor, floor))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=None, help="lfw-dev folder (default from EDGE_AGENT_DATA)")
    ap.add_argument("--people", type=int, default=150)
    ap.add_argument("--per-person", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="worker processes for our pipelines")
    ap.add_argument("--systems", default=",".join([*OURS, DLIB]),
                    help=f"comma-separated, from: {', '.join([*OURS, DLIB])}")
    ap.add_argument("--no-dlib", action="store_true", help=f"skip {DLIB}")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    root = args.root or data_root() / "faces" / "lfw-dev"
    if not root.is_dir():
        print(f"no lfw-dev data at {root}; set EDGE_AGENT_DATA", file=sys.stderr)
        return 2
    systems = [s for s in args.systems.split(",") if s and not (args.no_dlib and s == DLIB)]
    unknown = [s for s in systems if s not in OURS and s != DLIB]
    if unknown:
        print(f"unknown systems {unknown}", file=sys.stderr)
        return 2
    result, table, curves = evaluate(root, people=args.people, per_person=args.per_person, systems=systems,
                                     threads=args.threads)
    header = (f"lfw-dev sample: {result['people']} people, {result['images']} photos, all pairs: "
              f"{result['genuine']} genuine / {result['impostor']} impostor")
    print(header + "\n\n" + table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "accuracy.md").write_text(table + "\n")
    (args.out / "accuracy.json").write_text(json.dumps(result, indent=2) + "\n")
    plots.roc_det_plots(curves, args.out / "roc.png", args.out / "det.png", pairs=header)
    return 0


if __name__ == "__main__":
    sys.exit(main())
