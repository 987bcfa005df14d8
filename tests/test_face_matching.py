"""Matching on real faces the project was not tuned on (lfw-dev), and against ID card chip portraits.

The regression guard is a fixed sample of lfw-dev pairs from the people held
out of the threshold check (``split_by_person``): at the shipped thresholds it
must reproduce the recorded error rates. Full-set figures come from
``tools/calibrate_threshold.py`` and ``bench/accuracy.py``; see
docs/face-matching.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge_agent.matching.evaluate import embed_images, jobs_for, read_pairs, report, score_pairs, split_by_person
from edge_agent.matching.idchip import CHIP_BYTES, CHIP_SHAPE, chip_portrait, encode_chip, to_id_chip
from edge_agent.vision.align import arcface_points
from edge_agent.vision.image import decode_image, read_image
from edge_agent.vision.pipeline import FacePipeline

PERSON = "Aaron_Peirsol"
STRANGER = "Adam_Sandler/Adam_Sandler_0001.jpg"


def eyes(pipeline: FacePipeline, rgb: np.ndarray) -> np.ndarray:
    return arcface_points(pipeline.landmarker.landmarks(rgb, pipeline.find_face(rgb)).points)[:2]


@pytest.mark.slow  # seconds of model runs: the fast tier stays under its minute (tests/tier_budget.py)
def test_chip_portrait_is_what_a_chip_holds(pipeline: FacePipeline, lfw_dir: Path) -> None:
    rgb = read_image(lfw_dir / PERSON / f"{PERSON}_0001.jpg")
    right, left = eyes(pipeline, rgb)
    data = encode_chip(chip_portrait(rgb, right, left))
    assert len(data) <= CHIP_BYTES
    assert len(data) > CHIP_BYTES * 0.8, "the quality search left most of the budget unused"
    assert data[:12] == b"\x00\x00\x00\x0cjP  \r\n\x87\n", "not a JPEG 2000 file"
    chip = decode_image(data)
    assert chip.shape == (*CHIP_SHAPE, 3)
    face = pipeline.analyse(chip)  # accepted as a reference: not too small, not too blurred
    assert 21 <= face.eye_distance <= 27
    # Head centred and level: eye midpoint on the vertical centre line, 44 % down.
    mid = arcface_points(face.mesh.points)[:2].mean(0)
    assert abs(mid[0] - CHIP_SHAPE[1] / 2) < 3 and abs(mid[1] - 0.44 * CHIP_SHAPE[0]) < 4


@pytest.mark.slow  # seconds of model runs: the fast tier stays under its minute (tests/tier_budget.py)
def test_chip_reference_matches_the_person_not_a_stranger(pipeline: FacePipeline, lfw_dir: Path) -> None:
    """End to end for one person whose chip reference matches (0.63-0.70 against 0.42; a stranger -0.02).

    About one chip reference in seven misses at FMR 1e-4 (docs/face-matching.md), so this is a person whose
    chip matches, as a functional check; the rate itself is guarded by the sample test.
    """
    person = "Al_Sharpton"
    source = read_image(lfw_dir / person / f"{person}_0001.jpg")
    chip = to_id_chip(source, *eyes(pipeline, source))
    reference = pipeline.analyse(chip).embedding
    threshold = pipeline.threshold_for("id-chip")
    same = [float(reference @ pipeline.analyse(read_image(p)).embedding)
            for p in sorted((lfw_dir / person).glob("*.jpg"))[1:4]]
    stranger = float(reference @ pipeline.analyse(read_image(lfw_dir / STRANGER)).embedding)
    assert len(same) == 3 and min(same) >= threshold, f"genuine chip scores {same} below {threshold}"
    assert stranger < threshold
    assert threshold < pipeline.threshold, "a chip reference needs its own, lower threshold"


# Recorded on 2026-11-30 (model set 2026.12.1, tflite-runtime 2.14): photo 0 of 100 genuine pairs missed, 0 of
# 200 impostors accepted; id-chip (JPEG 2000 with the colour transform) 9 of 100 missed (1 chip reference refused),
# 0 accepted; with OpenCV's writer it was 55 of 100. The bounds allow two pairs (photo) and five pairs (chip) of
# drift, e.g. another TFLite runtime's rounding.
@pytest.mark.slow
@pytest.mark.parametrize(("reference_format", "max_fnmr"), [("photo", 0.02), ("id-chip", 0.14)])
def test_held_out_sample_reproduces_recorded_rates(lfw_dir: Path, reference_format: str, max_fnmr: float) -> None:
    _, held_out = split_by_person(read_pairs(lfw_dir / "pairs.tsv"))
    sample = [p for p in held_out if p.same][:100] + [p for p in held_out if not p.same][:200]
    outcomes = embed_images(jobs_for(sample, reference_format), lfw_dir, threads=1)
    pipeline = FacePipeline.from_directory(num_threads=1)
    out = report(score_pairs(sample, outcomes, reference_format), pipeline.threshold_for(reference_format))
    assert out["genuine"] == 100 and out["impostor"] == 200
    assert out["fmr"] == 0.0
    assert out["fnmr"] <= max_fnmr, out


@pytest.mark.slow
def test_evaluate_cli_counts_bad_files_as_refused(lfw_dir: Path, tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text(
        "img1\timg2\tsame\n"
        f"{PERSON}/{PERSON}_0001.jpg\t{PERSON}/{PERSON}_0002.jpg\t1\n"
        f"{PERSON}/{PERSON}_0001.jpg\t{STRANGER}\t0\n"
        f"{PERSON}/missing.jpg\t{PERSON}/{PERSON}_0002.jpg\t1\n"
        f"{PERSON}/{PERSON}_0003.jpg\tpairs.tsv\t1\n"
    )
    root = tmp_path / "root"
    root.mkdir()
    (root / PERSON).symlink_to(lfw_dir / PERSON)
    (root / STRANGER).parent.mkdir()
    (root / STRANGER).symlink_to(lfw_dir / STRANGER)
    (root / "pairs.tsv").write_text("not an image")
    proc = subprocess.run([sys.executable, "-m", "edge_agent.cli", "evaluate", "--root", str(root),
                           "--pairs", str(pairs), "--json"], capture_output=True, text=True, timeout=300)
    assert "Traceback" not in proc.stderr and proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert (out["genuine"], out["impostor"]) == (3, 1)
    assert out["refused"] == 2 and out["refused_by_reason"] == {"image_unreadable": 2}
    assert out["fnmr"] == pytest.approx(2 / 3, abs=1e-4) and out["fmr"] == 0.0  # the refused pairs count as not matched
    assert set(out) >= {"threshold", "fnmr_at_fmr", "eer", "ms_per_image"}
    assert set(out["fnmr_at_fmr"]) == {"0.001", "0.0001"}
    assert "images" not in proc.stderr, "progress is for a terminal only"


@pytest.mark.slow
def test_evaluate_cli_rejects_a_malformed_pair_list(tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("a\tb\n")
    proc = subprocess.run([sys.executable, "-m", "edge_agent.cli", "evaluate", "--root", str(tmp_path),
                           "--pairs", str(pairs), "--json"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert json.loads(proc.stdout)["error"] == "bad_input"
