package faults

import (
	"context"
	"sync"
	"time"
)

// Sweep is the end-of-test durability check (P3): every acknowledged
// login that has not expired is validated at the consistent level, on one node each (round
// robin) and on every node when a revocation of unknown outcome makes its
// fate open. It retries answers that did not come (a node still catching
// up) until ctx ends; those that never come are recorded as such.
func (w *Workload) Sweep(ctx context.Context) {
	h := w.rec.History()
	toks := h.tokens()
	type job struct {
		tok  string
		user string
		node int
	}
	var jobs []job
	i := 0
	soon := time.Now().Add(2 * time.Second).UnixNano()
	for tok, ti := range toks {
		if exp := ti.login.ExpiresAt; exp != 0 && exp <= soon {
			continue // expired: P8's business, and P3 excuses it anyway
		}
		_, acked := ti.ackAnyRevoke()
		if ti.maybeRevoked() && !acked {
			for n := 0; n < w.nodes; n++ {
				jobs = append(jobs, job{tok, ti.login.User, n})
			}
			continue
		}
		jobs = append(jobs, job{tok, ti.login.User, i % w.nodes})
		i++
	}
	ch := make(chan job)
	var wg sync.WaitGroup
	for k := 0; k < 16; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := w.rec.NewClient()
			for j := range ch {
				u := &testUser{login: j.user}
				for {
					op := w.validateQuiet(ctx, client, j.node, u, j.tok)
					if op.Result == OK || ctx.Err() != nil {
						w.rec.Add(op)
						break
					}
					sleepCtx(ctx, 200*time.Millisecond)
				}
			}
		}()
	}
	for _, j := range jobs {
		ch <- j
	}
	close(ch)
	wg.Wait()
}

// validateQuiet is a sweep validation that is only recorded by the caller;
// unlike workload operations it ends with the sweep's own deadline.
func (w *Workload) validateQuiet(ctx context.Context, client, node int, u *testUser, tok string) Op {
	cctx, cancel := context.WithTimeout(ctx, w.cfg.OpTimeout)
	defer cancel()
	return w.validateOnce(cctx, client, node, u, tok, "consistent", true)
}
