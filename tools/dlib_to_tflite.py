"""Rebuild dlib's face-descriptor ResNet in TensorFlow and write it as TFLite.

The network is interpreted layer by layer from dlib's own description of
itself (``net_to_xml``), so the conversion follows the file rather than a
hand-copied architecture. Three dlib behaviours need care because TF does not
share them:

* ``con`` with stride 2 has no padding, so spatial sizes shrink unevenly;
* ``add_prev`` adds tensors of different shapes by zero-padding the smaller
  one (bottom/right in space, trailing channels) to the larger;
* ``affine`` layers (frozen batch-norm) follow each ``con``; we fold them into
  the convolution so the TFLite graph is plain conv+bias+relu, which int8
  quantises cleanly.

The model takes raw RGB pixels (0..255) so that its int8 input quantisation is
exact (scale 1, zero point -128); dlib's mean subtraction and 1/256 scaling
are baked in. Build-time only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import tensorflow as tf
from dlib_xml import Layer

CHIP = 150


def _fold(layers: list[Layer]) -> list[dict]:
    """Turn dlib layers into simple ops, folding each affine into its conv."""
    ops: list[dict] = []
    channels = 3
    for layer in layers:
        a = layer.attrs
        if layer.kind == "input_rgb_image_sized":
            if int(a["nr"]) != CHIP or int(a["nc"]) != CHIP:
                raise ValueError("unexpected input size")
            mean = np.array([float(a["r"]), float(a["g"]), float(a["b"])], np.float32)
            ops.append({"op": "input", "mean": mean})
        elif layer.kind == "con":
            n, r, c = int(a["num_filters"]), int(a["nr"]), int(a["nc"])
            assert layer.params is not None
            nw = n * channels * r * c
            has_bias = a.get("use_bias", "true") == "true"
            if layer.params.size != nw + (n if has_bias else 0):
                raise ValueError(f"layer {layer.idx}: parameter count mismatch")
            w = layer.params[:nw].reshape(n, channels, r, c).transpose(2, 3, 1, 0)
            b = layer.params[nw:] if has_bias else np.zeros(n, np.float32)
            ops.append({
                "op": "conv", "w": w.copy(), "b": b.copy(),
                "stride": (int(a["stride_y"]), int(a["stride_x"])),
                "pad": (int(a["padding_y"]), int(a["padding_x"])),
            })
            channels = n
        elif layer.kind == "affine_con":
            assert layer.params is not None and layer.params.size == 2 * channels
            gamma, beta = layer.params[:channels], layer.params[channels:]
            prev = ops[-1]
            if prev["op"] != "conv":
                raise ValueError(f"layer {layer.idx}: affine not after a conv")
            prev["w"] = prev["w"] * gamma
            prev["b"] = prev["b"] * gamma + beta
        elif layer.kind == "relu":
            ops.append({"op": "relu"})
        elif layer.kind in ("max_pool", "avg_pool"):
            ops.append({
                "op": layer.kind, "size": (int(a["nr"]), int(a["nc"])),
                "stride": (int(a["stride_y"]), int(a["stride_x"])),
                "pad": (int(a["padding_y"]), int(a["padding_x"])),
            })
        elif layer.kind in ("tag", "skip"):
            ops.append({"op": layer.kind, "id": a["id"]})
        elif layer.kind == "add_prev":
            ops.append({"op": "add_prev", "id": a["tag"]})
        elif layer.kind == "fc_no_bias":
            n = int(a["num_outputs"])
            assert layer.params is not None
            ops.append({"op": "fc", "w": layer.params.reshape(-1, n)})
        elif layer.kind == "loss_metric":
            pass
        else:
            raise ValueError(f"layer {layer.idx}: unsupported dlib layer {layer.kind}")
    return ops


def _pad_to(x: tf.Tensor, shape: tuple[int, int, int]) -> tf.Tensor:
    h, w, c = (int(d) for d in x.shape[1:])
    pads = [[0, 0], [0, shape[0] - h], [0, shape[1] - w], [0, shape[2] - c]]
    return x if not any(p[1] for p in pads) else tf.pad(x, pads)


def build_forward(layers: list[Layer]) -> Callable[[tf.Tensor], tf.Tensor]:
    """Return a TF function computing dlib's descriptor from raw RGB pixels."""
    ops = _fold(layers)

    def forward(x: tf.Tensor) -> tf.Tensor:
        tags: dict[str, tf.Tensor] = {}
        for op in ops:
            kind = op["op"]
            if kind == "input":
                x = (x - tf.constant(op["mean"])) * (1.0 / 256.0)
            elif kind == "conv":
                (py, px), (sy, sx) = op["pad"], op["stride"]
                kh = op["w"].shape[0]
                if sy == sx == 1 and py == px == kh // 2:
                    x = tf.nn.conv2d(x, op["w"], 1, "SAME")
                else:
                    if py or px:
                        x = tf.pad(x, [[0, 0], [py, py], [px, px], [0, 0]])
                    x = tf.nn.conv2d(x, op["w"], (sy, sx), "VALID")
                x = tf.nn.bias_add(x, op["b"])
            elif kind == "relu":
                x = tf.nn.relu(x)
            elif kind in ("max_pool", "avg_pool"):
                if op["size"] == (0, 0):
                    x = tf.reduce_mean(x, axis=[1, 2])
                    continue
                if op["pad"] != (0, 0):
                    raise ValueError("padded pooling is not used by this network")
                pool = tf.nn.max_pool2d if kind == "max_pool" else tf.nn.avg_pool2d
                x = pool(x, op["size"], op["stride"], "VALID")
            elif kind == "tag":
                tags[op["id"]] = x
            elif kind == "skip":
                x = tags[op["id"]]
            elif kind == "add_prev":
                other = tags[op["id"]]
                shape = tuple(max(int(a), int(b)) for a, b in zip(x.shape[1:], other.shape[1:], strict=True))
                x = _pad_to(x, shape) + _pad_to(other, shape)  # type: ignore[arg-type]
            elif kind == "fc":
                x = tf.matmul(tf.reshape(x, [1, -1]), op["w"])
        return x

    return forward


def to_tflite(
    layers: list[Layer],
    out_float: Path,
    out_int8: Path,
    calibration: Iterable[np.ndarray],
) -> None:
    """Write the float32 and the full-integer (int8 in, int8 out) models."""
    forward = build_forward(layers)
    fn = tf.function(forward, input_signature=[tf.TensorSpec([1, CHIP, CHIP, 3], tf.float32, name="rgb")])
    concrete = fn.get_concrete_function()

    conv = tf.lite.TFLiteConverter.from_concrete_functions([concrete], fn)
    out_float.write_bytes(conv.convert())

    chips = [np.asarray(c, np.float32)[None] for c in calibration]

    def representative() -> Iterable[list[np.ndarray]]:
        for chip in chips:
            yield [chip]

    conv = tf.lite.TFLiteConverter.from_concrete_functions([concrete], fn)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    out_int8.write_bytes(conv.convert())
