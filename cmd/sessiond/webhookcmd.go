package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"text/tabwriter"

	"github.com/peterbourgon/ff/v3/ffcli"
)

const webhooksLong = `List the webhook and back-channel logout subscriptions with their delivery
state: the cursor (the last event delivered, "index.seq"), and whether the
subscription is paused and why (docs/EVENTS.md). As an admin: its db's
subscriptions; as the operator: every one. Lag, failures and pauses per
subscription are metrics: sessiond_webhook_*.

EXAMPLES
  sessiond webhooks list
  sessiond webhooks list --json`

func (m *Main) webhookCommands(group groupFunc, leaf leafFunc) *ffcli.Command {
	decl := func(fs *flag.FlagSet) { new(cliFlags).register(fs); fs.Bool("json", false, "print JSON") }
	return group("webhooks", "list event subscriptions and their delivery state", "sessiond webhooks list [--json]", webhooksLong,
		leaf([]string{"webhooks", "list"}, "list subscriptions, cursors and pauses", "sessiond webhooks list [--json]", webhooksLong, decl,
			m.runWebhooksList))
}

func (m *Main) runWebhooksList(ctx context.Context, args []string) error {
	var f cliFlags
	var asJSON bool
	fs := newFlagSet("webhooks list", m.Stderr)
	f.register(fs)
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	pos, err := parseCommand(fs, args, m.Env)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr("webhooks list takes no arguments")
	}
	var out struct {
		Webhooks []map[string]any `json:"webhooks"`
	}
	if err := m.request(ctx, &f, false, "webhooks list", http.MethodGet, "/v1/webhooks", nil, &out); err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(m.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tFORMAT\tDB\tURL\tCURSOR\tSTATE")
	for _, w := range out.Webhooks {
		state := "active"
		if w["paused"] == true {
			state = fmt.Sprintf("paused: %v", w["pause_reason"])
		}
		fmt.Fprintf(tw, "%v\t%v\t%v\t%v\t%v\t%s\n", w["id"], w["format"], orNil(w["db"]), w["url"], w["cursor"], state)
	}
	return tw.Flush()
}
