"""`edge-agent pad-eval`: ISO/IEC 30107-3 rates over a pilot's folder of presentations, and the counting behind them."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import pytest

from bench.common import data_root
from edge_agent.camera.files import iter_frames
from edge_agent.liveness.pad import open_media, passive_pad, presentations
from edge_agent.liveness.pad_eval import BONA_FIDE, Outcome, summarise, upper_bound
from edge_agent.vision.antispoof import AntiSpoof
from tests.test_pad import cli_json, need

SHARED = data_root()


def test_upper_bound_is_the_clopper_pearson_one_sided_bound() -> None:
    assert upper_bound(0, 8) == pytest.approx(1 - 0.05 ** (1 / 8), abs=1e-6)  # 0.312: "0 of 8" is not "0 %"
    assert upper_bound(0, 300) == pytest.approx(0.00994, abs=1e-4)  # about the rule of three, 3 / n
    assert upper_bound(1, 8) == pytest.approx(0.4707, abs=1e-3)
    assert upper_bound(4, 4) == 1.0
    assert upper_bound(2, 100) > 0.02
    assert 0.06 < upper_bound(300, 5000) < 0.07  # a pilot's thousands of presentations: no overflow
    with pytest.raises(ValueError):
        upper_bound(3, 2)


def test_no_decision_counts_as_refused_for_customers_and_not_accepted_for_attacks() -> None:
    summary = summarise([
        Outcome("a", BONA_FIDE, "bona_fide", 0.9),
        Outcome("b", BONA_FIDE, "no_decision", error="no_face"),
        Outcome("c", BONA_FIDE, "attack", 0.2),
        Outcome("d", BONA_FIDE, "bona_fide", 0.8),
        Outcome("e", "print", "attack", 0.01),
        Outcome("f", "print", "no_decision", error="image_unreadable"),
        Outcome("g", "phone", "bona_fide", 0.7),
        Outcome("h", "phone", "attack", 0.1),
    ])
    assert summary["presentations"] == 8
    assert summary["bpcer"] == {"count": 4, "errors": 2, "no_decision": 1, "rate": 0.5,
                                "upper_95": round(upper_bound(2, 4), 4)}
    assert summary["apcer"]["print"]["errors"] == 0 and summary["apcer"]["print"]["no_decision"] == 1
    assert summary["apcer"]["phone"]["rate"] == 0.5
    assert summary["apcer_worst"]["species"] == "phone"  # an attacker picks the species that works
    assert "bpcer" not in summarise([Outcome("e", "print", "attack", 0.0)])
    with pytest.raises(ValueError):
        Outcome("x", BONA_FIDE, "maybe")


def _pilot_folder(root: Path) -> None:
    """A pilot's layout from the shared data: real photos and frames of a real clip, the three real attacks."""
    silent = need(SHARED / "antispoof" / "silent-face")
    bona = root / "bona_fide"
    bona.mkdir(parents=True)
    shutil.copy(silent / "image_T1.jpg", bona)
    for name in ("img1.jpg", "img5.jpg", "img20.jpg"):
        shutil.copy(need(SHARED / "faces" / "deepface" / name), bona / name)
    clip = next(iter(sorted(need(SHARED / "video" / "real").glob("v07*.mp4"))))
    frames = bona / "v07_frames"
    frames.mkdir()
    for i, (rgb, _t) in enumerate(iter_frames(clip, 25.0)):
        if i >= 40:
            break
        cv2.imwrite(str(frames / f"{i:03d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    (bona / "cut.jpg").write_bytes((SHARED / "faces" / "deepface" / "img2.jpg").read_bytes()[:1500])
    (bona / "README.txt").write_text("how these were filmed")
    for species, files in {"print": [silent / "image_F1.jpg"],
                           "screen": [silent / "image_F2.jpg", need(SHARED / "antispoof" / "hyperfas" /
                                                                    "fake_screen.png")]}.items():
        (root / "attack" / species).mkdir(parents=True)
        for f in files:
            shutil.copy(f, root / "attack" / species)


def _pad_eval(*args: str) -> tuple[int, dict]:
    return cli_json("pad-eval", *args, timeout=600)


@pytest.mark.slow
def test_pad_eval_on_a_pilot_folder_agrees_with_the_decision_on_each_presentation(tmp_path: Path,
                                                                                   pipeline) -> None:
    _pilot_folder(tmp_path)
    code, out = _pad_eval(str(tmp_path))
    assert code == 0, out
    assert out["ignored"] == ["bona_fide/README.txt"]
    by_name = {o["name"]: o for o in out["outcomes"]}
    assert len(by_name) == out["presentations"] == 9
    # Each decision is the one the passive rule gives that presentation on its own.
    antispoof = AntiSpoof.require(pipeline.manifest)
    for path, truth in presentations(tmp_path)[0]:
        got = by_name[str(path.relative_to(tmp_path))]
        assert got["truth"] == truth
        if path.name == "cut.jpg":
            assert (got["decision"], got["error"]) == ("no_decision", "image_unreadable")
            continue
        report = passive_pad(pipeline.detector, antispoof, open_media(path),
                             competitor_ratio=pipeline.rules.competitor_ratio)
        assert got["decision"] == ("bona_fide" if report.bona_fide else "attack"), got
        assert got["score"] == pytest.approx(report.score, abs=2e-3)
    # The three real attack images are refused (docs/liveness.md), and the real clip's frames accepted.
    assert {by_name[n]["decision"] for n in ("attack/print/image_F1.jpg", "attack/screen/image_F2.jpg",
                                              "attack/screen/fake_screen.png")} == {"attack"}
    assert by_name["bona_fide/v07_frames"]["decision"] == "bona_fide"
    refused = sum(o["decision"] != "bona_fide" for o in out["outcomes"] if o["truth"] == BONA_FIDE)
    assert out["bpcer"]["errors"] == refused >= 1 and out["bpcer"]["count"] == 6
    assert out["apcer"]["screen"] == {"count": 2, "errors": 0, "no_decision": 0, "rate": 0.0,
                                      "upper_95": round(upper_bound(0, 2), 4)}
    # A pilot's gate: exit 1 when a rate is over the stated limit.
    code, out = _pad_eval(str(tmp_path), "--max-bpcer", "0.05", "--max-apcer", "0.05")
    assert code == 1 and out["over_limits"] == [f"BPCER {out['bpcer']['rate']:.2%} > 5.00%"]
    code, _ = _pad_eval(str(tmp_path / "attack"))
    assert code == 2
