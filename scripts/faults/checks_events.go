package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"time"
)

// StreamEvent is an event as GET /v1/events shows it (docs/EVENTS.md).
type StreamEvent struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	Reason    string `json:"reason,omitempty"`
	SessionID string `json:"session_id,omitempty"`
}

// EventStreams reads every running node's whole event stream with the
// admin token. A node whose binary has no stream (404) yields nil and
// ok false.
func EventStreams(ctx context.Context, cl *Cluster) (streams map[string][]StreamEvent, ok bool, err error) {
	streams = map[string][]StreamEvent{}
	for i, id := range cl.Client.IDs {
		after := "0"
		var all []StreamEvent
		for {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			a := cl.Client.do(cctx, i, http.MethodGet, "/v1/events?timeout=0&limit=1000&after="+after, cl.Client.AdminToken, nil, nil)
			cancel()
			if a.Status == http.StatusNotFound {
				return nil, false, nil
			}
			var page struct {
				Events []StreamEvent `json:"events"`
				Next   string        `json:"next"`
			}
			if a.Status != http.StatusOK || json.Unmarshal(a.Body, &page) != nil {
				return nil, true, fmt.Errorf("faults: events of %s: %d %s %v", id, a.Status, a.Body, a.Err)
			}
			if len(page.Events) == 0 {
				break
			}
			all = append(all, page.Events...)
			after = page.Next
		}
		streams[id] = all
	}
	return streams, true, nil
}

func eventKey(id string) (k [2]uint64) {
	fmt.Sscanf(id, "%d.%d", &k[0], &k[1])
	return k
}

// CheckEventStreams (issue 27): every node holds the same event stream,
// in increasing id order; every acknowledged logout of a native session
// whose id the login showed has a session.ended event on it; and two
// logouts that did not overlap in time have their events in that order
// (a revocation acknowledged before another was asked comes first in the
// stream every webhook and reader consumes). Only sessions logged out
// once, ended with reason logout or revoked, enter the order check: one
// that expired or fell to a logoutall first has its event from that.
func CheckEventStreams(h History, streams map[string][]StreamEvent) Verdict {
	v := Verdict{Name: "P-events every acknowledged revocation in every node's event stream, in order"}
	if len(streams) == 0 {
		v.violation("no stream read")
		return v
	}
	ids := make([]string, 0, len(streams))
	for id := range streams {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	ref := streams[ids[0]]
	for _, id := range ids {
		s := streams[id]
		for i := 1; i < len(s); i++ {
			if a, b := eventKey(s[i-1].ID), eventKey(s[i].ID); !(a[0] < b[0] || (a[0] == b[0] && a[1] < b[1])) {
				v.violation("%s: event %s follows %s", id, s[i].ID, s[i-1].ID)
			}
		}
		if len(s) != len(ref) {
			v.violation("%s holds %d events, %s %d", id, len(s), ids[0], len(ref))
			continue
		}
		for i := range s {
			if s[i] != ref[i] {
				v.violation("%s: event %d is %+v, on %s %+v", id, i, s[i], ids[0], ref[i])
				break
			}
		}
	}
	pos := map[string]int{} // session id -> position of its session.ended
	reason := map[string]string{}
	for i, e := range ref {
		if e.Type == "session.ended" && e.SessionID != "" {
			if _, dup := pos[e.SessionID]; dup {
				v.violation("session %s ended twice (%s)", short(e.SessionID), e.ID)
			}
			pos[e.SessionID], reason[e.SessionID] = i, e.Reason
		}
	}
	session := map[string]string{} // token -> session id
	for _, op := range h.Ops {
		if op.Kind == Login && op.Result == OK && op.Session != "" {
			session[op.Token] = op.Session
		}
	}
	logouts := map[string][]Op{}
	for _, op := range h.Ops {
		if op.Kind == Logout && session[op.Token] != "" {
			logouts[op.Token] = append(logouts[op.Token], op)
		}
	}
	type acked struct {
		op  Op
		pos int
	}
	var ordered []acked
	checked := 0
	for tok, ops := range logouts {
		sid := session[tok]
		for _, op := range ops {
			if op.Result != OK {
				continue
			}
			checked++
			p, ok := pos[sid]
			if !ok {
				v.violation("logout of session %s acknowledged at index %d (%s) has no session.ended event", short(sid), op.Index, op.Node)
				continue
			}
			if len(ops) == 1 && (reason[sid] == "logout" || reason[sid] == "revoked") {
				ordered = append(ordered, acked{op, p})
			}
		}
	}
	// Real-time order: for each logout, every logout that returned before
	// it was called must have its event earlier.
	byReturn := append([]acked(nil), ordered...)
	sort.Slice(byReturn, func(i, j int) bool { return byReturn[i].op.Return < byReturn[j].op.Return })
	sort.Slice(ordered, func(i, j int) bool { return ordered[i].op.Call < ordered[j].op.Call })
	maxPos, maxOp, k := -1, Op{}, 0
	for _, o := range ordered {
		for k < len(byReturn) && byReturn[k].op.Return < o.op.Call {
			if byReturn[k].pos > maxPos {
				maxPos, maxOp = byReturn[k].pos, byReturn[k].op
			}
			k++
		}
		if maxPos > o.pos {
			v.violation("logout %d returned before logout %d was called, but its event %s comes after %s",
				maxOp.ID, o.op.ID, ref[maxPos].ID, ref[o.pos].ID)
		}
	}
	v.Detail = append(v.Detail, fmt.Sprintf("%d acknowledged logouts checked (%d in the order check), %d nodes, %d events each",
		checked, len(ordered), len(streams), len(ref)))
	v.passUnlessFailed()
	return v
}

// eventsVerdict is CheckEventStreams, or why it could not run: a binary
// without the stream is skipped, a stream that could not be read is
// inconclusive (never a pass).
func eventsVerdict(h History, streams map[string][]StreamEvent, has bool, err error) Verdict {
	switch {
	case !has:
		return Verdict{Name: "P-events event streams", Result: Skipped, Detail: []string{"the binary has no GET /v1/events"}}
	case err != nil:
		return Verdict{Name: "P-events event streams", Result: Inconclusive, Detail: []string{err.Error()}}
	}
	return CheckEventStreams(h, streams)
}
