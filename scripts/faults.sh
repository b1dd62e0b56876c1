#!/usr/bin/env bash
# Runs sessiond's fault suite (scripts/faults) against real processes and
# prints the summary table: operations per kind, faults per kind, checker
# verdicts. Exit status 0 only when every checker passed.
#
#   scripts/faults.sh [-d DURATION] [-s SCENARIOS] [-n NODES] [-- extra driver flags]
#
#   -d  workload time under faults per scenario (Go duration, default 20s)
#   -s  comma-separated scenarios (default: every scenario in turn); "all"
#       is one run drawing a random mix of every fault
#   -n  cluster size (default 3)
#
# Examples:
#   scripts/faults.sh                                  # every scenario, 20s each, 3 nodes
#   scripts/faults.sh -d 20m -s all -n 5 -- -snapshot-wait 4m   # the long run
#   scripts/faults.sh -s kill-leader,pause-leader -d 1m
#   scripts/faults.sh -s all -d 30s                    # every checker examines something from 30s
#   scripts/faults.sh -s slow-follower,partition-kill-clock -d 20s
#
# As root with iptables each node gets its own network namespace (netns
# mode); otherwise nodes run on 127.77.x.y behind a per-link proxy
# (loopback mode). The mode is printed. Failing runs keep their history,
# porcupine's history.html, logs and data dirs; the path is printed.
set -euo pipefail

duration=20s
scenarios=""
nodes=3
while getopts "d:s:n:h" opt; do
	case "$opt" in
	d) duration=$OPTARG ;;
	s) scenarios=$OPTARG ;;
	n) nodes=$OPTARG ;;
	h | *)
		sed -n '2,23p' "$0"
		exit 2
		;;
	esac
done
shift $((OPTIND - 1))

cd "$(dirname "$0")/.."
args=(-duration "$duration" -nodes "$nodes")
if [[ -n "$scenarios" ]]; then
	args+=(-scenarios "$scenarios")
fi
if [[ $EUID -eq 0 ]] && ! command -v iptables >/dev/null; then
	echo "faults.sh: iptables not installed; running in loopback mode (apt-get install -y iptables for netns mode)" >&2
fi
exec go run ./scripts/faults/cmd/faults "${args[@]}" "$@"
