"""Score a labelled pair list with the real pipeline: error rates at the shipped threshold and across thresholds.

The pair list is the LFW-style TSV (header ``img1 img2 same``, paths relative
to a root folder, ``1`` same person). The first image of a pair is the
reference; with ``reference_format="id-chip"`` it is first turned into what an
ID card chip holds (``idchip.to_id_chip``), so the figures say what a store
with a chip reader can expect.

Every (image, role) is embedded once, in memory only, by ``threads`` worker
processes (an interpreter is not thread-safe, and one process per core
scales). An image the pipeline refuses, or a file that is missing or
unreadable, is counted with its reason; a pair that involves one counts as
not matched: refusals raise FNMR and never lower FMR.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_agent.errors import BadInput, EdgeAgentError
from edge_agent.matching.calibration import eer, rates_at, threshold_for_fmr
from edge_agent.matching.idchip import to_id_chip
from edge_agent.vision.align import arcface_points
from edge_agent.vision.image import read_image
from edge_agent.vision.pipeline import REFERENCE_FORMATS, FacePipeline

__all__ = ["Job", "Outcome", "Pair", "Scores", "all_pairs", "embed_images", "jobs_for", "read_pairs", "report",
           "sample_images", "score_pairs", "split_by_person", "terminal_progress"]

Job = tuple[str, str]  # (path relative to the root, "photo" or "id-chip")
Outcome = tuple[np.ndarray | None, str | None, float]  # (unit embedding, refusal code, ms)

REFUSED = -np.inf  # score of a pair with a refused image: below any threshold


@dataclass(frozen=True)
class Pair:
    """One labelled pair: the reference (the ID side), the probe (the camera side), and whether one person."""

    reference: str
    probe: str
    same: bool


@dataclass(frozen=True)
class Scores:
    """Scores of the genuine and impostor pairs (``REFUSED`` where an image was refused) and the refusals."""

    genuine: np.ndarray
    impostor: np.ndarray
    refused: Counter[str]  # refusal code -> images refused (each (image, role) once)
    ms_per_image: float


def read_pairs(path: Path) -> list[Pair]:
    """The pairs of a TSV with header ``img1 img2 same``; a malformed file is ``BadInput``, naming the line."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise BadInput(f"cannot read pair list {path}: {exc.strerror}") from None
    rows = list(csv.reader(text.splitlines(), delimiter="\t"))
    if not rows or [c.strip() for c in rows[0][:3]] != ["img1", "img2", "same"]:
        raise BadInput(f"{path}: the first line must be the header 'img1<TAB>img2<TAB>same'")
    pairs = []
    for number, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) < 3 or row[2].strip() not in ("0", "1") or not row[0] or not row[1]:
            raise BadInput(f"{path}:{number}: expected 'img1<TAB>img2<TAB>0|1'")
        pairs.append(Pair(row[0], row[1], row[2].strip() == "1"))
    if not pairs:
        raise BadInput(f"{path} lists no pairs")
    return pairs


def person_of(path: str) -> str:
    """The identity of an LFW-style path: its folder (``Name/Name_0001.jpg``)."""
    return path.replace("\\", "/").split("/")[0]


def split_by_person(pairs: list[Pair], salt: str = "edge-agent") -> tuple[list[Pair], list[Pair]]:
    """Split into (calibration, held-out) pairs by person, half the people each, stable across runs.

    A person's side is fixed by a hash of the name, so no face of a held-out
    person is ever seen by the calibration. Impostor pairs that straddle the
    two halves belong to neither and are dropped.
    """

    def side(person: str) -> int:
        return hashlib.sha256((salt + person).encode()).digest()[0] & 1

    halves: tuple[list[Pair], list[Pair]] = ([], [])
    for p in pairs:
        a, b = side(person_of(p.reference)), side(person_of(p.probe))
        if a == b:
            halves[a].append(p)
    return halves


def sample_images(root: Path, people: int, per_person: int) -> list[str]:
    """Up to ``per_person`` photos of ``people`` people with two or more, chosen by a hash of the name."""
    folders = [d for d in sorted(root.iterdir()) if d.is_dir() and len(list(d.glob("*.jpg"))) >= 2]
    folders.sort(key=lambda d: hashlib.sha256(d.name.encode()).hexdigest())
    return [f"{d.name}/{f.name}" for d in folders[:people] for f in sorted(d.glob("*.jpg"))[:per_person]]


def all_pairs(images: list[str]) -> list[Pair]:
    """Every pair among ``images`` (the first in sort order is the reference): same folder = same person.

    A few hundred photos give 10^5 impostor pairs this way, enough to read
    FMR 1e-4 at a cost of one embedding per photo and role.
    """
    return [Pair(a, b, person_of(a) == person_of(b)) for a, b in itertools.combinations(sorted(images), 2)]


def jobs_for(pairs: Iterable[Pair], reference_format: str) -> list[Job]:
    """Each image once per role it plays: references in ``reference_format``, probes as photos."""
    if reference_format not in REFERENCE_FORMATS:
        raise ValueError(f"reference format must be one of {REFERENCE_FORMATS}")
    jobs: set[Job] = set()
    for p in pairs:
        jobs.add((p.reference, reference_format))
        jobs.add((p.probe, "photo"))
    return sorted(jobs)


def embed_one(pipeline: FacePipeline, root: Path, job: Job) -> Outcome:
    """Embed one (image, role); a refusal or unreadable file comes back as its code, never raised.

    The time is the process's CPU time for the image on one interpreter
    thread: what a dedicated core takes, unlike wall time on a shared machine.
    """
    t = time.process_time()
    path, role = job
    try:
        rgb = read_image(root / path)
        if role == "id-chip":
            mesh = pipeline.landmarker.landmarks(rgb, pipeline.find_face(rgb))
            eyes = arcface_points(mesh.points)
            rgb = to_id_chip(rgb, eyes[0], eyes[1])
        emb = pipeline.analyse(rgb).embedding
    except EdgeAgentError as exc:
        return None, exc.code, (time.process_time() - t) * 1000
    return emb, None, (time.process_time() - t) * 1000


_worker: tuple[FacePipeline, Path] | None = None


def _init_worker(model_dir: Path | None, precision: str, flip: bool, root: Path) -> None:
    """Load one single-threaded pipeline per worker process (an interpreter is not thread-safe)."""
    global _worker
    _worker = (FacePipeline.from_directory(model_dir, precision=precision, num_threads=1, flip=flip), root)


def _run_worker(job: Job) -> Outcome:
    assert _worker is not None, "worker not initialised"
    return embed_one(_worker[0], _worker[1], job)


def embed_images(
    jobs: list[Job],
    root: Path,
    *,
    model_dir: Path | None = None,
    precision: str = "float",
    flip: bool = False,
    threads: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> dict[Job, Outcome]:
    """Outcome of every job, computed by ``threads`` processes (1: in this process)."""
    out: dict[Job, Outcome] = {}
    results: Iterator[Outcome]
    if threads <= 1:
        _init_worker(model_dir, precision, flip, root)
        results = map(_run_worker, jobs)
        pool = None
    else:
        pool = ProcessPoolExecutor(threads, initializer=_init_worker, initargs=(model_dir, precision, flip, root))
        results = pool.map(_run_worker, jobs, chunksize=16)
    try:
        for n, (job, outcome) in enumerate(zip(jobs, results, strict=True), start=1):
            out[job] = outcome
            if progress is not None:
                progress(n, len(jobs))
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return out


def score_pairs(pairs: list[Pair], outcomes: dict[Job, Outcome], reference_format: str) -> Scores:
    """Cosine of each pair from the embedded jobs; ``REFUSED`` where either image was refused."""
    genuine: list[float] = []
    impostor: list[float] = []
    for p in pairs:
        ref, _, _ = outcomes[(p.reference, reference_format)]
        probe, _, _ = outcomes[(p.probe, "photo")]
        score = REFUSED if ref is None or probe is None else float(ref @ probe)
        (genuine if p.same else impostor).append(score)
    used = {(p.reference, reference_format) for p in pairs} | {(p.probe, "photo") for p in pairs}
    refused = Counter(str(outcomes[j][1]) for j in used if outcomes[j][1] is not None)
    ms = [outcomes[j][2] for j in used]
    return Scores(np.array(genuine), np.array(impostor), refused, float(np.mean(ms)) if ms else 0.0)


def report(scores: Scores, threshold: float) -> dict[str, Any]:
    """The evaluation's figures. Refused pairs count as non-matches everywhere: they score below every threshold."""
    at = rates_at(scores.genuine, scores.impostor, threshold)
    both = np.concatenate([scores.genuine, scores.impostor])
    finite = both[np.isfinite(both)]
    floor = float(finite.min()) - 1.0 if len(finite) else -2.0
    g = np.where(np.isfinite(scores.genuine), scores.genuine, floor)
    i = np.where(np.isfinite(scores.impostor), scores.impostor, floor)

    def fnmr_at(target: float) -> float | None:
        if not len(g) or not len(i):
            return None
        return round(rates_at(g, i, max(threshold_for_fmr(i, target), np.nextafter(floor, np.inf))).fnmr, 5)

    return {
        "genuine": len(g),
        "impostor": len(i),
        "refused": int(sum(scores.refused.values())),
        "refused_by_reason": dict(sorted(scores.refused.items())),
        "threshold": round(threshold, 4),
        "fnmr": round(at.fnmr, 5),
        "fmr": round(at.fmr, 6),
        "fnmr_at_fmr": {"0.001": fnmr_at(1e-3), "0.0001": fnmr_at(1e-4)},
        "eer": round(eer(g, i).fmr, 5) if len(g) and len(i) else None,
        "ms_per_image": round(scores.ms_per_image, 1),
    }


def terminal_progress(label: str) -> Callable[[int, int], None] | None:
    """A one-line progress counter on stderr, only when stderr is a terminal."""
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        if done == total or done % 25 == 0:
            print(f"\r{label}: {done}/{total} images", end="\n" if done == total else "", file=sys.stderr, flush=True)

    return show
