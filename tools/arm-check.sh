#!/usr/bin/env bash
# The arm64 package on an arm64 Debian root, emulated (qemu-user-static + binfmt_misc, Debian's packages):
#   SUITE=bookworm|trixie tools/arm-check.sh [PACKAGE_arm64.deb]
#                                               (default: the suite's build/deb/edge-agent_*+debNN_arm64.deb,
#                                               built if missing; SUITE defaults to bookworm)
#   SHORT=1 tools/arm-check.sh                  only the install and one match (for CI when time is short)
#   PHOTOS=20 tools/arm-check.sh                compare on the first 20 deepface photos only (default: all)
# trixie's ai-edge-litert needs qemu >= 8 (bookworm's 7.2 crashes in it): on a bookworm box run
# tools/arm-qemu.sh once (qemu 10 from bookworm-backports). The qemu that ran the root is printed.
# 1. debootstrap --arch=arm64 --variant=minbase $SUITE into build/arm-check-$SUITE/root;
# 2. apt-get install ./edge-agent_*_arm64.deb (aarch64 wheels: tflite-runtime 2.14 and numpy 1.x on bookworm's
#    Python 3.11, ai-edge-litert and numpy 2 on trixie's 3.13; OpenCV, gRPC);
# 3. as the service user: edge-agent match and edge-agent verify (a clip rendered here from a shared photo);
# 4. tools/arm_check.py: per photo, cosine between the arm64 and this checkout's x86_64 embedding,
#    decisions on every deepface pair; stage timings inside the root are EMULATED, not Pi figures.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
suite=${SUITE:-bookworm}
export SUITE=$suite
work=$repo/build/arm-check-$suite
root=$work/root
faces=${EDGE_AGENT_DATA:-$repo/../shared/data}/faces/deepface
deb=${1:-}
py=${PYTHON:-$repo/.venv/bin/python}
bin=$(dirname "$py")
# The emulated CPU: a Raspberry Pi 4's Cortex-A72 unless ARM_CPU names another (cortex-a76: a Pi 5).
# Not qemu's default "max": on its SME (no Pi has it) ai-edge-litert 2.3 takes another code path and the
# embeddings move away from x86's (img1/img2 similarity 0.5909 against 0.7137; max,sme=off: 0.7137).
export QEMU_CPU=${ARM_CPU:-cortex-a72}
t0=$SECONDS
step() { printf '\n== [%4ds] %s\n' $((SECONDS - t0)) "$*"; }
fail() { echo "arm-check: FAIL: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || fail "run as root (debootstrap, chroot)"
[ -f "$faces/master.csv" ] || fail "shared photos not found in $faces (set EDGE_AGENT_DATA)"
command -v qemu-aarch64-static >/dev/null || fail "apt-get install qemu-user-static binfmt-support debootstrap"
# shellcheck source=tools/deb-root.sh
. tools/deb-root.sh
suffix=$(deb_suffix) || fail "SUITE=$suite"
if [ -z "$deb" ]; then
    deb=$(ls -t build/deb/edge-agent_*"${suffix}"_arm64.deb 2>/dev/null | head -1 || true)
    if [ -z "$deb" ]; then step "building the $suite arm64 package"; tools/deb-build.sh arm64; fi
    deb=$(ls -t build/deb/edge-agent_*"${suffix}"_arm64.deb | head -1)
fi
cleanup() { cleanup_root; rm -rf "$root/tmp/photos" "$work/customer.avi"; }
trap cleanup EXIT

step "debootstrap $suite (arm64, minbase, emulated) from $(apt_mirror)"
[ "${REUSE_ROOT:-0}" = 1 ] || remove_root "$work"
mkdir -p "$work"
make_root arm64 "$root" "$work/debootstrap.log" || fail "debootstrap"
in_root uname -m
# binfmt_misc runs the root's binaries: ask that qemu its version (QEMU_VERSION=1 makes it print and exit).
qemu=$(in_root env QEMU_VERSION=1 /bin/true 2>&1 | head -1)
echo "emulator: ${qemu:-unknown}, QEMU_CPU=$QEMU_CPU (installed: $(qemu-aarch64-static --version | head -1))"
major=$(sed -n 's/.*version \([0-9]*\)\..*/\1/p' <<< "$qemu")
if [ "$suite" != bookworm ] && [ "${major:-0}" -lt 8 ]; then
    fail "qemu ${major:-?} runs the root: ai-edge-litert crashes under qemu < 8; run tools/arm-qemu.sh"
fi

step "apt-get install ./$(basename "$deb") (emulated)"
# No byte-compilation in the emulated root (debian/postinst): most of the install time, no effect on results.
EDGE_AGENT_NO_COMPILE=${ARM_NO_COMPILE-1} install_deb "$root" "$deb" "$work/install.log" || fail "install"
in_root dpkg -s edge-agent | grep -E '^(Version|Architecture):'

mkdir -p "$root/tmp/photos"
cp "$faces/img1.jpg" "$faces/img2.jpg" "$root/tmp/photos/"   # removed on exit
chmod -R a+rX "$root/tmp/photos"
step "edge-agent match as the service user (emulated timings)"
in_root runuser -u edge-agent -- edge-agent match /tmp/photos/img1.jpg /tmp/photos/img2.jpg --json \
    > "$work/match.json" || fail "img1/img2 do not match on arm64"
"$py" -c "import json, sys; d = json.load(open(sys.argv[1])); print(d['decision'], d['similarity'], d['runtime'], \
'EMULATED timings_ms', d['timings_ms'])" "$work/match.json"
if [ "${SHORT:-0}" = 1 ]; then step "arm-check (short) passed in $((SECONDS - t0)) s"; exit 0; fi

step "edge-agent verify on a clip rendered (x86) from img2, reference img1 (emulated)"
"$bin/edge-agent" simulate "$faces/img2.jpg" --seed 3 --out "$root/tmp/photos/customer.avi" > /dev/null
chmod a+r "$root/tmp/photos/customer.avi"
in_root runuser -u edge-agent -- edge-agent verify --reference /tmp/photos/img1.jpg \
    --video /tmp/photos/customer.avi --seed 3 --json > "$work/verify.json" || fail "verify did not pass on arm64"
"$py" -c "import json, sys; d = json.load(open(sys.argv[1])); print(d['decision'], d['liveness'], d['similarity'], \
'EMULATED ms/frame', d['ms_per_frame'])" "$work/verify.json"
"$bin/edge-agent" verify --reference "$faces/img1.jpg" --video "$root/tmp/photos/customer.avi" --seed 3 \
    --json > "$work/verify-x86.json" || fail "verify did not pass on x86"
"$py" -c "import json, sys; a, b = (json.load(open(p)) for p in sys.argv[1:]); \
print('x86_64', b['decision'], b['liveness'], b['similarity']); \
assert (a['decision'], a['liveness']) == (b['decision'], b['liveness']), 'arm64 and x86_64 decide differently'" \
    "$work/verify.json" "$work/verify-x86.json"

step "embeddings and decisions: arm64 (emulated) against x86_64 on every deepface photo"
"$py" tools/arm_check.py compare --faces "$faces" --arm-root "$root" --limit "${PHOTOS:-0}" | tee "$work/report.txt"
grep -q "arm-check: PASS" "$work/report.txt" || fail "embeddings or decisions differ"
step "arm-check passed in $((SECONDS - t0)) s"
