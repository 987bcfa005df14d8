#!/usr/bin/env python3
"""Convert the MiniFASNet anti-spoofing weights (.pth, Apache-2.0) to TFLite with float16 weights.

The network is rebuilt in TensorFlow from the state dict itself: module names
say what each tensor is (``conv1``, ``conv_23.conv_dw``, ``conv_4.model.5.se_module``
...), so the walk below follows the file. Batch-norms are folded into the
convolutions; PReLU is written as relu(x) - a*relu(-x), which the converter
turns into one PRELU op (quantising it as separate ops ruined int8). The model takes the
80x80 BGR crop as raw pixel values (as the original code feeds it) and
returns the 3-class softmax (index 1 = real face).

Build-time only (needs torch to unpickle the .pth, and TensorFlow); the
converted files are not committed. Usage:

    python tools/minifasnet_to_tflite.py --src ../shared/data/antispoof/silent-face --out models
"""

from __future__ import annotations

import argparse
import hashlib
import re
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import tensorflow as tf
import torch

SIZE = 80
# Float16 weights, float compute. Full int8 works (written as max(x,0) + a*min(x,0),
# PReLU was quantised as separate ops and the output collapsed; the relu form below
# becomes a native PRELU), but tflite-runtime 2.14 runs int8 PRELU on a slow
# single-threaded reference kernel: 23 ms per model here against 1.2 ms in float
# through XNNPACK, with the same scores. Set True to build the int8 variant again.
FULL_INT8 = False
EPS = 1e-5
MODELS = {
    "2.7_80x80_MiniFASNetV2.pth": ("antispoof_minifasnet_v2.tflite", 2.7),
    "4_0_0_80x80_MiniFASNetV1SE.pth": ("antispoof_minifasnet_v1se.tflite", 4.0),
}


def load(path: Path) -> dict[str, np.ndarray]:
    sd = torch.load(path, map_location="cpu", weights_only=True)
    return {re.sub(r"^module\.", "", k): v.numpy() for k, v in sd.items() if not k.endswith("num_batches_tracked")}


def bn(w: dict[str, np.ndarray], prefix: str) -> tuple[np.ndarray, np.ndarray]:
    scale = w[f"{prefix}.weight"] / np.sqrt(w[f"{prefix}.running_var"] + EPS)
    return scale, w[f"{prefix}.bias"] - w[f"{prefix}.running_mean"] * scale


class Builder:
    """Collects TF ops for the forward pass from state-dict prefixes."""

    def __init__(self, w: dict[str, np.ndarray]) -> None:
        self.w = w

    def conv(self, prefix: str, stride: int, act: bool) -> Callable[[tf.Tensor], tf.Tensor]:
        """A Conv_block (conv+bn+prelu) or Linear_block (conv+bn) under ``prefix``."""
        k = self.w[f"{prefix}.conv.weight"]  # (out, in/groups, kh, kw)
        s, b = bn(self.w, f"{prefix}.bn")
        out, in_g, kh, _ = k.shape
        depthwise = in_g == 1 and out > 1 and kh > 1
        pad = (kh // 2) if kh in (3,) else 0
        alpha = self.w.get(f"{prefix}.prelu.weight") if act else None
        if depthwise:
            kernel = (k[:, 0] * s[:, None, None]).transpose(1, 2, 0)[:, :, :, None]  # (kh, kw, C, 1)
        else:
            kernel = (k * s[:, None, None, None]).transpose(2, 3, 1, 0)  # (kh, kw, in, out)

        def f(x: tf.Tensor) -> tf.Tensor:
            if pad:
                x = tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
            if depthwise:
                x = tf.nn.depthwise_conv2d(x, kernel, [1, stride, stride, 1], "VALID")
            else:
                x = tf.nn.conv2d(x, kernel, stride, "VALID")
            x = tf.nn.bias_add(x, b)
            if alpha is not None:
                x = tf.nn.relu(x) + (-alpha) * tf.nn.relu(-x)  # the form the converter turns into PRELU
            return x

        return f

    def se(self, prefix: str) -> Callable[[tf.Tensor], tf.Tensor]:
        w1, w2 = self.w[f"{prefix}.fc1.weight"][:, :, 0, 0], self.w[f"{prefix}.fc2.weight"][:, :, 0, 0]
        s1, b1 = bn(self.w, f"{prefix}.bn1")
        s2, b2 = bn(self.w, f"{prefix}.bn2")
        m1, m2 = (w1 * s1[:, None]).T, (w2 * s2[:, None]).T

        def f(x: tf.Tensor) -> tf.Tensor:
            g = tf.reduce_mean(x, axis=[1, 2])
            g = tf.nn.relu(tf.matmul(g, m1) + b1)
            g = tf.sigmoid(tf.matmul(g, m2) + b2)
            return x * g[:, None, None, :]

        return f

    def depth_wise(self, prefix: str, stride: int, residual: bool) -> Callable[[tf.Tensor], tf.Tensor]:
        expand = self.conv(f"{prefix}.conv", 1, True)
        dw = self.conv(f"{prefix}.conv_dw", stride, True)
        project = self.conv(f"{prefix}.project", 1, False)
        se = self.se(f"{prefix}.se_module") if f"{prefix}.se_module.fc1.weight" in self.w else None

        def f(x: tf.Tensor) -> tf.Tensor:
            y = project(dw(expand(x)))
            if se is not None:
                y = se(y)
            return x + y if residual else y

        return f

    def residual(self, prefix: str) -> Callable[[tf.Tensor], tf.Tensor]:
        n = 1 + max(int(m.group(1)) for k in self.w if (m := re.match(rf"{prefix}\.model\.(\d+)\.", k)))
        blocks = [self.depth_wise(f"{prefix}.model.{i}", 1, True) for i in range(n)]

        def f(x: tf.Tensor) -> tf.Tensor:
            for block in blocks:
                x = block(x)
            return x

        return f


def forward_fn(w: dict[str, np.ndarray]) -> Callable[[tf.Tensor], tf.Tensor]:
    b = Builder(w)
    stages = [
        b.conv("conv1", 2, True), b.conv("conv2_dw", 1, True),
        b.depth_wise("conv_23", 2, False), b.residual("conv_3"),
        b.depth_wise("conv_34", 2, False), b.residual("conv_4"),
        b.depth_wise("conv_45", 2, False), b.residual("conv_5"),
        b.conv("conv_6_sep", 1, True), b.conv("conv_6_dw", 1, False),
    ]
    lin = w["linear.weight"].T
    s, bias = bn(w, "bn")
    head = lin * s
    prob = w["prob.weight"].T

    def forward(x: tf.Tensor) -> tf.Tensor:
        for stage in stages:
            x = stage(x)
        x = tf.reshape(x, [1, -1])
        x = tf.matmul(x, head) + bias
        return tf.nn.softmax(tf.matmul(x, prob))

    return forward


def convert(w: dict[str, np.ndarray], calibration: Iterable[np.ndarray]) -> tuple[bytes, Callable]:
    fwd = forward_fn(w)
    fn = tf.function(fwd, input_signature=[tf.TensorSpec([1, SIZE, SIZE, 3], tf.float32, name="bgr")])
    samples = [np.asarray(c, np.float32)[None] for c in calibration]
    conv = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    if not FULL_INT8:
        conv.target_spec.supported_types = [tf.float16]
    else:
        conv.representative_dataset = lambda: ([s] for s in samples)
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    return conv.convert(), fwd


def crops(images: list[Path], scale: float) -> list[np.ndarray]:
    """Calibration crops (BGR): centre squares of each photo at several sizes, mirrored too.

    ``scale`` is unused: without a detector here the crops bracket the range of
    face sizes instead of reproducing one.
    """
    import cv2

    out = []
    for path in images:
        bgr = cv2.imread(str(path))
        if bgr is None:
            continue
        h, w = bgr.shape[:2]
        for frac in (1.0, 0.8, 0.6, 0.45):
            side = int(min(h, w) * frac)
            y, x = (h - side) // 2, (w - side) // 2
            crop = cv2.resize(bgr[y:y + side, x:x + side], (SIZE, SIZE))
            out += [crop, crop[:, ::-1]]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--faces", type=Path, default=None, help="extra calibration photos (the deepface folder)")
    args = ap.parse_args()
    images = sorted(args.src.glob("image_*.jpg"))
    if args.faces is not None:
        images += sorted(args.faces.glob("img*.jpg"))
    for pth, (name, scale) in MODELS.items():
        w = load(args.src / pth)
        data, _ = convert(w, crops(images, scale))
        (args.out / name).write_bytes(data)
        print(f"{name}: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}")


if __name__ == "__main__":
    main()
