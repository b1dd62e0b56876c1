package faults

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ScClockSkew gives nodes their own wall clocks (sessiond's test-only
// --fault-clock-file): a random offset per node, stepped once more,
// forwards or backwards, halfway through the fault. Offsets stay within
// maxClockOffset, inside the skew P8 allows (Options.Skew), since expiry
// is decided by the deciding node's clock; leases and Raft run on the
// monotonic clock and must not notice.
const ScClockSkew = "clock-skew"

// maxClockOffset bounds the injected offsets (P8 allows Options.Skew).
const maxClockOffset = 700 * time.Millisecond

// clockFile is node i's --fault-clock-file.
func (c *Cluster) clockFile(i int) string {
	return filepath.Join(c.cfg.Dir, c.cfg.IDs[i]+".clock")
}

// setClock writes node i's offset.
func (c *Cluster) setClock(i int, d time.Duration) error {
	return os.WriteFile(c.clockFile(i), []byte(d.String()+"\n"), 0o600)
}

func (n *Nemesis) offset() time.Duration {
	return n.jitter(-maxClockOffset, maxClockOffset)
}

// clockSkew is the ScClockSkew fault.
func (n *Nemesis) clockSkew(ctx context.Context, start int64) error {
	if !n.cl.cfg.ClockFiles {
		n.record(ScClockSkew, "", "skipped: the binary has no --fault-clock-file", start)
		return nil
	}
	var notes []string
	for i := range n.cl.Procs {
		d := n.offset()
		if err := n.cl.setClock(i, d); err != nil {
			return err
		}
		notes = append(notes, fmt.Sprintf("%s %v", n.cl.Procs[i].ID, d.Round(time.Millisecond)))
	}
	half := n.jitter(n.election, 2*n.election)
	sleepCtx(ctx, half)
	i := n.r.IntN(len(n.cl.Procs))
	n.target.Store(int64(i) + 1)
	d := n.offset()
	n.cl.setClock(i, d)
	notes = append(notes, fmt.Sprintf("then %s stepped to %v", n.cl.Procs[i].ID, d.Round(time.Millisecond)))
	sleepCtx(ctx, half)
	n.resetClocks()
	n.record(ScClockSkew, n.cl.Procs[i].ID, strings.Join(notes, ", "), start)
	return nil
}

// resetClocks sets every offset back to zero.
func (n *Nemesis) resetClocks() {
	if !n.cl.cfg.ClockFiles {
		return
	}
	for i := range n.cl.Procs {
		n.cl.setClock(i, 0)
	}
}
