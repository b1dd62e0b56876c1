package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sessiond/sessiond/api/client"
	"github.com/sessiond/sessiond/internal/proctest"
)

// TestContainer_SingleNode builds the Dockerfile's final stage and runs
// one node in it with podman, as an operator would: a named volume and an
// admin password, nothing else. Base images cannot be pulled here, so the
// final stage is rebuilt onto scratch from a static binary built now
// (the same files, user, environment, volume and health check; only the
// base's CA certificates and tzdata are missing). It checks the node
// runs as 65532, keeps its generated seal key in the volume
// (/data/seal.key), passes its HEALTHCHECK, and that a session and the
// keyring survive a container restart.
func TestContainer_SingleNode(t *testing.T) {
	podman, err := exec.LookPath("podman")
	if err != nil {
		t.Skip("podman is not installed (apt-get install podman runc): the container image is not exercised")
	}
	if out, err := exec.Command(podman, "info", "--format", "{{.Host.OCIRuntime.Name}}").CombinedOutput(); err != nil {
		t.Skipf("podman cannot run containers here (%v): %s", err, out)
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	dir := t.TempDir()
	// The compile flags of scripts/release.sh, so that the packages are
	// those TestRelease_BuildsOneArch (not parallel: it runs first)
	// left in the build cache and only the link is new.
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags", "-s -w",
		"-o", filepath.Join(dir, "out", "sessiond"), "./cmd/sessiond")
	build.Dir = moduleRoot
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("static build: %v\n%s", err, out)
	}
	if err := os.MkdirAll(filepath.Join(dir, "out", "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	containerfile, err := scratchStage(filepath.Join(moduleRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Containerfile"), []byte(containerfile), 0o644); err != nil {
		t.Fatal(err)
	}

	name := fmt.Sprintf("sessiond-e2e-%d", os.Getpid())
	pm := func(args ...string) (string, error) {
		out, err := exec.CommandContext(ctx, podman, args...).CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	// --format docker: the OCI format drops HEALTHCHECK.
	if out, err := pm("build", "--format", "docker", "-q", "-t", name, "-f", filepath.Join(dir, "Containerfile"), dir); err != nil {
		t.Fatalf("podman build: %v\n%s\n%s", err, out, containerfile)
	}
	t.Cleanup(func() {
		exec.Command(podman, "rm", "-f", "-t", "1", name).Run()
		exec.Command(podman, "volume", "rm", "-f", name).Run()
		exec.Command(podman, "rmi", "-f", name).Run()
	})
	if out, _ := pm("image", "inspect", "--format", "{{.Config.User}} {{json .Config.Healthcheck.Test}}", name); !strings.HasPrefix(out, "65532:65532 ") ||
		!strings.Contains(out, `"/usr/local/bin/sessiond","healthcheck"`) {
		t.Fatalf("image user and health check: %s", out)
	}

	port, err := proctest.Port()
	if err != nil {
		t.Fatal(err)
	}
	// Limits below the host's: a sandbox without CAP_SYS_RESOURCE cannot
	// raise them to podman's defaults.
	args := []string{"run", "-d", "--name", name, "-v", name + ":/data", "-p", fmt.Sprintf("127.0.0.1:%d:8080", port),
		"-e", "SESSIOND_ADMIN_PASSWORD=" + adminPassword, "-e", "SESSIOND_HASH_MEMORY=64", "-e", "SESSIOND_HASH_TIME=1"}
	if lim := ulimitArgs(); lim != nil {
		args = append(args, lim...)
	}
	if out, err := pm(append(args, name)...); err != nil {
		t.Fatalf("podman run: %v\n%s", err, out)
	}
	logs := func() string { out, _ := pm("logs", name); return out }
	c := client.New([]string{fmt.Sprintf("http://127.0.0.1:%d", port)})
	waitHealthy := func(what string) {
		t.Helper()
		err := proctest.Poll(ctx, 60*time.Second, what, func() error {
			if st, _ := pm("inspect", "--format", "{{.State.Status}}", name); st == "exited" {
				t.Fatalf("the container exited:\n%s", logs())
			} else if st != "running" {
				return fmt.Errorf("container %s", st)
			}
			if out, err := pm("healthcheck", "run", name); err != nil {
				return fmt.Errorf("healthcheck: %v %s", err, out)
			}
			return c.Ready(ctx)
		})
		if err != nil {
			t.Fatalf("%v\n%s", err, logs())
		}
	}
	waitHealthy("container healthy and ready")
	tok := login(t, c, "admin", adminPassword).Token

	mount, err := pm("volume", "inspect", "--format", "{{.Mountpoint}}", name)
	if err != nil {
		t.Fatalf("volume inspect: %v %s", err, mount)
	}
	st, err := os.Stat(filepath.Join(mount, "seal.key"))
	if err != nil || st.Mode().Perm() != 0o600 || st.Sys().(*syscall.Stat_t).Uid != 65532 {
		t.Fatalf("seal.key in the volume: %v %v\n%s", st, err, logs())
	}
	if !strings.Contains(logs(), "/data/seal.key") {
		t.Error("the start-up log does not name /data/seal.key")
	}

	if out, err := pm("restart", "-t", "10", name); err != nil {
		t.Fatalf("podman restart: %v %s", err, out)
	}
	waitHealthy("container healthy again after a restart")
	if _, err := c.Session(ctx, tok, ""); err != nil {
		t.Fatalf("the admin's session did not survive a restart: %v\n%s", err, logs())
	}
	if strings.Count(logs(), "generated a seal key file") > 1 {
		t.Error("the restarted container generated a second seal key")
	}
}

// scratchStage turns the Dockerfile's final stage into one built onto
// scratch from ./out (the build stage's /out), so that every line but
// FROM is the one operators get.
func scratchStage(dockerfile string) (string, error) {
	b, err := os.ReadFile(dockerfile)
	if err != nil {
		return "", err
	}
	text := string(b)
	i := strings.LastIndex(text, "\nFROM ")
	if i < 0 {
		return "", fmt.Errorf("%s has no FROM line", dockerfile)
	}
	lines := strings.Split(text[i+1:], "\n")
	lines[0] = "FROM scratch"
	stage := strings.Join(lines, "\n")
	stage = strings.ReplaceAll(stage, "COPY --from=build ", "COPY ")
	stage = strings.ReplaceAll(stage, " /out/", " out/")
	if strings.Contains(stage, "--from=") {
		return "", fmt.Errorf("the final stage copies from a stage other than build:\n%s", stage)
	}
	return stage, nil
}

// ulimitArgs keeps podman from raising nofile and nproc above this
// process's hard limits, which needs CAP_SYS_RESOURCE.
func ulimitArgs() []string {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) != nil {
		return nil
	}
	n := min(lim.Max, 4096)
	return []string{"--ulimit", fmt.Sprintf("nofile=%d:%d", n, n), "--ulimit", "nproc=4096:4096"}
}
