package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/peterbourgon/ff/v3/ffcli"
)

// The command tree is ffcli's (github.com/peterbourgon/ff/v3): it keeps
// the standard library's flag package, so every flag name, both dash
// forms and flag.ErrHelp behave as before, and it gives one help layout
// for every command. Each leaf declares its flags on its own FlagSet
// (for help, completion and ffcli's parse) with the same functions its
// runner parses with, so the two cannot drift apart.

const rootLong = `Every flag falls back on SESSIOND_<FLAG> (--node-id: SESSIOND_NODE_ID); a flag
wins. serve and join also read --config FILE (TOML, keys named like the flags):
flag > environment > file > default. Secrets come only from the environment
or files, never from flags or the config file:
  SESSIOND_CLUSTER_KEY[_FILE]     authenticates nodes to each other (and status);
                                  at least 128 random bits: make one with 'sessiond keygen'
  SESSIOND_ADMIN_PASSWORD[_FILE]  first admin of a new cluster; admin for the CLI
  SESSIOND_JWT_KEY[_FILE], ODOO_JWT_KEY   JWT signing key of a new cluster
  SESSIOND_USER_PASSWORD[_FILE]   new password for 'user add' and 'user passwd'

EXAMPLES
  sessiond dev                                   try it: one node, temp dir, admin password printed
  sessiond                                       one durable node: ./data, API 127.0.0.1:8080
  sessiond join --join http://10.0.0.1:8080 --node-id n2 --data-dir /var/lib/sessiond
  sessiond status --addr http://10.0.0.1:8080
  sessiond user add alice --admin
  sessiond snapshot save backup.snap

'sessiond <command> --help' shows a command's flags and examples.`

// commands builds the tree for one Run over args (the whole command
// line): a leaf runs its runner on the arguments after its own name, so
// flags may follow positionals (user add alice --admin) as before.
func (m *Main) commands(args []string) *ffcli.Command {
	rootFS := newFlagSet("sessiond", m.Stderr)
	showVersion := rootFS.Bool("version", false, "print the version and exit")
	rootFS.BoolVar(showVersion, "v", false, "print the version and exit (short for --version)")
	root := &ffcli.Command{
		Name:       "sessiond",
		ShortUsage: "sessiond [command] [flags]",
		ShortHelp:  "session and token authentication, replicated with Raft",
		LongHelp:   rootLong,
		FlagSet:    rootFS,
	}
	root.Exec = func(ctx context.Context, rest []string) error {
		if *showVersion {
			fmt.Fprintln(m.Stdout, readBuildInfo())
			return nil
		}
		if len(rest) > 0 {
			return usageErr("unknown command %q: run 'sessiond help' for the list", rest[0])
		}
		fmt.Fprint(m.Stdout, root.UsageFunc(root))
		return nil
	}
	leaf := func(path []string, short, usage, long string, decl func(fs *flag.FlagSet), run func(ctx context.Context, raw []string) error) *ffcli.Command {
		fs := newFlagSet("sessiond "+strings.Join(path, " "), m.Stderr)
		if decl != nil {
			decl(fs)
		}
		raw := rawArgs(args, path)
		return &ffcli.Command{
			Name: path[len(path)-1], ShortUsage: usage, ShortHelp: short, LongHelp: long, FlagSet: fs,
			Exec: func(ctx context.Context, _ []string) error { return run(ctx, raw) },
		}
	}
	group := func(name, short, usage, long string, subs ...*ffcli.Command) *ffcli.Command {
		c := &ffcli.Command{Name: name, ShortUsage: usage, ShortHelp: short, LongHelp: long,
			FlagSet: newFlagSet("sessiond "+name, m.Stderr), Subcommands: subs}
		c.Exec = func(ctx context.Context, rest []string) error {
			fmt.Fprint(m.Stderr, c.UsageFunc(c))
			if len(rest) > 0 {
				return usageErr("unknown %s command %q", name, rest[0])
			}
			return usageErr("%s needs a command: %s", name, subNames(c))
		}
		return c
	}
	serveDecl := func(fs *flag.FlagSet) {
		p := newServeParser(fs.Name(), io.Discard)
		p.fs.VisitAll(func(f *flag.Flag) { fs.Var(f.Value, f.Name, f.Usage) })
	}
	root.Subcommands = []*ffcli.Command{
		leaf([]string{"serve"}, "run a node (the default command)", "sessiond [serve] [flags]", serveLong, serveDecl,
			func(ctx context.Context, raw []string) error { return m.runServe(ctx, "serve", raw, false) }),
		leaf([]string{"join"}, "run a node that joins the cluster at --join URL", "sessiond join --join URL [flags]", joinLong, serveDecl,
			func(ctx context.Context, raw []string) error { return m.runServe(ctx, "join", raw, true) }),
		leaf([]string{"dev"}, "one throw-away node in a temp dir, admin password printed once", "sessiond dev [--api-addr host:port]", devLong,
			devFlags(new(devOptions)), m.runDev),
		leaf([]string{"status"}, "members, roles, leader, indexes, lag and versions", "sessiond status [--addr URL] [--json]", statusLong,
			func(fs *flag.FlagSet) {
				new(cliFlags).register(fs)
				fs.Bool("json", false, "print JSON instead of a table")
			}, m.runStatus),
		m.userCommands(group, leaf),
		m.nodeCommands(group, leaf),
		m.settingsCommands(group, leaf),
		m.keysCommands(group, leaf),
		m.webhookCommands(group, leaf), // events and webhooks (webhookcmd.go)
		m.snapshotCommands(group, leaf),
		m.clusterCommands(group, leaf), // the cluster version (clustercmd.go)
		leaf([]string{"healthcheck"}, "exit 0 when this node's API answers /healthz (or /readyz with --ready)", "sessiond healthcheck [--ready] [--url URL]", healthcheckLong,
			new(healthcheckFlags).register, m.runHealthcheck),
		leaf([]string{"keygen"}, "print a new random cluster key (32 bytes, base64url)", "sessiond keygen", keygenLong, nil, m.runKeygen),
		leaf([]string{"version"}, "print the version, commit, build time and Go version", "sessiond version [--json]", versionLong,
			func(fs *flag.FlagSet) { fs.Bool("json", false, "print JSON") }, m.runVersion),
		leaf([]string{"completion"}, "print a shell completion script: bash, zsh or fish", "sessiond completion bash|zsh|fish", completionLong, nil,
			func(ctx context.Context, raw []string) error { return m.runCompletion(root, raw) }),
		leaf([]string{"help"}, "show help for sessiond or a command", "sessiond help [command...]", "", nil,
			func(ctx context.Context, raw []string) error { return m.runHelp(root, raw) }),
	}
	return root
}

type leafFunc = func(path []string, short, usage, long string, decl func(fs *flag.FlagSet), run func(ctx context.Context, raw []string) error) *ffcli.Command
type groupFunc = func(name, short, usage, long string, subs ...*ffcli.Command) *ffcli.Command

// rawArgs is what follows the command's path in args ("user add bob
// --admin" → "bob --admin"); the path words are matched case-blind as
// ffcli matches them.
func rawArgs(args, path []string) []string {
	i := 0
	for _, p := range path {
		for i < len(args) && !strings.EqualFold(args[i], p) {
			i++
		}
		i++
	}
	if i > len(args) {
		return nil
	}
	return args[i:]
}

func subNames(c *ffcli.Command) string {
	var names []string
	for _, s := range c.Subcommands {
		names = append(names, s.Name)
	}
	return strings.Join(names, ", ")
}

// runHelp prints the help of the command named by raw to stdout.
func (m *Main) runHelp(root *ffcli.Command, raw []string) error {
	c := root
	for _, name := range raw {
		var next *ffcli.Command
		for _, s := range c.Subcommands {
			if strings.EqualFold(s.Name, name) {
				next = s
			}
		}
		if next == nil {
			return usageErr("no command %q: run 'sessiond help' for the list", strings.Join(raw, " "))
		}
		c = next
	}
	usage := c.UsageFunc
	if usage == nil {
		usage = ffcli.DefaultUsageFunc
	}
	fmt.Fprint(m.Stdout, usage(c))
	return nil
}
