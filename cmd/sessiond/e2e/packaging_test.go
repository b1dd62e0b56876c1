package e2e

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// TestRelease_BuildsOneArch runs scripts/release.sh for this machine's
// architecture into a temporary directory: the binary is a static linux
// ELF of that architecture (no interpreter, no shared libraries), and
// SHA256SUMS names it with its real digest.
func TestRelease_BuildsOneArch(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a release binary")
	}
	machine := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[runtime.GOARCH]
	if runtime.GOOS != "linux" || machine == 0 {
		t.Skipf("release builds linux amd64/arm64; this is %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	out := t.TempDir()
	cmd := exec.Command("bash", "scripts/release.sh", "0.0.0-test")
	cmd.Dir = moduleRoot
	cmd.Env = append(os.Environ(), "OUT="+out, "ARCHES="+runtime.GOARCH)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("release.sh: %v\n%s", err, b)
	}
	name := "sessiond-0.0.0-test-linux-" + runtime.GOARCH
	bin, err := os.ReadFile(filepath.Join(out, name))
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		t.Fatal(err)
	}
	if f.Machine != machine {
		t.Errorf("%s is for %v, want %v", name, f.Machine, machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has an ELF interpreter: not static", name)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("%s links %v: not static", name, libs)
	}
	if f.Section(".symtab") != nil {
		t.Errorf("%s has a symbol table: not stripped (-s)", name)
	}
	// The version given to release.sh is the one the binary reports.
	if v, err := exec.Command(filepath.Join(out, name), "version").CombinedOutput(); err != nil || !strings.Contains(string(v), "0.0.0-test") {
		t.Errorf("%s version: %v %s", name, err, v)
	}
	sums, err := os.ReadFile(filepath.Join(out, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(bin)
	sbom, err := os.ReadFile(filepath.Join(out, name+".cdx.json"))
	if err != nil {
		t.Fatal(err)
	}
	sbomSum := sha256.Sum256(sbom)
	want := hex.EncodeToString(sum[:]) + "  " + name + "\n" + hex.EncodeToString(sbomSum[:]) + "  " + name + ".cdx.json\n"
	if string(sums) != want {
		t.Errorf("SHA256SUMS = %q, want %q", sums, want)
	}
	// The SBOM names the binary by its digest and lists the modules it
	// was built from, at the versions go.mod pins.
	var doc struct {
		BOMFormat string `json:"bomFormat"`
		Metadata  struct {
			Component struct {
				Version string `json:"version"`
				Hashes  []struct {
					Content string `json:"content"`
				} `json:"hashes"`
			} `json:"component"`
		} `json:"metadata"`
		Components []struct {
			PURL string `json:"purl"`
		} `json:"components"`
	}
	if err := json.Unmarshal(sbom, &doc); err != nil || doc.BOMFormat != "CycloneDX" || doc.Metadata.Component.Version != "0.0.0-test" ||
		len(doc.Metadata.Component.Hashes) != 1 || doc.Metadata.Component.Hashes[0].Content != hex.EncodeToString(sum[:]) {
		t.Fatalf("SBOM: %v %+v", err, doc.Metadata)
	}
	gomod, _ := os.ReadFile(filepath.Join(moduleRoot, "go.mod"))
	raft := regexp.MustCompile(`github.com/hashicorp/raft (v\S+)`).FindSubmatch(gomod)
	if raft == nil || !slices.ContainsFunc(doc.Components, func(c struct {
		PURL string `json:"purl"`
	}) bool {
		return c.PURL == "pkg:golang/github.com/hashicorp/raft@"+string(raft[1])
	}) {
		t.Errorf("the SBOM does not list github.com/hashicorp/raft at go.mod's version (%q)", raft)
	}
}

// TestSystemdUnit_Verifies checks packaging/sessiond.service with
// `systemd-analyze verify` (ExecStart pointed at the test binary, since
// verify requires it to exist), refusing warnings as well as errors, and
// checks that it keeps Type=notify and its hardening.
func TestSystemdUnit_Verifies(t *testing.T) {
	unit, err := os.ReadFile(filepath.Join(moduleRoot, "packaging", "sessiond.service"))
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(unit))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && !strings.HasPrefix(k, "#") {
			keys[k] = append(keys[k], v)
		}
	}
	for k, want := range map[string]string{
		"Type": "notify", "ExecStart": "/usr/local/bin/sessiond serve", "NoNewPrivileges": "yes",
		"ProtectSystem": "strict", "ReadWritePaths": "/var/lib/sessiond", "PrivateTmp": "yes", "ProtectHome": "yes",
		"CapabilityBoundingSet": "", "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
		"SystemCallFilter": "@system-service", "User": "sessiond",
	} {
		if v := keys[k]; len(v) == 0 || v[0] != want {
			t.Errorf("sessiond.service: %s=%q, want %q", k, v, want)
		}
	}
	// The first admin and the seal key are commented credentials, ready to
	// uncomment on the nodes that have their files.
	for _, want := range []string{"\n#LoadCredential=admin-password:/etc/sessiond/admin-password\n",
		"\n#LoadCredential=seal-key:/etc/sessiond/seal-key\n", "user add admin --admin"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("sessiond.service lacks %q", strings.TrimSpace(want))
		}
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed: unit not verified")
	}
	path := filepath.Join(t.TempDir(), "sessiond.service")
	text := strings.Replace(string(unit), "ExecStart=/usr/local/bin/sessiond", "ExecStart="+binPath, 1)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "sessiond.service") {
			t.Errorf("systemd-analyze verify: %s", line)
		}
	}
}

// TestDockerfile_Shape checks what the Dockerfile promises, since CI
// cannot build it (no registry to pull the base images from): a static
// build, a distroless final stage, a non-root user, the two ports and the
// data volume.
func TestDockerfile_Shape(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(moduleRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "FROM docker.io/library/golang:", "FROM gcr.io/distroless/static", "USER 65532:65532", `CMD ["/usr/local/bin/sessiond", "healthcheck"]`,
		"EXPOSE 8080 8300", `VOLUME ["/data"]`, "-X main.version=", "-X main.commit=", "-X main.buildTime="} {
		if !strings.Contains(text, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if strings.Count(text, "\nFROM ") < 2 {
		t.Error("Dockerfile is not a multi-stage build")
	}
}

// TestIgnoreFiles_SecretsAndData: what a first run leaves in a checkout
// (a data dir, its seal.key, a legacy <data-dir>.seal, a backup, release
// output) is ignored by git, and the seal files and data dirs by docker's
// build context too, so `COPY . .` never ships a seal key.
func TestIgnoreFiles_SecretsAndData(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	paths := []string{"data/raft.db", "data/seal.key", "data.seal", "node1.seal", "backup.snap", "dist/sessiond-linux-amd64"}
	cmd := exec.Command("git", append([]string{"check-ignore", "--no-index"}, paths...)...)
	cmd.Dir = moduleRoot
	out, _ := cmd.Output()
	ignored := strings.Fields(string(out))
	for _, p := range paths {
		if !slices.Contains(ignored, p) {
			t.Errorf(".gitignore does not ignore %s", p)
		}
	}
	b, err := os.ReadFile(filepath.Join(moduleRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Fields(string(b))
	for _, want := range []string{"**/data", "*.seal", "**/*.seal", "**/seal.key"} {
		if !slices.Contains(lines, want) {
			t.Errorf(".dockerignore lacks %s", want)
		}
	}
}
