#!/usr/bin/env bash
# scripts/cluster.sh start|stop|status|clean — three sessiond nodes on loopback.
#
#   start   build the binary, start node1 (bootstraps, creates the admin) and
#           node2, node3 (--join node1), wait until all three are ready.
#           A stopped cluster is started again from its data.
#   stop    SIGTERM every node, wait for it, SIGKILL what is left after 20 s.
#   restart N  stop node N (1-3) the same way, start it again from its data,
#           wait until it is ready: a rolling restart or upgrade, one node.
#   status  `sessiond status` against the three nodes.
#   clean   stop, then delete scripts/.cluster (data, logs, key, password).
#
# Everything lives in scripts/.cluster/ (gitignored): the binary, nodeN/
# (data), nodeN.log, nodeN.pid, cluster-key and admin-password (0600).
# Settings, from the environment:
#   SESSIOND_ADMIN_PASSWORD  first admin's password (default: generated once)
#   CLUSTER_HOST             127.0.0.1
#   CLUSTER_API_PORT         8081  (node N listens on CLUSTER_API_PORT+N-1)
#   CLUSTER_RAFT_PORT        8301  (likewise)
#   CLUSTER_METRICS_PORT     9091  (likewise: --metrics-addr, GET /metrics;
#                            the API port serves no metrics)
#   CLUSTER_ARGS             extra flags for every node, e.g.
#                            "--hash-memory 64 --hash-time 1" for benchmarks
#   CLUSTER_TIMEOUT          seconds to wait for readiness (60)
#   CLUSTER_DIR              scripts/.cluster
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
DIR=${CLUSTER_DIR:-$ROOT/scripts/.cluster}
BIN=$DIR/sessiond
HOST=${CLUSTER_HOST:-127.0.0.1}
API_PORT=${CLUSTER_API_PORT:-8081}
RAFT_PORT=${CLUSTER_RAFT_PORT:-8301}
METRICS_PORT=${CLUSTER_METRICS_PORT:-9091}
TIMEOUT=${CLUSTER_TIMEOUT:-60}
NODES=(1 2 3)

api_url() { echo "http://$HOST:$((API_PORT + $1 - 1))"; }
pidfile() { echo "$DIR/node$1.pid"; }

alive() {
	local f
	f=$(pidfile "$1")
	[[ -f $f ]] && kill -0 "$(cat "$f")" 2>/dev/null
}

die() {
	echo "cluster.sh: $*" >&2
	exit 1
}

random_hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }

build() {
	echo "building $BIN"
	go build -o "$BIN" ./cmd/sessiond
}

# secrets makes the cluster key once, and takes the admin password from
# SESSIOND_ADMIN_PASSWORD, else from an earlier start, else generates one.
secrets() {
	umask 077
	[[ -s $DIR/cluster-key ]] || random_hex 32 >"$DIR/cluster-key"
	if [[ -n ${SESSIOND_ADMIN_PASSWORD:-} ]]; then
		printf '%s' "$SESSIOND_ADMIN_PASSWORD" >"$DIR/admin-password"
	elif [[ ! -s $DIR/admin-password ]]; then
		random_hex 12 >"$DIR/admin-password"
	fi
}

start_node() {
	local i=$1
	shift
	local api raft metrics
	api=$((API_PORT + i - 1))
	raft=$((RAFT_PORT + i - 1))
	metrics=$((METRICS_PORT + i - 1))
	local env=(env -u SESSIOND_ADMIN_PASSWORD -u SESSIOND_CLUSTER_KEY
		"SESSIOND_CLUSTER_KEY_FILE=$DIR/cluster-key")
	if [[ $i == 1 ]]; then
		env+=("SESSIOND_ADMIN_PASSWORD_FILE=$DIR/admin-password")
	fi
	# shellcheck disable=SC2086 # CLUSTER_ARGS is a list of flags
	nohup "${env[@]}" "$BIN" serve --node-id "node$i" --data-dir "$DIR/node$i" \
		--api-addr "$HOST:$api" --raft-addr "$HOST:$raft" --metrics-addr "$HOST:$metrics" "$@" ${CLUSTER_ARGS:-} \
		>>"$DIR/node$i.log" 2>&1 </dev/null &
	echo $! >"$(pidfile "$i")"
	echo "node$i: pid $!, api $(api_url "$i"), raft $HOST:$raft, metrics http://$HOST:$metrics/metrics, log $DIR/node$i.log"
}

# wait_ready polls /readyz of the given nodes until each answers 200.
wait_ready() {
	local deadline=$((SECONDS + TIMEOUT)) i
	for i in "$@"; do
		until curl -fsS -o /dev/null --max-time 2 "$(api_url "$i")/readyz" 2>/dev/null; do
			if ! alive "$i"; then
				tail -n 30 "$DIR/node$i.log" >&2 || true
				die "node$i exited"
			fi
			if ((SECONDS >= deadline)); then
				tail -n 30 "$DIR/node$i.log" >&2 || true
				die "node$i not ready within ${TIMEOUT}s"
			fi
			sleep 0.2
		done
		echo "node$i ready"
	done
}

# wait_voters polls the membership until all three nodes vote: a joined
# node enters as a non-voter and the leader promotes it once caught up.
wait_voters() {
	local deadline=$((SECONDS + TIMEOUT)) n
	while :; do
		n=$(SESSIOND_CLUSTER_KEY_FILE=$DIR/cluster-key "$BIN" status --json --addr "$(api_url 1)" 2>/dev/null |
			grep -o '"suffrage": *"Voter"' | wc -l) || n=0
		((n >= ${#NODES[@]})) && return 0
		((SECONDS >= deadline)) && die "only $n of ${#NODES[@]} nodes are voters after ${TIMEOUT}s"
		sleep 0.2
	done
}

cmd_start() {
	command -v curl >/dev/null || die "curl is needed"
	for i in "${NODES[@]}"; do
		alive "$i" && die "node$i is running already (scripts/cluster.sh stop first)"
	done
	mkdir -p "$DIR"
	chmod 700 "$DIR"
	build
	secrets
	local fresh=0
	[[ -d $DIR/node1 ]] || fresh=1
	start_node 1
	# A new cluster: node1 must lead before the others can join it. A
	# restarted one needs a quorum before anyone is ready: start all.
	((fresh)) && wait_ready 1
	start_node 2 --join "$(api_url 1)"
	start_node 3 --join "$(api_url 1)"
	wait_ready "${NODES[@]}"
	wait_voters
	cat <<EOF

cluster ready: $(api_url 1) $(api_url 2) $(api_url 3)
admin login: admin, password: $(cat "$DIR/admin-password")   (in $DIR/admin-password)

  scripts/cluster.sh status
  scripts/smoke.sh $(api_url 2)
  scripts/cluster.sh stop
EOF
}

cmd_stop() {
	stop_nodes "${NODES[@]}"
	rm -f "$DIR"/node*.pid
}

# stop_nodes SIGTERMs the given nodes, waits for each, SIGKILLs after 20 s.
stop_nodes() {
	local i pids=()
	for i in "$@"; do
		if alive "$i"; then
			kill -TERM "$(cat "$(pidfile "$i")")"
			pids+=("$i")
		fi
	done
	for i in "${pids[@]}"; do
		local deadline=$((SECONDS + 20))
		while alive "$i" && ((SECONDS < deadline)); do sleep 0.1; done
		if alive "$i"; then
			echo "node$i did not stop in 20 s: SIGKILL" >&2
			kill -KILL "$(cat "$(pidfile "$i")")" || true
		fi
		echo "node$i stopped"
	done
}

cmd_restart() {
	local i=${1:-}
	[[ $i =~ ^[1-3]$ ]] || die "restart needs a node number: 1, 2 or 3"
	[[ -d $DIR/node$i ]] || die "node$i has no data yet: scripts/cluster.sh start first"
	[[ -x $BIN ]] || build
	stop_nodes "$i"
	rm -f "$(pidfile "$i")"
	start_node "$i"
	wait_ready "$i"
}

cmd_status() {
	[[ -x $BIN ]] || build
	SESSIOND_CLUSTER_KEY_FILE=$DIR/cluster-key "$BIN" status \
		--addr "$(api_url 1),$(api_url 2),$(api_url 3)" "$@"
}

case ${1:-} in
start) cmd_start ;;
stop) cmd_stop ;;
restart)
	shift
	cmd_restart "$@"
	;;
status)
	shift
	cmd_status "$@"
	;;
clean)
	cmd_stop
	rm -rf "$DIR"
	echo "removed $DIR"
	;;
*)
	echo "usage: scripts/cluster.sh start|stop|restart N|status [--json]|clean" >&2
	exit 2
	;;
esac
