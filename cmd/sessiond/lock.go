package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// lockFileName is the data dir's lock: flock'ed for as long as a process
// runs a node there, holding that process's pid so that the second one
// can name it. The kernel drops the lock when the process dies, so a
// stale file never blocks a start.
const lockFileName = "sessiond.lock"

// lockDataDir takes the data dir's lock without waiting.
func lockDataDir(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	path := filepath.Join(dir, lockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data dir lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			pid, _ := os.ReadFile(path)
			who := "another process"
			if p := strings.TrimSpace(string(pid)); p != "" {
				who = "another sessiond (pid " + p + ")"
			}
			return nil, fmt.Errorf("data dir %s is in use by %s: it holds %s; stop it, or give this node its own --data-dir", dir, who, path)
		}
		return nil, fmt.Errorf("data dir lock %s: %w", path, err)
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return f, nil
}
