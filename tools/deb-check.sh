#!/usr/bin/env bash
# The Debian package on a clean Debian bookworm or trixie, as a Raspberry Pi OS device of that suite gets it:
#   SUITE=bookworm|trixie tools/deb-check.sh [PACKAGE.deb]
#                         (default: the suite's build/deb/edge-agent_*+debNN_amd64.deb, built if missing)
# 1. debootstrap --variant=minbase $SUITE into build/deb-check-$SUITE-amd64/root (apt's configured mirror);
# 2. apt-get install ./edge-agent_*.deb (pulls python3, systemd and a CJK font; nothing else by hand);
# 3. as the service user (runuser -u edge-agent), before the service ever ran: provision against a
#    loopback reference carrier, selftest --json (camera SKIP: not a Pi), match on shared photos;
# 4. the daemon as the unit runs it, its camera a rendered clip; a terminal user in group edge-terminal
#    runs a whole verification through the socket (no manual permission step); the kiosk started as its
#    unit says (own user, in edge-terminal) serves the customer page, has Chinese glyphs from the declared
#    font dependency and refuses a request without its credential;
# 5. upgrade to a newer build of the same package: identity, keys, outbox and config survive;
#    remove keeps them; purge deletes them.
# Needs root, debootstrap and the photos in $EDGE_AGENT_DATA (../shared/data). Prints the time per step.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
arch=${ARCH:-amd64}
suite=${SUITE:-bookworm}
export SUITE=$suite
work=$repo/build/deb-check-$suite-$arch
root=$work/root
faces=${EDGE_AGENT_DATA:-$repo/../shared/data}/faces/deepface
deb=${1:-}
t0=$SECONDS
step() { printf '\n== [%4ds] %s\n' $((SECONDS - t0)) "$*"; }
fail() { echo "deb-check: FAIL: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || fail "run as root (debootstrap, chroot)"
[ -f "$faces/img1.jpg" ] || fail "shared photos not found in $faces (set EDGE_AGENT_DATA)"
command -v debootstrap >/dev/null || fail "apt-get install debootstrap"
# shellcheck source=tools/deb-root.sh
. tools/deb-root.sh
suffix=$(deb_suffix) || fail "SUITE=$suite"
if [ -z "$deb" ]; then
    deb=$(ls -t build/deb/edge-agent_*"${suffix}_$arch".deb 2>/dev/null | head -1 || true)
    if [ -z "$deb" ]; then step "building the $suite $arch package"; tools/deb-build.sh "$arch"; fi
    deb=$(ls -t build/deb/edge-agent_*"${suffix}_$arch".deb | head -1)
fi
cleanup() { cleanup_root; rm -rf "$root/tmp/photos" "$root/tmp/check"; }  # photos and the clip made from one
trap cleanup EXIT

step "debootstrap $suite ($arch, minbase) from $(apt_mirror)"
[ "${REUSE_ROOT:-0}" = 1 ] || remove_root "$work"
mkdir -p "$work"
make_root "$arch" "$root" "$work/debootstrap.log" || fail "debootstrap"

step "apt-get install ./$(basename "$deb")"
install_deb "$root" "$deb" "$work/install.log" || fail "install"
in_root dpkg -s edge-agent | grep -E '^(Version|Depends|Recommends):'
in_root python3 --version
test "$(in_root stat -c '%a %U' /var/lib/edge-agent)" = "700 edge-agent" || fail "state folder not 0700 edge-agent"
in_root id edge-agent
in_root getent group edge-terminal >/dev/null || fail "no edge-terminal group"
in_root id edge-kiosk
for unit in edge-agent edge-agent-kiosk; do   # enabled for the next boot by the package, not started
    in_root test -L "/etc/systemd/system/multi-user.target.wants/$unit.service" || fail "$unit.service not enabled"
done
echo "edge-agent.service and edge-agent-kiosk.service enabled (multi-user.target)"

mkdir -p "$root/tmp/photos"
cp "$faces"/img1.jpg "$faces"/img2.jpg "$faces"/img3.jpg "$root/tmp/photos/"  # removed on exit
chmod -R a+rX "$root/tmp/photos"
cp tools/deb-check-inside.sh "$root/tmp/"
in_root bash /tmp/deb-check-inside.sh before-upgrade
cp "$root/tmp/check/deferred-failures" "$work/" 2>/dev/null || rm -f "$work/deferred-failures"

step "upgrade to a newer build of the same package"
rm -rf "$work/repack"
dpkg-deb -R "$deb" "$work/repack"
old=$(sed -n 's/^Version: //p' "$work/repack/DEBIAN/control")
sed -i "s/^Version: .*/Version: $old+upgrade1/" "$work/repack/DEBIAN/control"
dpkg-deb --root-owner-group -Znone -b "$work/repack" "$root/tmp/edge-agent-next.deb" >/dev/null  # local: no compression
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq /tmp/edge-agent-next.deb > "$work/upgrade.log" 2>&1 \
    || { tail -30 "$work/upgrade.log"; fail "upgrade"; }
in_root bash /tmp/deb-check-inside.sh after-upgrade

step "remove keeps the device, purge deletes it"
in_root env DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq edge-agent > "$work/remove.log" 2>&1
in_root test -f /var/lib/edge-agent/device.json || fail "remove deleted the identity"
in_root test -f /etc/edge-agent/config.toml || fail "remove deleted the configuration"
in_root env DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq edge-agent > "$work/purge.log" 2>&1
in_root test ! -e /var/lib/edge-agent || fail "purge left /var/lib/edge-agent"
in_root test ! -e /etc/edge-agent || fail "purge left /etc/edge-agent"
in_root test ! -e /usr/lib/edge-agent || fail "purge left /usr/lib/edge-agent"

if [ -s "$work/deferred-failures" ]; then
    cat "$work/deferred-failures" >&2
    fail "$suite: every other check passed, in $((SECONDS - t0)) s"
fi
step "deb-check ($suite) passed in $((SECONDS - t0)) s"
