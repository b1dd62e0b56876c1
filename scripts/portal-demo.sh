#!/usr/bin/env bash
# scripts/portal-demo.sh [--port P] — try the login portal in a minute.
#
# Starts, on loopback only: three sessiond nodes (scripts/cluster.sh),
# a small demo app (scripts/demoapp) and nginx with the shipped
# docs/deploy/nginx.conf (its example addresses swapped for these), then
# creates a user and prints
#
#   url: http://127.0.0.1:P/
#   user: demo
#   password: …
#
# on lines of their own. Open the URL in a browser: the app sends you to
# the portal, you sign in, and you are back on the app, which shows your
# login; /auth/account lists your sessions. Runs until interrupted
# (Ctrl-C), then stops everything it started and deletes its files.
#
# Ports: nginx P (default 8080), the app P+1, the nodes' API P+2..P+4,
# Raft P+5..P+7, metrics P+8..P+10. Needs go, curl and nginx.
# DEMO_NODE_ARGS adds flags to every node (the test passes cheap hashing).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
PORT=8080
while (($#)); do
	case $1 in
	--port)
		PORT=${2:?--port needs a number}
		shift 2
		;;
	--port=*)
		PORT=${1#--port=}
		shift
		;;
	*)
		echo "usage: scripts/portal-demo.sh [--port P]" >&2
		exit 2
		;;
	esac
done
[[ $PORT =~ ^[0-9]+$ ]] && ((PORT > 0 && PORT + 10 < 65536)) || {
	echo "portal-demo.sh: --port must be a port number with ten free ones above it" >&2
	exit 2
}
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
for need in go curl "$NGINX"; do
	command -v "$need" >/dev/null || {
		echo "portal-demo.sh: $need is needed (apt-get install nginx curl; Go from go.dev)" >&2
		exit 1
	}
done

HOST=127.0.0.1
APP=$((PORT + 1))
DIR=$(mktemp -d "${TMPDIR:-/tmp}/sessiond-portal-demo.XXXXXX")
export CLUSTER_DIR=$DIR/cluster CLUSTER_HOST=$HOST CLUSTER_API_PORT=$((PORT + 2)) \
	CLUSTER_RAFT_PORT=$((PORT + 5)) CLUSTER_METRICS_PORT=$((PORT + 8)) \
	CLUSTER_ARGS="--trusted-proxies $HOST/32 ${DEMO_NODE_ARGS:-}"
unset SESSIOND_ADMIN_PASSWORD
pids=()

cleanup() {
	trap - INT TERM EXIT
	local p
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	bash scripts/cluster.sh stop >/dev/null 2>&1 || true
	rm -rf "$DIR"
	echo "portal demo stopped"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bash scripts/cluster.sh start >"$DIR/cluster.out" 2>&1 || {
	cat "$DIR/cluster.out" >&2
	exit 1
}
api=http://$HOST:$CLUSTER_API_PORT

# The demo user, created by the first admin through the API.
password=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
admin_token=$(curl -fsS "$api/v1/login" -H 'Content-Type: application/json' \
	--data-binary @- <<<"{\"login\":\"admin\",\"password\":\"$(cat "$CLUSTER_DIR/admin-password")\"}" |
	sed -n 's/.*"token":"\([0-9a-f]*\)".*/\1/p')
[[ -n $admin_token ]] || {
	echo "portal-demo.sh: the admin could not log in" >&2
	exit 1
}
curl -fsS -o /dev/null "$api/v1/users" -H "Authorization: Bearer $admin_token" -H 'Content-Type: application/json' \
	--data-binary @- <<<"{\"login\":\"demo\",\"password\":\"$password\",\"name\":\"Demo User\"}"
curl -fsS -o /dev/null -X POST "$api/v1/logout" -H "Authorization: Bearer $admin_token"

# The demo app.
go build -o "$DIR/demoapp" ./scripts/demoapp
"$DIR/demoapp" --addr "$HOST:$APP" >"$DIR/demoapp.log" 2>&1 &
pids+=($!)

# nginx with the shipped configuration, addresses swapped.
mkdir -p "$DIR/nginx/tmp"
sed -e "s/10\.0\.0\.11:8080/$HOST:$((PORT + 2))/; s/10\.0\.0\.12:8080/$HOST:$((PORT + 3))/; s/10\.0\.0\.13:8080/$HOST:$((PORT + 4))/" \
	-e "s/127\.0\.0\.1:3000/$HOST:$APP/; s/listen 80;/listen $HOST:$PORT;/" \
	-e 's|^http {$|http {\n    access_log off;\n    client_body_temp_path tmp/body;\n    proxy_temp_path tmp/proxy;\n    fastcgi_temp_path tmp/fastcgi;\n    uwsgi_temp_path tmp/uwsgi;\n    scgi_temp_path tmp/scgi;|' \
	docs/deploy/nginx.conf >"$DIR/nginx/nginx.conf"
global="daemon off; pid nginx.pid;"
[[ $(id -u) == 0 ]] && global+=" user root;"
"$NGINX" -p "$DIR/nginx" -c nginx.conf -e "$DIR/nginx/error.log" -g "$global" &
pids+=($!)

deadline=$((SECONDS + 30))
until curl -s -o /dev/null "http://$HOST:$PORT/auth/"; do
	((SECONDS < deadline)) || {
		cat "$DIR/nginx/error.log" >&2
		echo "portal-demo.sh: nginx did not start" >&2
		exit 1
	}
	sleep 0.2
done

cat <<EOF
portal demo running (Ctrl-C stops it and deletes $DIR)
url: http://$HOST:$PORT/
user: demo
password: $password
EOF
# Wait until interrupted (or until nginx or the app exits).
wait -n "${pids[@]}" || true
