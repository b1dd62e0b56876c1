#!/usr/bin/env bash
# The developers' fast tier: go vet, gofmt, staticcheck and the short tests
# (no e2e binary, no fault scenarios, no race detector). The full tier is the
# README's test command, which CI runs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "--- go vet"
go vet ./...
echo "--- gofmt"
unformatted=$(gofmt -l .)
if [[ -n $unformatted ]]; then
	echo "not gofmt-ed:" >&2
	echo "$unformatted" >&2
	exit 1
fi
echo "--- staticcheck"
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
echo "--- go test -short"
go test -short -count=1 ./...
