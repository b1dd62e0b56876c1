#!/usr/bin/env bash
# scripts/fuzz.sh — runs every fuzz target of the repository, one after
# another, each for the given time or number of executions
# (docs/RELIABILITY.md, "Fuzz targets").
#
#   scripts/fuzz.sh            each target 3000 executions (what CI runs)
#   scripts/fuzz.sh 5s         each target 5 s
#   scripts/fuzz.sh 10m        the 10-minute runs
#   scripts/fuzz.sh 10m -parallel 1 FuzzDecode FuzzTokenHeaders
#                              only these targets, one worker each
#
# `go test -fuzz` takes one target of one package per invocation, so the
# list below names each with its package. A crash leaves its input under
# the package's testdata/fuzz/<target>/ and fails the script.
#
# Go 1.26's fuzz coordinator can fail a timed run with a bare "context
# deadline exceeded" when -fuzztime ends while a worker is busy on a
# loaded machine (golang/go#75804, fixed in Go 1.27). A real finding
# always writes its input ("Failing input written to ..."); a failure
# without one is that race, and the target is run once more. CI uses an
# execution count, which has no deadline to race.
set -euo pipefail
cd "$(dirname "$0")/.."

time=${1:-3000x}
[[ $# -gt 0 ]] && shift
extra=()
if [[ ${1:-} == -parallel ]]; then
	extra=(-parallel "$2")
	shift 2
fi

targets=(
	fsm:FuzzDecode
	fsm:FuzzReadSnapshot
	scripts/faults:FuzzApplyCommands
	api:FuzzNativeLoginBody
	api:FuzzOdooLoginParams
	api:FuzzJWTLoginBody
	api:FuzzKnoxLoginBody
	api:FuzzTokenHeaders
)

want=("$@")
ran=0
for t in "${targets[@]}"; do
	pkg=${t%%:*} name=${t#*:}
	if ((${#want[@]})) && [[ " ${want[*]} " != *" $name "* ]]; then
		continue
	fi
	echo "--- $name ($pkg, $time)"
	start=$(date +%s)
	log=$(mktemp)
	for attempt in 1 2; do
		if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$time" ${extra[@]+"${extra[@]}"} "./$pkg/" >"$log" 2>&1; then
			break
		fi
		if [[ $attempt == 1 ]] && grep -q 'context deadline exceeded' "$log" && ! grep -q 'Failing input written' "$log"; then
			echo "    $name: the fuzz coordinator's deadline race (golang/go#75804), no input found; once more"
			continue
		fi
		cat "$log"
		rm -f "$log"
		echo "fuzz.sh: $name failed; a failing input is under ./$pkg/testdata/fuzz/$name/ if one was found" >&2
		exit 1
	done
	execs=$(grep -o 'execs: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
	rm -f "$log"
	echo "    $name: no failure in $(( $(date +%s) - start )) s, ${execs:-?} executions"
	ran=$((ran + 1))
done
((ran)) || { echo "fuzz.sh: no target matched ${want[*]}" >&2; exit 2; }
