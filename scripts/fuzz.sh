#!/usr/bin/env bash
# scripts/fuzz.sh — runs every fuzz target of the repository, one after
# another, each for the given time (docs/RELIABILITY.md, "Fuzz targets").
#
#   scripts/fuzz.sh            each target 5 s (what CI runs)
#   scripts/fuzz.sh 10m        the 10-minute runs
#   scripts/fuzz.sh 10m -parallel 1 FuzzDecode FuzzTokenHeaders
#                              only these targets, one worker each
#
# `go test -fuzz` takes one target of one package per invocation, so the
# list below names each with its package. A crash leaves its input under
# the package's testdata/fuzz/<target>/ and fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."

time=${1:-5s}
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
	if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$time" ${extra[@]+"${extra[@]}"} "./$pkg/" >"$log" 2>&1; then
		cat "$log"
		rm -f "$log"
		echo "fuzz.sh: $name failed; its input is under ./$pkg/testdata/fuzz/$name/" >&2
		exit 1
	fi
	execs=$(grep -o 'execs: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
	rm -f "$log"
	echo "    $name: no failure in $(( $(date +%s) - start )) s, ${execs:-?} executions"
	ran=$((ran + 1))
done
((ran)) || { echo "fuzz.sh: no target matched ${want[*]}" >&2; exit 2; }
