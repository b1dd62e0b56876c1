package cluster

// goAttach runs f on a goroutine that Shutdown waits for, unless the node
// is stopping, in which case f does not run and it reports false (etcd's
// EtcdServer.GoAttach). Every goroutine the node starts for itself goes
// through it, so that when Shutdown returns none of them is left behind
// reading state that is being closed
// (TestShutdown_LeavesNoGoroutineOfOurs). f should return soon after
// n.stop closes; a bounded call it makes is cut short by stopCtx.
func (n *Node) goAttach(f func()) bool {
	n.wgMu.RLock()
	defer n.wgMu.RUnlock()
	select {
	case <-n.stop:
		return false
	default:
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
	return true
}

// stopping closes n.stop under wgMu, so that no goAttach adds to the wait
// group after Shutdown starts waiting on it, and cancels stopCtx.
func (n *Node) stopping() {
	n.wgMu.Lock()
	close(n.stop)
	n.wgMu.Unlock()
	n.stopCancel()
}
