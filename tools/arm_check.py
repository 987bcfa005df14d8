#!/usr/bin/env python3
"""Same photos, two CPUs: embeddings and decisions of an arm64 install against this x86_64 checkout.

    tools/arm_check.py embed FACES            # one JSON object per photo on stdout (run on each side)
    tools/arm_check.py compare --faces FACES --arm-root ROOT   # runs both sides, prints the report

``compare`` runs ``embed`` here (x86_64) and inside the arm64 root (chroot; qemu-user-static runs it),
reads both outputs from the pipes (embeddings never touch disk) and reports the cosine between the two
embeddings of each photo and the decisions on every pair of the deepface master.csv. Timings inside
the root are emulated (qemu on x86_64), not Raspberry Pi figures.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

PRIVATE = Path("/usr/lib/edge-agent/python")  # where the Debian package keeps edge_agent
# Required cosine between the two CPUs' embeddings of one photo: the kernels differ (NEON against SSE/AVX);
# bookworm's int8 embedder measured 0.9996 at worst, trixie's float16 SFace 0.99999 (img1, img2, img45).
MIN_COSINE = 0.999


def photos(faces: Path, limit: int) -> list[Path]:
    found = sorted(faces.glob("*.jpg"), key=lambda p: (len(p.name), p.name))
    return found[:limit] if limit else found


def embed(faces: Path, limit: int = 0) -> None:
    if PRIVATE.is_dir():
        sys.path.insert(0, str(PRIVATE))
    from edge_agent.errors import BadInput
    from edge_agent.vision.image import read_image
    from edge_agent.vision.pipeline import FacePipeline

    t = time.perf_counter()
    # The embedder a device runs (the model set's default, SFace float16 since 2026.12), not int8: the int8
    # kernels round differently per runtime and CPU (cosine about 0.995 between x86 and arm64 ai-edge-litert).
    pipeline = FacePipeline.from_directory(num_threads=1)
    load_ms = (time.perf_counter() - t) * 1000
    print(json.dumps({"machine": __import__("platform").machine(), "load_ms": round(load_ms, 1),
                      "threshold": pipeline.threshold, "manifest_sha256": pipeline.manifest.sha256,
                      "embedder": pipeline.embedder_key}), flush=True)
    for path in photos(faces, limit):
        try:
            face = pipeline.analyse(read_image(path))
        except BadInput as exc:
            print(json.dumps({"photo": path.name, "error": exc.code}), flush=True)
            continue
        print(json.dumps({"photo": path.name, "embedding": [float(x) for x in face.embedding],
                          "timings_ms": {k: round(v, 2) for k, v in face.timings_ms.items()}}), flush=True)


def _side(cmd: list[str]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])}... failed:\n{proc.stderr[-3000:]}")
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return lines[0], {d["photo"]: d for d in lines[1:]}


def compare(faces: Path, arm_root: Path, limit: int = 0) -> int:
    import numpy as np

    inside = arm_root / "tmp" / f"arm-check-{os.getpid()}"  # two runs on one root keep apart
    shutil.rmtree(inside, ignore_errors=True)
    (inside / "photos").mkdir(parents=True)
    try:
        for p in photos(faces, limit):
            shutil.copy(p, inside / "photos" / p.name)
        shutil.copy(__file__, inside / "arm_check.py")
        x86_info, x86 = _side([sys.executable, __file__, "embed", str(faces), "--limit", str(limit)])
        arm_info, arm = _side(["chroot", str(arm_root), "/usr/bin/python3", "-I", f"/tmp/{inside.name}/arm_check.py",
                               "embed", f"/tmp/{inside.name}/photos", "--limit", str(limit)])
    finally:
        shutil.rmtree(inside, ignore_errors=True)
    assert arm_info["manifest_sha256"] == x86_info["manifest_sha256"], "different model sets"
    cosines = {}
    for name, a in x86.items():
        b = arm[name]
        if "error" in a or "error" in b:
            assert a.get("error") == b.get("error"), f"{name}: x86 {a.get('error')}, arm {b.get('error')}"
            continue
        ea, eb = np.array(a["embedding"]), np.array(b["embedding"])
        cosines[name] = float(ea @ eb / (np.linalg.norm(ea) * np.linalg.norm(eb)))
    threshold = float(x86_info["threshold"])
    same = differ = 0
    with open(faces / "master.csv") as f:
        for row in csv.DictReader(f):
            x, y = row["file_x"], row["file_y"]
            if x not in cosines or y not in cosines:
                continue
            decisions = []
            for side in (x86, arm):
                ex, ey = np.array(side[x]["embedding"]), np.array(side[y]["embedding"])
                decisions.append(float(ex @ ey / (np.linalg.norm(ex) * np.linalg.norm(ey))) >= threshold)
            same += decisions[0] == decisions[1]
            differ += decisions[0] != decisions[1]
    stages = sorted({k for d in arm.values() for k in d.get("timings_ms", {})})
    med = {s: round(statistics.median(d["timings_ms"][s] for d in arm.values() if "timings_ms" in d), 1)
           for s in stages}
    med_x86 = {s: round(statistics.median(d["timings_ms"][s] for d in x86.values() if "timings_ms" in d), 1)
               for s in stages}
    worst = min(cosines, key=cosines.__getitem__)
    report = {
        "photos": len(x86), "faces": len(cosines), "no_face_on_both": len(x86) - len(cosines),
        "cosine_min": round(cosines[worst], 6), "cosine_min_photo": worst,
        "cosine_median": round(statistics.median(cosines.values()), 6),
        "pairs": same + differ, "same_decisions": same, "different_decisions": differ,
        "arm_machine": arm_info["machine"], "x86_machine": x86_info["machine"],
        "median_stage_ms_arm64_EMULATED_qemu": med, "median_stage_ms_x86_64_native": med_x86,
        "model_load_ms_arm64_EMULATED_qemu": arm_info["load_ms"],
    }
    print(json.dumps(report, indent=2))
    ok = cosines[worst] >= MIN_COSINE and differ == 0 and same > 0
    print("arm-check:", "PASS" if ok else "FAIL", f"(cosine >= {MIN_COSINE} on every photo, identical decisions)")
    return 0 if ok else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("embed")
    e.add_argument("faces", type=Path)
    e.add_argument("--limit", type=int, default=0, help="only the first N photos (img1, img2, ...); 0 = all")
    c = sub.add_parser("compare")
    c.add_argument("--faces", type=Path, required=True)
    c.add_argument("--arm-root", type=Path, required=True)
    c.add_argument("--limit", type=int, default=0, help="only the first N photos (img1, img2, ...); 0 = all")
    args = ap.parse_args()
    if args.cmd == "embed":
        embed(args.faces, args.limit)
        return 0
    return compare(args.faces, args.arm_root, args.limit)


if __name__ == "__main__":
    sys.exit(main())
