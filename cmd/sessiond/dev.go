package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
)

// devOptions are the few flags of `sessiond dev`.
type devOptions struct {
	apiAddr  string
	logLevel string
}

func devFlags(o *devOptions) func(fs *flag.FlagSet) {
	return func(fs *flag.FlagSet) {
		fs.StringVar(&o.apiAddr, "api-addr", "127.0.0.1:8080", "`host:port` the HTTP API listens on")
		fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	}
}

// runDev runs one node in a new temporary directory with a generated
// admin password, printed once on stdout (it is not logged) so that
// trying sessiond takes one command. The directory goes on exit.
func (m *Main) runDev(ctx context.Context, args []string) error {
	var o devOptions
	fs := newFlagSet("dev", m.Stderr)
	devFlags(&o)(fs)
	pos, err := parseCommand(fs, args, func(string) (string, bool) { return "", false })
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr("dev takes no arguments, got %q", pos[0])
	}
	dir, err := os.MkdirTemp("", "sessiond-dev-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var raw [18]byte
	rand.Read(raw[:])
	pw := base64.RawURLEncoding.EncodeToString(raw[:])
	cfg := DefaultConfig()
	cfg.NodeID, cfg.DataDir, cfg.APIAddr, cfg.RaftAddr = "dev", dir, o.apiAddr, "127.0.0.1:0"
	cfg.AdminPassword = secret(pw)
	// A throw-away keyring: a random seal secret that dies with the node
	// (nothing to back up, nothing left in /tmp).
	var sealRaw [32]byte
	rand.Read(sealRaw[:])
	cfg.Seal = SealConfig{Source: sealDedicated, Secret: secret(base64.RawURLEncoding.EncodeToString(sealRaw[:]))}
	if err := (slogLevelFlag{&cfg.LogLevel}).Set(o.logLevel); err != nil {
		return usageErr("--log-level: %v", err)
	}
	if apiPort(cfg.APIAddr) != "0" {
		cfg.APIURL = defaultAPIURL(cfg.APIAddr, false)
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	url := cfg.APIURL
	if url == "" {
		url = "http://" + cfg.APIAddr
	}
	fmt.Fprintf(m.Stdout, "sessiond dev: a throw-away node in %s (deleted on exit)\n", dir)
	fmt.Fprintf(m.Stdout, "  API:            %s\n  admin login:    admin\n  admin password: %s   (shown once)\n", url, pw)
	fmt.Fprintf(m.Stdout, "  try: curl -s %s/v1/login -H 'Content-Type: application/json' -d '{\"login\":\"admin\",\"password\":\"%s\"}'\n", url, pw)
	// The CLI's own variables, so that `sessiond user add`, `status` and
	// the rest reach this node as its admin from another shell.
	fmt.Fprintf(m.Stdout, "  for the CLI, in another shell:\n    export SESSIOND_ADDR=%s\n    export SESSIOND_ADMIN_PASSWORD='%s'\n    sessiond user list\n", url, pw)
	return m.serve(ctx, cfg)
}

// runVersion is `sessiond version`.
func (m *Main) runVersion(ctx context.Context, args []string) error {
	fs := newFlagSet("version", m.Stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseCommand(fs, args, func(string) (string, bool) { return "", false })
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr("version takes no arguments")
	}
	bi := readBuildInfo()
	if *asJSON {
		return json.NewEncoder(m.Stdout).Encode(bi)
	}
	fmt.Fprintln(m.Stdout, bi)
	fmt.Fprintf(m.Stdout, "  version:    %s\n  commit:     %s\n  build time: %s\n  go:         %s\n",
		bi.Version, bi.Commit, bi.BuildTime, strings.TrimPrefix(bi.GoVersion, "go"))
	fmt.Fprintf(m.Stdout, "  formats:    log %d (reads 0-%d), snapshot version %d (docs/COMPATIBILITY.md)\n",
		bi.LogFormat, bi.LogFormat, bi.SnapshotVersion)
	return nil
}
