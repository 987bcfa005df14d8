"""The ``edge-agent`` command line: one entry point, one sub-command per job.

Exit codes are part of the interface: 0 success / match, 1 no match,
2 bad input (unreadable image, no face, ...), 3 the device itself is not fit
(missing or tampered model, no runtime); an error's code comes from its class
(``edge_agent/errors.py``, table in docs/errors.md).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from edge_agent import __version__
from edge_agent.config import PRECISIONS, TARGET_NAMES
from edge_agent.errors import EXIT_NO_MATCH, EXIT_OK, BadInput, EdgeAgentError, exit_code_of

__all__ = ["main"]

def _model_dir(arg: Path | None) -> Path | None:
    if arg is not None:
        return arg
    env = os.environ.get("EDGE_AGENT_MODELS")
    if env:
        return Path(env)
    from edge_agent.modelset.install import model_directory
    from edge_agent.paths import default_state_dir

    return model_directory("", default_state_dir())  # an installed signed set, else the factory set


def _threads(args: argparse.Namespace) -> int:
    from edge_agent.target import resolve_target

    return int(args.threads or resolve_target(args.target).threads)


def _cmd_match(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    from edge_agent.matching.matcher import decide
    from edge_agent.vision.image import read_image
    from edge_agent.vision.pipeline import FacePipeline, reference_format_of

    t0 = time.perf_counter()
    pipeline = FacePipeline.from_directory(_model_dir(args.models), precision=args.precision,
                                           num_threads=_threads(args))
    load_ms = (time.perf_counter() - t0) * 1000

    sides: dict[str, Any] = {}
    timings: dict[str, Any] = {"load_models": round(load_ms, 1)}
    embeddings = []
    reference_format = args.reference_format
    for side, path in (("reference", args.reference), ("probe", args.probe)):
        t = time.perf_counter()
        try:
            rgb = read_image(path)
            decode_ms = (time.perf_counter() - t) * 1000
            if side == "reference" and reference_format == "auto":
                reference_format = reference_format_of(rgb)
            face = pipeline.analyse(rgb)
        except BadInput as exc:
            raise exc.about(side) from None
        embeddings.append(face.embedding)
        stage = {"decode": decode_ms, **face.timings_ms}
        stage["total"] = (time.perf_counter() - t) * 1000
        timings[side] = {k: round(v, 1) for k, v in stage.items()}
        sides[side] = {
            "detector_score": round(face.detection.score, 3),
            "eye_distance_px": round(face.eye_distance, 1),
            "sharpness": round(face.chip_sharpness, 3),
        }
    t = time.perf_counter()
    result = decide(embeddings[0], embeddings[1], pipeline.threshold_for(reference_format))
    timings["match"] = round((time.perf_counter() - t) * 1000, 3)
    timings["total"] = round((time.perf_counter() - t0) * 1000, 1)
    out = {
        "decision": result.decision,
        "similarity": round(result.similarity, 4),
        "threshold": round(result.threshold, 4),
        "embedder": pipeline.embedder_key,
        "reference_format": reference_format,
        "model_set": pipeline.manifest.version,
        "manifest_sha256": pipeline.manifest.sha256,
        "runtime": pipeline.embedder.model.runtime,
        "threads": _threads(args),
        **sides,
        "timings_ms": timings,
    }
    return (EXIT_OK if result.matched else EXIT_NO_MATCH), out


def _cmd_demo(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    from edge_agent.demo import run_demo

    out = run_demo(args.reference, args.probe, models=_model_dir(args.models), seed=args.seed)
    passed = out["signed_result"]["decision"] == "DECISION_PASS"
    return (EXIT_OK if out["carrier"]["accepted"] and passed else EXIT_NO_MATCH), out


def _cmd_verify(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    import random

    from edge_agent.attest.liveness import liveness_name
    from edge_agent.camera.files import iter_frames
    from edge_agent.liveness.challenge import random_actions
    from edge_agent.verification import decide_session, liveness_session, reference_of
    from edge_agent.vision.antispoof import AntiSpoof
    from edge_agent.vision.image import read_image
    from edge_agent.vision.pipeline import FacePipeline

    threads = _threads(args)
    pipeline = FacePipeline.from_directory(_model_dir(args.models), num_threads=threads)
    try:
        reference = reference_of(pipeline, read_image(args.reference))
    except BadInput as exc:
        raise exc.about("reference") from None
    if args.actions:  # the order a recorded session was asked (a pilot's recordings), else a random one
        actions = args.actions
    else:
        actions = random_actions(random.Random(args.seed) if args.seed is not None else random.SystemRandom())
    session = liveness_session(pipeline, actions, antispoof=AntiSpoof.from_manifest(pipeline.manifest))
    try:
        events = [e for _t, e in session.run(iter_frames(args.video, args.fps)) if e.kind != "hint"]
    except BadInput as exc:
        raise exc.about("video") from None
    decision = decide_session(session, reference)
    live, match = decision.live, decision.match
    out = {
        "decision": "pass" if decision.passed else "fail",
        "liveness": liveness_name(live.verdict),
        "reasons": [*live.reasons, match.decision if match else "no_usable_frame"],
        "challenge": [a.value for a in actions],
        "events": [{"kind": e.kind, "message": e.message, "progress": round(e.progress, 2)} for e in events],
        "parallax": None if live.parallax is None else round(live.parallax, 3),
        "similarity": None if match is None else round(match.similarity, 4),
        "threshold": round(decision.threshold, 4),
        "reference_format": reference.format,
        "frames": live.frames,
        "ms_per_frame": round(live.ms_per_frame, 1),
    }
    return (EXIT_OK if decision.passed else EXIT_NO_MATCH), out


def _cmd_pad(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    from edge_agent.liveness.pad import open_media, passive_pad
    from edge_agent.vision.antispoof import AntiSpoof
    from edge_agent.vision.pipeline import FacePipeline

    pipeline = FacePipeline.from_directory(_model_dir(args.models), num_threads=_threads(args))
    antispoof = AntiSpoof.require(pipeline.manifest)
    try:
        report = passive_pad(pipeline.detector, antispoof, open_media(args.file, args.fps),
                             competitor_ratio=pipeline.rules.competitor_ratio)
    except BadInput as exc:
        raise exc.about("file") from None
    return (EXIT_OK if report.bona_fide else EXIT_NO_MATCH), {"file": str(args.file), **report.as_dict()}


def _cmd_pad_eval(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    from edge_agent.liveness.fusion import DECISION_TEXT, RULE_TEXT
    from edge_agent.liveness.pad import open_media, passive_pad, presentations
    from edge_agent.liveness.pad_eval import Outcome, summarise
    from edge_agent.liveness.session import SessionTuning
    from edge_agent.vision.antispoof import AntiSpoof
    from edge_agent.vision.pipeline import FacePipeline

    if not args.root.is_dir():
        raise BadInput(f"{args.root} is not a folder").about("root")
    found, ignored = presentations(args.root)
    pipeline = FacePipeline.from_directory(_model_dir(args.models), num_threads=_threads(args))
    antispoof = AntiSpoof.require(pipeline.manifest)
    outcomes: list[Outcome] = []
    witnesses: dict[str, dict[str, Any]] = {}  # per presentation: each witness's evidence, for the outcomes
    for n, (path, truth) in enumerate(found, start=1):
        name = str(path.relative_to(args.root))
        try:
            report = passive_pad(pipeline.detector, antispoof, open_media(path, args.fps),
                                 competitor_ratio=pipeline.rules.competitor_ratio)
        except BadInput as exc:  # unreadable, no usable face: no decision, counted apart and as refused
            outcomes.append(Outcome(name, truth, "no_decision", error=exc.code))
        else:
            outcomes.append(Outcome(name, truth, report.decision, round(report.score, 4)))
            witnesses[name] = {"refused_by": report.as_dict()["refused_by"],
                               "device_frames": report.device.frames_seen}
        if sys.stderr.isatty() and not args.json:
            print(f"\rpad-eval {n}/{len(found)}", end="", file=sys.stderr, flush=True)
    summary = summarise(outcomes)
    worst = summary.get("apcer_worst", {}).get("rate", 0.0)
    bpcer = summary.get("bpcer", {}).get("rate", 0.0)
    over: list[str] = []
    if args.max_apcer is not None and worst > args.max_apcer:
        over.append(f"APCER {worst:.2%} > {args.max_apcer:.2%}")
    if args.max_bpcer is not None and bpcer > args.max_bpcer:
        over.append(f"BPCER {bpcer:.2%} > {args.max_bpcer:.2%}")
    threshold = SessionTuning().pad_spoof_below
    scored = [o for o in outcomes if o.score is not None]
    closest = min(scored, key=lambda o: abs((o.score or 0.0) - threshold), default=None)
    out = {"root": str(args.root), "rule": RULE_TEXT, "decision_rule": DECISION_TEXT, "threshold": threshold,
           **summary, "closest_to_threshold": None if closest is None else
           {"name": closest.name, "score": closest.score, "margin": round((closest.score or 0.0) - threshold, 4)},
           "over_limits": over, "ignored": [str(p.relative_to(args.root)) for p in ignored],
           "outcomes": [{"name": o.name, "truth": o.truth, "decision": o.decision, "score": o.score,
                         "error": o.error, **witnesses.get(o.name, {})} for o in outcomes]}
    return (EXIT_NO_MATCH if over else EXIT_OK), out


def _actions(text: str) -> list[Any]:
    """A challenge order: 1-6 of blink, turn_left, turn_right, comma-separated."""
    from edge_agent.liveness.challenge import Action

    names = [n.strip() for n in text.split(",")]
    try:
        actions = [Action(n) for n in names]
    except ValueError:
        raise argparse.ArgumentTypeError(f"actions are blink, turn_left, turn_right; got {text!r}") from None
    if not 1 <= len(actions) <= 6:
        raise argparse.ArgumentTypeError("between 1 and 6 actions")
    return actions


def _fps(text: str) -> float:
    """A frame rate a session can time by: finite, 1-120 frames/s (inf, nan, 0, -1 would disable timeouts)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 1.0 <= value <= 120.0:  # also false for nan
        raise argparse.ArgumentTypeError(f"frame rate must be between 1 and 120 frames/s, got {text!r}")
    return value


def _cmd_simulate(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    import random

    from edge_agent.liveness.challenge import random_actions
    from edge_agent.simulation.scenes import Face3D, live_scene, planar_scene, static_scene, write_clip
    from edge_agent.vision.image import read_image
    from edge_agent.vision.pipeline import FacePipeline

    pipeline = FacePipeline.from_directory(_model_dir(args.models))
    try:
        rgb = read_image(args.photo)
        face = Face3D(rgb, pipeline.analyse(rgb).mesh.points)
    except BadInput as exc:
        raise exc.about("photo") from None
    actions = [a.value for a in random_actions(random.Random(args.seed))]
    make = {"live": live_scene, "planar": planar_scene}
    scene = static_scene(face) if args.kind == "static" else make[args.kind](face, actions)
    try:
        write_clip(scene, args.out)
    except OSError as exc:
        raise BadInput(str(exc)).about("out") from None
    return EXIT_OK, {"clip": str(args.out), "kind": args.kind, "seed": args.seed, "actions": actions,
                     "frames": len(scene.frames), "seconds": round(scene.times_ms[-1] / 1000, 1)}


def _print_verify(out: dict[str, Any]) -> None:
    print(f"{out['decision'].upper()}  liveness {out['liveness']}  similarity {out['similarity']}  "
          f"reasons {', '.join(out['reasons'])}")
    print(f"  challenge: {' -> '.join(out['challenge'])}; {out['frames']} frames, {out['ms_per_frame']} ms/frame, "
          f"parallax {out['parallax']}")
    for e in out["events"]:
        print(f"  [{e['progress']:.0%}] {e['kind']}: {e['message']}")


def _print_pad(out: dict[str, Any]) -> None:
    print(f"{out['decision'].upper()}  score {out['score']}  threshold {out['threshold']}  "
          f"({len(out['frames_used'])} of {out['frames_total']} frames)")
    for name, score in out["witnesses"].items():
        print(f"  {name}: {score}")
    print(f"  margin to the threshold: {out['margin']:+.4f}")
    d = out["device_frame"]
    print(f"  device_frame: {d['frames_seen']} frame(s) with a device enclosing the face (attack at "
          f"{d['min_frames']}; best frame {d['max']}, threshold {d['threshold']})")
    if out["refused_by"]:
        print(f"  refused by: {', '.join(out['refused_by'])}")


def _print_pad_eval(out: dict[str, Any]) -> None:
    def line(label: str, r: dict[str, Any]) -> str:
        return (f"  {label:<28} {r['errors']:>4} of {r['count']:<5} {r['rate']:7.2%}   (95 % upper bound "
                f"{r['upper_95']:.2%}; {r['no_decision']} without a decision)")

    print(f"{out['presentations']} presentations under {out['root']}; {out['rule']}; bona fide when >= "
          f"{out['threshold']}; {out['decision_rule']}")
    if "bpcer" in out:
        print(line("BPCER (bona fide refused)", out["bpcer"]))
    for species, r in out.get("apcer", {}).items():
        print(line(f"APCER {species}", r))
    if "apcer_worst" in out:
        print(f"  worst species: {out['apcer_worst']['species']}")
    if out["closest_to_threshold"]:
        c = out["closest_to_threshold"]
        print(f"  closest to the threshold: {c['name']} at {c['score']} (margin {c['margin']:+.4f})")
    refused = [o for o in out["outcomes"] if o.get("refused_by")]
    for o in refused:
        print(f"  {o['name']}: refused by {', '.join(o['refused_by'])}")
    if out["ignored"]:
        print(f"  ignored (not an image, a video or a frame folder): {', '.join(out['ignored'])}")
    for reason in out["over_limits"]:
        print(f"  OVER THE LIMIT: {reason}")


def _cmd_serve(args: argparse.Namespace) -> int:
    from edge_agent.config import load_config
    from edge_agent.logs import configure_logging
    from edge_agent.service.daemon import serve

    try:
        config = load_config(args.config)
    except EdgeAgentError as exc:
        print(f"edge-agent: error: {exc}", file=sys.stderr)
        return exit_code_of(exc)
    configure_logging(config.log_format)
    return serve(config)


def _cmd_config_show(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    from edge_agent.config import explain, load_config

    config = load_config(args.config).effective()
    if args.explain:
        return EXIT_OK, {"settings": explain(config)}
    return EXIT_OK, config.as_dict()


def _print_config(out: dict[str, Any]) -> None:
    if "settings" not in out:
        print(json.dumps(out, indent=2))
        return
    for row in out["settings"]:
        bound = f"  [{row['bound']}]" if row["bound"] else ""
        print(f"{row['key']} = {json.dumps(row['value'])}{bound}\n    {row['help']}")


def _print_match(out: dict[str, Any]) -> None:
    verdict = "MATCH" if out["decision"] == "match" else "NO MATCH"
    print(f"{verdict}  similarity {out['similarity']:.4f}  threshold {out['threshold']:.4f}  ({out['embedder']})")
    t = out["timings_ms"]
    for side in ("reference", "probe"):
        stages = "  ".join(f"{k} {v:.1f}" for k, v in t[side].items())
        print(f"  {side:<9} ms: {stages}")
    print(f"  models loaded in {t['load_models']:.0f} ms; total {t['total']:.0f} ms")


def _media_options(p: argparse.ArgumentParser) -> None:
    """What every command that runs the models over recorded media takes."""
    p.add_argument("--fps", type=_fps, default=15.0, help="frame rate of a folder of frames (1-120)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--threads", type=int, default=0, help="interpreter threads per model (default: the target's)")
    p.add_argument("--target", choices=TARGET_NAMES, default="auto")
    p.add_argument("--models", type=Path, default=None, help="model folder (default: EDGE_AGENT_MODELS or ./models)")


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="edge-agent", description="On-device face verification agent.")
    ap.add_argument("--version", action="version", version=f"edge-agent {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)

    m = sub.add_parser("match", help="1:1 match of a probe photo against a reference photo")
    m.add_argument("reference", type=Path, help="reference photo (ID chip photo or photo on record)")
    m.add_argument("probe", type=Path, help="photo of the person to verify")
    m.add_argument("--json", action="store_true", help="print one JSON object")
    m.add_argument("--precision", choices=PRECISIONS, default="float",
                   help="embedder: SFace float16 (default) or int8, or the dlib baseline")
    m.add_argument("--reference-format", choices=["auto", "photo", "id-chip"], default="auto",
                   help="id-chip: the reference is the 102x126 portrait from an ID card chip (its own threshold); "
                   "auto: id-chip when the reference is no larger than 160 px")
    m.add_argument("--threads", type=int, default=0, help="interpreter threads per model (default: the target's)")
    m.add_argument("--target", choices=TARGET_NAMES, default="auto",
                   help="device profile for thread count (auto reads the board name)")
    m.add_argument("--models", type=Path, default=None, help="model folder (default: EDGE_AGENT_MODELS or ./models)")
    m.set_defaults(run=_cmd_match, show=_print_match)

    v = sub.add_parser("verify", help="liveness challenge on a recorded clip or frame folder, then 1:1 match")
    v.add_argument("--reference", type=Path, required=True, help="reference photo")
    v.add_argument("--video", type=Path, required=True, help="video file or folder of frames")
    v.add_argument("--seed", type=int, default=None, help="fix the challenge order (tests, replays)")
    v.add_argument("--actions", type=_actions, default=None,
                   help="the challenge order the clip was recorded under, e.g. turn_left,turn_right,blink")
    _media_options(v)
    v.set_defaults(run=_cmd_verify, show=_print_verify)

    pa = sub.add_parser("pad", help="passive presentation-attack decision alone on a still image or a clip "
                        "(exit 0 bona fide, 1 attack, 2 bad input or no usable face)")
    pa.add_argument("file", type=Path, help="image, video file or folder of frames")
    _media_options(pa)
    pa.set_defaults(run=_cmd_pad, show=_print_pad)

    pe = sub.add_parser("pad-eval", help="APCER per attack species and BPCER (ISO/IEC 30107-3) of the passive "
                        "decision over ROOT/bona_fide/* and ROOT/attack/<species>/* (exit 1 over --max-*)")
    pe.add_argument("root", type=Path, help="folder with bona_fide/ and attack/<species>/ (images, videos, "
                    "frame folders)")
    pe.add_argument("--max-apcer", type=float, default=None, help="exit 1 when the worst species' APCER is above")
    pe.add_argument("--max-bpcer", type=float, default=None, help="exit 1 when BPCER is above")
    _media_options(pe)
    pe.set_defaults(run=_cmd_pad_eval, show=_print_pad_eval)

    d = sub.add_parser("demo", help="one verification end to end against a local reference carrier")
    d.add_argument("reference", type=Path)
    d.add_argument("probe", type=Path)
    d.add_argument("--models", type=Path, default=None)
    d.add_argument("--seed", type=int, default=None, help="fix the challenge order")
    d.set_defaults(run=_cmd_demo, show=lambda out: print(json.dumps(out, indent=2)), json=False)

    si = sub.add_parser("simulate", help="render a synthetic customer clip from a photo (demos, bench, replays)")
    si.add_argument("photo", type=Path, help="a real face photo to animate in 3-D")
    si.add_argument("--out", type=Path, required=True, help="clip to write (.avi, Motion-JPEG)")
    si.add_argument("--seed", type=int, default=0, help="the challenge order to perform (as liveness.seed)")
    si.add_argument("--kind", choices=["live", "planar", "static"], default="live",
                    help="live = a 3-D head; planar / static = a photo attack")
    si.add_argument("--models", type=Path, default=None)
    si.add_argument("--json", action="store_true")
    si.set_defaults(run=_cmd_simulate, show=lambda out: print(json.dumps(out)))

    sv = sub.add_parser("serve", help="run the agent daemon (terminal API on a Unix socket)")
    sv.add_argument("--config", type=Path, default=None)
    sv.set_defaults(handler=_cmd_serve)

    c = sub.add_parser("config", help="configuration")
    csub = c.add_subparsers(dest="config_command", required=True)
    cs = csub.add_parser("show", help="print the effective configuration (defaults + file + target)")
    cs.add_argument("--config", type=Path, default=None, help="TOML file (default: EDGE_AGENT_CONFIG or "
                    "/etc/edge-agent/config.toml)")
    cs.add_argument("--explain", action="store_true", help="each key with its value, its bound and what it does")
    cs.set_defaults(run=_cmd_config_show, show=_print_config, json=False)

    from edge_agent.camera.commands import add_parser as add_camera_parser
    from edge_agent.kiosk.command import add_parser as add_kiosk_parser
    from edge_agent.matching.commands import add_parser as add_evaluate_parser
    from edge_agent.modelset.commands import add_parser as add_models_parser
    from edge_agent.provision.commands import add_parsers
    from edge_agent.reference_carrier.command import add_parser
    from edge_agent.terminal import add_parser as add_terminal_parser

    add_parser(sub)
    add_parsers(sub)
    add_terminal_parser(sub)
    add_models_parser(sub)
    add_kiosk_parser(sub)
    add_evaluate_parser(sub)
    add_camera_parser(sub)
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, run the command, print its result; returns the exit code."""
    args = _parser().parse_args(argv)
    if getattr(args, "handler", None) is not None:
        code: int = args.handler(args)
        return code
    run: Callable[[argparse.Namespace], tuple[int, dict[str, Any]]] = args.run
    try:
        code, out = run(args)
    except EdgeAgentError as exc:
        code = exit_code_of(exc)
        err = {"error": exc.code, "message": str(exc)}
        if exc.subject:
            err["input"] = exc.subject
        if getattr(args, "json", False):
            print(json.dumps(err))
        print(f"edge-agent: error: {exc}", file=sys.stderr)
        return code
    try:
        if getattr(args, "json", False):
            print(json.dumps(out, indent=2))
        else:
            args.show(out)
        sys.stdout.flush()  # the answer is out even if a native library misbehaves at interpreter exit
    except BrokenPipeError:  # `edge-agent status | head`: the reader left; not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return code


if __name__ == "__main__":
    sys.exit(main())
