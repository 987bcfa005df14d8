"""Read the XML that dlib's ``net_to_xml`` writes into a plain list of layers.

dlib lists a network from the loss layer down to the input layer; we reverse
it so the list reads in execution order. Parameters come back as numpy arrays
in dlib's own layout; turning them into another framework's layout is the
caller's job (see ``dlib_to_tflite.py``). Build-time only: nothing on the
device imports this.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

_LAYER = re.compile(r"<layer idx='(\d+)' type='(\w+)'(?: id='(\d+)')?\s*/?>(.*?)(?=<layer idx=|</net>)", re.S)
_BODY = re.compile(r"<(\w+)([^>]*?)(/?)>(.*)", re.S)
_ATTR = re.compile(r"(\w+)='([^']*)'")


@dataclass
class Layer:
    """One dlib layer: its kind (``con``, ``relu``, ``tag``...), attributes and parameters."""

    idx: int
    kind: str
    attrs: dict[str, str] = field(default_factory=dict)
    params: np.ndarray | None = None


def _parse_body(idx: int, body: str) -> Layer:
    m = _BODY.search(body)
    if m is None:
        raise ValueError(f"layer {idx}: no element inside")
    kind, attr_text, self_closing, rest = m.groups()
    attrs = dict(_ATTR.findall(attr_text))
    params = None
    if not self_closing:
        end = rest.find(f"</{kind}>")
        if end < 0:
            raise ValueError(f"layer {idx}: <{kind}> is not closed")
        values = rest[:end].split()
        params = np.array(values, dtype=np.float32) if values else None
    return Layer(idx, kind, attrs, params)


def read_layers(path: Path) -> list[Layer]:
    """Parse ``path`` and return its layers from input to loss."""
    text = path.read_text()
    layers: list[Layer] = []
    for m in _LAYER.finditer(text):
        idx, ltype, ident, body = int(m.group(1)), m.group(2), m.group(3), m.group(4)
        if ltype in ("tag", "skip"):
            layers.append(Layer(idx, ltype, {"id": ident or ""}))
        else:
            layers.append(_parse_body(idx, body))
    if not layers or layers[0].idx != 0:
        raise ValueError(f"{path}: not a dlib net_to_xml file")
    layers.sort(key=lambda layer: -layer.idx)
    return layers
