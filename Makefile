# Developer tiers. CI (.ci/run) runs more (fuzz, mutants, promtool), but
# `make check` then `make test` is what a change should pass before landing.
#
#   make check   go vet, gofmt, staticcheck, go test -short ./... (no e2e binary,
#                no fault scenarios, no race detector): under 3 minutes
#   make test    the README's test command, the one CI runs (race detector,
#                every package): under 10 minutes on a 2-core machine
#   make faults  the fault suite against real processes (scripts/faults.sh)
#   make bench   the load benchmark (scripts/bench.sh; waits for a quiet machine)

.PHONY: check test faults bench

check:
	scripts/check.sh

test:
	go test -count=1 -race -timeout 25m ./...

faults:
	scripts/faults.sh

bench:
	scripts/bench.sh
