// Package proctest starts real sessiond processes for the end-to-end
// tests (cmd/sessiond/e2e), the fault suite (scripts/faults) and the load
// benchmark (scripts/bench): it builds the binary, hands out loopback
// ports, runs a process with its output in a log file, waits for it with
// a deadline, and holds the command-line flags those harnesses share.
package proctest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// ModulePath is the main module's path, the one ModuleRoot looks for.
const ModulePath = "github.com/sessiond/sessiond"

// ModuleRoot walks up from dir to the directory whose go.mod declares
// ModulePath. It skips other modules' go.mod files on the way (the
// benchmark driver in scripts/bench is its own module).
func ModuleRoot(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		if modulePath(filepath.Join(d, "go.mod")) == ModulePath {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("proctest: no go.mod of %s above %s", ModulePath, dir)
		}
	}
}

// modulePath is the module line of the go.mod at path, or "".
func modulePath(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}

// Build builds ./cmd/sessiond of the module at root into dir (with the
// race detector when race is set) and returns the binary's path.
func Build(ctx context.Context, root, dir string, race bool) (string, error) {
	bin := filepath.Join(dir, "sessiond")
	args := []string{"build", "-o", bin}
	if race {
		args = append(args, "-race")
	}
	cmd := exec.CommandContext(ctx, "go", append(args, "./cmd/sessiond")...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("proctest: go build ./cmd/sessiond: %v\n%s", err, out)
	}
	return bin, nil
}

var built struct {
	sync.Mutex
	bins map[bool]string // by race
	dir  string
}

// Binary builds the sessiond binary once per process (per race setting)
// into a temporary directory, from the module above the working
// directory; RemoveBinaries deletes it.
func Binary(ctx context.Context, race bool) (string, error) {
	built.Lock()
	defer built.Unlock()
	if bin, ok := built.bins[race]; ok {
		return bin, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	root, err := ModuleRoot(wd)
	if err != nil {
		return "", err
	}
	if built.dir == "" {
		if built.dir, err = os.MkdirTemp("", "sessiond-bin-"); err != nil {
			return "", err
		}
	}
	dir := filepath.Join(built.dir, map[bool]string{false: "plain", true: "race"}[race])
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	bin, err := Build(ctx, root, dir, race)
	if err != nil {
		return "", err
	}
	if built.bins == nil {
		built.bins = map[bool]string{}
	}
	built.bins[race] = bin
	return bin, nil
}

// RemoveBinaries deletes what Binary built.
func RemoveBinaries() {
	built.Lock()
	defer built.Unlock()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	built.dir, built.bins = "", nil
}
