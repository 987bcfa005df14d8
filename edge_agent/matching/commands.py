"""``edge-agent evaluate``: error rates of the pipeline on a labelled pair list (see ``evaluate``)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from edge_agent.config import PRECISIONS
from edge_agent.errors import EXIT_OK, BadInput

__all__ = ["add_parser"]


def _evaluate(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    from edge_agent.matching.evaluate import embed_images, jobs_for, read_pairs, report, score_pairs, terminal_progress
    from edge_agent.vision.manifest import Manifest
    from edge_agent.vision.pipeline import EMBEDDERS

    if not args.root.is_dir():
        raise BadInput(f"--root {args.root} is not a folder")
    if args.threads < 1:
        raise BadInput("--threads must be at least 1")
    pairs = read_pairs(args.pairs)
    models = args.models or (Path(os.environ["EDGE_AGENT_MODELS"]) if os.environ.get("EDGE_AGENT_MODELS") else None)
    manifest = Manifest.load(models)
    threshold = manifest.threshold(EMBEDDERS[args.precision], args.reference_format)
    jobs = jobs_for(pairs, args.reference_format)
    outcomes = embed_images(jobs, args.root, model_dir=models, precision=args.precision, threads=args.threads,
                            progress=terminal_progress("evaluate"))
    out = report(score_pairs(pairs, outcomes, args.reference_format), threshold)
    out = {**out, "reference_format": args.reference_format, "embedder": EMBEDDERS[args.precision],
           "model_set": manifest.version}
    return EXIT_OK, out


def _show(out: dict[str, Any]) -> None:
    at = out["fnmr_at_fmr"]
    print(f"{out['genuine']} genuine, {out['impostor']} impostor pairs ({out['reference_format']} references, "
          f"{out['embedder']}); {out['refused']} images refused {out['refused_by_reason']}")
    print(f"at threshold {out['threshold']:.4f}: FNMR {out['fnmr']:.2%}  FMR {out['fmr']:.4%}")
    print(f"FNMR at FMR 1e-3: {at['0.001']:.2%}   at 1e-4: {at['0.0001']:.2%}   EER {out['eer']:.2%}   "
          f"{out['ms_per_image']:.0f} ms per image")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """``edge-agent evaluate``: FNMR at fixed FMR on a pair list."""
    e = sub.add_parser("evaluate", help="error rates on a labelled pair list (FNMR, FMR, EER)")
    e.add_argument("--root", type=Path, required=True, help="folder the pair list's paths are relative to")
    e.add_argument("--pairs", type=Path, required=True, help="TSV with header 'img1 img2 same' (1 = same person)")
    e.add_argument("--reference-format", choices=["photo", "id-chip"], default="photo",
                   help="id-chip: turn each reference (img1) into a 102x126, 1 KB JPEG 2000 chip portrait first")
    e.add_argument("--threads", type=int, default=1, help="worker processes (one interpreter thread each)")
    e.add_argument("--precision", choices=PRECISIONS, default="float",
                   help="embedder (default: SFace float16)")
    e.add_argument("--models", type=Path, default=None, help="model folder (default: EDGE_AGENT_MODELS or ./models)")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.set_defaults(run=_evaluate, show=_show)
