#!/usr/bin/env bash
# Builds versioned, static release binaries of sessiond and their checksums.
#
#   scripts/release.sh [VERSION]      # default: git describe, else "dev"
#
# Environment: ARCHES (default "amd64 arm64", all linux), OUT (default
# dist). Writes OUT/sessiond-VERSION-linux-ARCH, its software bill of
# materials OUT/sessiond-VERSION-linux-ARCH.cdx.json (CycloneDX, from the
# modules stamped into the binary: scripts/sbom) and OUT/SHA256SUMS of all
# of them (`sha256sum -c SHA256SUMS` verifies). Tag the release first
# (git tag -a vX.Y.Z) and name its commit in CHANGELOG.md. Binaries are built with
# CGO_ENABLED=0, -trimpath and -ldflags "-s -w -X main.version=…
# -X main.commit=… -X main.buildTime=…"; the date is the commit's, so two
# builds of one commit are byte-identical.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

version=${1:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
date=$(git log -1 --format=%cI 2>/dev/null || echo unknown)
out=${OUT:-dist}
arches=${ARCHES:-amd64 arm64}

case $version in
*[!A-Za-z0-9._+-]*) echo "release.sh: version $version: only letters, digits and ._+-" >&2; exit 2 ;;
esac

mkdir -p "$out"
names=()
for arch in $arches; do
	name=sessiond-$version-linux-$arch
	echo "release.sh: building $name"
	CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -trimpath -buildvcs=false \
		-ldflags "-s -w -X main.version=$version -X main.commit=$commit -X main.buildTime=$date" \
		-o "$out/$name" ./cmd/sessiond
	go run ./scripts/sbom "$out/$name" "$version" >"$out/$name.cdx.json"
	names+=("$name" "$name.cdx.json")
done
(cd "$out" && sha256sum "${names[@]}" >SHA256SUMS)
echo "release.sh: ${#names[@]} files (binaries and SBOMs) and SHA256SUMS in $out"
