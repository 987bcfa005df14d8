#!/usr/bin/env bash
# Install edge-agent on Raspberry Pi OS (Debian bookworm, 64-bit) from this checkout.
#   sudo tools/install-rpi.sh            # install or upgrade in place
#   DRY_RUN=1 tools/install-rpi.sh       # print what would be done
# The venv uses --system-site-packages so that Raspberry Pi OS's python3-picamera2
# (and libcamera bindings, which are not on PyPI) are importable.
set -euo pipefail

PREFIX=${PREFIX:-/opt/edge-agent}
SRC=$(cd "$(dirname "$0")/.." && pwd)
run() { if [ "${DRY_RUN:-0}" = 1 ]; then echo "+ $*"; else "$@"; fi; }

if [ "${DRY_RUN:-0}" != 1 ] && [ "$(id -u)" != 0 ]; then
    echo "run as root (sudo)" >&2
    exit 1
fi

run apt-get update
run apt-get install -y --no-install-recommends python3-venv python3-picamera2 python3-libcamera systemd
# the kiosk's pages (edge-agent kiosk): a CJK font so Chinese renders as glyphs, espeak-ng for spoken prompts
run apt-get install -y --no-install-recommends fonts-noto-cjk espeak-ng
run install -d -m 0755 "$PREFIX"
run cp -a "$SRC/edge_agent" "$SRC/models" "$SRC/proto" "$SRC/tools" "$SRC/pyproject.toml" "$SRC/README.md" "$PREFIX/"
run python3 -m venv --system-site-packages "$PREFIX/.venv"
run "$PREFIX/.venv/bin/pip" install --upgrade pip
# Editable, so the package runs from $PREFIX and finds $PREFIX/models beside it.
run "$PREFIX/.venv/bin/pip" install -e "$PREFIX[codegen,kiosk]"
run "$PREFIX/.venv/bin/python" "$PREFIX/tools/gen_proto.py"
run install -m 0644 "$SRC/systemd/edge-agent.service" /etc/systemd/system/edge-agent.service
run install -m 0644 "$SRC/systemd/edge-agent.sysusers.conf" /usr/lib/sysusers.d/edge-agent.conf
run install -m 0644 "$SRC/systemd/edge-agent.tmpfiles.conf" /usr/lib/tmpfiles.d/edge-agent.conf
run systemd-sysusers
run systemd-tmpfiles --create /usr/lib/tmpfiles.d/edge-agent.conf
run install -d -m 0755 /etc/edge-agent/release-keys
if [ ! -e /etc/edge-agent/config.toml ]; then
    run install -m 0644 "$SRC/systemd/config.toml" /etc/edge-agent/config.toml
fi
run ln -sf "$PREFIX/.venv/bin/edge-agent" /usr/local/bin/edge-agent
run systemctl daemon-reload
echo "installed in $PREFIX; next: copy the carrier CA and release keys, sudo -u edge-agent edge-agent provision ..., then systemctl enable --now edge-agent (docs/technician-guide.md)"
