#!/usr/bin/env python3
"""Print how much of a .tflite graph the runtime's default XNNPACK delegate takes, and in how many partitions.

Why: an int8 model is only fast where XNNPACK runs it. Every operator it
refuses stays on TFLite's reference/optimized kernels and splits the graph
into partitions, each a hand-over between XNNPACK and the interpreter (the
shipped full-int8 SFace file is 8x slower than float16 on tflite-runtime 2.14
for that reason). The interpreter's "Replacing N out of M node(s) ... yielding
K partitions" line is logged at VERBOSE, below what the Python wheels print, so
this script reads the same facts from the graph the delegate left behind:

* each partition XNNPACK claimed is one ``DELEGATE`` node in the interpreter's
  node list (its inputs and outputs are the partition's boundary tensors);
* the original nodes it replaced are still listed; a node belongs to a
  partition when it lies between that ``DELEGATE`` node's outputs and inputs
  (walked backwards through the producers of each tensor).

So ``delegated``/``total``/``partitions`` here are the numbers of that log line,
counted from the delegate's own nodes. Usage::

    python tools/xnnpack_report.py models/sface_2021dec_int8.tflite [more.tflite ...] [--runtime ai-edge-litert]
    python tools/xnnpack_report.py --json ...   # one JSON object per file
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path
from typing import Any


def interpreter_class(runtime: str) -> tuple[Any, str]:
    """The Interpreter class of ``runtime`` (``auto``: tflite-runtime first, as edge_agent.vision.runtime does)."""
    if runtime in ("auto", "tflite-runtime"):
        try:
            from tflite_runtime.interpreter import Interpreter

            return Interpreter, "tflite-runtime"
        except ImportError:
            if runtime != "auto":
                raise
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter, "ai-edge-litert"


def runtime_version(name: str) -> str:
    """Installed version of the runtime wheel, for the report."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "?"


def partitions(ops: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[list[dict[str, Any]]]]:
    """(original nodes, one list of original nodes per DELEGATE node) from the interpreter's node list."""
    originals = [o for o in ops if o["op_name"] != "DELEGATE"]
    delegates = [o for o in ops if o["op_name"] == "DELEGATE"]
    producer: dict[int, dict[str, Any]] = {}
    for node in originals:
        for t in node["outputs"]:
            producer[int(t)] = node
    parts: list[list[dict[str, Any]]] = []
    for d in delegates:
        boundary = {int(t) for t in d["inputs"]}
        seen: dict[int, dict[str, Any]] = {}
        stack = [int(t) for t in d["outputs"]]
        while stack:
            t = stack.pop()
            node = producer.get(t)
            if t in boundary or node is None or node["index"] in seen:
                continue
            seen[node["index"]] = node
            stack.extend(int(i) for i in node["inputs"] if int(i) >= 0)
        parts.append(sorted(seen.values(), key=lambda n: n["index"]))
    return originals, parts


def report(path: Path, runtime: str = "auto", threads: int = 1) -> dict[str, Any]:
    """Delegation facts of one model under the runtime's default delegate (XNNPACK on CPU)."""
    interpreter, name = interpreter_class(runtime)
    it = interpreter(model_path=str(path), num_threads=threads)
    it.allocate_tensors()
    originals, parts = partitions(it._get_ops_details())
    taken = {n["index"] for p in parts for n in p}
    left = collections.Counter(n["op_name"] for n in originals if n["index"] not in taken)
    inp = it.get_input_details()[0]
    return {
        "model": str(path),
        "runtime": f"{name} {runtime_version(name)}",
        "input_dtype": str(inp["dtype"].__name__),
        "total": len(originals),
        "delegated": len(taken),
        "partitions": len(parts),
        "partition_sizes": [len(p) for p in parts],
        "not_delegated": dict(left.most_common()),
        "ops": dict(collections.Counter(n["op_name"] for n in originals).most_common()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", type=Path)
    ap.add_argument("--runtime", choices=("auto", "tflite-runtime", "ai-edge-litert"), default="auto")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", action="store_true", help="one JSON object per model instead of text")
    args = ap.parse_args()
    for path in args.models:
        r = report(path, args.runtime, args.threads)
        if args.json:
            print(json.dumps(r))
            continue
        print(f"{path.name} [{r['runtime']}, input {r['input_dtype']}]: XNNPACK takes {r['delegated']} of "
              f"{r['total']} nodes in {r['partitions']} partition(s) {r['partition_sizes']}")
        if r["not_delegated"]:
            print(f"  left to TFLite kernels: {r['not_delegated']}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
