#!/usr/bin/env python3
"""Build the quantised SFace candidates from OpenCV Zoo's ONNX file, so XNNPACK can run an int8 embedder whole.

Why: the shipped full-int8 file (``sface_2021dec_int8.tflite``) leaves its 27
int8 PRELU nodes (and the uint8 QUANTIZE) to TFLite's own kernels: under
ai-edge-litert 2.3 XNNPACK takes 38 of 66 nodes in 28 partitions, under
tflite-runtime 2.14 one node (``tools/xnnpack_report.py``). This script makes
the candidates issue 29 lists and writes them to ``--out``:

``sface_2021dec_dynamic.tflite``
    dynamic-range: int8 weights, float activations (XNNPACK's qd8 path).
``sface_2021dec_dynamic_fdw.tflite``
    the same with the depthwise weights back in float32 (``float_depthwise``):
    XNNPACK 2.3 has qd8 convolution and fully-connected kernels, no qd8 depthwise.
``sface_2021dec_int8_fprelu.tflite``
    full int8 except PRELU, which stays float between DEQUANTIZE/QUANTIZE
    (TFLite's selective quantisation, ``denylisted_ops``); XNNPACK has float
    PRELU and the QS8<->F32 converts, so it can hold the whole graph.
``sface_2021dec_int8_fprelu_ffc.tflite``
    as int8_fprelu, and the last layer (FULLY_CONNECTED, 50,176 -> 128) in float
    too: one per-tensor int8 scale over 50,176 inputs is where int8 loses most.
``sface_2021dec_int8_dwprelu.tflite``
    full int8 with PReLU(x) = (1-a) relu(x) + a x written as RELU, two 1x1
    depthwise convolutions and an ADD: ops XNNPACK's QS8 path has.

Route (as ``../shared/data/models/sface-2021dec/README.md``): the int8bq ONNX
file is cleaned (stale weight inputs dropped, block-dequantisation folded into
fp32 weights: lossless), converted to a SavedModel by onnx2tf, then quantised by
the TFLiteConverter. Full-int8 calibration uses 200 lfw-dev faces (seed 1234)
aligned by the product's own pipeline (face mesh, ArcFace template), held in
memory only. Float input and output, so the first and last ops are XNNPACK's
converts. Needs the build venv (tensorflow, onnx, onnx2tf), not the runtime's::

    nice -n 19 /work/build-venv/bin/python tools/sface_quantise.py --out /tmp/sface-q
    /work/build-venv/bin/python tools/sface_quantise.py --out /tmp/sface-q --install dynamic_fdw

``--install`` copies one built file into models/ and writes its manifest entry
(sha256, size, source, licence); thresholds come from tools/calibrate_threshold.py.
TFLite conversion is not bit-reproducible across TensorFlow versions, so the
committed file, not a rebuild, is what the manifest's sha256 pins.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SOURCE = ROOT.parent / "shared" / "data" / "models" / "sface-2021dec" / "face_recognition_sface_2021dec_int8bq.onnx"
FACES = ROOT.parent / "shared" / "data" / "faces" / "lfw-dev"


def clean_onnx(src: Path) -> Any:
    """The ONNX model with plain fp32 weights: block DequantizeLinear and constant Reshape folded, stale inputs gone."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(src))
    g = model.graph
    consts = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    keep = []
    for node in g.node:
        if node.op_type == "DequantizeLinear" and all(i in consts for i in node.input):
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            q = consts[node.input[0]].astype(np.float32)
            scale = consts[node.input[1]].astype(np.float32)
            zero = consts[node.input[2]].astype(np.float32) if len(node.input) > 2 else np.zeros_like(scale)
            axis, block = attrs.get("axis", 1), attrs.get("block_size", 0)
            if block:
                scale = np.repeat(scale, block, axis=axis).take(range(q.shape[axis]), axis=axis)
                zero = np.repeat(zero, block, axis=axis).take(range(q.shape[axis]), axis=axis)
            elif scale.ndim == 1 and q.ndim > 1:
                shape = [1] * q.ndim
                shape[axis] = -1
                scale, zero = scale.reshape(shape), zero.reshape(shape)
            consts[node.output[0]] = ((q - zero) * scale).astype(np.float32)
        elif node.op_type == "Reshape" and all(i in consts for i in node.input):
            consts[node.output[0]] = consts[node.input[0]].reshape(consts[node.input[1]].astype(np.int64))
        else:
            keep.append(node)
    used = {i for n in keep for i in n.input}
    del g.node[:]
    g.node.extend(keep)
    del g.initializer[:]
    g.initializer.extend(numpy_helper.from_array(v, k) for k, v in consts.items() if k in used)
    stale = [i for i in g.input if i.name in consts or i.name not in used]
    for i in stale:
        g.input.remove(i)
    onnx.checker.check_model(model)
    return model


def prelu_as_depthwise(model: Any) -> Any:
    """Each PRelu(x, a) as Add(DWConv1x1(Relu(x), 1-a), DWConv1x1(x, a)): ops XNNPACK's QS8 path has.

    PReLU(x) = relu(x) + a min(x, 0) = (1-a) relu(x) + a x, per channel. The
    slopes here run from -0.81 to 1.12, so 1-a changes sign and the ReLU can't
    be fused into a scaled branch: it stays a node of its own.
    """
    import onnx
    from onnx import helper, numpy_helper

    g = model.graph
    consts = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    out = []
    for node in g.node:
        if node.op_type != "PRelu":
            out.append(node)
            continue
        x, a_name = node.input
        a = consts[a_name].reshape(-1).astype(np.float32)
        c = a.size
        base = node.output[0]
        w_pos = numpy_helper.from_array((1.0 - a).reshape(c, 1, 1, 1), base + "_wpos")
        w_neg = numpy_helper.from_array(a.reshape(c, 1, 1, 1), base + "_wneg")
        g.initializer.extend([w_pos, w_neg])
        out += [
            helper.make_node("Relu", [x], [base + "_relu"]),
            helper.make_node("Conv", [base + "_relu", w_pos.name], [base + "_posr"], group=c, kernel_shape=[1, 1]),
            helper.make_node("Conv", [x, w_neg.name], [base + "_lin"], group=c, kernel_shape=[1, 1]),
            helper.make_node("Add", [base + "_posr", base + "_lin"], [base]),
        ]
    del g.node[:]
    g.node.extend(out)
    used = {i for n in out for i in n.input}
    for init in [i for i in g.initializer if i.name not in used]:
        g.initializer.remove(init)
    onnx.checker.check_model(model)
    return model


def to_saved_model(onnx_model: Any, work: Path, name: str) -> Path:
    """onnx2tf's SavedModel (NHWC) of ``onnx_model``; onnx2tf runs in a child so its globals stay fresh."""
    import onnx

    src = work / f"{name}.onnx"
    onnx.save(onnx_model, str(src))
    out = work / f"{name}_tf"
    if (out / "saved_model.pb").exists():
        return out  # from an earlier run into the same folder
    # onnx2tf checks its output on 20 sample images it would download into the working folder; this
    # machine has no such network, so give it synthetic non-face images there (no biometrics on disk).
    sample = work / "calibration_image_sample_data_20x128x128x3_float32.npy"
    if not sample.exists():
        y, x, c = np.meshgrid(np.arange(128), np.arange(128), np.arange(3), indexing="ij")
        np.save(sample, np.stack([((7 * x + 3 * y + 50 * c + 13 * k) % 256) / 255.0 for k in range(20)])
                .astype(np.float32))
    subprocess.run([sys.executable, "-m", "onnx2tf.onnx2tf", "-i", str(src), "-o", str(out), "-osd", "-n"],
                   check=True, stdout=subprocess.DEVNULL, cwd=work)
    return out


def calibration_chips(n: int, seed: int) -> list[np.ndarray]:
    """``n`` aligned 112x112 RGB chips of lfw-dev faces (fixed draw), made by the product's own pipeline, in memory."""
    from edge_agent.errors import EdgeAgentError
    from edge_agent.vision.image import read_image
    from edge_agent.vision.pipeline import FacePipeline

    pipe = FacePipeline.from_directory(None, num_threads=1)
    images = sorted(p.relative_to(FACES).as_posix() for p in FACES.glob("*/*.jpg"))
    random.Random(seed).shuffle(images)
    chips: list[np.ndarray] = []
    for rel in images:
        if len(chips) == n:
            break
        rgb = read_image(FACES / rel)
        try:
            chips.append(pipe.align(rgb, pipe.landmarker.landmarks(rgb, pipe.find_face(rgb)).points))
        except EdgeAgentError:
            continue
    return chips


def convert(saved: Path, chips: list[np.ndarray] | None, denylist: list[str] | None = None) -> bytes:
    """TFLite flatbuffer: dynamic-range without ``chips``, full int8 (float in/out) with them."""
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_saved_model(str(saved))
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    if chips is None:
        return bytes(conv.convert())

    def rep() -> Iterator[list[np.ndarray]]:
        for chip in chips:
            yield [chip[None].astype(np.float32)]

    conv.representative_dataset = rep
    if not denylist:
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        return bytes(conv.convert())
    debug = tf.lite.experimental.QuantizationDebugger(
        converter=conv, debug_dataset=rep,
        debug_options=tf.lite.experimental.QuantizationDebugOptions(denylisted_ops=denylist))
    return bytes(debug.get_nondebug_quantized_model())


# name -> (manifest key, precision text); the key's precision name is in edge_agent/vision/pipeline.py EMBEDDERS.
INSTALLS = {
    "dynamic_fdw": ("face_embedding_sface_int8_dynamic",
                    "dynamic-range: int8 per-channel weights for CONV_2D and FULLY_CONNECTED (XNNPACK quantises "
                    "their float activations per call: its qd8 path), depthwise weights and every activation "
                    "float32; float32 input and output"),
}


def install(built: Path, name: str) -> None:
    """Copy ``built`` into models/ and write its manifest entry next to the float one (same licence, alignment)."""
    key, precision = INSTALLS[name]
    target = ROOT / "models" / built.name
    target.write_bytes(built.read_bytes())
    manifest_path = ROOT / "models" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    entry = dict(manifest["models"]["face_embedding_sface_float"])
    entry.update({
        "file": target.name,
        "role": "128-d face embedding (SFace, OpenCV Zoo 2021dec); int8-weight build that XNNPACK runs whole "
                "under ai-edge-litert (tools/xnnpack_report.py)",
        "precision": precision,
        "input": {**entry["input"], "dtype": "float32"},
        "source": entry["source"].split(", converted with")[0]
        + f", converted by tools/sface_quantise.py (onnx2tf 1.28.8, TensorFlow 2.21 TFLiteConverter), build {name}",
        "sha256": hashlib.sha256(target.read_bytes()).hexdigest(),
        "bytes": target.stat().st_size,
    })
    manifest["models"][key] = entry
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"installed {target} as {key}", file=sys.stderr)


def float_depthwise(flatbuffer: bytes) -> bytes:
    """The model with every int8 (hybrid) DEPTHWISE_CONV_2D weight turned back into float32.

    The dynamic-range converter quantises the weights of depthwise layers with
    >= 1,024 weights, and XNNPACK 2.3 has no qd8 depthwise kernel: those 11
    layers stay on TFLite's kernels, in 12 partitions. Their weights are 1-2 %
    of the model; in float XNNPACK takes them with the rest.
    """
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(flatbuffer))
    graph = model.subgraphs[0]
    for op in graph.operators:
        if model.operatorCodes[op.opcodeIndex].builtinCode != schema.BuiltinOperator.DEPTHWISE_CONV_2D:
            continue
        weights = graph.tensors[op.inputs[1]]
        if weights.type != schema.TensorType.INT8:
            continue
        q = np.frombuffer(bytes(model.buffers[weights.buffer].data), np.int8).reshape(weights.shape)
        scale = np.asarray(weights.quantization.scale, np.float32)
        shape = [1] * q.ndim
        shape[weights.quantization.quantizedDimension] = -1
        model.buffers[weights.buffer].data = (q.astype(np.float32) * scale.reshape(shape)).tobytes()
        weights.type = schema.TensorType.FLOAT32
        weights.quantization = None
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--source", type=Path, default=SOURCE)
    ap.add_argument("--faces", type=int, default=200, help="calibration faces for full int8")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--only", nargs="*", default=["dynamic", "dynamic_fdw", "int8_fprelu", "int8_dwprelu"])
    ap.add_argument("--install", choices=sorted(INSTALLS), help="copy this built file into models/ (no rebuild)")
    args = ap.parse_args()
    if args.install:
        install(args.out / f"sface_2021dec_{args.install}.tflite", args.install)
        return
    args.out.mkdir(parents=True, exist_ok=True)
    plain = to_saved_model(clean_onnx(args.source), args.out, "sface_fp32")
    chips = calibration_chips(args.faces, args.seed) if set(args.only) - {"dynamic"} else []
    builds: dict[str, Any] = {
        "dynamic": lambda: convert(plain, None),
        "dynamic_fdw": lambda: float_depthwise(convert(plain, None)),
        "int8_fprelu": lambda: convert(plain, chips, ["PRELU"]),
        "int8_fprelu_ffc": lambda: convert(plain, chips, ["PRELU", "FULLY_CONNECTED"]),
        "int8_dwprelu": lambda: convert(
            to_saved_model(prelu_as_depthwise(clean_onnx(args.source)), args.out, "sface_dwprelu"), chips),
    }
    for name in args.only:
        path = args.out / f"sface_2021dec_{name}.tflite"
        path.write_bytes(builds[name]())
        print(f"wrote {path} ({path.stat().st_size} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
