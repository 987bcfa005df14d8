"""The TFLite wrapper: (de)quantisation in one place, and refusing tampered or broken models."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from edge_agent.errors import ModelError, ModelIntegrityError
from edge_agent.vision.manifest import DEFAULT_MODEL_DIR, Manifest
from edge_agent.vision.runtime import Model, TensorSpec


def spec(dtype: type, scale: float, zero: int) -> TensorSpec:
    return TensorSpec({"index": 0, "name": "t", "shape": [4], "dtype": dtype, "quantization": (scale, zero)})


def test_int8_quantise_roundtrip_within_half_a_step() -> None:
    s = spec(np.int8, 0.05, -3)
    x = np.array([-6.0, -0.01, 0.0, 6.0], np.float32)
    q = s.quantise(x)
    assert q.dtype == np.int8
    assert np.all(np.abs(s.dequantise(q) - x) <= 0.025 + 1e-6)


def test_quantise_saturates_instead_of_wrapping() -> None:
    s = spec(np.int8, 1.0, -128)
    assert s.quantise(np.array([-5.0, 0.0, 255.0, 400.0])).tolist() == [-128, -128, 127, 127]


def test_float_tensor_passes_through() -> None:
    s = spec(np.float32, 0.0, 0)
    x = np.arange(4, dtype=np.float32)
    assert s.quantise(x) is x
    assert s.dequantise(x) is x


def test_embedder_input_is_exact_pixels() -> None:
    model = Manifest.load().load_model("face_embedding_int8")
    inp = model.inputs[0]
    assert inp.dtype == np.int8 and inp.scale == 1.0 and inp.zero_point == -128
    pixels = np.arange(256, dtype=np.float32)
    assert np.array_equal(inp.dequantise(inp.quantise(pixels)), pixels)


def test_tampered_model_is_refused(tmp_path: Path) -> None:
    entry = Manifest.load().entry("face_landmarks")
    bad = tmp_path / entry["file"]
    data = bytearray((DEFAULT_MODEL_DIR / entry["file"]).read_bytes())
    data[len(data) // 2] ^= 0x01
    bad.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match="refusing to load"):
        Model(bad, sha256=entry["sha256"])


def test_garbage_model_gives_model_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a flatbuffer" * 10)
    with pytest.raises(ModelError, match="not a loadable TFLite model"):
        Model(junk)


def test_missing_model_gives_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="cannot read model"):
        Model(tmp_path / "absent.tflite")


def test_manifest_hashes_match_files(monkeypatch: pytest.MonkeyPatch) -> None:
    from edge_agent.vision.pipeline import EMBEDDERS

    manifest = Manifest.load()
    for key in manifest.data["models"]:
        if key == EMBEDDERS["int8-dynamic"]:
            # Its FULLY_CONNECTED v12 needs ai-edge-litert (a trixie Pi's runtime; the test extras install it
            # beside tflite-runtime 2.14, which cannot load it).
            from ai_edge_litert.interpreter import Interpreter

            monkeypatch.setattr("edge_agent.vision.runtime.interpreter_class", lambda: (Interpreter, "ai-edge-litert"))
        model = manifest.load_model(key, num_threads=1)  # raises on mismatch
        assert model.sha256 == manifest.entry(key)["sha256"]
        monkeypatch.undo()


def test_malformed_manifest(tmp_path: Path) -> None:
    shutil.copytree(DEFAULT_MODEL_DIR, tmp_path / "m", ignore=shutil.ignore_patterns("*.tflite"))
    (tmp_path / "m" / "manifest.json").write_text("{not json")
    with pytest.raises(ModelError, match="malformed"):
        Manifest.load(tmp_path / "m")


def test_raw_pixel_fast_path_equals_the_affine_formula() -> None:
    """uint8 pixels into an int8 input with scale 1 / zero point -128 take a bit flip; it must be exact."""
    from edge_agent.vision.runtime import TensorSpec

    spec = TensorSpec({"index": 0, "name": "x", "shape": [1, 256], "dtype": np.int8, "quantization": (1.0, -128)})
    pixels = np.arange(256, dtype=np.uint8)[None]
    expected = np.clip(np.rint(pixels.astype(np.float32)) - 128, -128, 127).astype(np.int8)
    assert np.array_equal(spec.quantise(pixels), expected)
    assert np.array_equal(spec.quantise(pixels.astype(np.float32)), expected)


def test_loading_a_model_puts_numpy_blas_on_one_thread() -> None:
    """An idle OpenBLAS worker spins as long as the liveness loop works (stop 22: 82 -> 42 ms CPU per frame).

    Run in a fresh interpreter asked for two BLAS threads, so that the pool exists before the model loads.
    """
    import json
    import os
    import subprocess
    import sys

    script = (
        "import json, sys\n"
        "from threadpoolctl import threadpool_info\n"
        "from edge_agent.vision.manifest import Manifest\n"
        "def blas(): return [p['num_threads'] for p in threadpool_info() if p['user_api'] == 'blas']\n"
        "before = blas()\n"
        "Manifest.load().load_model('face_detection_short', num_threads=1)\n"
        "print(json.dumps({'before': before, 'after': blas()}))\n"
    )
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "2"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300,
                         check=True)
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["before"], "numpy's BLAS was not found by threadpoolctl"
    if (os.cpu_count() or 1) >= 2:
        assert max(seen["before"]) == 2
    assert seen["after"] == [1] * len(seen["before"])
