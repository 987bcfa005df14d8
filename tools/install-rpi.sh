#!/usr/bin/env bash
# Install edge-agent on Raspberry Pi OS (64-bit, trixie or bookworm) as the Debian package (docs/install.md):
#   sudo tools/install-rpi.sh PACKAGE.deb    # install or upgrade a package built by `make deb` (a release file)
#   sudo tools/install-rpi.sh                # for developers: build the package for this machine and its suite
#                                            # from this checkout, then install it (a store device gets the
#                                            # release file instead: docs/technician-guide.md)
#   DRY_RUN=1 tools/install-rpi.sh [...]     # print what would be done
# The package brings the user and groups, the state and config folders, the unit (enabled, not started:
# provision first) and the Python dependencies; picamera2 and libcamera come from Raspberry Pi OS.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
run() { if [ "${DRY_RUN:-0}" = 1 ]; then echo "+ $*"; else "$@"; fi; }

if [ "${DRY_RUN:-0}" != 1 ] && [ "$(id -u)" != 0 ]; then
    echo "run as root (sudo)" >&2
    exit 1
fi
arch=$(dpkg --print-architecture 2>/dev/null || echo arm64)
suite=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-bookworm}")
deb=${1:-}

run apt-get update
run apt-get install -y python3-picamera2 python3-libcamera   # the Pi camera stack (not on PyPI)
# the kiosk's pages (edge-agent kiosk): a CJK font so Chinese renders as glyphs, espeak-ng for spoken prompts
run apt-get install -y --no-install-recommends fonts-noto-cjk espeak-ng
if [ -z "$deb" ]; then
    run apt-get install -y --no-install-recommends debhelper dpkg-dev python3-venv
    run env SUITE="$suite" LINTIAN=0 "$SRC/tools/deb-build.sh" "$arch"
    if [ "${DRY_RUN:-0}" = 1 ]; then
        deb=$SRC/build/deb/edge-agent_VERSION_$arch.deb
    else
        deb=$(ls -t "$SRC"/build/deb/edge-agent_*_"$arch".deb | head -1)
    fi
fi
run apt-get install -y "$(realpath -m "$deb")"
echo "installed; next: copy the carrier CA and release keys, sudo -u edge-agent edge-agent provision ..., then" \
     "systemctl start edge-agent edge-agent-kiosk (docs/install.md, docs/technician-guide.md)"
