"""One wrapper over the TFLite interpreter, whichever package provides it.

tflite-runtime is the small, well-trodden wheel for the Pi, but it stops at
Python 3.11 (and was built against numpy 1.x); ai-edge-litert is its
successor where that wheel is missing. Stages only see ``Model.run``, which
takes and returns float arrays: int8/uint8 (de)quantisation happens here and
nowhere else.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from edge_agent.errors import ModelError, ModelIntegrityError

__all__ = ["Model", "TensorSpec", "interpreter_class", "runtime_name", "single_thread_blas"]

_blas_limited = False


def single_thread_blas() -> None:
    """Keep numpy's BLAS on the calling thread, once per process (every process that loads a model).

    The numpy work around the models is a handful of tiny matrices per frame
    (the 5-point similarity transform, mapping landmarks back, cosines), yet
    OpenBLAS hands them to its worker pool, whose workers then busy-wait. On
    the liveness loop (2-core x86, 1 interpreter thread) one such worker burnt
    as much CPU as the loop itself: 82 ms of process CPU per frame against
    42 ms on the loop's thread. On a Pi 4 the pool has three workers, spinning
    on the cores given to the interpreter's threads and the camera. The models
    have their own thread pools, so one BLAS thread loses nothing.
    """
    global _blas_limited
    if not _blas_limited:
        threadpool_limits(limits=1, user_api="blas")
        _blas_limited = True


def interpreter_class() -> tuple[Any, str]:
    """Return (Interpreter class, package name) of the first runtime that imports."""
    try:
        from tflite_runtime.interpreter import Interpreter

        return Interpreter, "tflite-runtime"
    except ImportError:
        pass
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter, "ai-edge-litert"
    except ImportError as exc:
        raise ModelError("no TFLite runtime: install tflite-runtime or ai-edge-litert") from exc


def runtime_name() -> str:
    """Which TFLite package is in use, as the benchmark's reports name it."""
    return interpreter_class()[1]


@contextlib.contextmanager
def _filtered_stderr() -> Iterator[None]:
    """Drop the runtime's "INFO: Created ... delegate" chatter, pass any other native stderr line on.

    The interpreter writes from C++ straight to file descriptor 2, so this
    swaps the descriptor rather than ``sys.stderr``.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as buf:
        os.dup2(buf.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            buf.seek(0)
            for line in buf.read().decode(errors="replace").splitlines():
                if line and not line.startswith("INFO: "):
                    print(line, file=sys.stderr)


class TensorSpec:
    """Index, shape, dtype and affine quantisation of one model tensor."""

    def __init__(self, detail: dict[str, Any]) -> None:
        self.index: int = detail["index"]
        self.name: str = detail["name"]
        self.shape: tuple[int, ...] = tuple(int(d) for d in detail["shape"])
        self.dtype: np.dtype[Any] = np.dtype(detail["dtype"])
        scale, zero = detail.get("quantization", (0.0, 0))
        self.scale = float(scale)
        self.zero_point = int(zero)

    @property
    def quantised(self) -> bool:
        """Whether the tensor is int8/uint8 with a scale, i.e. needs (de)quantisation at the boundary."""
        return self.dtype in (np.int8, np.uint8) and self.scale > 0

    def quantise(self, x: np.ndarray) -> np.ndarray:
        """``x`` in the tensor's dtype; float values through its scale and zero point, clipped to range."""
        if x.dtype == self.dtype:
            return x
        if not self.quantised:
            return x.astype(self.dtype, copy=False)
        if x.dtype == np.uint8 and self.dtype == np.int8 and self.scale == 1.0 and self.zero_point == -128:
            # Raw pixels into an int8 raw-pixel input: x - 128 is a flip of the top bit (exact, one pass).
            return (x ^ np.uint8(0x80)).view(np.int8)
        info = np.iinfo(self.dtype)
        q = np.rint(x.astype(np.float32) * (1.0 / self.scale)) + self.zero_point
        out: np.ndarray = np.clip(q, info.min, info.max).astype(self.dtype)
        return out

    def dequantise(self, q: np.ndarray) -> np.ndarray:
        """``q`` as float32 values, undoing the tensor's quantisation when it has one."""
        if not self.quantised:
            return q.astype(np.float32, copy=False)
        return (q.astype(np.float32) - self.zero_point) * self.scale


class Model:
    """A loaded TFLite model whose bytes were checked against an expected sha256.

    The file is read once and the interpreter is built from those same bytes,
    so the model that runs is the model that was hashed.
    """

    def __init__(self, path: Path, *, sha256: str | None = None, num_threads: int = 2) -> None:
        self.path = path
        single_thread_blas()
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise ModelError(f"cannot read model {path.name}: {exc.strerror}") from exc
        digest = hashlib.sha256(content).hexdigest()
        if sha256 is not None and digest != sha256:
            raise ModelIntegrityError(
                f"model {path.name} has sha256 {digest[:16]}..., manifest expects {sha256[:16]}...; refusing to load"
            )
        self.sha256 = digest
        interpreter, self.runtime = interpreter_class()
        try:
            with _filtered_stderr():
                self._interp = interpreter(model_content=content, num_threads=max(1, num_threads))
                self._interp.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"model {path.name} is not a loadable TFLite model: {exc}") from exc
        self.inputs = [TensorSpec(d) for d in self._interp.get_input_details()]
        self.outputs = [TensorSpec(d) for d in self._interp.get_output_details()]
        # Time spent inside the interpreter, so a profile can tell model cost from our own overhead.
        # invoke_ms is wall time; invoke_cpu_ms the calling thread's CPU time, which with one interpreter thread is
        # the model's cost even on a machine shared with other work (the profile's basis, bench/stage_profile.py).
        self.invoke_ms = 0.0
        self.invoke_cpu_ms = 0.0
        self.invokes = 0

    def resize_input(self, shape: tuple[int, ...]) -> None:
        """Give the (single) input a new shape, e.g. a batch of 2, and re-plan the graph for it.

        ModelError when the graph cannot take it (a fixed reshape inside); the model is then left as it was.
        """
        old = self.inputs[0].shape
        try:
            with _filtered_stderr():
                self._interp.resize_tensor_input(self.inputs[0].index, list(shape))
                self._interp.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            with _filtered_stderr():
                self._interp.resize_tensor_input(self.inputs[0].index, list(old))
                self._interp.allocate_tensors()
            raise ModelError(f"model {self.path.name} does not take input shape {shape}: {exc}") from exc
        self.inputs = [TensorSpec(d) for d in self._interp.get_input_details()]
        self.outputs = [TensorSpec(d) for d in self._interp.get_output_details()]

    def run(self, *inputs: np.ndarray) -> list[np.ndarray]:
        """Set inputs (float or already in the tensor's dtype), invoke, return float outputs."""
        if len(inputs) != len(self.inputs):
            raise ValueError(f"{self.path.name} takes {len(self.inputs)} inputs, got {len(inputs)}")
        for spec, x in zip(self.inputs, inputs, strict=True):
            if tuple(x.shape) != spec.shape:
                raise ValueError(f"{self.path.name}: input {spec.name} wants shape {spec.shape}, got {x.shape}")
            self._interp.set_tensor(spec.index, spec.quantise(x))
        t0, c0 = time.perf_counter(), time.thread_time()
        self._interp.invoke()
        self.invoke_ms += (time.perf_counter() - t0) * 1000
        self.invoke_cpu_ms += (time.thread_time() - c0) * 1000
        self.invokes += 1
        return [spec.dequantise(self._interp.get_tensor(spec.index)) for spec in self.outputs]
