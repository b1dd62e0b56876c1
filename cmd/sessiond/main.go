// Command sessiond is the session and token authentication service: with
// no arguments a single durable node (data in ./data, API on
// 127.0.0.1:8080, Raft on 127.0.0.1:8300); subcommands join a cluster,
// show its status and manage users. See `sessiond help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	m := NewMain()
	err := m.Run(ctx, os.Args[1:])
	stop() // a second signal now kills the process at once
	if cerr := m.Close(); err == nil {
		err = cerr
	}
	os.Exit(m.exitCode(err))
}
