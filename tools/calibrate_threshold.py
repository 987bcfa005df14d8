#!/usr/bin/env python3
"""Calibrate the matching thresholds on lfw-dev's impostor pairs, check them on people never seen, write the manifest.

Rule: the threshold is set just above the (k+1)-th highest impostor score,
with k the largest number of accepted impostors whose one-sided 95 % upper
bound on FMR (Poisson, exact) stays within the target: for 50,000 impostor
pairs and FMR 1e-4 that allows k = 1 (bound 4.74/n = 9.5e-5); k = 0 is the
rule of three (bound 3/n). So the observed FMR is at most k/n and the true FMR
is below the target with 95 % confidence, not merely on average.

Two checks on faces the shipped threshold was not tuned on:

* held-out people: lfw-dev's people are split in two halves by a hash of the
  name; the same rule run on one half's impostors alone gives a threshold
  whose FNMR and FMR are then measured on the other half (the figures a
  store would see from a calibration on different people);
* a second population: the deepface pairs (``master.csv`` labels, widened by
  transitivity), at the shipped threshold.

One threshold per reference format: ``cosine`` for photos, ``cosine_id_chip``
for ID card chip portraits (see ``edge_agent/matching/idchip.py``), since a
1 KB portrait scores differently. Photos are calibrated on all 60,109 pairs of
``pairs.tsv`` (50,000 impostor). Chip references cost a second detection and a
JPEG 2000 search each, so they are calibrated on every pair among a sample
of lfw-dev people (``--chip-people`` x 2 photos, chosen by a hash of the name:
the first photo of a pair, in sort order, becomes the chip reference), which
gives more impostor pairs than pairs.tsv from a tenth of the images; the
held-out check splits that sample by person in the same way.
Embeddings live in memory for the run only; the manifest and the JSON summary
get aggregated numbers. Rerun (about 10 minutes of CPU):

    .venv/bin/python tools/calibrate_threshold.py --threads 2 --write [--summary FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge_agent.matching.calibration import rates_at  # noqa: E402
from edge_agent.matching.evaluate import (  # noqa: E402
    Pair,
    Scores,
    all_pairs,
    embed_images,
    jobs_for,
    read_pairs,
    report,
    sample_images,
    score_pairs,
    split_by_person,
    terminal_progress,
)
from edge_agent.matching.pairs import expand, read_labelled_pairs  # noqa: E402
from edge_agent.vision.pipeline import EMBEDDERS, REFERENCE_FORMATS  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "faces"
MANIFEST = ROOT / "models" / "manifest.json"
TARGET_FMR = 1e-4
CONFIDENCE = 0.95


def poisson_upper(k: int, confidence: float = CONFIDENCE) -> float:
    """Exact one-sided upper bound on a Poisson mean after observing ``k`` events (k = 0: about 3.0)."""
    lo, hi = 0.0, 10.0 + 10.0 * k

    def cdf(lam: float) -> float:
        return sum(math.exp(-lam) * lam**i / math.factorial(i) for i in range(k + 1))

    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cdf(mid) > 1 - confidence else (lo, mid)
    return hi


def allowed_false_matches(n: int, target: float = TARGET_FMR) -> int:
    """Largest k whose 95 % upper bound on FMR, k accepted of n impostors, is within ``target``; -1 if none."""
    k = -1
    while poisson_upper(k + 1) / n <= target:
        k += 1
    return k


def calibrate(impostor: np.ndarray) -> tuple[float, int]:
    """(threshold, k): just above the (k+1)-th highest impostor score. Refused pairs (-inf) never count."""
    # Fewer than 30,000 impostors cannot show the target at 95 % even with none accepted: then accept none
    # (the rule of three, bound 3/n) and let the caller report that weaker bound.
    k = max(0, allowed_false_matches(len(impostor)))
    finite = np.sort(impostor[np.isfinite(impostor)])
    if len(finite) <= k:
        return -1.0, k
    return float(np.nextafter(finite[-(k + 1)], np.inf)), k


def summary(scores: Scores, threshold: float) -> dict[str, Any]:
    out = report(scores, threshold)
    return {key: out[key] for key in ("genuine", "impostor", "refused", "refused_by_reason", "threshold", "fnmr",
                                      "fmr", "fnmr_at_fmr", "eer")}


def deepface_pairs(folder: Path) -> list[Pair]:
    pairs = expand(read_labelled_pairs(folder))
    return [Pair(a, b, True) for a, b in pairs.genuine] + [Pair(a, b, False) for a, b in pairs.impostor]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=DATA / "lfw-dev")
    ap.add_argument("--deepface", type=Path, default=DATA / "deepface")
    ap.add_argument("--precision", choices=sorted(EMBEDDERS), default="float")
    ap.add_argument("--flip", action="store_true", help="calibrate with flip averaging (pipeline flip=True)")
    ap.add_argument("--chip-people", type=int, default=500, help="people (2 photos each) for the chip calibration")
    ap.add_argument("--threads", type=int, default=2, help="worker processes")
    ap.add_argument("--write", action="store_true", help="write the thresholds into models/manifest.json")
    ap.add_argument("--summary", type=Path, default=None, help="also write the figures to this JSON file")
    args = ap.parse_args()
    flip = args.flip

    photo_pairs = read_pairs(args.root / "pairs.tsv")
    chip_pairs = all_pairs(sample_images(args.root, args.chip_people, 2))
    pair_sets = {"photo": photo_pairs, "id-chip": chip_pairs}
    jobs = sorted({j for fmt, pairs in pair_sets.items() for j in jobs_for(pairs, fmt)})
    outcomes = embed_images(jobs, args.root, precision=args.precision, flip=flip, threads=args.threads,
                            progress=terminal_progress("lfw-dev"))
    deepface = deepface_pairs(args.deepface)
    df_jobs = sorted({j for fmt in REFERENCE_FORMATS for j in jobs_for(deepface, fmt)})
    df_outcomes = embed_images(df_jobs, args.deepface, precision=args.precision, flip=flip, threads=args.threads,
                               progress=terminal_progress("deepface"))

    key = EMBEDDERS[args.precision]
    result: dict[str, Any] = {"embedder": key, "flip": flip, "target_fmr": TARGET_FMR}
    for fmt in REFERENCE_FORMATS:
        pairs = pair_sets[fmt]
        calib_half, held_out = split_by_person(pairs)
        full = score_pairs(pairs, outcomes, fmt)
        shipped, k = calibrate(full.impostor)
        half = score_pairs(calib_half, outcomes, fmt)
        half_threshold, half_k = calibrate(half.impostor)
        unseen = score_pairs(held_out, outcomes, fmt)
        result[fmt] = {
            "pairs": "pairs.tsv" if fmt == "photo" else f"all pairs among {args.chip_people} people x 2 photos",
            "threshold": round(shipped, 4),
            "accepted_impostors_allowed": k,
            "fmr_upper_95": round(poisson_upper(k) / len(full.impostor), 7),
            "lfw_dev_all": summary(full, shipped),
            "ms_per_image": round(full.ms_per_image, 1),
            "held_out_people": {
                "rule_on_calibration_half": {"threshold": round(half_threshold, 4), "k": half_k,
                                             "fmr_upper_95": round(poisson_upper(half_k) / len(half.impostor), 7),
                                             "impostor_pairs": len(half.impostor),
                                             "genuine_pairs": len(half.genuine)},
                "on_held_out_half": summary(unseen, half_threshold),
                "shipped_threshold_on_held_out_half": summary(unseen, shipped),
            },
            "deepface_at_shipped_threshold": summary(score_pairs(deepface, df_outcomes, fmt), shipped),
        }
        print(f"{fmt}: threshold {shipped:.4f} (k={k}); all lfw-dev FNMR "
              f"{rates_at(full.genuine, full.impostor, shipped).fnmr:.2%}; held-out people at their own "
              f"calibration {result[fmt]['held_out_people']['on_held_out_half']['fnmr']:.2%} FNMR, "
              f"{result[fmt]['held_out_people']['on_held_out_half']['fmr']:.5%} FMR", file=sys.stderr)
    if args.summary:
        args.summary.write_text(json.dumps(result, indent=2) + "\n")
    if args.write:
        write_manifest(key, result, len(photo_pairs))
    print(json.dumps(result, indent=2))


def write_manifest(key: str, result: dict[str, Any], n_pairs: int) -> None:
    manifest = json.loads(MANIFEST.read_text())
    photo, chip = result["photo"], result["id-chip"]
    manifest["thresholds"][key] = {
        "cosine": photo["threshold"],
        "cosine_id_chip": chip["threshold"],
        "rule": (f"just above the (k+1)-th highest impostor score, k the most accepted impostors whose one-sided "
                 f"95 % Poisson upper bound on FMR stays <= {TARGET_FMR:g} (k = 0 is the rule of three); "
                 "refused images count as non-matches"),
        "calibrated_on": (f"photo: ../shared/data/faces/lfw-dev/pairs.tsv, {n_pairs} pairs, "
                          f"{photo['lfw_dev_all']['impostor']} impostor, {photo['lfw_dev_all']['genuine']} genuine; "
                          f"id-chip: lfw-dev {chip['pairs']}, {chip['lfw_dev_all']['impostor']} impostor, "
                          f"{chip['lfw_dev_all']['genuine']} genuine, each reference made into a 102x126, "
                          "<= 1,024-byte JPEG 2000 portrait"),
        "flip_averaging": result["flip"],
        "k": {"photo": photo["accepted_impostors_allowed"], "id-chip": chip["accepted_impostors_allowed"]},
        "fmr_upper_95": {"photo": photo["fmr_upper_95"], "id-chip": chip["fmr_upper_95"]},
        "fnmr": {"photo": photo["lfw_dev_all"]["fnmr"], "id-chip": chip["lfw_dev_all"]["fnmr"]},
        "held_out_people": {fmt: {k: result[fmt]["held_out_people"]["on_held_out_half"][k]
                                  for k in ("threshold", "fnmr", "fmr", "genuine", "impostor")}
                            for fmt in REFERENCE_FORMATS},
        "deepface": {fmt: {k: result[fmt]["deepface_at_shipped_threshold"][k]
                           for k in ("fnmr", "fmr", "genuine", "impostor", "refused")}
                     for fmt in REFERENCE_FORMATS},
        "script": "tools/calibrate_threshold.py",
    }
    MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote thresholds for {key} into {MANIFEST}", file=sys.stderr)


if __name__ == "__main__":
    main()
