"""Build hook: a wheel (and so ``pip install .``) carries the generated gRPC code and the factory model set.

Only for non-editable builds: a checkout (``make``, an editable install) generates
``edge_agent/_proto`` in place with tools/gen_proto.py and reads ``models/`` beside
the sources. Everything else is in pyproject.toml.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
# What the models folder ships besides the files the manifest names (other helpers add .onnx and licences).
MODEL_GLOBS = ("manifest.json", "*.tflite", "*.onnx", "LICENSE*")


def model_files(models: Path) -> list[Path]:
    """Every file of the factory set: the manifest, what it names, and the globs; a missing required file fails."""
    manifest = json.loads((models / "manifest.json").read_text())
    files = {p for pattern in MODEL_GLOBS for p in models.glob(pattern) if p.is_file()}
    for key, entry in manifest["models"].items():
        path = models / entry["file"]
        if path.is_file():
            files.add(path)
        elif not entry.get("optional"):
            raise SystemExit(f"models/{entry['file']} (manifest entry {key!r}) is missing: cannot build the package")
    return sorted(files)


class BuildPyWithGenerated(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        package = Path(self.build_lib) / "edge_agent"
        sys.path.insert(0, str(ROOT / "tools"))
        from gen_proto import generate

        generate(package / "_proto")
        models = package / "models"
        shutil.rmtree(models, ignore_errors=True)
        models.mkdir(parents=True)
        for path in model_files(ROOT / "models"):
            shutil.copy2(path, models / path.name)


setup(cmdclass={"build_py": BuildPyWithGenerated})
