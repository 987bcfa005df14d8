"""SFace's dynamic-range build (int8 weights): float16's vectors on lfw-dev, XNNPACK takes it whole, Pi default.

Why: the quantised embedder may stand in for float16 only if it gives the
same embeddings (issue 29: cosine >= 0.99 on lfw-dev chips; the thresholds
are recalibrated for it, but a customer enrolled on one build is compared on
another across devices) and if XNNPACK really takes every node (the first
full-int8 file is slower than float because it does not). The chips are cut
by the product's own pipeline from real lfw-dev photos.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from edge_agent.config import Config
from edge_agent.errors import EdgeAgentError
from edge_agent.target import TARGETS, default_precision, resolve_target
from edge_agent.vision.image import read_image
from edge_agent.vision.manifest import Manifest
from edge_agent.vision.pipeline import EMBEDDERS, FacePipeline

MODELS = Path(__file__).resolve().parents[1] / "models"


def candidate_file() -> Path:
    return MODELS / Manifest.load(MODELS).entry(EMBEDDERS["int8-dynamic"])["file"]


@pytest.fixture(scope="module")
def chips(lfw_dir: Path, pipeline: FacePipeline) -> list[np.ndarray]:
    """Aligned chips of 60 lfw-dev photos (every 120th in sorted order: 60 people), in memory only."""
    out = []
    for path in sorted(lfw_dir.glob("*/*.jpg"))[::120]:
        rgb = read_image(path)
        try:
            out.append(pipeline.align(rgb, pipeline.landmarker.landmarks(rgb, pipeline.find_face(rgb)).points))
        except EdgeAgentError:
            continue
    assert len(out) >= 55
    return out


@pytest.mark.slow
def test_int8_dynamic_embeddings_match_float16(chips: list[np.ndarray], pipeline: FacePipeline,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Cosine to float16 on real chips: mean >= 0.99 (the issue's bar; measured 0.999), worst >= 0.99 too.

    The file runs under ai-edge-litert (a Pi's runtime on trixie; tflite-runtime 2.14 lacks FULLY_CONNECTED
    v12), which the test extras install beside tflite-runtime on Python 3.11, so this runs in CI too."""
    from ai_edge_litert.interpreter import Interpreter

    monkeypatch.setattr("edge_agent.vision.runtime.interpreter_class", lambda: (Interpreter, "ai-edge-litert"))
    quant = FacePipeline.from_directory(precision="int8-dynamic", num_threads=1)
    assert quant.embedder.model.runtime == "ai-edge-litert"
    cos = np.array([float(pipeline.embedder.embed(c) @ quant.embedder.embed(c)) for c in chips])
    assert cos.mean() >= 0.99, f"mean cosine to float16 {cos.mean():.4f}"
    assert cos.min() >= 0.99, f"worst cosine to float16 {cos.min():.4f}"


def test_xnnpack_takes_the_whole_int8_dynamic_graph() -> None:
    """Under ai-edge-litert XNNPACK takes every node in one partition; the full-int8 file falls apart (check bites)."""
    from tools.xnnpack_report import report

    r = report(candidate_file(), "ai-edge-litert")
    assert r["not_delegated"] == {}, r
    assert (r["delegated"], r["partitions"]) == (r["total"], 1), r
    old = report(MODELS / "sface_2021dec_int8.tflite", "ai-edge-litert")
    assert old["partitions"] > 10 and "PRELU" in old["not_delegated"], old


def test_pi_targets_default_to_int8_dynamic_only_under_ai_edge_litert(monkeypatch: pytest.MonkeyPatch) -> None:
    for pi in TARGETS.values():
        assert default_precision(pi, "ai-edge-litert") == "int8-dynamic"
        assert default_precision(pi, "tflite-runtime") == "float"  # cannot load it; no int8 XNNPACK either
    assert default_precision(resolve_target("generic"), "ai-edge-litert") == "float"  # x86 keeps float16
    monkeypatch.setattr("edge_agent.vision.runtime.runtime_name", lambda: "ai-edge-litert")
    cfg = Config()
    on_pi = replace(cfg, models=replace(cfg.models, target="pi4")).effective()
    assert on_pi.models.precision == "int8-dynamic"
    assert replace(cfg, models=replace(cfg.models, target="generic")).effective().models.precision == "float"
    chosen = replace(cfg, models=replace(cfg.models, target="pi5", precision="float")).effective()
    assert chosen.models.precision == "float"  # an explicit choice is kept


def test_thresholds_recalibrated_for_int8_dynamic() -> None:
    """The shipped thresholds come from tools/calibrate_threshold.py, not the float16 placeholder."""
    t = Manifest.load(MODELS).data["thresholds"][EMBEDDERS["int8-dynamic"]]
    assert t["script"] == "tools/calibrate_threshold.py" and t["k"]["photo"] >= 0, t


def test_auto_keeps_float_when_the_model_set_lacks_int8_dynamic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A signed set installed before int8-dynamic existed has no entry for it: auto must not stop the agent."""
    import json

    monkeypatch.setattr("edge_agent.vision.runtime.runtime_name", lambda: "ai-edge-litert")
    manifest = json.loads((MODELS / "manifest.json").read_text())
    del manifest["models"][EMBEDDERS["int8-dynamic"]]
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    cfg = Config()
    old_set = replace(cfg, models=replace(cfg.models, target="pi4", directory=str(tmp_path)))
    assert old_set.effective().models.precision == "float"
    (tmp_path / "manifest.json").write_text((MODELS / "manifest.json").read_text())
    assert old_set.effective().models.precision == "int8-dynamic"
