#!/usr/bin/env python3
"""Liveness benchmark: passive PAD on real footage and made-up attacks, blinks vs labels, rendered sessions.

1. Passive PAD (ISO/IEC 30107-3 terms). Bona fide presentations: the real
   clips of ../shared/data/video/real and real photos (deepface, silent-face
   image_T1). Attack presentations: the shared attack images (silent-face
   image_F1/F2, hyperfas fake_screen.png: real attacks) and screen / print
   replays MADE here from the real clips and photos
   (edge_agent/simulation/attacks.py: made-up attacks, marked as such).
   The data is split: a tuning part (the threshold in SessionTuning was
   chosen on it) and a held-out part never used for tuning; both are
   reported, separately. APCER per attack species = attacks accepted /
   attacks of that species; BPCER = bona fide refused / bona fide.
2. Blinks on the real clips: the challenge's hysteresis (blink_close /
   blink_open of the open-eye baseline) against every labelled blink in
   labels.json: recall and false blinks per clip.
3. Head turns on the real clips: the solved yaw at the labelled turns.
4. The recapture device's frame (edge_agent/liveness/recapture.py, ``--recapture-only``): its per-frame
   score and CPU cost on the real clips, the live phone sessions, the real phone replay, bona fide photos
   and made-up phone-to-phone replays of the real clips; and the fused decision (attack when either witness
   says so) with MiniFASNet's session score beside it, margins to both thresholds.
5. Rendered sessions (edge_agent/simulation/scenes.py): the whole session
   (challenge, identity, PAD, parallax) on live scenes, planar, static and
   replayed attacks, and swaps (frames of another person inserted); per-frame cost.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import random
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import RESULTS, data_root, deepface_dir
from bench.stage_profile import MAX_RECORD_LOAD, StageProfile, load_text, loadavg
from edge_agent.camera.files import iter_frames
from edge_agent.errors import NoFace
from edge_agent.liveness.challenge import ChallengeConfig, random_actions
from edge_agent.liveness.continuity import thumbnail
from edge_agent.liveness.fusion import DECISION_TEXT as PAD_DECISION_TEXT
from edge_agent.liveness.fusion import RULE_TEXT as PAD_RULE_TEXT
from edge_agent.liveness.fusion import session_pad_score
from edge_agent.liveness.pad import passive_pad
from edge_agent.liveness.recapture import DeviceFrameWitness, device_frame_score
from edge_agent.liveness.session import LivenessResult, SessionTuning
from edge_agent.liveness.signals import head_pose
from edge_agent.liveness.workers import StageWorkers
from edge_agent.simulation.attacks import SPECIES, make_attack, phone_to_phone, style_for
from edge_agent.simulation.scenes import Face3D, Scene, live_scene, planar_scene, static_scene, swap_scene
from edge_agent.verification import liveness_session
from edge_agent.vision.antispoof import AntiSpoof
from edge_agent.vision.eyes import openness
from edge_agent.vision.image import read_image
from edge_agent.vision.pipeline import FacePipeline
from edge_agent.vision.tracker import FaceTracker

PHOTOS = ["img1.jpg", "img5.jpg", "img20.jpg", "img30.jpg", "img38.jpg", "img13.jpg", "img22.jpg", "img26.jpg"]
# Clips and photos the PAD threshold was tuned on; everything else is held out.
TUNE_CLIPS = ("v07", "v09", "v10", "v12")
PAD_SAMPLE_MS = 200  # as the session samples (SessionTuning.pad_every_ms); --pad-every-ms changes it
CLIP_SEEDS = (0, 1)  # made-up replays per species of every clip


def clip_frames(path: Path, every_ms: int) -> list[tuple[np.ndarray, int]]:
    out: list[tuple[np.ndarray, int]] = []
    for rgb, t in iter_frames(path):
        if not out or t - out[-1][1] >= every_ms:
            out.append((rgb, t))
    return out


def attacked(frames: list[tuple[np.ndarray, int]], species: str, seed: int) -> Iterator[tuple[np.ndarray, int]]:
    """One instrument and capture per clip (a replay does not change device mid-way), fresh noise per frame."""
    rng = np.random.default_rng(seed)
    style = style_for(species, rng)
    for rgb, t in frames:
        yield make_attack(rgb, style, rng), t


def pad_raw(pipeline: FacePipeline, pad: AntiSpoof, every_ms: int, clips: list[str] | None,
            photos: bool) -> list[dict[str, object]]:
    """Every presentation with each PAD frame's witness scores (the rule is applied later, ``pad_figures``).

    Bona fide clips are sampled as a session samples them (every ``every_ms``); their made-up replays
    every 4 x ``every_ms`` (making an attack frame costs ~0.25 s), seeds 0 and 1 of each species for every
    clip, so that any clip can be left out. Photos: the still and a made-up replay of one species.
    """
    real = data_root() / "video" / "real"
    labels = json.loads((real / "labels.json").read_text())["clips"]
    rows: list[dict[str, object]] = []

    def add(kind: str, species: str, source: str, made_up: bool,
            frames: Iterator[tuple[np.ndarray, int]] | list[tuple[np.ndarray, int]]) -> None:
        try:
            report = passive_pad(pipeline.detector, pad, frames, SessionTuning(pad_every_ms=0))
        except NoFace:  # a failed attack render: not a presentation
            return
        group = source[:3] if source.startswith("v") else source
        rows.append({"kind": kind, "species": species, "source": source, "group": group, "made_up": made_up,
                     "frames": [f.scores for f in report.frames]})
        print(f"{kind:9} {species:8} {source[:40]:40} {len(report.frames):3} frames {report.score:.4f}", flush=True)

    for name in labels:
        if clips is not None and name[:3] not in clips:
            continue
        frames = clip_frames(real / name, every_ms)
        add("bona_fide", "clip", name[:3], False, frames)
        for species in SPECIES:
            for seed in CLIP_SEEDS:
                add("attack", species, f"{name[:3]}/{seed}", True,
                    attacked(frames[::4], species, zlib.crc32(f"{name}/{species}/{seed}".encode())))
    if not photos:
        return rows
    for p in sorted((p for p in deepface_dir().glob("img*.jpg") if p.stem[3:].isdigit()),
                    key=lambda p: int(p.stem[3:])):
        rgb = read_image(p)
        add("bona_fide", "photo", p.name, False, [(rgb, 0)])
        species = SPECIES[int(p.stem[3:]) % 3]
        add("attack", species, p.name, True, attacked([(rgb, 0)], species, zlib.crc32(p.name.encode())))
    sf = data_root() / "antispoof"
    add("bona_fide", "photo", "silent-face/image_T1.jpg", False, [(read_image(sf / "silent-face" / "image_T1.jpg"), 0)])
    for name in ("silent-face/image_F1.jpg", "silent-face/image_F2.jpg", "hyperfas/fake_screen.png"):
        add("attack", "real_attack", name, False, [(read_image(sf / name), 0)])
    return rows


def group_key(r: dict[str, object]) -> str:
    """The figure's key in liveness-figures.json: bona fide clips / photos, or attack species x medium."""
    medium = "clips" if str(r["source"]).startswith("v") else "stills"
    if r["kind"] == "bona_fide":
        return f"bona_fide_{r['species']}s"
    return f"{r['species']}_{medium}" if r["made_up"] else "real_attack_images"


LABELS = {"bona_fide_clips": "bona fide clips (BPCER)", "bona_fide_photos": "bona fide photos (BPCER)",
          "real_attack_images": "real attack images (APCER)"}


def label(key: str) -> str:
    if key in LABELS:
        return LABELS[key]
    species, medium = key.split("_")
    return f"{species} replays of {medium} (APCER, made-up)"


def rates(scored: list[tuple[str, float]], threshold: float) -> dict[str, dict[str, object]]:
    """Per group: count, errors (bona fide refused / attacks accepted), rate and the scores' spread."""
    out: dict[str, dict[str, object]] = {}
    for key in sorted({k for k, _ in scored}):
        scores = [s for k, s in scored if k == key]
        bona = key.startswith("bona")
        errors = sum((s < threshold) if bona else (s >= threshold) for s in scores)
        out[key] = {"count": len(scores), "errors": int(errors), "rate": round(errors / len(scores), 4),
                    "made_up": "replays" in label(key), "min": round(min(scores), 4),
                    "median": round(float(np.median(scores)), 4), "max": round(max(scores), 4)}
    return out


def pick_threshold(bona: list[float], attacks: list[float]) -> float:
    """The threshold minimising BPCER + APCER on these scores; of equally good ones, the closest to 0.5.

    0.5 is the models' own decision point (their softmax's): kept unless the data says another is better,
    so a handful of clips does not move it within a flat optimum.
    """
    grid = [round(float(t), 2) for t in np.arange(0.05, 0.96, 0.01)]
    cost = [float(np.mean([b < t for b in bona]) + np.mean([a >= t for a in attacks])) for t in grid]
    best = [t for t, c in zip(grid, cost, strict=True) if c <= min(cost) + 1e-9]
    return min(best, key=lambda t: abs(t - 0.5))


def pad_figures(rows: list[dict[str, object]], threshold: float) -> dict[str, object]:
    """Figures of the shipped rule: held-out part, tuning part, and leave-one-clip-out over all clips.

    Leave-one-clip-out: for each real clip, the threshold is chosen (``pick_threshold``) on the other clips
    and their replays only, then applied to the left-out clip and its replays: how well a threshold chosen
    on some people holds on an unseen one, which 8 clips can say better than a 4/4 split.
    """
    scored = [(r, session_pad_score(r["frames"])) for r in rows]  # type: ignore[arg-type]
    figures: dict[str, object] = {"threshold": threshold}
    for split in ("tune", "held"):
        figures[split] = rates([(group_key(r), s) for r, s in scored if split_of(r) == split], threshold)
    clips = sorted({str(r["group"]) for r, _ in scored if str(r["group"]).startswith("v")})
    loco: list[tuple[str, float]] = []  # (group, score shifted so that the left-out clip's threshold is 0.5)
    chosen: dict[str, float] = {}
    for c in clips:
        train = [(r, s) for r, s in scored if str(r["group"]).startswith("v") and r["group"] != c]
        t = chosen[c] = pick_threshold([s for r, s in train if r["kind"] == "bona_fide"],
                                       [s for r, s in train if r["kind"] == "attack"])
        loco += [(group_key(r), 0.5 + (s - t)) for r, s in scored if r["group"] == c]
    figures["loco"] = {k: {x: v for x, v in g.items() if x in ("count", "errors", "rate", "made_up")}
                       for k, g in rates(loco, 0.5).items()}
    figures["loco_thresholds"] = chosen
    figures["clip_scores"] = {str(r["source"]): round(s, 4) for r, s in scored if r["kind"] == "bona_fide"
                              and str(r["source"]).startswith("v")}
    return figures


def split_of(r: dict[str, object]) -> str:
    """Tuning part: clips v07 v09 v10 v12 (and their replays), odd-numbered deepface photos; the rest held out."""
    g = str(r["group"])
    if g.startswith("v"):
        return "tune" if g in TUNE_CLIPS else "held"
    if g.startswith("img") and g[3:].split(".")[0].isdigit():
        return "tune" if int(g[3:].split(".")[0]) % 2 else "held"
    return "held"


def pad_table(figures: dict[str, object], every_ms: int = PAD_SAMPLE_MS) -> list[str]:
    """Markdown rows, each figure tied to liveness-figures.json (tests/test_readme_figures.py checks them)."""
    threshold = figures["threshold"]
    lines = [f"Passive PAD: {PAD_RULE_TEXT}; bona fide when >= {threshold}. Clips sampled every {every_ms} ms "
             f"(replays every {4 * every_ms} ms).", "",
             "| split | presentations | count | error | scores (min / median / max) |", "|---|---|---|---|---|"]
    for split in ("tune", "held", "loco"):
        for key, g in figures[split].items():  # type: ignore[attr-defined]
            tag = f"<!-- docs/liveness-figures.json#/pad/{split}/{key}"
            spread = f"{g['min']:.3g} / {g['median']:.3g} / {g['max']:.3g}" if "min" in g else "-"
            lines.append(f"| {split} | {label(key)} | {g['count']}{tag}/count --> | "
                         f"{100 * g['rate']:.1f} %{tag}/rate --> | {spread} |")
    return lines


def update_figures(path: Path, parts: dict[str, object]) -> None:
    """Rewrite the parts of a figures file this run measured, keeping the others (the cost part comes from
    ``--cost-only``, the rest from a full run: neither may erase the other's figures, which the README,
    docs and ``selftest``'s weights are tied to)."""
    figures = json.loads(path.read_text()) if path.exists() else {}
    path.write_text(json.dumps({**figures, **parts}, indent=1) + "\n")


# The cost figures that count frames, not time: they do not depend on the machine's load, so they are recorded
# whatever it is (selftest's weights are tied to them); the timings only at a quiet machine's load.
SHARE_KEYS = ("detect", "embedded", "eyes", "pad", "step")


def recordable_cost(path: Path, cost: dict[str, Any], load: float | None = None) -> dict[str, Any]:
    """``cost`` as it may be recorded in the figures at ``path``: all of it at a 1-minute load average up to
    ``MAX_RECORD_LOAD``; above it, the frame shares and chip distances only, with the timings kept from the file
    (the README and docs quote those; a timing taken on a busy machine is printed, never recorded)."""
    load = loadavg() if load is None else load
    if load <= MAX_RECORD_LOAD:
        return {**cost, "load": round(load, 2)}
    print(f"load average {load:.2f} > {MAX_RECORD_LOAD}: timings not recorded in {path}, frame shares only",
          file=sys.stderr)
    old = json.loads(path.read_text()).get("cost", {}) if path.exists() else {}

    def merge(new: dict[str, Any], kept: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in kept.items() if k not in SHARE_KEYS}
        out.update({k: v for k, v in new.items() if k in SHARE_KEYS})
        return out

    merged = merge(cost, old)
    merged["every_third_frame"] = merge(cost.get("every_third_frame", {}), old.get("every_third_frame", {}))
    if "continuity" in cost:
        merged["continuity"] = cost["continuity"]
    return merged


def score_blinks(found: list[int], truth: list[int], closures: list[tuple[int, ...]]) -> tuple[set[int], list[int]]:
    """(labelled onsets found within 6 frames, blinks found outside any labelled blink or long closure)."""
    matched = {b for b in truth if any(abs(d - b) <= 6 for d in found)}
    false = [d for d in found if not any(abs(d - b) <= 6 for b in truth)
             and not any(a - 6 <= d <= z + 6 for a, z in closures)]
    return matched, false


def blink_part(pipeline: FacePipeline) -> tuple[list[str], dict[str, object]]:
    """The challenge's blink rule on every frame of the real clips, against the labelled blink onsets; and on
    every third frame (8.3 frames/s, a slow loop such as a Pi's, which sees the newest frame only)."""
    real = data_root() / "video" / "real"
    labels = json.loads((real / "labels.json").read_text())["clips"]
    cfg = ChallengeConfig()
    eyes = pipeline.eye_landmarker()
    lines = ["| clip | labelled blinks | found | recall | false blinks | found / false at 8.3 frames/s | "
             "turns labelled: solved yaw at them |",
             "|---|---|---|---|---|---|---|"]
    total = found_total = false_total = slow_found_total = slow_false_total = 0
    per_clip: dict[str, object] = {}
    def openness_series(frames: list[tuple[np.ndarray, int]], step: int,
                        yaws: list[tuple[int, float]] | None = None) -> list[float | None]:
        # The face is followed as the session follows it (vision/tracker.py), on the frames a loop fed every
        # ``step``-th frame sees: at 8.3 frames/s the mesh region comes from the frame three frames back.
        tracker = FaceTracker(pipeline.detector, pipeline.landmarker)
        ears: list[float | None] = []
        for i, (rgb, t) in enumerate(frames):
            if i % step:
                ears.append(None)
                continue
            located = tracker.locate(rgb)
            if located.faces is not None and not located.faces:
                ears.append(None)
                continue
            mesh = (tracker.mesh_of(rgb, located.faces[0]) if located.faces else located.mesh).points  # type: ignore[union-attr]
            c = eyes.contours(rgb, mesh)
            ears.append((openness(c[0]) + openness(c[1])) / 2)
            if yaws is not None:
                yaws.append((t, head_pose(mesh, rgb.shape)[0]))
        return ears

    for name, lab in labels.items():
        yaws: list[tuple[int, float]] = []
        frames = list(iter_frames(real / name))
        ears = openness_series(frames, 1, yaws)
        truth = list(lab.get("blinks_frames", []))
        closures = [tuple(x) for x in lab.get("long_eye_closures_frames", [])]
        matched, false = score_blinks(detect_blinks(ears, cfg.blink_close, cfg.blink_open), truth, closures)
        slow = detect_blinks(openness_series(frames, 3), cfg.blink_close, cfg.blink_open)
        slow_matched, slow_false = score_blinks(slow, truth, closures)
        total, found_total, false_total = total + len(truth), found_total + len(matched), false_total + len(false)
        slow_found_total += len(slow_matched)
        slow_false_total += len(slow_false)
        turns = []
        for turn in lab.get("turns", []):
            a, _, z = str(turn["t"]).rstrip("s").partition("-")
            lo, hi = float(a) * 1000 - 150, float(z or a) * 1000 + 150
            seen = [y for t, y in yaws if lo <= t <= hi]
            peak = max(seen, key=abs) if seen else float("nan")
            turns.append(f"{turn['yaw'].split()[0]} -> {peak:+.0f}")
        per_clip[name[:3]] = {"labelled": len(truth), "found": len(matched), "false": len(false),
                              "found_every_third": len(slow_matched), "false_every_third": len(slow_false),
                              "turns": turns}
        lines.append(f"| {name[:3]} | {len(truth)} | {len(matched)} | {len(matched) / max(1, len(truth)):.0%} | "
                     f"{len(false)} | {len(slow_matched)} / {len(slow_false)} | {', '.join(turns) or '-'} |")
    lines.append(f"| all | {total} | {found_total} | {found_total / max(1, total):.0%} | {false_total} | "
                 f"{slow_found_total} / {slow_false_total} | |")
    return lines, {"clips": per_clip, "labelled": total, "found": found_total, "false": false_total,
                   "recall": round(found_total / max(1, total), 4), "found_every_third": slow_found_total,
                   "false_every_third": slow_false_total}


def cost_part(pipeline: FacePipeline, pad: AntiSpoof, frames_per_clip: int = 100,
              step: int = 1, profile: StageProfile | None = None,
              workers: int = 0) -> tuple[list[str], dict[str, object]]:
    """Per-frame cost of the session's frame work with PAD on, and the frames skipped as blurred, per real clip
    (``frames_per_clip`` frames, every ``step``-th one of the clip: 4-8 s, a session's length, at step 1).

    ``step`` > 1 is a slower loop (the camera delivers the newest frame, so a loop that takes 3 frame times
    sees every third frame): more happens between its frames, so more of them are embedded, and the PAD and
    the every-6th rules count frames, not time. Those shares, not the 25 frames/s ones, are what a Pi pays.

    Every frame goes through the session's own frame step (detect, mesh, align, embed, eyes, pose, PAD every
    ``pad_every_ms``, challenge) whatever the challenge's state, so the cost is that of a session that runs
    to its end. Skipped frames: below ``blur_ratio`` x the session's median sharpness (session.py).
    Cost is the process's CPU time per frame, not wall time: it holds on a machine shared with other work
    (wall time there measures the scheduler), and on an idle machine with one interpreter thread the two agree.
    The clip is decoded before the clock starts (a camera delivers frames from its own process), and numpy's
    BLAS runs on one thread (``runtime.single_thread_blas``): before both, a spinning BLAS worker and the
    decoder's threads doubled the figure (82 against 42 ms per frame, stop 22).
    Beside the process's CPU, the loop thread's own CPU per frame (``loop_ms_mean``): with work handed to a
    worker pool (``workers`` threads, ``--workers``) the two part. ``profile`` (``--profile``) times every stage
    the session calls as well.
    """
    real = data_root() / "video" / "real"
    labels = json.loads((real / "labels.json").read_text())["clips"]
    lines = ["| clip | frames | CPU ms per frame (median / p90 / mean) | PAD frames | embedded | eyelid model | "
             "skipped as blurred |",
             "|---|---|---|---|---|---|---|"]
    per_clip: dict[str, object] = {}
    every: list[float] = []
    loop: list[float] = []
    embedded = eyes = pads = detects = 0
    pool = StageWorkers(workers)
    for name in labels:
        session = liveness_session(pipeline, random_actions(random.Random(0)), antispoof=pad, workers=pool)
        ms: list[float] = []
        # Decoded first: the video decoder's threads would otherwise be charged to the loop's process CPU.
        frames = list(itertools.islice(iter_frames(real / name), 0, frames_per_clip * step, step))
        with profile.attached(session) if profile is not None else contextlib.nullcontext():
            for rgb, t in frames:
                t0, l0 = time.process_time(), time.thread_time()
                with profile.frame() if profile is not None else contextlib.nullcontext():
                    session._frame(rgb, t)
                ms.append((time.process_time() - t0) * 1000)
                loop.append((time.thread_time() - l0) * 1000)
        every += ms
        result = session.result()
        per_clip[name[:3]] = {"frames": len(ms), "ms_median": round(float(np.median(ms)), 1),
                              "ms_p90": round(float(np.quantile(ms, 0.9)), 1), "ms_mean": round(float(np.mean(ms)), 1),
                              "pad_frames": result.pad_frames,
                              "embedded": round(result.embedded_frames / len(ms), 2),
                              "eyes": round(result.eye_frames / len(ms), 2),
                              "skipped_blurred": result.skipped_blurred}
        embedded += result.embedded_frames
        detects += session.tracker.detections
        eyes += result.eye_frames
        pads += result.pad_frames
        lines.append(f"| {name[:3]} | {len(ms)} | {np.median(ms):.1f} / {np.quantile(ms, 0.9):.1f} / "
                     f"{np.mean(ms):.1f} | "
                     f"{result.pad_frames} | {result.embedded_frames / len(ms):.0%} | "
                     f"{result.eye_frames / len(ms):.0%} | {result.skipped_blurred} |")
    lines.append(f"| all | {len(every)} | {np.median(every):.1f} / {np.quantile(every, 0.9):.1f} / "
                 f"{np.mean(every):.1f} | | "
                 f"{embedded / len(every):.0%} | {eyes / len(every):.0%} | |")
    pool.close()
    lines.append(f"\nFed every {step} frame(s), {workers} worker thread(s): {np.mean(every):.2f} ms of process CPU and "
                 f"{np.mean(loop):.2f} ms on the loop thread per frame (mean), {load_text()}")
    return lines, {"clips": per_clip, "ms_median": round(float(np.median(every)), 1),
                   "ms_p90": round(float(np.quantile(every, 0.9)), 1), "ms_mean": round(float(np.mean(every)), 1),
                   "loop_ms_mean": round(float(np.mean(loop)), 1), "workers": workers, "load": round(loadavg(), 2),
                   "embedded": round(embedded / len(every), 2), "eyes": round(eyes / len(every), 2),
                   "pad": round(pads / len(every), 2), "detect": round(detects / len(every), 2), "step": step}


def continuity_part(pipeline: FacePipeline, lfw_photos: int = 150) -> tuple[list[str], dict[str, object]]:
    """The chip distance (edge_agent/liveness/continuity.py) between a frame and an earlier frame of the SAME
    person (every frame of the real clips, 1, 2 and 6 frames back: what the gate's bound must let through,
    at a cost), against the nearest chip of ANOTHER person (every other frame of a clip against every third
    frame of the other clips, the deepface photos and ``lfw_photos`` lfw-dev photos: what it must catch).

    The gate's ``continuity_distance`` must sit well below the other-person side; the same-person side only
    sets how many frames are embedded.
    """
    def chip(rgb: np.ndarray) -> np.ndarray | None:
        faces = pipeline.detector.detect(rgb)
        if not faces:
            return None
        return pipeline.align(rgb, pipeline.landmarker.landmarks(rgb, faces[0]).points)

    real = data_root() / "video" / "real"
    labels = json.loads((real / "labels.json").read_text())["clips"]
    clips: dict[str, np.ndarray] = {}
    embedded: dict[str, np.ndarray] = {}  # every third frame's unit embedding, for the anchor table
    for name in labels:
        chips = [c for c in (chip(rgb) for rgb, _ in iter_frames(real / name)) if c is not None]
        clips[name[:3]] = np.array([thumbnail(c) for c in chips])
        embs = np.array([pipeline.embed_chip(c) for c in chips[::3]])
        embedded[name[:3]] = embs / np.linalg.norm(embs, axis=1, keepdims=True)
    lfw = sorted((data_root() / "faces" / "lfw-dev").glob("*/*.jpg"))
    random.Random(0).shuffle(lfw)
    stills = [chip(read_image(p)) for p in [*sorted(deepface_dir().glob("*.jpg")), *lfw[:lfw_photos]]]
    others = np.array([thumbnail(c) for c in stills if c is not None])
    same: dict[str, list[float]] = {"1": [], "2": [], "6": []}
    other: list[float] = []
    for key, a in clips.items():
        for lag in same:
            same[lag] += list(1 - np.sum(a[int(lag):] * a[: -int(lag)], axis=1))
        pool = np.concatenate([b[::3] for k, b in clips.items() if k != key] + [others])
        other += list((1 - a[::2] @ pool.T).min(axis=1))  # per frame: the nearest other person's chip

    def spread(xs: list[float]) -> dict[str, float]:
        q = np.quantile(xs, [0.0, 0.01, 0.5, 0.99, 1.0])
        return {"count": len(xs), **{k: round(float(v), 3) for k, v in zip(("min", "p1", "median", "p99", "max"),
                                                                           q, strict=True)}}

    figures = {"same_person": {lag: spread(v) for lag, v in same.items()}, "other_person_nearest": spread(other),
               "stills": len(others), "bound": SessionTuning().continuity_distance,
               "anchor": anchor_figures(embedded, pipeline.threshold)}
    lines = ["| chip distance (1 - correlation, 32x32 grey) | pairs | min | 1 % | median | 99 % | max |",
             "|---|---|---|---|---|---|---|"]
    rows = [(f"same person, {lag} frame(s) apart", g) for lag, g in figures["same_person"].items()]  # type: ignore[attr-defined]
    rows.append(("nearest other person (per frame)", figures["other_person_nearest"]))
    for what, g in rows:
        lines.append(f"| {what} | {g['count']} | {g['min']:.3f} | {g['p1']:.3f} | {g['median']:.3f} | "
                     f"{g['p99']:.3f} | {g['max']:.3f} |")
    anchor = figures["anchor"]
    lines += ["", f"Identity continuity at the match threshold ({anchor['threshold']:.4f}), every third frame: the "
              "lowest cosine of a clip's own frames, and the highest of another clip's frames against its anchor",
              "", "| clip | own, to the first frame | own, to the anchor (first 5) | other clips, to the anchor |",
              "|---|---|---|---|"]
    for key, row in anchor["clips"].items():
        lines.append(f"| {key} | {row['own_first']:.3f} | {row['own_anchor']:.3f} | {row['other_anchor']:.3f} |")
    return lines, figures


def anchor_figures(embedded: dict[str, np.ndarray], threshold: float, anchor_frames: int = 5) -> dict[str, Any]:
    """Why the session's anchor is the mean of its first frames: per clip, the lowest cosine of its own frames
    to its first frame and to that mean, against the highest cosine of any other clip's frame to the mean
    (unit embeddings of every third frame; the session compares each checked frame with its anchor)."""
    rows: dict[str, dict[str, float]] = {}
    for key, e in embedded.items():
        mean = e[:anchor_frames].mean(axis=0)
        mean /= np.linalg.norm(mean)
        others = np.concatenate([b for k, b in embedded.items() if k != key])
        rows[key] = {"own_first": round(float((e @ e[0]).min()), 3), "own_anchor": round(float((e @ mean).min()), 3),
                     "other_anchor": round(float((others @ mean).max()), 3)}
    return {"threshold": threshold, "anchor_frames": anchor_frames, "clips": rows,
            "own_anchor_min": min(r["own_anchor"] for r in rows.values()),
            "other_anchor_max": max(r["other_anchor"] for r in rows.values())}


def detect_blinks(ears: list[float | None], close: float, reopen: float) -> list[int]:
    """Blink onsets (frame index) by the challenge's hysteresis against a running open-eye baseline."""
    onsets: list[int] = []
    history: list[float] = []
    closed_at: int | None = None
    for i, e in enumerate(ears):
        if e is None:
            continue
        base = float(np.median(history[-30:])) if len(history) >= 2 else e
        if closed_at is None and e < close * base:
            closed_at = i
        elif closed_at is not None and e > reopen * base:
            onsets.append(closed_at)
            closed_at = None
        if e >= reopen * base:
            history.append(e)
    return onsets


def run_session(pipeline: FacePipeline, scene: Scene, seed: int, pad: AntiSpoof) -> LivenessResult:
    return liveness_session(pipeline, random_actions(random.Random(seed)), antispoof=pad).run_to_end(scene)


def scenes_part(pipeline: FacePipeline, pad: AntiSpoof, photos: int, seeds: int) -> tuple[dict[str, list[bool]],
                                                                                        list[str], list[float]]:
    rows: dict[str, list[bool]] = {"live": [], "planar": [], "static": [], "replay": [], "swap": []}
    refused_by: dict[str, list[str]] = {"planar": [], "swap": []}
    ms: list[float] = []
    faces = []
    for name in PHOTOS[:photos]:
        rgb = read_image(deepface_dir() / name)
        faces.append(Face3D(rgb, pipeline.analyse(rgb).mesh.points))
    stranger_rgb = read_image(deepface_dir() / "img20.jpg")
    stranger = Face3D(stranger_rgb, pipeline.analyse(stranger_rgb).mesh.points)
    for name, face in zip(PHOTOS, faces, strict=False):
        for k in range(seeds):
            seed = zlib.crc32(f"{name}/{k}".encode()) % 10_000
            actions = [a.value for a in random_actions(random.Random(seed))]
            live = live_scene(face, actions)
            r = run_session(pipeline, live, seed, pad)
            rows["live"].append(r.live)
            ms.append(r.ms_per_frame)
            p = run_session(pipeline, planar_scene(face, actions), seed, pad)
            rows["planar"].append(p.live)
            refused_by["planar"].append(",".join(x for x in p.reasons if x not in ("challenge_passed", "parallax_ok",
                                                                                  "pad_model_ok")))
            other = seed + 1
            while random_actions(random.Random(other)) == random_actions(random.Random(seed)):
                other += 1
            rows["replay"].append(run_session(pipeline, live, other, pad).live)
            if name != "img20.jpg":
                swapped = swap_scene(live, live_scene(stranger, actions), at=len(live.frames) // 2, count=1)
                s = run_session(pipeline, swapped, seed, pad)
                rows["swap"].append(s.live)
                refused_by["swap"].append(s.reasons[0])
            print(f"{name} seed {seed}: live={r.reasons} pad={r.pad_score} planar={p.reasons}", flush=True)
        rows["static"].append(run_session(pipeline, static_scene(face), 0, pad).live)
    lines = ["| rendered sessions | count | error |", "|---|---|---|",
             f"| live (BPCER) | {len(rows['live'])} | {1 - sum(rows['live']) / max(1, len(rows['live'])):.1%} |"]
    for kind in ("planar", "static", "replay", "swap"):
        lines.append(f"| {kind} attack (APCER) | {len(rows[kind])} | "
                     f"{sum(rows[kind]) / max(1, len(rows[kind])):.1%} |")
    for kind, why in refused_by.items():
        counts = {w: why.count(w) for w in sorted(set(why))}
        lines.append(f"\n{kind} attacks refused by: {counts}")
    return rows, lines, ms


def recapture_part(pipeline: FacePipeline, pad: AntiSpoof, seeds: int = 2,
                   photos: int = 400) -> tuple[list[str], dict[str, Any]]:
    """The device-frame witness beside MiniFASNet on every presentation the project has, and its cost.

    Presentations, each through ``passive_pad`` (one frame every 200 ms, as a session): the 8 real clips
    and the 3 live phone sessions (bona fide), the real phone-to-phone replay, and ``seeds`` made-up
    phone-to-phone replays of each real clip (``attacks.phone_to_phone``: the first 2 s at the session's
    rate, then every 800 ms, as making a frame costs ~0.25 s). Bona fide photos (deepface, then lfw-dev
    until ``photos``): the per-frame score only, the worst case of a rule that looks at one frame.
    Split: seed 0's made-up replays are where THRESHOLD and MIN_FRAMES could be tuned, seed 1's are held out
    (they were chosen from the physics and the real replay, then only checked). Cost: CPU time of
    ``device_frame_score`` per call, beside the load average (a shared machine; not a final figure).
    """
    real = sorted((data_root() / "video" / "real").glob("v*.mp4"))
    phone = data_root() / "video" / "phone-samples"
    live = [phone / n for n in ("live_131267.mov", "live_b89f74.mov", "live_380c0e.mp4")]
    rows: list[dict[str, Any]] = []
    ms: list[float] = []

    def judge(kind: str, name: str, frames: Any) -> None:
        report = passive_pad(pipeline.detector, pad, frames)
        d = report.as_dict()
        rows.append({"kind": kind, "name": name, "decision": report.decision, "minifasnet": round(report.score, 4),
                     "minifasnet_margin": d["margin"], "device_frames": report.device.frames_seen,
                     "device_max": d["device_frame"]["max"], "refused_by": d["refused_by"]})
        print(f"{kind:22} {name:28} {report.decision:9} minifasnet {report.score:.4f} device frames "
              f"{report.device.frames_seen:3} max {d['device_frame']['max']:.2f}", flush=True)

    for clip in [*real, *live]:
        judge("bona_fide", clip.name[:16], iter_frames(clip))
    judge("real_phone_replay", "replay_2c633b", iter_frames(phone / "replay_2c633b.mp4"))
    for clip in real:
        frames = clip_frames(clip, PAD_SAMPLE_MS)
        for seed in range(seeds):
            made = phone_to_phone(frames[:10] + frames[10::4], np.random.default_rng(zlib.crc32(
                f"{clip.name}/phone_to_phone/{seed}".encode())))
            judge(f"phone_to_phone_seed{seed}", clip.name[:3], made)
    load = Path("/proc/loadavg").read_text().split()[:3]
    for clip in [*real[:4], *live]:
        for rgb, _t in clip_frames(clip, 400)[:15]:
            faces = pipeline.detector.detect(rgb)
            if faces:
                t0 = time.process_time()
                device_frame_score(rgb, faces[0].box)
                ms.append((time.process_time() - t0) * 1000)
    stills = [*sorted(deepface_dir().glob("*.jpg")), *sorted((data_root() / "faces" / "lfw-dev").glob("*/*.jpg"))]
    random.Random(1).shuffle(stills)
    photo_scores: list[float] = []
    for p in stills[:photos]:
        rgb = read_image(p)
        faces = pipeline.detector.detect(rgb)
        if faces:
            photo_scores.append(device_frame_score(rgb, faces[0].box))
    w = DeviceFrameWitness()
    figures: dict[str, Any] = {
        "rows": rows, "threshold": w.threshold, "min_frames": w.min_frames,
        "cost_ms": {"median": round(float(np.median(ms)), 2), "p90": round(float(np.quantile(ms, 0.9)), 2),
                    "calls": len(ms), "loadavg": " ".join(load)},
        "photos": {"count": len(photo_scores), "over_threshold": int(sum(s >= w.threshold for s in photo_scores)),
                   "max": round(max(photo_scores, default=0.0), 4)}}
    lines = [f"Decision: {PAD_DECISION_TEXT}.", "",
             "| presentations | count | refused | refused by the device frame | refused by MiniFASNet | "
             "MiniFASNet score min / max | device frames min / max |", "|---|---|---|---|---|---|---|"]
    for kind in sorted({r["kind"] for r in rows}):
        g = [r for r in rows if r["kind"] == kind]
        lines.append(f"| {kind} | {len(g)} | {sum(r['decision'] == 'attack' for r in g)} | "
                     f"{sum('device_frame' in r['refused_by'] for r in g)} | "
                     f"{sum('minifasnet' in r['refused_by'] for r in g)} | "
                     f"{min(r['minifasnet'] for r in g):.4f} / {max(r['minifasnet'] for r in g):.4f} | "
                     f"{min(r['device_frames'] for r in g)} / {max(r['device_frames'] for r in g)} |")
    lines += ["", f"Bona fide photos, one frame each: {figures['photos']['over_threshold']} of "
              f"{figures['photos']['count']} at or above the device threshold {w.threshold} (highest "
              f"{figures['photos']['max']}).",
              f"device_frame_score CPU cost per call: median {figures['cost_ms']['median']} ms, p90 "
              f"{figures['cost_ms']['p90']} ms over {len(ms)} calls (load average {' '.join(load)}, shared "
              "machine); it runs on PAD frames only (one in 6 at 30 frames/s, one in 3 on a Pi)."]
    return lines, figures


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=len(PHOTOS), help="photos animated for rendered sessions")
    ap.add_argument("--seeds", type=int, default=2, help="challenge orders per photo")
    ap.add_argument("--no-real", action="store_true", help="skip the real-footage parts (PAD table, blinks)")
    ap.add_argument("--pad-every-ms", type=int, default=PAD_SAMPLE_MS, help="PAD sampling of the clips")
    ap.add_argument("--clips", default="", help="PAD part only on these clips (comma-separated, e.g. "
                    "v07,v08; 'photos' for the stills): to split the run over processes; merge with --pad-from")
    ap.add_argument("--blinks-only", action="store_true", help="only the blinks and turns on the real clips")
    ap.add_argument("--cost-only", action="store_true",
                    help="only the per-frame cost with PAD on, the frames embedded and skipped as blurred, and "
                    "the chip distances that bound identity continuity's gate, on the real clips")
    ap.add_argument("--recapture-only", action="store_true",
                    help="only the recapture device's frame beside MiniFASNet: real clips, phone samples, made-up "
                    "phone-to-phone replays, bona fide photos; its per-frame cost")
    ap.add_argument("--profile", action="store_true",
                    help="per-stage profile of the cost loop (inference against the work around it, per call and "
                    "per frame), fed every frame and every third frame; never written to --figures")
    ap.add_argument("--workers", type=int, default=0,
                    help="with --cost-only/--profile: the session's worker threads for the embedder and PAD "
                    "(liveness/workers.py; a Pi target has 2); 0 runs everything on the loop thread")
    ap.add_argument("--frames-per-clip", type=int, default=100, help="with --profile: frames of each clip")
    ap.add_argument("--no-continuity", action="store_true",
                    help="with --cost-only: skip the chip-distance part (the cost figures alone, in a few minutes)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--pad-from", type=Path, nargs="*", default=None,
                    help="no measuring: the PAD figures of today's rule from earlier runs' liveness.json")
    ap.add_argument("--figures", type=Path, default=None,
                    help="also write the figures (PAD, blinks) here, e.g. docs/liveness-figures.json; only the parts "
                    "this run measured are replaced (--cost-only: cost; --blinks-only: blinks)")
    args = ap.parse_args()
    report: dict[str, object] = {}
    sections: list[str] = []
    if args.pad_from:
        earlier = [json.loads(p.read_text()) for p in args.pad_from]
        rows = [r for e in earlier for r in e.get("pad", [])]
        figures = {"source": "bench/liveness.py", "pad": pad_figures(rows, SessionTuning().pad_spoof_below),
                   **{part: e[part] for e in earlier for part in ("blinks", "cost") if part in e}}
        print("\n".join(pad_table(figures["pad"])))  # type: ignore[arg-type]
        if args.figures:
            args.figures.write_text(json.dumps(figures, indent=1) + "\n")
        return 0
    t0 = time.perf_counter()
    # The cost is timed on one interpreter thread, the basis of the Pi estimate (docs/benchmarks.md): a thread
    # pool's spin-waiting on a shared machine would be counted as CPU time.
    one_thread = args.cost_only or args.recapture_only or args.profile
    pipeline = FacePipeline.from_directory(num_threads=1) if one_thread else FacePipeline.from_directory()
    pad = AntiSpoof.require(pipeline.manifest)
    if args.profile:
        report["profile"] = {}
        for step in (1, 3):
            prof = StageProfile()
            lines, cost = cost_part(pipeline, pad, args.frames_per_clip, step=step, profile=prof,
                                    workers=args.workers)
            report["profile"][f"step_{step}"] = {"rows": prof.rows(), "load": round(loadavg(), 2),  # type: ignore[index]
                                                 **{k: v for k, v in cost.items() if k != "clips"}}
            sections += [*prof.table(f"### Stage profile, fed every {step} frame(s) "
                                     f"({25 / step:.1f} frames/s of a 25 frames/s camera)"), "", lines[-1], ""]
            print("\n".join(sections[-(len(prof.rows()) + 7):]), flush=True)
    elif args.cost_only:
        lines, cost = cost_part(pipeline, pad, workers=args.workers)
        slow_lines, slow = cost_part(pipeline, pad, step=3, workers=args.workers)
        cost["every_third_frame"] = {k: v for k, v in slow.items() if k != "clips"}
        lines += ["", "The same loop seeing every third frame (8.3 frames/s, about a Pi 4's rate):", "",
                  slow_lines[0], slow_lines[1], *slow_lines[-2:]]
        if not args.no_continuity:
            spread, cost["continuity"] = continuity_part(pipeline)
            sections += ["### Identity continuity: chip distances on real faces", "", *spread, ""]
        report["cost"] = cost
        sections[:0] = ["### Per-frame cost with PAD on, real clips", "", *lines, ""]
        if args.figures:
            update_figures(args.figures, {"cost": recordable_cost(args.figures, cost)})
    elif args.recapture_only:
        lines, report["recapture"] = recapture_part(pipeline, pad)
        sections += ["### Recapture device's frame beside MiniFASNet", "", *lines, ""]
        args.photos = 0
        if args.figures:
            update_figures(args.figures, {"recapture": {k: v for k, v in report["recapture"].items()  # type: ignore[attr-defined]
                                                        if k != "rows"}})
    elif args.blinks_only:
        lines, report["blinks"] = blink_part(pipeline)
        sections += ["### Blinks and turns on the real clips", "", *lines, ""]
        if args.figures:
            update_figures(args.figures, {"blinks": report["blinks"]})
    elif not args.no_real:
        clips = args.clips.split(",") if args.clips else None
        report["pad"] = rows = pad_raw(pipeline, pad, args.pad_every_ms, clips,
                                       photos=clips is None or "photos" in clips)
        if clips is None:
            figures = pad_figures(rows, SessionTuning().pad_spoof_below)
            lines, report["blinks"] = blink_part(pipeline)
            sections += ["### Passive PAD on real footage and attacks", "", *pad_table(figures, args.pad_every_ms),
                         "", "### Blinks and turns on the real clips", "", *lines, ""]
            if args.figures:
                update_figures(args.figures, {"source": "bench/liveness.py", "pad": figures,
                                              "blinks": report["blinks"]})
    if args.photos > 0:
        rows, lines, ms = scenes_part(pipeline, pad, args.photos, args.seeds)
        report["rows"] = rows
        report["ms"] = ms
        ms.sort()
        sections += ["### Rendered sessions (whole session: challenge, identity, PAD, parallax)", "", *lines, "",
                     f"per-frame liveness cost with PAD on (median over live sessions, this machine): "
                     f"{ms[len(ms) // 2]:.1f} ms"]
    table = "\n".join(sections)
    print(table)
    print(f"total {time.perf_counter() - t0:.0f} s")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "liveness.md").write_text(table + "\n")
    (args.out / "liveness.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
