"""``pip install .`` gives an edge-agent that works from any directory: the build hook (setup.py) puts the
generated gRPC code and the whole factory model set into the wheel, and nothing points back into a checkout."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from edge_agent.matching.matcher import decide
from edge_agent.vision.image import read_image
from edge_agent.vision.pipeline import FacePipeline

ROOT = Path(__file__).resolve().parents[1]
# A clean checkout: no generated code, no venvs or build leftovers.
NOT_IN_CHECKOUT = shutil.ignore_patterns(".git", ".venv*", "_proto", "build", "dist", "*.egg-info", "__pycache__",
                                         ".*_cache", "results")


def build_wheel(out: Path) -> Path:
    src = out / "src"
    shutil.copytree(ROOT, src, ignore=NOT_IN_CHECKOUT)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(src)],
                   check=True, timeout=900)
    (wheel,) = out.glob("edge_agent-*.whl")
    return wheel


@pytest.mark.slow
def test_wheel_carries_generated_code_and_every_model_the_manifest_names(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    for generated in ("carrier_pb2.py", "carrier_pb2_grpc.py", "agent_pb2.py", "agent_pb2_grpc.py", "__init__.py"):
        assert f"edge_agent/_proto/{generated}" in names
    manifest = json.loads((ROOT / "models" / "manifest.json").read_text())
    for entry in manifest["models"].values():
        if (ROOT / "models" / entry["file"]).exists() or not entry.get("optional"):
            assert f"edge_agent/models/{entry['file']}" in names
    with zipfile.ZipFile(wheel) as zf:
        assert zf.read("edge_agent/models/manifest.json") == (ROOT / "models" / "manifest.json").read_bytes()
    assert not any(n.startswith(("models/", "tests/", "tools/", "proto/")) for n in names)


@pytest.mark.slow
def test_pip_install_into_fresh_venv_matches_from_tmp(tmp_path: Path, faces_dir: Path,
                                                      pipeline: FacePipeline) -> None:
    wheel = build_wheel(tmp_path)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", str(wheel)], check=True, timeout=1800)
    shutil.rmtree(tmp_path / "src")  # the wheel must not need the sources it was built from
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "EDGE_AGENT", "VIRTUAL_ENV"))}
    env["EDGE_AGENT_STATE"] = str(tmp_path / "state")  # no installed model set: the factory set is used
    run = tmp_path / "elsewhere"
    run.mkdir()
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import edge_agent.vision.manifest as m; print(m.DEFAULT_MODEL_DIR)"],
                           cwd=run, env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).is_relative_to(venv)
    proc = subprocess.run([str(venv / "bin" / "edge-agent"), "match", str(faces_dir / "img1.jpg"),
                           str(faces_dir / "img2.jpg"), "--json"],
                          cwd=run, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["manifest_sha256"] == hashlib.sha256((ROOT / "models" / "manifest.json").read_bytes()).hexdigest()
    expected = decide(pipeline.analyse(read_image(faces_dir / "img1.jpg")).embedding,
                      pipeline.analyse(read_image(faces_dir / "img2.jpg")).embedding, pipeline.threshold)
    assert out["decision"] == expected.decision == "match"
    assert out["similarity"] == pytest.approx(expected.similarity, abs=1e-3)
