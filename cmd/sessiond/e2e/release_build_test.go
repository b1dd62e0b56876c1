package e2e

import (
	"archive/tar"
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/proctest"
)

// previousRelease finds the newest release in CHANGELOG.md ("## [X.Y.Z]")
// and its commit: the tag vX.Y.Z when the checkout has it, else the
// commit the changelog names for it (tags do not travel with a branch).
func previousRelease(t *testing.T) (version, commit string) {
	t.Helper()
	f, err := os.Open(filepath.Join(moduleRoot, "CHANGELOG.md"))
	if err != nil {
		t.Fatalf("CHANGELOG.md: %v", err)
	}
	defer f.Close()
	head := regexp.MustCompile(`^## \[(\d+\.\d+\.\d+)\].*commit ([0-9a-f]{7,40})`)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := head.FindStringSubmatch(sc.Text()); m != nil {
			version, commit = m[1], m[2]
			break
		}
	}
	if version == "" {
		t.Fatal("CHANGELOG.md names no release with its commit (## [X.Y.Z] - date - commit abc1234)")
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Skipf("no git to check out release %s: %v", version, err)
	}
	if out, err := exec.Command("git", "-C", moduleRoot, "rev-parse", "--verify", "-q", "v"+version+"^{commit}").Output(); err == nil {
		return version, strings.TrimSpace(string(out))
	}
	if err := exec.Command("git", "-C", moduleRoot, "cat-file", "-e", commit+"^{commit}").Run(); err != nil {
		t.Skipf("release %s: neither tag v%s nor commit %s is in this checkout (a shallow clone?)", version, version, commit)
	}
	return version, commit
}

// releases are the release binaries built in this run, by commit: the
// upgrade tests share one build (about 20 s under load). removeReleases
// (TestMain) deletes them.
var releases struct {
	sync.Mutex
	dir  string
	bins map[string]string
}

func removeReleases() {
	releases.Lock()
	defer releases.Unlock()
	if releases.dir != "" {
		os.RemoveAll(releases.dir)
	}
}

// buildRelease builds ./cmd/sessiond of commit into a temporary tree
// (git archive, so the working tree is untouched) and returns the binary,
// once per run.
func buildRelease(t *testing.T, commit string) string {
	t.Helper()
	releases.Lock()
	defer releases.Unlock()
	if bin, ok := releases.bins[commit]; ok {
		return bin
	}
	if releases.dir == "" {
		d, err := os.MkdirTemp("", "sessiond-release-")
		if err != nil {
			t.Fatal(err)
		}
		releases.dir, releases.bins = d, map[string]string{}
	}
	out, err := os.MkdirTemp(releases.dir, commit[:min(len(commit), 12)]+"-")
	if err != nil {
		t.Fatal(err)
	}
	bin := buildReleaseIn(t, commit, out)
	releases.bins[commit] = bin
	return bin
}

// buildReleaseIn is buildRelease's build, with the binary in out.
func buildReleaseIn(t *testing.T, commit, outDir string) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("git", "-C", moduleRoot, "archive", "--format=tar", commit)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(out)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("git archive %s: %v", commit, err)
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			os.MkdirAll(p, 0o755)
		case tar.TypeReg:
			os.MkdirAll(filepath.Dir(p), 0o755)
			data, err := io.ReadAll(tr)
			if err == nil {
				err = os.WriteFile(p, data, os.FileMode(h.Mode)&0o755|0o600)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("git archive %s: %v", commit, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin, err := proctest.Build(ctx, dir, outDir, false)
	if err != nil {
		// A module the release needs and this machine cannot fetch (no
		// network, a pruned cache) is a missing prerequisite, not a bug.
		for _, offline := range []string{"dial tcp", "module lookup disabled", "no such host", "GOFLAGS=-mod=mod"} {
			if strings.Contains(err.Error(), offline) {
				t.Skipf("cannot build release %s here (its modules are not available): %v", commit, err)
			}
		}
		t.Fatalf("build release %s: %v", commit, err)
	}
	return bin
}
