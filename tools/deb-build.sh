#!/usr/bin/env bash
# Build the Debian packages with Debian's tooling (dpkg-buildpackage + debhelper):
#   tools/deb-build.sh [amd64] [arm64]      -> build/deb/edge-agent_<version>_<arch>.deb, then lintian
# Each build runs in a clean copy of this tree under build/deb/ (no .venv, no generated code),
# so the checkout stays clean and what is packaged is what a fresh clone would give.
# DEB_VERSION overrides the version (default: pyproject's version + "-1"); LINTIAN=0 skips lintian.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$root/build/deb
version=${DEB_VERSION:-$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)-1}
archs=("$@")
[ ${#archs[@]} -gt 0 ] || archs=(amd64 arm64)
mkdir -p "$out"

for arch in "${archs[@]}"; do
    src=$out/src-$arch/edge-agent-$version
    rm -rf "$out/src-$arch"
    mkdir -p "$src"
    tar -C "$root" --exclude=./.git --exclude='./.venv*' --exclude=./build --exclude=./dist \
        --exclude='*.egg-info' --exclude=__pycache__ --exclude='./.*_cache' --exclude=./bench/results \
        --exclude=./edge_agent/_proto -cf - . | tar -C "$src" -xf -
    cat > "$src/debian/changelog" <<EOT
edge-agent ($version) bookworm; urgency=medium

  * Built from the edge-agent tree $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown).

 -- edge-agent maintainers <edge-agent@example.com>  $(date -R)
EOT
    started=$(date +%s)
    (cd "$src" && PATH=/usr/sbin:/usr/bin:/sbin:/bin dpkg-buildpackage -us -uc -b -d --host-arch="$arch" \
        > "$out/build-$arch.log" 2>&1) || { tail -40 "$out/build-$arch.log"; exit 1; }
    deb=$out/edge-agent_${version}_$arch.deb
    mv "$out/src-$arch/edge-agent_${version}_$arch.deb" "$deb"
    echo "built $deb ($(du -h "$deb" | cut -f1), $(( $(date +%s) - started )) s)"
    if [ "${LINTIAN:-1}" = 1 ] && command -v lintian >/dev/null; then   # minutes on a big package: LINTIAN=0 skips
        started=$(date +%s)
        lintian --fail-on error,warning "$deb"
        echo "lintian clean apart from debian/edge-agent.lintian-overrides ($(( $(date +%s) - started )) s)"
    fi
done
