package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
)

// The audit sink (--audit-log): who logged in, out, changed a user or used
// the cluster key, apart from the operational log so it can be shipped,
// kept and access-controlled on its own. "" keeps audit lines in the
// operational log (as before); "-" writes them to stdout; anything else is
// a file, opened for append with mode 0600. The sink is always JSON, one
// object per line, whatever --log-format says: it is for machines.
func auditFlag(fs *flag.FlagSet, c *Config) {
	fs.StringVar(&c.AuditLog, "audit-log", "", "where audit lines go: \"\" = with the log, \"-\" = stdout (JSON), or a `file` (JSON, appended, 0600)")
}

// openAuditLog returns the audit logger and what to close at exit; nil
// means the operational logger takes the lines.
func openAuditLog(dest string, stdout io.Writer) (*slog.Logger, io.Closer, error) {
	switch dest {
	case "":
		return nil, nil, nil
	case "-":
		return slog.New(slog.NewJSONHandler(stdout, nil)), nil, nil
	}
	f, err := os.OpenFile(dest, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("--audit-log: %w", err)
	}
	return slog.New(slog.NewJSONHandler(f, nil)), f, nil
}
