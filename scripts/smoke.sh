#!/usr/bin/env bash
# scripts/smoke.sh [URL] — a smoke test against a running node:
#   login -> whoami (200) -> logout (204) -> whoami (401 invalid_token)
# Exits non-zero on the first answer that differs.
#
# URL defaults to http://127.0.0.1:8081 when scripts/cluster.sh has made a
# cluster (in CLUSTER_DIR, default scripts/.cluster), else
# http://127.0.0.1:8080. The login is SMOKE_LOGIN (admin);
# its password SMOKE_PASSWORD, else SESSIOND_ADMIN_PASSWORD, else the one
# scripts/cluster.sh generated.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
PWFILE=${CLUSTER_DIR:-scripts/.cluster}/admin-password
if [[ -f $PWFILE ]]; then
	URL=${1:-http://127.0.0.1:${CLUSTER_API_PORT:-8081}}
else
	URL=${1:-http://127.0.0.1:8080}
fi
URL=${URL%/}
LOGIN=${SMOKE_LOGIN:-admin}
PASSWORD=${SMOKE_PASSWORD:-${SESSIOND_ADMIN_PASSWORD:-}}
if [[ -z $PASSWORD && -f $PWFILE ]]; then
	PASSWORD=$(cat "$PWFILE")
fi
[[ -n $PASSWORD ]] || {
	echo "smoke: set SMOKE_PASSWORD or SESSIOND_ADMIN_PASSWORD" >&2
	exit 2
}
command -v curl >/dev/null || {
	echo "smoke: curl is needed" >&2
	exit 2
}

BODY=$(mktemp)
trap 'rm -f "$BODY"' EXIT

# call METHOD PATH [curl args...]: sets STATUS; the answer is in $BODY.
call() {
	local method=$1 path=$2
	shift 2
	STATUS=$(curl -sS -o "$BODY" -w '%{http_code}' --max-time 15 -X "$method" "$@" "$URL$path")
}

expect() {
	local step=$1 want=$2
	if [[ $STATUS != "$want" ]]; then
		echo "FAIL $step: status $STATUS, want $want: $(head -c 500 "$BODY")" >&2
		exit 1
	fi
	echo "ok   $step ($STATUS)"
}

json_escape() { printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g'; }

call POST /v1/login -H 'Content-Type: application/json' \
	--data-binary @- <<<"{\"login\":\"$(json_escape "$LOGIN")\",\"password\":\"$(json_escape "$PASSWORD")\",\"name\":\"smoke\"}"
expect "login $LOGIN on $URL" 201
TOKEN=$(sed -n 's/.*"token":"\([0-9a-f]\{64\}\)".*/\1/p' "$BODY")
[[ -n $TOKEN ]] || {
	echo "FAIL login: no token in the answer" >&2
	exit 1
}
AUTH=(-H @-)

call GET /v1/session "${AUTH[@]}" <<<"Authorization: Bearer $TOKEN"
expect "whoami" 200
grep -q "\"login\":\"$LOGIN\"" "$BODY" || {
	echo "FAIL whoami: not $LOGIN: $(head -c 500 "$BODY")" >&2
	exit 1
}

call POST /v1/logout "${AUTH[@]}" <<<"Authorization: Bearer $TOKEN"
expect "logout" 204

call GET /v1/session "${AUTH[@]}" <<<"Authorization: Bearer $TOKEN"
expect "whoami after logout" 401
grep -q '"code":"invalid_token"' "$BODY" || {
	echo "FAIL whoami after logout: not invalid_token: $(head -c 500 "$BODY")" >&2
	exit 1
}
echo "smoke: all steps passed against $URL"
