# Sourced by tools/deb-check.sh and tools/arm-check.sh: a fresh Debian root of $SUITE (bookworm, the default,
# or trixie) with the package in it.
#   make_root ARCH ROOT LOG     debootstrap --variant=minbase $SUITE from apt's configured Debian mirror
#                               (deb.debian.org when none is configured; it carries both suites; arm64 runs
#                               under qemu-user-static through binfmt_misc, both from Debian's packages);
#                               REUSE_ROOT=1 keeps a root a previous run left (development only, not CI)
#   install_deb ROOT DEB LOG    apt-get install ./DEB inside it (dependencies from the mirror)
#   in_root CMD...              run CMD in the root with a clean environment
# Mounts are undone by cleanup_root (call it from an EXIT trap).

mounted=()

# QEMU_CPU (tools/arm-check.sh: the emulated CPU) must survive env -i to reach every emulated process.
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 ${QEMU_CPU:+QEMU_CPU=$QEMU_CPU} "$@"; }

cleanup_root() {
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
    mounted=()
}

# Never rm -rf a root that still has /dev, /proc or /sys bound into it (a previous run killed mid-way).
remove_root() {
    local dir=$1 m
    [ -e "$dir" ] || return 0
    dir=$(realpath "$dir")
    for m in $(awk -v d="$dir/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r); do umount -l "$m"; done
    if awk -v d="$dir/" 'index($2, d) == 1 {found = 1} END {exit !found}' /proc/mounts; then
        echo "still mounted under $dir: not removing it" >&2
        return 1
    fi
    rm -rf "$dir"
}

# The first debian.sources/sources.list URI of Debian itself (ending in /debian, e.g. a local mirror);
# debootstrap's keyring (debian-archive-keyring, bookworm's carries trixie's keys) checks what it fetches.
apt_mirror() {
    local m
    m=$(sed -n 's/^URIs: *\([^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
    [ -n "$m" ] || m=$(awk '$1 == "deb" && $2 ~ /debian$/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
    echo "${m:-http://deb.debian.org/debian}"
}

make_root() {
    local arch=$1 log=$3
    root=$2
    if [ "$arch" != "$(dpkg --print-architecture)" ]; then
        [ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
        [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --enable qemu-aarch64 \
            || { echo "no binfmt for qemu-aarch64: apt-get install qemu-user-static binfmt-support" >&2; return 1; }
    fi
    if [ "${REUSE_ROOT:-0}" = 1 ] && [ -x "$root/usr/bin/apt-get" ]; then
        echo "reusing $root (REUSE_ROOT=1)"
    else
        remove_root "$root"
        mkdir -p "$root"
        debootstrap --variant=minbase --arch="$arch" "${SUITE:-bookworm}" "$root" "$(apt_mirror)" > "$log" 2>&1 \
            || { tail -30 "$log"; echo "debootstrap failed" >&2; return 1; }
    fi
    for fs in proc sys dev; do mount --bind "/$fs" "$root/$fs"; mounted+=("$root/$fs"); done
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"   # nothing starts services in the root
    chmod +x "$root/usr/sbin/policy-rc.d"
}

install_deb() {
    local deb=$2 log=$3
    root=$1
    cp "$deb" "$root/tmp/"
    if in_root dpkg -s edge-agent > /dev/null 2>&1; then   # a reused root: start from no package and no state
        in_root env DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq edge-agent > "$log" 2>&1
    fi
    in_root apt-get update -qq
    in_root env DEBIAN_FRONTEND=noninteractive EDGE_AGENT_NO_COMPILE="${EDGE_AGENT_NO_COMPILE:-}" \
        apt-get install -y -qq "/tmp/$(basename "$deb")" > "$log" 2>&1 \
        || { tail -30 "$log"; echo "apt-get install failed" >&2; return 1; }
    rm -f "$root/tmp/$(basename "$deb")"
}

# The version suffix tools/deb-build.sh gives a suite's packages (+deb12, +deb13).
deb_suffix() {
    case ${SUITE:-bookworm} in
        bookworm) echo +deb12 ;;
        trixie) echo +deb13 ;;
        *) echo "SUITE=${SUITE}: bookworm or trixie" >&2; return 1 ;;
    esac
}
