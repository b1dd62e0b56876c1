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
password comes from --password-file (or SESSIOND_USER_PASSWORD_FILE),
SESSIOND_USER_PASSWORD or stdin; never a flag. An admin manages its own db;
the cluster operator (the first admin of a new cluster) every db, and only it
grants the operator role. unlock and operator use SESSIOND_CLUSTER_KEY[_FILE]
when set (break-glass, no login). On a cluster with no admin yet (bootstrapped
without SESSIOND_ADMIN_PASSWORD), add --admin with the cluster key and no admin
password creates the first admin, who is also the operator (audited,
event=first_admin); once an admin exists it is refused.

EXAMPLES
  sessiond user add admin --admin --cluster-key-file /etc/sessiond/cluster-key  # first admin
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
cluster's state through the leader: it first checks the file (its MAC too,
given the key), has a node check it and say how old it is and what it brings
back (logged-out sessions, old passwords, deleted clients and users, admin
rights, revoked keys), then asks (--yes skips the question). After the
restore every session and token issued before it is ended and a fresh JWT
signing key is activated, unless --keep-sessions; passwords, clients and
admin rights stay as in the backup. inspect verifies a file offline: its
structure and checksum, and its MAC when given the secret the cluster MACs
backups with (the cluster key, SESSIOND_CLUSTER_KEY[_FILE] or
--cluster-key-file, or a dedicated seal key, SESSIOND_SEAL_KEY[_FILE] or
--seal-key-file); without one it says "MAC not checked", since anyone can
recompute the checksum. A file that fails any check exits non-zero. save and
restore authenticate with SESSIOND_CLUSTER_KEY[_FILE] when set, else as the
admin.

EXAMPLES
  sessiond snapshot save /backup/sessiond-$(date +%F).snap
  SESSIOND_CLUSTER_KEY_FILE=/etc/sessiond/cluster.key \
    sessiond snapshot inspect /backup/sessiond-2026-01-02.snap
  sessiond snapshot restore /backup/sessiond-2026-01-02.snap
  sessiond snapshot restore --yes --keep-sessions /backup/sessiond-2026-01-02.snap`

const versionLong = `Prints the module version, commit, build time, Go version and the formats
the binary understands: the highest log format (the cluster's level may
not rise above the lowest member's) and the snapshot version (also
'sessiond --version'). Release builds set the version with -ldflags -X;
docs/COMPATIBILITY.md says which versions run side by side.

EXAMPLES
  sessiond version
  sessiond version --json`

const completionLong = `Prints a completion script for commands and flags.

EXAMPLES
  sessiond completion bash > /etc/bash_completion.d/sessiond
  sessiond completion zsh > "${fpath[1]}/_sessiond"
  sessiond completion fish > ~/.config/fish/completions/sessiond.fish`

const keygenLong = `Prints a new cluster key: 32 random bytes from the system's generator,
base64url, one line. A cluster key must carry at least 128 random bits
(hex or base64 text of at least 16 random bytes, with no words, runs or
repeats); a key a person made up is refused at start, because a backup, a
sealed key or one captured signature lets anyone test guesses offline.
Write it straight to a file readable by the service alone.

EXAMPLES
  (umask 077; sessiond keygen > /etc/sessiond/cluster-key)
  SESSIOND_CLUSTER_KEY_FILE=/etc/sessiond/cluster-key sessiond serve`
