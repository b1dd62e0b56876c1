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
