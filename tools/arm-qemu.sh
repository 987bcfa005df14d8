#!/usr/bin/env bash
# A qemu-user new enough for ai-edge-litert's aarch64 wheel (trixie's arm-check), on a bookworm build box:
#   sudo tools/arm-qemu.sh
# bookworm's qemu-user-static 7.2 ends in a segmentation fault when ai-edge-litert 2.3 creates an Interpreter
# (notes of issue 26, docs/arm.md); Debian's bookworm-backports carries qemu 10 built for bookworm. This adds
# that suite from apt's configured Debian mirror (backports are never chosen unless asked for, so nothing
# else on the box changes) and installs qemu-user, qemu-user-binfmt and the qemu-user-static transitional
# package from it, then makes sure binfmt_misc runs aarch64 binaries through it with the F flag (the
# interpreter is opened at registration, so it also works inside a chroot). On trixie or newer the suite's own
# qemu-user is recent enough: nothing is added. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "tools/arm-qemu.sh: run as root (apt-get, binfmt_misc)" >&2; exit 1; }
# shellcheck source=tools/deb-root.sh
. tools/deb-root.sh

qemu_major() { qemu-aarch64-static --version 2>/dev/null | sed -n 's/.*version \([0-9]*\)\..*/\1/p' | head -1; }
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
if [ "$(qemu_major)" -ge 10 ] 2>/dev/null; then
    echo "qemu-aarch64-static is already $(qemu-aarch64-static --version | head -1)"
elif [ "$codename" = bookworm ]; then
    list=/etc/apt/sources.list.d/edge-agent-bookworm-backports.sources
    printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: %s\n' \
        "$(apt_mirror)" /usr/share/keyrings/debian-archive-keyring.gpg > "$list"
    echo "added $list"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t bookworm-backports \
        qemu-user qemu-user-binfmt qemu-user-static binfmt-support
else
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user qemu-user-binfmt binfmt-support
fi

# With the F flag the kernel keeps the interpreter it opened at registration: after an upgrade it still runs
# the old qemu until the format is registered again.
[ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
[ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --disable qemu-aarch64
update-binfmts --enable qemu-aarch64
grep -q '^flags: .*F' /proc/sys/fs/binfmt_misc/qemu-aarch64 \
    || { echo "qemu-aarch64 is registered without the F flag: it will not run inside a chroot" >&2; exit 1; }
echo "binfmt_misc: aarch64 -> $(readlink -f "$(sed -n 's/^interpreter //p' /proc/sys/fs/binfmt_misc/qemu-aarch64)")" \
    "($(qemu-aarch64-static --version | head -1))"
