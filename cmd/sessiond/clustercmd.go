package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"

	"github.com/peterbourgon/ff/v3/ffcli"
)

// The cluster version's command (issue 25): `sessiond cluster downgrade`.

const downgradeLong = `Lowers the cluster's log format level before binaries of an older release
come back (docs/OPERATIONS.md, "Rollback"), or with --cancel lifts that and
lets the leader raise the level to what every member supports.

The level is replicated: the leader raises it on its own once every member
announces a higher format ('sessiond status' shows each member's FORMAT and
the LEVEL), and only a downgrade lowers it. A downgrade is refused while the
state holds something a binary of that format would drop (the answer names
it: take it away first). Once lowered, every member takes a Raft snapshot
past the downgrade (SNAPSHOT in 'sessiond status'); an older binary may then
run on that member's data dir. docs/COMPATIBILITY.md lists which release
reads which format.

EXAMPLES
  sessiond cluster downgrade --to 1       # before rolling back to 0.3.0
  sessiond cluster downgrade --cancel     # after upgrading again`

func (m *Main) clusterCommands(group groupFunc, leaf leafFunc) *ffcli.Command {
	decl := func(fs *flag.FlagSet) {
		new(cliFlags).register(fs)
		fs.Int("to", -1, "the log format level to lower the cluster to")
		fs.Bool("cancel", false, "lift a downgrade: the leader raises the level again")
	}
	return group("cluster", "the cluster's version: downgrade before a rollback", "sessiond cluster downgrade --to N|--cancel", downgradeLong,
		leaf([]string{"cluster", "downgrade"}, "lower the cluster's log format level before older binaries come back",
			"sessiond cluster downgrade --to N | --cancel", downgradeLong, decl, m.runDowngrade))
}

func (m *Main) runDowngrade(ctx context.Context, args []string) error {
	var f cliFlags
	fs := newFlagSet("cluster downgrade", m.Stderr)
	f.register(fs)
	to := fs.Int("to", -1, "")
	cancel := fs.Bool("cancel", false, "")
	pos, err := parseCommand(fs, args, m.Env)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr("cluster downgrade takes no arguments, got %q", pos[0])
	}
	if (*to < 0) == !*cancel {
		return usageErr("cluster downgrade needs --to N (a log format level, see 'sessiond version') or --cancel")
	}
	in := map[string]any{"cancel": true}
	if !*cancel {
		in = map[string]any{"level": *to}
	}
	var out struct {
		Level     int    `json:"level"`
		Downgrade bool   `json:"downgrade"`
		Index     uint64 `json:"index"`
	}
	if err := m.request(ctx, &f, true, "cluster downgrade", http.MethodPost, "/v1/cluster/format", in, &out); err != nil {
		return err
	}
	if *cancel {
		fmt.Fprintf(m.Stdout, "cluster level %d (set at index %d); the leader raises it as members announce more\n", out.Level, out.Index)
		return nil
	}
	fmt.Fprintf(m.Stdout, "cluster level %d, pinned (set at index %d).\n", out.Level, out.Index)
	fmt.Fprintf(m.Stdout, "Before an older binary runs on a member's data dir, 'sessiond status' must show its SNAPSHOT at %d or above.\n", out.Index)
	return nil
}
