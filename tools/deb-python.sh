#!/usr/bin/env bash
# Stage edge-agent and its PyPI dependencies for one Debian architecture (Python 3.11, bookworm):
#   tools/deb-python.sh amd64|arm64 OUT
# Builds the wheel from this tree (setup.py's hook adds the gRPC code and the models), then installs it
# with pip's --target/--platform: only binary wheels for the target CPU, so an arm64 tree is staged on
# x86_64 without emulation. Run by debian/rules.
set -euo pipefail

arch=$1 out=$2
case $arch in
    amd64) machine=x86_64 ;;
    arm64) machine=aarch64 ;;
    *) echo "tools/deb-python.sh: unsupported architecture $arch (amd64, arm64)" >&2; exit 2 ;;
esac
scratch=${DEB_PYTHON_SCRATCH:-debian/python-build}
rm -rf "$out" "$scratch"
mkdir -p "$out" "$scratch"
/usr/bin/python3 -m venv "$scratch/venv"   # Debian's python3: the one the package runs with
pip=("$scratch/venv/bin/python" -m pip --disable-pip-version-check)
"${pip[@]}" wheel --quiet --no-deps -w "$scratch/wheel" .
# bookworm has glibc 2.36: any manylinux wheel up to that runs there.
platforms=(--platform "manylinux2014_$machine")
for minor in $(seq 17 36); do platforms+=(--platform "manylinux_2_${minor}_$machine"); done
"${pip[@]}" install --quiet --target "$out" --no-compile --only-binary=:all: \
    --implementation cp --python-version 3.11 --abi cp311 "${platforms[@]}" \
    "$(ls "$scratch"/wheel/edge_agent-*.whl)[kiosk]"   # the kiosk's pages too (Starlette, uvicorn)
rm -rf "$out/bin"   # console scripts with this build's interpreter path; /usr/bin/edge-agent replaces them
# Some wheels ship byte code or mark sources executable: postinst compiles, and only ELF files stay executable.
find "$out" -name __pycache__ -type d -prune -exec rm -rf {} +
find "$out" -type f -perm /111 ! -name '*.so' ! -name '*.so.*' -exec chmod a-x {} +
