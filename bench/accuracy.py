#!/usr/bin/env python3
"""Verification accuracy on the deepface pairs: ours (int8 and float) beside dlib's own pipeline.

For each pipeline: every photo is embedded once, then pairs are scored by
cosine similarity. Two pair sets are reported: master.csv exactly as
labelled, and the wider set those labels imply (see
``edge_agent/matching/pairs.py``). Figures: genuine/impostor score
distributions, EER, FMR and FNMR at the manifest threshold, and FNMR at
FMR 1e-2 and 1e-3 with the number of impostor pairs behind each.

``--write-threshold`` recalibrates the manifest threshold of our embedders on
the wider set: the lowest threshold at which no impostor pair is accepted,
plus a margin, because zero observed false matches among ~1,500 pairs only
bounds FMR below ~2e-3 (rule of three).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import RESULTS, DlibPipeline, deepface_dir
from edge_agent.errors import BadInput
from edge_agent.matching.calibration import eer, rates_at, threshold_for_fmr
from edge_agent.matching.pairs import PairSet, expand, master_pairs, read_labelled_pairs
from edge_agent.vision.image import read_image
from edge_agent.vision.manifest import DEFAULT_MODEL_DIR, Manifest
from edge_agent.vision.pipeline import FacePipeline

THRESHOLD_MARGIN = 0.01


def embed_all(names: list[str], folder: Path, embed: object) -> tuple[dict[str, np.ndarray], list[str], float]:
    out: dict[str, np.ndarray] = {}
    failed: list[str] = []
    t0 = time.perf_counter()
    for name in names:
        rgb = read_image(folder / name)
        vec = embed(rgb)  # type: ignore[operator]
        if vec is None:
            failed.append(name)
        else:
            out[name] = vec
    return out, failed, (time.perf_counter() - t0) * 1000 / max(1, len(names))


def scores(pairs: PairSet, emb: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, int]:
    def score(pair_list: list[tuple[str, str]]) -> list[float]:
        return [float(emb[a] @ emb[b]) for a, b in pair_list if a in emb and b in emb]

    g, i = score(pairs.genuine), score(pairs.impostor)
    skipped = len(pairs.genuine) + len(pairs.impostor) - len(g) - len(i)
    return np.array(g), np.array(i), skipped


def fnmr_at_fmr(genuine: np.ndarray, impostor: np.ndarray, fmr: float) -> str:
    if len(impostor) * fmr < 1:
        return f"n/a ({len(impostor)} impostor pairs < 1/{fmr:g})"
    t = threshold_for_fmr(impostor, fmr)
    allowed = int(len(impostor) * fmr)
    return f"{rates_at(genuine, impostor, t).fnmr:.2%} (t={t:.3f}; {allowed} of {len(impostor)} impostors may pass)"


def evaluate(folder: Path, *, limit: int = 0, dlib: bool = True,
             write: bool = False) -> tuple[dict[str, dict], str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Report per pipeline, the Markdown table, and the implied-set scores (genuine, impostor) for plots."""
    wide = expand(read_labelled_pairs(folder))
    sets = {"master.csv": master_pairs(folder), "implied by labels": wide}
    names = sorted({n for s in sets.values() for n in s.images})
    if limit:
        names = names[:limit]

    def ours(precision: str):
        pipe = FacePipeline.from_directory(precision=precision)

        def embed(rgb: np.ndarray) -> np.ndarray | None:
            try:
                return pipe.analyse(rgb).embedding
            except BadInput:
                return None

        return pipe, embed

    pipelines = {}
    for precision in ("int8", "float"):
        pipe, fn = ours(precision)
        pipelines[f"edge-agent {precision}"] = (fn, pipe.threshold, pipe.embedder_key)
    if dlib:
        dl = DlibPipeline()
        pipelines[DlibPipeline.name] = (lambda rgb: dl.embed(rgb)[0], None, None)

    report: dict[str, dict] = {}
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    lines = ["| pipeline | pairs | genuine / impostor | genuine min / median | impostor median / max | EER |"
             " FMR / FNMR at threshold | FNMR @ FMR 1e-2 | FNMR @ FMR 1e-3 | no face | ms per photo |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for label, (fn, threshold, key) in pipelines.items():
        emb, failed, ms = embed_all(names, folder, fn)
        if threshold is None:  # a peer: give it a threshold by the same rule as ours, on the same pairs
            threshold = threshold_for_fmr(scores(wide, emb)[1], 0.0) + THRESHOLD_MARGIN
        report[label] = {"failed": failed, "ms_per_photo": ms, "sets": {}}
        for set_name, pairs in sets.items():
            g, i, skipped = scores(pairs, emb)
            e = eer(g, i)
            at = rates_at(g, i, threshold)
            row = {
                "genuine": len(g), "impostor": len(i), "skipped": skipped, "eer": e.fmr, "eer_threshold": e.threshold,
                "genuine_min": float(g.min()), "genuine_median": float(np.median(g)),
                "impostor_median": float(np.median(i)), "impostor_max": float(i.max()),
                "threshold": threshold, "fmr": at.fmr, "fnmr": at.fnmr,
                "fnmr_at_fmr_1e-2": fnmr_at_fmr(g, i, 1e-2), "fnmr_at_fmr_1e-3": fnmr_at_fmr(g, i, 1e-3),
            }
            report[label]["sets"][set_name] = row
            if pairs is wide:
                curves[label] = (g, i)
            at_txt = f"{at.fmr:.2%} / {at.fnmr:.2%} (t={threshold:.3f})"
            lines.append(
                f"| {label} | {set_name} | {len(g)} / {len(i)} | {g.min():.3f} / {np.median(g):.3f} | "
                f"{np.median(i):.3f} / {i.max():.3f} | {e.fmr:.2%} | {at_txt} | {row['fnmr_at_fmr_1e-2']} | "
                f"{row['fnmr_at_fmr_1e-3']} | {len(failed)} | {ms:.0f} |"
            )
        if write and key is not None:
            _, imp, _ = scores(wide, emb)
            new = round(threshold_for_fmr(imp, 0.0) + THRESHOLD_MARGIN, 4)
            write_threshold(key, new, len(imp))
            print(f"{key}: threshold {new} (highest impostor {imp.max():.4f} + {THRESHOLD_MARGIN})")
    return report, "\n".join(lines), curves


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None, help="deepface folder (default from EDGE_AGENT_DATA)")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N photos (smoke runs)")
    ap.add_argument("--no-dlib", action="store_true", help="skip the dlib peer")
    ap.add_argument("--write-threshold", action="store_true", help="recalibrate the manifest thresholds")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    folder = args.data or deepface_dir()
    if not (folder / "master.csv").exists():
        print(f"no deepface data at {folder}; set EDGE_AGENT_DATA", file=sys.stderr)
        return 2
    report, table, _ = evaluate(folder, limit=args.limit, dlib=not args.no_dlib, write=args.write_threshold)
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "accuracy.md").write_text(table + "\n")
    (args.out / "accuracy.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


def write_threshold(key: str, value: float, impostors: int) -> None:
    path = DEFAULT_MODEL_DIR / "manifest.json"
    data = Manifest.load(DEFAULT_MODEL_DIR).data
    data.setdefault("thresholds", {})[key] = {
        "cosine": value,
        "calibrated_on": f"deepface pairs implied by master.csv labels ({impostors} impostor pairs)",
        "rule": f"highest impostor score + {THRESHOLD_MARGIN}",
    }
    path.write_text(json.dumps(data, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
