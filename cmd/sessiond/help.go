package main

// Long help of each command: what it does, where its secrets come from,
// and examples. ffcli prints them under USAGE.

const serveLong = `Runs a node until SIGTERM or SIGINT. With no state in --data-dir it forms a
new one-node cluster (--bootstrap, the default without --join); later starts
recover from raft.db. Only one process may use a data dir at a time.

EXAMPLES
  sessiond serve --data-dir /var/lib/sessiond --api-addr 0.0.0.0:8080 \
      --api-url https://auth1.example.com --raft-addr 10.0.0.1:8300
  sessiond serve --config /etc/sessiond/sessiond.toml
  sessiond serve --config /etc/sessiond/sessiond.toml --print-config`

const joinLong = `Runs a node that asks the member at --join to add it (the same as
serve --join URL). Needs SESSIOND_CLUSTER_KEY[_FILE]. A restarted member
does not join again. An id that is a member at another address is refused:
to replace a dead node, 'sessiond node remove ID' first.

EXAMPLES
  SESSIOND_CLUSTER_KEY_FILE=/etc/sessiond/cluster.key \
    sessiond join --join http://10.0.0.1:8080 --node-id n2 --raft-addr 10.0.0.2:8300`

const devLong = `Starts one node in a new temporary directory with a generated admin
password, printed once on stdout; everything is deleted on exit. For trying
sessiond, never for production (login as admin with the printed password).

EXAMPLES
  sessiond dev
  sessiond dev --api-addr 127.0.0.1:9090`

const statusLong = `Shows the cluster as the node at --addr sees it, with each member's own
indexes, its lag behind the leader (entries the state machine applies) and
the version it runs. Authenticates with SESSIOND_CLUSTER_KEY[_FILE] when set,
else as the admin (SESSIOND_ADMIN_PASSWORD[_FILE]).

EXAMPLES
  sessiond status
  sessiond status --addr http://10.0.0.1:8080,http://10.0.0.2:8080 --json`

const userLong = `Manage users through a running node (--addr) as an admin (--admin-login,
password from SESSIOND_ADMIN_PASSWORD[_FILE] or --admin-password-file). A new
password comes from --password-file, SESSIOND_USER_PASSWORD or stdin; never a
flag. An admin manages its own db; the cluster operator (the first admin of a
new cluster) every db, and only it grants the operator role. unlock and
operator use SESSIOND_CLUSTER_KEY[_FILE] when set (break-glass, no login).

EXAMPLES
  sessiond user add alice --admin --email alice@example.com
  sessiond user passwd alice --password-file /run/secrets/pw
  sessiond user unlock alice
  sessiond user operator admin  # after upgrading from a release without roles
  sessiond user list --json`

const nodeLong = `Change the membership through any node. Authenticates with
SESSIOND_CLUSTER_KEY[_FILE] when set, else as the admin.

EXAMPLES
  sessiond node remove n3        # a dead node, before replacing it
  sessiond node promote n4       # a non-voter becomes a voter
  sessiond node demote n2`

const settingsLong = `Read or change the cluster's replicated settings as an admin. Durations are
in seconds, as the API takes them.

EXAMPLES
  sessiond settings get
  sessiond settings set signup_enabled=false lockout_threshold=5`

const keysLong = `List, add (rotate) and retire the JWT signing keys as an admin. A new key
becomes the signing key unless --activate=false; a retired key stops
verifying.

EXAMPLES
  sessiond keys list
  sessiond keys add --alg EdDSA
  sessiond keys retire 3f2a9c`

const snapshotLong = `save writes a consistent backup from any node; restore replaces the whole
cluster's state through the leader: it first has a node check the file and
says how old it is and what it brings back (logged-out sessions, old
passwords, deleted clients and users, admin rights, revoked keys), then asks
(--yes skips both). After the restore every session and token issued before
it is ended and a fresh JWT signing key is activated, unless --keep-sessions;
passwords, clients and admin rights stay as in the backup. inspect verifies a
file offline. Authenticates with SESSIOND_CLUSTER_KEY[_FILE] when set, else
as the admin.

EXAMPLES
  sessiond snapshot save /backup/sessiond-$(date +%F).snap
  sessiond snapshot inspect /backup/sessiond-2026-01-02.snap
  sessiond snapshot restore /backup/sessiond-2026-01-02.snap
  sessiond snapshot restore --yes --keep-sessions /backup/sessiond-2026-01-02.snap`

const versionLong = `Prints the module version, commit, build time and Go version (also
'sessiond --version'). Release builds set them with -ldflags -X.

EXAMPLES
  sessiond version
  sessiond version --json`

const completionLong = `Prints a completion script for commands and flags.

EXAMPLES
  sessiond completion bash > /etc/bash_completion.d/sessiond
  sessiond completion zsh > "${fpath[1]}/_sessiond"
  sessiond completion fish > ~/.config/fish/completions/sessiond.fish`
