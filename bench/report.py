"""Plots (matplotlib, PNG) and the Raspberry Pi budget estimate for the benchmark report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: benchmarks run headless
import matplotlib.pyplot as plt
import numpy as np

from edge_agent.liveness import workers
from edge_agent.provision.selftest import FRAME_SHARES

# Published Raspberry Pi 4 figures (TFLite, CPU, int8; see ../shared/docs/design.md and the README):
# BlazeFace about 7 ms, face mesh about 24 ms. Our own 1-thread x86 times for the same models give
# the conversion factors; a Pi 5 (Cortex-A76 at 2.4 GHz) is taken as 2.5x a Pi 4, the middle of the
# 2-3x its maker states for CPU work.
PUBLISHED_PI4_MS = {"detect (short range)": 7.0, "landmarks (face mesh)": 24.0}
PI5_OVER_PI4 = 2.5
PER_FRAME_STAGES = ("landmarks (face mesh)", "align", "liveness logic")
# The share of frames that run the other stages, as the liveness loop runs them at a Pi's rate (measured by
# bench/liveness.py --cost-only; the same shares weigh selftest's on-device inference check). The detector is
# one of them since the loop tracks the face by its mesh (vision/tracker.py): it runs every 5th frame and when
# the track is lost, not on every frame.
AMORTISED = {"detect (short range)": FRAME_SHARES["detect"], "eyes (blink)": FRAME_SHARES["eyes"],
             "embed": FRAME_SHARES["embedded"], "PAD (MiniFASNet x2)": FRAME_SHARES["pad"]}

STAGES = ("detect (short range)", "detect (full range)", "landmarks (face mesh)", "eyes (blink)", "align", "embed",
          "PAD (MiniFASNet x2)", "liveness logic")


def _save(fig: Any, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _label(r: dict) -> str:
    return f"{'dlib' if r['kind'] == 'dlib' else r['kind']} {r['threads']}T"


def latency_plot(speed: list[dict], path: Path) -> None:
    ours = [r for r in speed if r["kind"] != "dlib"]
    fig, ax = plt.subplots(figsize=(9, 5))
    height = 0.8 / max(1, len(ours))
    y = np.arange(len(STAGES))
    for k, r in enumerate(ours):
        vals = [r["median_ms"].get(s, np.nan) for s in STAGES]
        ax.barh(y + k * height, vals, height, label=_label(r))
    ax.set_yticks(y + 0.4 - height / 2, STAGES)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("median ms per call (log scale)")
    ax.set_title("Per-stage latency, one 640x480 frame")
    ax.legend(fontsize=8)
    _save(fig, path)


def end_to_end_plot(speed: list[dict], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(8, 3.5))
    labels = [_label(r) for r in speed]
    vals = [r["median_ms"]["end to end (one frame)"] for r in speed]
    colors = ["tab:gray" if r["kind"] == "dlib" else "tab:blue" for r in speed]
    ax.bar(labels, vals, color=colors)
    for i, v in enumerate(vals):
        ax.text(i, v, f"{v:.0f}", ha="center", va="bottom", fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("ms (log scale)")
    ax.set_title("Detect + landmarks + align + embed, one frame: ours vs dlib")
    _save(fig, path)


def fps_plot(speed: list[dict], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for kind in ("int8", "float"):
        rows = sorted((r for r in speed if r["kind"] == kind and "loop" in r), key=lambda r: r["threads"])
        if rows:
            ax.plot([r["threads"] for r in rows], [r["loop"]["fps"] for r in rows], "o-", label=f"{kind}, no PAD")
            if all("loop_with_pad" in r for r in rows):
                ax.plot([r["threads"] for r in rows], [r["loop_with_pad"]["fps"] for r in rows], "s--",
                        label=f"{kind}, with MiniFASNet")
    ax.set_xlabel("interpreter threads")
    ax.set_ylabel("frames per second")
    ax.set_title("Sustained liveness loop")
    ax.legend(fontsize=8)
    _save(fig, path)


def _rates(genuine: np.ndarray, impostor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """FMR and FNMR at every distinct score (sorted scores and binary search: fast for 10^5 pairs)."""
    thresholds = np.unique(np.concatenate([genuine, impostor]))
    g, i = np.sort(genuine), np.sort(impostor)
    fmr = (len(i) - np.searchsorted(i, thresholds, side="left")) / max(1, len(i))
    fnmr = np.searchsorted(g, thresholds, side="left") / max(1, len(g))
    return fmr, fnmr


def roc_det_plots(curves: dict[str, tuple[np.ndarray, np.ndarray]], roc_path: Path, det_path: Path,
                  pairs: str = "deepface pairs implied by labels") -> None:
    fig1, roc = plt.subplots(figsize=(5.5, 4.5))
    fig2, det = plt.subplots(figsize=(5.5, 4.5))
    for name, (g, i) in curves.items():
        fmr, fnmr = _rates(g, i)
        label = f"{name} ({len(g)} gen / {len(i)} imp)"
        roc.plot(np.maximum(fmr, 1e-6), 1 - fnmr, label=label)
        det.plot(np.maximum(fmr, 1e-6), np.maximum(fnmr, 1e-4), label=label)
    for ax in (roc, det):
        ax.set_xscale("log")
        ax.set_xlim(min(1e-4, 0.5 / max(len(i) for _, i in curves.values())), 1)
        ax.axvline(1 / max(len(i) for _, i in curves.values()), color="gray", ls=":", lw=1)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    roc.set_xlabel("false match rate (log; dotted: 1 impostor pair)")
    roc.set_ylabel("true match rate")
    roc.set_title(f"ROC, {pairs}", fontsize=9)
    det.set_yscale("log")
    det.set_xlabel("false match rate (log; dotted: 1 impostor pair)")
    det.set_ylabel("false non-match rate (log; 0 drawn at 1e-4)")
    det.set_title(f"DET, {pairs}", fontsize=9)
    _save(fig1, roc_path)
    _save(fig2, det_path)


LOOP_STAGES = ("landmarks (face mesh)", "align", "liveness logic")  # the loop thread's, every frame
POOLED = ("embed", "eyes (blink)", "PAD (MiniFASNet x2)")  # on the worker pool (liveness/workers.py)


def pooled_frame_ms(ms: dict[str, float]) -> float:
    """One liveness frame with the worker pool, in this machine's 1-thread ms (liveness/workers.py's rule): the
    loop thread's stages (detector share, mesh, align, the session's logic), plus each pooled check's overrun
    of them on its share of frames."""
    loop = ms.get("detect (short range)", 0.0) * AMORTISED["detect (short range)"] + sum(
        ms.get(s, 0.0) for s in LOOP_STAGES)
    return workers.pooled_frame_ms(loop, [(ms.get(s, 0.0), AMORTISED[s]) for s in POOLED])


def pi_budget(speed: list[dict], target: Any) -> dict[str, Any]:
    """Per-frame estimate on a Pi 4 / Pi 5 from this machine's 1-thread int8 figures and published Pi figures."""
    base = next((r for r in speed if r["kind"] == "int8" and r["threads"] == 1), None)
    if base is None:
        return {}
    ms = base["median_ms"]
    factors = [PUBLISHED_PI4_MS[s] / ms[s] for s in PUBLISHED_PI4_MS if ms.get(s)]
    lo, hi = min(factors), max(factors)
    here_frame = sum(ms.get(s, 0.0) for s in PER_FRAME_STAGES) + sum(ms.get(s, 0.0) * w for s, w in AMORTISED.items()
                                                                   if s != "PAD (MiniFASNet x2)")
    here_pad = ms.get("PAD (MiniFASNet x2)", 0.0) * AMORTISED["PAD (MiniFASNet x2)"]
    out: dict[str, Any] = {"factors_pi4": {"low": lo, "high": hi}, "here_1t_frame_ms": here_frame,
                           "here_1t_pad_ms_per_frame": here_pad, "devices": {}}
    here_pooled = pooled_frame_ms(ms)
    out["here_pooled_frame_ms"] = here_pooled
    for name, scale, fps in (("pi4", 1.0, 15.0), ("pi5", 1 / PI5_OVER_PI4, 30.0)):
        budget = 1000 / fps
        low, high = here_frame * lo * scale, here_frame * hi * scale
        pad_low, pad_high = here_pad * lo * scale, here_pad * hi * scale
        pooled = (here_pooled * lo * scale, here_pooled * hi * scale)
        out["devices"][name] = {"fps": fps, "budget_ms": budget, "frame_ms": (low, high),
                                "pad_ms_per_frame": (pad_low, pad_high),
                                "fits": high + pad_high <= budget, "fits_low": low + pad_low <= budget,
                                "pooled_ms": pooled, "pooled_fps": (1000 / pooled[1], 1000 / pooled[0])}
    out["target"] = getattr(target, "name", str(target))
    return out


def budget_table(b: dict[str, Any]) -> str:
    if not b:
        return "(no 1-thread int8 run: no estimate)"
    f = b["factors_pi4"]
    lines = [f"Pi 4 / this machine, 1 thread: x{f['low']:.1f} (BlazeFace) to x{f['high']:.1f} (face mesh); "
             f"Pi 5 = Pi 4 / {PI5_OVER_PI4}. This machine, 1 thread, per liveness frame: "
             f"{b['here_1t_frame_ms']:.1f} ms + MiniFASNet amortised {b['here_1t_pad_ms_per_frame']:.1f} ms.", "",
             "| device | frame budget | estimated ms per frame (no PAD) | + MiniFASNet amortised | fits at the "
             "high estimate | with the worker pool: ms per frame (frames/s) |", "|---|---|---|---|---|---|"]
    for name, d in b["devices"].items():
        lines.append(f"| {name} ({d['fps']:.0f} frames/s) | {d['budget_ms']:.0f} ms | {d['frame_ms'][0]:.0f}-"
                     f"{d['frame_ms'][1]:.0f} | {d['pad_ms_per_frame'][0]:.0f}-{d['pad_ms_per_frame'][1]:.0f} | "
                     f"{'yes' if d['fits'] else 'no' if not d['fits_low'] else 'only at the low estimate'} | "
                     f"{d['pooled_ms'][0]:.0f}-{d['pooled_ms'][1]:.0f} ({d['pooled_fps'][0]:.0f}-"
                     f"{d['pooled_fps'][1]:.0f}) |")
    return "\n".join(lines)
