"""Face descriptor: an aligned chip in, a unit-length 128-d embedding out."""

from __future__ import annotations

import numpy as np

from edge_agent.vision.runtime import Model

__all__ = ["Embedder", "quantise_embedding"]


class Embedder:
    """The face embedder model behind one call, whatever its input size or precision."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self.size = model.inputs[0].shape[1]

    def embed(self, chip: np.ndarray) -> np.ndarray:
        """The unit-length embedding of an aligned chip of the model's input size; a wrong-sized chip is refused."""
        if chip.shape != (self.size, self.size, 3):
            raise ValueError(f"embedder wants a {self.size}x{self.size} RGB chip, got {chip.shape}")
        (vec,) = self.model.run(chip[None])  # uint8 pixels: TensorSpec maps them to the input type exactly
        vec = vec.reshape(-1).astype(np.float32)
        norm = float(np.linalg.norm(vec))
        return vec / norm if norm > 0 else vec


def quantise_embedding(unit: np.ndarray) -> bytes:
    """The int8 form of a unit embedding (x127), as committed to in signed results.

    Fixed scale rather than the model's output scale, so the bytes do not
    depend on which precision of the embedder produced the vector.
    """
    q: np.ndarray = np.clip(np.rint(unit * 127.0), -127, 127).astype(np.int8)
    return q.tobytes()
