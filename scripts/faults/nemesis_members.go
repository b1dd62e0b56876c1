package faults

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// ScMembership changes the voter set while another fault runs: a follower
// is demoted to non-voter, a second follower is cut off (with 5 nodes; with
// 3 the demoted one itself is cut off, so the two remaining voters carry
// the cluster), and after the heal the demoted node is promoted back. The
// workload keeps writing and reading throughout, so configuration entries
// interleave with revocations and reads at every level.
const ScMembership = "membership"

// ClusterOp sends a membership call (POST promote/demote) through node i,
// authenticated by the cluster key.
func (c *Client) ClusterOp(ctx context.Context, node int, method, path string) Answer {
	return c.do(ctx, node, method, path, "", nil, map[string]string{signWithClusterKey: ""})
}

// suffrage demotes or promotes node id through the leader, retrying until
// it is accepted or ctx ends.
func (n *Nemesis) suffrage(ctx context.Context, id string, voter bool) error {
	verb := "demote"
	if voter {
		verb = "promote"
	}
	var last Answer
	for {
		l, err := n.cl.Leader(ctx)
		if err != nil {
			return err
		}
		cctx, cancel := context.WithTimeout(ctx, 6*time.Second)
		last = n.cl.Client.ClusterOp(cctx, l, http.MethodPost, "/v1/cluster/nodes/"+id+"/"+verb)
		cancel()
		if last.Status >= 200 && last.Status < 300 {
			return nil
		}
		if !sleepCtx(ctx, 200*time.Millisecond) {
			return fmt.Errorf("%s %s: status %d %s %v", verb, id, last.Status, last.Body, last.Err)
		}
	}
}

// membership is the ScMembership fault.
func (n *Nemesis) membership(ctx context.Context, start int64) error {
	a, err := n.pick(ctx, false)
	if err != nil {
		return err
	}
	id := n.cl.Procs[a].ID
	bg := context.WithoutCancel(ctx)
	dctx, cancel := context.WithTimeout(bg, 15*time.Second)
	err = n.suffrage(dctx, id, false)
	cancel()
	if err != nil {
		return err
	}
	cut := a
	if len(n.cl.Procs) >= 5 {
		if b, err := n.pick(ctx, false); err == nil && b != a {
			cut = b
		}
	}
	n.target.Store(int64(cut) + 1)
	n.partition([]int{cut})
	n.hold(ctx)
	n.net.Heal()
	pctx, cancel := context.WithTimeout(bg, 30*time.Second)
	err = n.suffrage(pctx, id, true)
	cancel()
	n.record(ScMembership, n.cl.Procs[cut].ID, fmt.Sprintf("%s demoted, %s cut off, %s promoted again (err %v)", id, n.cl.Procs[cut].ID, id, err), start)
	return err
}
