#!/usr/bin/env bash
# Stage edge-agent and its PyPI dependencies for one Debian suite and architecture:
#   tools/deb-python.sh amd64|arm64 OUT [bookworm|trixie]      (run by debian/rules)
#   bookworm: Debian's Python 3.11, glibc 2.36: tflite-runtime 2.14 and numpy 1.x
#   trixie:   Debian's Python 3.13, glibc 2.41: ai-edge-litert and numpy 2 (tflite-runtime stops at 3.11)
# Builds the wheel from this tree (setup.py's hook adds the gRPC code and the models), then installs it
# with uv's --target/--python-version/--python-platform: only binary wheels for the target Python and CPU,
# so an arm64 trixie tree is staged on an x86_64 bookworm box without emulation. uv, not pip: pip judges
# the environment markers (python_version < '3.12' picks tflite-runtime) by the Python it runs on, uv by
# the target's. EDGE_AGENT_WHEEL reuses a wheel built before (tools/deb-build.sh builds it once for all
# packages); UV_CACHE_DIR keeps downloaded wheels between the packages of one run.
set -euo pipefail

arch=$1 out=$2 suite=${3:-bookworm}
case $arch in
    amd64) machine=x86_64 ;;
    arm64) machine=aarch64 ;;
    *) echo "tools/deb-python.sh: unsupported architecture $arch (amd64, arm64)" >&2; exit 2 ;;
esac
# uv knows manylinux tags up to 2_40: trixie's glibc 2.41 runs any wheel built for 2.40 or older.
case $suite in
    bookworm) python=3.11 glibc=2_36 ;;
    trixie) python=3.13 glibc=2_40 ;;
    *) echo "tools/deb-python.sh: unsupported suite $suite (bookworm, trixie)" >&2; exit 2 ;;
esac
scratch=${DEB_PYTHON_SCRATCH:-debian/python-build}
rm -rf "$out" "$scratch"
mkdir -p "$out" "$scratch"
/usr/bin/python3 -m venv "$scratch/venv"
pip=("$scratch/venv/bin/python" -m pip --disable-pip-version-check)
"${pip[@]}" install --quiet uv
wheel=${EDGE_AGENT_WHEEL:-}
if [ -z "$wheel" ]; then
    "${pip[@]}" wheel --quiet --no-deps -w "$scratch/wheel" .
    wheel=$(ls "$scratch"/wheel/edge_agent-*.whl)
fi
# The kiosk's web stack (Starlette, uvicorn) is a default dependency of edge-agent: no extra needed.
"$scratch/venv/bin/uv" pip install --quiet --python "$scratch/venv/bin/python" --target "$out" --no-compile \
    --only-binary :all: --python-version "$python" --python-platform "${machine}-manylinux_$glibc" "$wheel"
rm -rf "$out/bin"   # console scripts with this build's interpreter path; /usr/bin/edge-agent replaces them
# ai-edge-litert (trixie) carries, on x86_64, the host-side tools that compile a model ahead of time for a
# phone's NPU (Qualcomm, MediaTek, Samsung, Google Tensor, OpenVINO): the CPU interpreter never loads them,
# a Pi has none of those NPUs, and their RPATHs are relative to the working directory (lintian:
# relative-library-search-path), a library search no service should have. LiteRT finds no compiler plugin
# without them (ai_edge_litert/environment.py) and runs on the CPU as before.
rm -rf "$out"/ai_edge_litert/vendors/*/compiler "$out/ai_edge_litert/tools/apply_plugin_main"
# Some wheels ship byte code or mark sources executable: postinst compiles, and only ELF files stay executable.
find "$out" -name __pycache__ -type d -prune -exec rm -rf {} +
find "$out" -type f -perm /111 ! -name '*.so' ! -name '*.so.*' -exec chmod a-x {} +
# What was staged, for the build log and for a reviewer: one "name==version" a line.
find "$out" -maxdepth 1 -name '*.dist-info' -printf '%f\n' | sed 's/\.dist-info$//; s/-/==/' | sort
