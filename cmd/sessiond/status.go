package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/sessiond/sessiond/api/client"
	"github.com/sessiond/sessiond/cluster"
	"github.com/sessiond/sessiond/cluster/reqsign"
)

// memberView is one member as `sessiond status` shows it: the leader's
// configuration entry and, when reachable, the member's own status.
type memberView struct {
	client.Member
	Status *client.ClusterStatus `json:"status,omitempty"`
	Error  string                `json:"error,omitempty"`
	Lag    *uint64               `json:"lag,omitempty"` // leader's applied index minus this member's
	// Version is the binary the member runs, from its own status.
	Version string `json:"version,omitempty"`
	// Formats is the member's own view of the cluster version (its
	// binary's format, the level, its newest snapshot); nil from a binary
	// before the cluster version.
	Formats *cluster.FormatStatus `json:"formats,omitempty"`
}

// statusView is the whole answer of `sessiond status`.
type statusView struct {
	From    *client.ClusterStatus `json:"from"` // the node --addr reached
	Leader  string                `json:"leader"`
	Members []memberView          `json:"members"`
}

// runStatus shows the cluster as the node at --addr sees it, with each
// member's own indexes and its lag behind the leader. It authenticates
// with the cluster key when one is set, else as the admin.
func (m *Main) runStatus(ctx context.Context, args []string) error {
	var f cliFlags
	var asJSON bool
	fs := newFlagSet("status", m.Stderr)
	f.register(fs)
	fs.BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	pos, err := parseCommand(fs, args, m.Env)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr("status takes no arguments, got %q", pos[0])
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	key, err := readSecret(m.Env, envClusterKey, f.clusterKeyFile)
	if err != nil {
		return err
	}
	c, err := m.client(&f, client.WithClusterKey(string(key)))
	if err != nil {
		return err
	}
	token := ""
	if key == "" {
		var logout func()
		if token, logout, err = m.adminSession(ctx, c, &f); err != nil {
			return fmt.Errorf("status needs %s (or _FILE) or the admin's password: %w", envClusterKey, err)
		}
		defer logout()
	}
	from, err := c.ClusterStatus(ctx, token)
	if err != nil {
		if key != "" && errors.Is(err, client.ErrForbidden) {
			return keyRefused(err)
		}
		return err
	}
	view := m.collectStatus(ctx, &f, string(key), token, from)
	if asJSON {
		enc := json.NewEncoder(m.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(view)
	}
	printStatus(m.Stdout, view)
	return nil
}

// collectStatus asks every member for its own status, in parallel, each
// with a short deadline so that a dead member costs little.
func (m *Main) collectStatus(ctx context.Context, f *cliFlags, key, token string, from *client.ClusterStatus) statusView {
	view := statusView{From: from, Leader: from.Leader, Members: make([]memberView, len(from.Members))}
	var wg sync.WaitGroup
	for i, mem := range from.Members {
		view.Members[i].Member = mem
		if mem.ID == from.NodeID {
			view.Members[i].Status = from
			one := *f
			one.addr = from.Meta.Addr
			if mem.APIURL != "" {
				one.addr = mem.APIURL
			}
			view.Members[i].Version, view.Members[i].Formats = m.memberVersion(ctx, &one, key, token)
			continue
		}
		if mem.APIURL == "" {
			view.Members[i].Error = "no api url published"
			continue
		}
		wg.Add(1)
		go func(mv *memberView) {
			defer wg.Done()
			one := *f
			one.addr = mv.APIURL
			c, err := m.client(&one, client.WithClusterKey(key), client.WithAttemptTimeout(2*time.Second))
			if err == nil {
				mctx, cancel := context.WithTimeout(ctx, 3*time.Second)
				defer cancel()
				mv.Status, err = c.ClusterStatus(mctx, token)
				if err == nil {
					mv.Version, mv.Formats = m.memberVersion(mctx, &one, key, token)
				}
			}
			if err != nil {
				mv.Error = err.Error()
			}
		}(&view.Members[i])
	}
	wg.Wait()
	// Lag is measured against the leader's state machine, not its commit
	// index: configuration changes, no-ops and barriers are committed but
	// never reach the FSM, so an idle healthy cluster would show a lag.
	var leaderApplied uint64
	for _, mv := range view.Members {
		if mv.Leader && mv.Status != nil {
			leaderApplied = mv.Status.AppliedIndex
		}
	}
	for i, mv := range view.Members {
		if mv.Status != nil && leaderApplied > 0 {
			lag := uint64(0)
			if leaderApplied > mv.Status.AppliedIndex {
				lag = leaderApplied - mv.Status.AppliedIndex
			}
			view.Members[i].Lag = &lag
		}
	}
	return view
}

// memberVersion reads the version and formats a member reports in its
// own status (cluster.Status.Version and Formats; the api client's type
// predates them). "" and nil when it does not say: an older binary.
func (m *Main) memberVersion(ctx context.Context, f *cliFlags, key, token string) (string, *cluster.FormatStatus) {
	a := &apiCaller{m: m, f: f, hc: http.DefaultClient}
	if f.tlsCA != "" {
		if pool, err := loadCAPool(f.tlsCA); err == nil {
			a.hc = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
		}
	}
	if key != "" {
		a.auth = reqsign.NewSigner(reqsign.Key(key), a.hc).Sign
	} else {
		a.auth = func(r *http.Request) error { r.Header.Set("Authorization", "Bearer "+token); return nil }
	}
	var out struct {
		Version string                `json:"version"`
		Formats *cluster.FormatStatus `json:"formats"`
	}
	if a.call(ctx, http.MethodGet, "/v1/cluster", nil, &out) != nil {
		return "", nil
	}
	return out.Version, out.Formats
}

// printStatus writes the table.
func printStatus(w io.Writer, v statusView) {
	leader := v.Leader
	if leader == "" {
		leader = "none"
	}
	fmt.Fprintf(w, "leader: %s   term: %d   (as seen by %s at %s)\n", leader, v.From.Term, v.From.NodeID, v.From.Meta.Addr)
	fmt.Fprintln(w, levelLine(v))
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tSUFFRAGE\tLEADER\tTERM\tCOMMIT\tAPPLIED\tLAG\tREADY\tVERSION\tFORMAT\tSNAPSHOT\tAPI\tRAFT")
	for _, mv := range v.Members {
		state, term, commit, applied, lag, ready := "unreachable", "-", "-", "-", "-", "-"
		if s := mv.Status; s != nil {
			state = strings.ToLower(s.State)
			term, commit, applied = fmt.Sprint(s.Term), fmt.Sprint(s.CommitIndex), fmt.Sprint(s.AppliedIndex)
			ready = yesNo(s.Ready)
		}
		if mv.Lag != nil {
			lag = fmt.Sprint(*mv.Lag)
		}
		star := ""
		if mv.Leader {
			star = "*"
		}
		format, snap := "-", "-"
		if mv.Formats != nil {
			format, snap = fmt.Sprint(mv.Formats.Format), fmt.Sprint(mv.Formats.SnapshotIndex)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", mv.ID, state, strings.ToLower(mv.Suffrage),
			star, term, commit, applied, lag, ready, orDash(mv.Version), format, snap, orDash(mv.APIURL), mv.RaftAddr)
	}
	tw.Flush()
	for _, mv := range v.Members {
		if mv.Error != "" {
			fmt.Fprintf(w, "\n%s: %s", mv.ID, mv.Error)
		}
	}
	if hasErrors(v) {
		fmt.Fprintln(w)
	}
}

func hasErrors(v statusView) bool {
	for _, mv := range v.Members {
		if mv.Error != "" {
			return true
		}
	}
	return false
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// levelLine is the cluster version in one line, from the leader's own
// status when it answered (its view is the latest), else the queried
// node's: the level, how it was set, and what the state needs.
func levelLine(v statusView) string {
	var fs *cluster.FormatStatus
	for _, mv := range v.Members {
		if mv.Formats != nil && (fs == nil || mv.Leader) {
			fs = mv.Formats
		}
	}
	if fs == nil {
		return "cluster level: unknown (no member reports it: binaries before the cluster version)"
	}
	how := fmt.Sprintf("set at index %d", fs.LevelIndex)
	switch {
	case !fs.LevelSet:
		how = "from the members' formats; not yet recorded"
	case fs.Downgraded:
		how += ", pinned by a downgrade: 'sessiond cluster downgrade --cancel' lifts it"
	}
	return fmt.Sprintf("cluster level: %d (%s)   the state needs at least %d", fs.ClusterLevel, how, fs.NeedsFormat)
}
