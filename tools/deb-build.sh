#!/usr/bin/env bash
# Build the Debian packages with Debian's tooling (dpkg-buildpackage + debhelper):
#   SUITE=bookworm|trixie tools/deb-build.sh [amd64] [arm64]
#       -> build/deb/edge-agent_<version>+deb12_<arch>.deb (bookworm) or ...+deb13_<arch>.deb (trixie), then lintian
# One build box (bookworm or trixie, x86_64) makes all four: the suite decides the Python the package runs
# with (3.11 / 3.13) and the wheels staged for it (tools/deb-python.sh), not the box.
# Each build runs in a clean copy of this tree under build/deb/ (no .venv, no generated code),
# so the checkout stays clean and what is packaged is what a fresh clone would give. The edge_agent wheel
# is built once per run and the downloaded wheels are cached in build/deb/cache (reused by later runs).
# DEB_VERSION overrides the Debian revision's base (default: pyproject's version + "-1"); LINTIAN=0 skips lintian.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$root/build/deb
suite=${SUITE:-bookworm}
case $suite in
    bookworm) suffix=+deb12 ;;
    trixie) suffix=+deb13 ;;
    *) echo "tools/deb-build.sh: SUITE=$suite: bookworm or trixie" >&2; exit 2 ;;
esac
version=${DEB_VERSION:-$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)-1}$suffix
archs=("$@")
[ ${#archs[@]} -gt 0 ] || archs=(amd64 arm64)

# Build dependencies first, with the command that installs what is missing (not "dh: No such file").
missing=()
needs=(dpkg-buildpackage:dpkg-dev dh:debhelper)
[ "${LINTIAN:-1}" = 0 ] || needs+=(lintian:lintian)
for need in "${needs[@]}"; do
    command -v "${need%%:*}" >/dev/null || missing+=("${need#*:}")
done
[ -x /usr/bin/python3 ] || missing+=(python3)
/usr/bin/python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
    echo "tools/deb-build.sh: missing build dependencies: ${missing[*]}" >&2
    echo "install them with: sudo apt-get install ${missing[*]}" >&2
    exit 1
fi

mkdir -p "$out/cache"
export UV_CACHE_DIR=$out/cache/uv
tree=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
copy_tree() {  # copy_tree DEST: this tree without what a fresh clone would not have
    mkdir -p "$1"
    tar -C "$root" --exclude=./.git --exclude='./.venv*' --exclude=./build --exclude=./dist \
        --exclude='*.egg-info' --exclude=__pycache__ --exclude='./.*_cache' --exclude=./bench/results \
        --exclude=./edge_agent/_proto --exclude=./edge_agent/models --exclude=./debian/python \
        --exclude=./debian/python-build -cf - . | tar -C "$1" -xf -
}
# The edge_agent wheel (pure Python + models) is the same for every suite and architecture: built once per
# content of the tree (the sha256 of what copy_tree copies), kept in build/deb/cache/wheel-<sha256>, so
# `make deb SUITE=trixie` after `SUITE=bookworm` (CI builds both) reuses it while nothing changed.
started=$(date +%s)
key=$(tar -C "$root" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --exclude=./.git \
    --exclude='./.venv*' --exclude=./build --exclude=./dist --exclude='*.egg-info' --exclude=__pycache__ \
    --exclude='./.*_cache' --exclude=./bench/results --exclude=./edge_agent/_proto --exclude=./edge_agent/models \
    --exclude=./debian/python --exclude=./debian/python-build -cf - . | sha256sum | cut -c1-16)
cached=$out/cache/wheel-$key
if ! ls "$cached"/edge_agent-*.whl > /dev/null 2>&1; then
    rm -rf "$out/wheel" "$cached"
    copy_tree "$out/wheel/src"
    /usr/bin/python3 -m venv "$out/wheel/venv"
    "$out/wheel/venv/bin/python" -m pip --disable-pip-version-check wheel --quiet --no-deps -w "$out/wheel" \
        "$out/wheel/src" > "$out/wheel.log" 2>&1 || { tail -30 "$out/wheel.log"; exit 1; }
    mkdir -p "$cached"
    mv "$out"/wheel/edge_agent-*.whl "$cached/"
    rm -rf "$out/wheel"
    echo "built $(basename "$(ls "$cached"/edge_agent-*.whl)") ($(( $(date +%s) - started )) s)"
else
    echo "reusing $(basename "$(ls "$cached"/edge_agent-*.whl)") of this tree ($cached)"
fi
EDGE_AGENT_WHEEL=$(ls "$cached"/edge_agent-*.whl)
export EDGE_AGENT_WHEEL

for arch in "${archs[@]}"; do
    src=$out/src-$suite-$arch/edge-agent-$version
    rm -rf "$out/src-$suite-$arch"
    copy_tree "$src"
    cat > "$src/debian/changelog" <<EOT
edge-agent ($version) $suite; urgency=medium

  * Built from the edge-agent tree $tree for Debian $suite.

 -- edge-agent maintainers <edge-agent@example.com>  $(date -R)
EOT
    started=$(date +%s)
    log=$out/build-$suite-$arch.log
    (cd "$src" && PATH=/usr/sbin:/usr/bin:/sbin:/bin dpkg-buildpackage -us -uc -b -d --host-arch="$arch" \
        > "$log" 2>&1) || { tail -40 "$log"; exit 1; }
    deb=$out/edge-agent_${version}_$arch.deb
    mv "$out/src-$suite-$arch/edge-agent_${version}_$arch.deb" "$deb"
    rm -rf "$out/src-$suite-$arch"
    echo "built $deb ($(du -h "$deb" | cut -f1), $(( $(date +%s) - started )) s)"
    if [ "${LINTIAN:-1}" = 1 ]; then   # minutes on a big package: LINTIAN=0 skips
        started=$(date +%s)
        lintian --fail-on error,warning "$deb"
        echo "lintian clean apart from debian/edge-agent.lintian-overrides ($(( $(date +%s) - started )) s)"
    fi
done
