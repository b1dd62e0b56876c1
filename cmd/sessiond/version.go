package main

import (
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sessiond/sessiond/fsm"
)

// Set at link time by scripts/release.sh:
//
//	go build -ldflags "-X main.version=v1.2.3 -X main.commit=abc123 -X main.buildTime=2026-01-02T03:04:05Z"
//
// Empty values fall back on what the Go toolchain stamped into the binary
// (debug.ReadBuildInfo: module version, vcs.revision, vcs.time), so a plain
// `go build` in a checkout still says which commit it is.
var (
	version   string
	commit    string
	buildTime string
)

// buildInfo is what `sessiond version`, the first log line, the
// sessiond_build_info metric and `sessiond status` say about the binary.
type buildInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	BuildTime string `json:"build_time"`
	GoVersion string `json:"go_version"`
	// The formats this binary understands (fsm/format.go): the highest
	// log format it reads and announces, and the snapshot version.
	LogFormat       int `json:"log_format"`
	SnapshotVersion int `json:"snapshot_version"`
}

// readBuildInfo merges the -ldflags values over the toolchain's stamp.
func readBuildInfo() buildInfo {
	b := buildInfo{Version: version, Commit: commit, BuildTime: buildTime, GoVersion: "unknown",
		LogFormat: fsm.CurrentFormat, SnapshotVersion: fsm.SnapshotVersion}
	if bi, ok := debug.ReadBuildInfo(); ok {
		b.GoVersion = bi.GoVersion
		if b.Version == "" && bi.Main.Version != "" {
			b.Version = bi.Main.Version
		}
		modified := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if b.Commit == "" {
					b.Commit = s.Value
				}
			case "vcs.time":
				if b.BuildTime == "" {
					b.BuildTime = s.Value
				}
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if modified && commit == "" && b.Commit != "" {
			b.Commit += "-dirty"
		}
	}
	if b.Version == "" {
		b.Version = "(devel)"
	}
	if b.Commit == "" {
		b.Commit = "unknown"
	}
	if b.BuildTime == "" {
		b.BuildTime = "unknown"
	}
	return b
}

// String is the one-line form `sessiond --version` prints.
func (b buildInfo) String() string {
	c := b.Commit
	if len(c) > 12 && !strings.Contains(c, "-") {
		c = c[:12]
	}
	return fmt.Sprintf("sessiond %s (commit %s, built %s, %s, log format %d, snapshot version %d)",
		b.Version, c, b.BuildTime, b.GoVersion, b.LogFormat, b.SnapshotVersion)
}

// registerBuildInfo adds sessiond_build_info{version,commit,goversion} 1,
// the Prometheus convention for joining a version onto other series.
func registerBuildInfo(reg prometheus.Registerer, b buildInfo) error {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "sessiond_build_info",
		Help: "Always 1; the labels say which build of sessiond this process runs.",
	}, []string{"version", "commit", "goversion"})
	g.WithLabelValues(b.Version, b.Commit, b.GoVersion).Set(1)
	return reg.Register(g)
}
