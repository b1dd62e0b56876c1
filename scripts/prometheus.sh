#!/usr/bin/env bash
# scripts/prometheus.sh — scrape a 3-node loopback cluster with a real
# Prometheus server (Debian's `prometheus` package) and check that every
# target is up and the sessiond series arrive. Exits non-zero otherwise.
#
#   scripts/prometheus.sh            start a throwaway cluster (other ports
#                                    than cluster.sh's defaults), scrape, stop
# Settings: PROM_PORT (19090), CLUSTER_API_PORT (18081), CLUSTER_RAFT_PORT
# (18301), CLUSTER_METRICS_PORT (19191: Prometheus scrapes each node's
# --metrics-addr, since the API port serves no metrics), PROM_TIMEOUT
# seconds (90). Installs prometheus with apt-get when
# it is missing and we are root.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
PROM_PORT=${PROM_PORT:-19090}
TIMEOUT=${PROM_TIMEOUT:-90}
export CLUSTER_API_PORT=${CLUSTER_API_PORT:-18081}
export CLUSTER_RAFT_PORT=${CLUSTER_RAFT_PORT:-18301}
export CLUSTER_METRICS_PORT=${CLUSTER_METRICS_PORT:-19191}
work=$(mktemp -d)
export CLUSTER_DIR=$work/cluster
export CLUSTER_ARGS=${CLUSTER_ARGS:---hash-memory 64 --hash-time 1}

if ! command -v prometheus >/dev/null; then
	if [[ $(id -u) == 0 ]]; then
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
	else
		echo "prometheus.sh: prometheus is not installed" >&2
		exit 1
	fi
fi

prom_pid=
cleanup() {
	[[ -n $prom_pid ]] && kill "$prom_pid" 2>/dev/null && wait "$prom_pid" 2>/dev/null || true
	scripts/cluster.sh stop >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

scripts/cluster.sh start >/dev/null

targets=""
for n in 0 1 2; do
	targets+="'127.0.0.1:$((CLUSTER_METRICS_PORT + n))',"
done
cat >"$work/prometheus.yml" <<YML
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: sessiond
    static_configs:
      - targets: [${targets%,}]
rule_files:
  - $ROOT/docs/monitoring/alerts.yml
YML

prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
	--web.listen-address="127.0.0.1:$PROM_PORT" >"$work/prometheus.log" 2>&1 &
prom_pid=$!

api="http://127.0.0.1:$PROM_PORT/api/v1"
deadline=$((SECONDS + TIMEOUT))
while :; do
	up=$(curl -fsS "$api/query?query=sum(up%7Bjob%3D%22sessiond%22%7D)" 2>/dev/null |
		sed -n 's/.*"value":\[[^,]*,"\([0-9]*\)".*/\1/p' || true)
	leaders=$(curl -fsS "$api/query?query=sum(sessiond_cluster_leader)" 2>/dev/null |
		sed -n 's/.*"value":\[[^,]*,"\([0-9]*\)".*/\1/p' || true)
	if [[ $up == 3 && $leaders == 1 ]]; then
		break
	fi
	if ((SECONDS > deadline)); then
		echo "prometheus.sh: targets up=${up:-?} leaders=${leaders:-?} after ${TIMEOUT}s" >&2
		tail -20 "$work/prometheus.log" >&2
		exit 1
	fi
	sleep 1 # polling interval
done
rules=$(curl -fsS "$api/rules" | grep -o '"name":"Sessiond[A-Za-z]*"' | wc -l)
echo "prometheus.sh: 3/3 targets up, exactly one leader, $rules alert rules loaded"
