#!/usr/bin/env python3
"""Generate the protobuf/gRPC Python modules from proto/*.proto into edge_agent/_proto/.

Generated code is never edited or committed; the Makefile runs this after
installing, and tests/test_proto.py checks the generated files are current.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parents[1]
PROTO = ROOT / "proto"
OUT = ROOT / "edge_agent" / "_proto"


def generate(out: Path = OUT) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    (out / "__init__.py").write_text('"""Generated from proto/ by tools/gen_proto.py; do not edit."""\n')
    include = Path(protoc.__file__).parent / "_proto"
    protos = sorted(PROTO.glob("*.proto"))
    args = ["protoc", f"-I{PROTO}", f"-I{include}", f"--python_out={out}", f"--pyi_out={out}",
            f"--grpc_python_out={out}", *map(str, protos)]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    # grpc's generator imports siblings as top-level modules; make them package-relative.
    for grpc_file in out.glob("*_pb2_grpc.py"):
        text = re.sub(r"^import (\w+_pb2) as", r"from . import \1 as", grpc_file.read_text(), flags=re.M)
        grpc_file.write_text(text)
    return sorted(out.glob("*.py*"))


if __name__ == "__main__":
    files = generate(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
    print(f"generated {len(files)} files")
