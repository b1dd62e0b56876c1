package faults

import (
	"io"
	"net"
	"sync"
	"time"
)

// linkState is the fault state of every directed link between nodes:
// added latency and, in loopback mode, cuts. It wakes paused pumps when it
// changes.
type linkState struct {
	mu      sync.Mutex
	cond    *sync.Cond
	latency map[[2]int]time.Duration
	cut     map[[2]int]bool
	gen     int
}

func newLinkState() *linkState {
	s := &linkState{latency: map[[2]int]time.Duration{}, cut: map[[2]int]bool{}}
	s.cond = sync.NewCond(&s.mu)
	return s
}

func (s *linkState) setLatency(from, to int, d time.Duration) {
	s.mu.Lock()
	if d <= 0 {
		delete(s.latency, [2]int{from, to})
	} else {
		s.latency[[2]int{from, to}] = d
	}
	s.mu.Unlock()
}

func (s *linkState) setCut(from, to int, on bool) {
	s.mu.Lock()
	if on {
		s.cut[[2]int{from, to}] = true
	} else {
		delete(s.cut, [2]int{from, to})
	}
	s.gen++
	s.cond.Broadcast()
	s.mu.Unlock()
}

func (s *linkState) healAll() {
	s.mu.Lock()
	s.cut = map[[2]int]bool{}
	s.latency = map[[2]int]time.Duration{}
	s.gen++
	s.cond.Broadcast()
	s.mu.Unlock()
}

// await blocks while the link is cut (data is held back, as a dropped
// packet is retransmitted later) or until done is closed; it returns the
// latency to apply.
func (s *linkState) await(from, to int, done <-chan struct{}) (time.Duration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.cut[[2]int{from, to}] {
		select {
		case <-done:
			return 0, false
		default:
		}
		s.cond.Wait()
	}
	return s.latency[[2]int{from, to}], true
}

// wakeAll wakes every waiter so closed connections notice.
func (s *linkState) wakeAll() {
	s.mu.Lock()
	s.cond.Broadcast()
	s.mu.Unlock()
}

// proxy is a TCP proxy in front of one node's Raft port. It learns the
// sending node of each connection (identify), then pumps both directions
// through the link state of that pair.
type proxy struct {
	to       int
	ln       net.Listener
	upstream string
	links    *linkState
	identify func(c net.Conn, first []byte) (int, bool)
	sniff    bool // identify needs the first bytes of the stream

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

func newProxy(to int, ln net.Listener, upstream string, links *linkState, sniff bool, identify func(net.Conn, []byte) (int, bool)) *proxy {
	p := &proxy{to: to, ln: ln, upstream: upstream, links: links, identify: identify, sniff: sniff, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p
}

func (p *proxy) track(c net.Conn, on bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on {
		if p.closed {
			return false
		}
		p.conns[c] = struct{}{}
	} else {
		delete(p.conns, c)
	}
	return true
}

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c, true) {
			c.Close()
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer p.track(c, false)
			p.serve(c)
		}()
	}
}

// maxSniff bounds how much of a stream is read to find its sender.
const maxSniff = 64 << 10

func (p *proxy) serve(c net.Conn) {
	defer c.Close()
	var first []byte
	from, ok := -1, false
	if !p.sniff {
		from, ok = p.identify(c, nil)
	} else {
		buf := make([]byte, 4096)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		for !ok && len(first) < maxSniff {
			n, err := c.Read(buf)
			first = append(first, buf[:n]...)
			if from, ok = p.identify(c, first); ok || err != nil {
				break
			}
		}
		c.SetReadDeadline(time.Time{})
	}
	if !ok {
		return
	}
	up, err := net.DialTimeout("tcp", p.upstream, 5*time.Second)
	if err != nil {
		return
	}
	if !p.track(up, true) {
		up.Close()
		return
	}
	defer p.track(up, false)
	defer up.Close()
	done := make(chan struct{})
	var once sync.Once
	stop := func() {
		once.Do(func() {
			close(done)
			c.Close()
			up.Close()
			p.links.wakeAll()
		})
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); defer stop(); p.pump(up, c, first, from, p.to, done) }()
	go func() { defer wg.Done(); defer stop(); p.pump(c, up, nil, p.to, from, done) }()
	wg.Wait()
}

type chunk struct {
	data []byte
	due  time.Time
}

// pump copies src to dst for the link from→to: held while the link is
// cut, each chunk delayed by the link's latency, order kept.
func (p *proxy) pump(dst io.Writer, src io.Reader, first []byte, from, to int, done chan struct{}) {
	q := make(chan chunk, 256)
	go func() {
		defer close(q)
		send := func(b []byte) bool {
			lat, ok := p.links.await(from, to, done)
			if !ok {
				return false
			}
			select {
			case q <- chunk{data: b, due: time.Now().Add(lat)}:
				return true
			case <-done:
				return false
			}
		}
		if len(first) > 0 && !send(first) {
			return
		}
		for {
			buf := make([]byte, 32<<10)
			n, err := src.Read(buf)
			if n > 0 && !send(buf[:n]) {
				return
			}
			if err != nil {
				return
			}
		}
	}()
	for ch := range q {
		if d := time.Until(ch.due); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-done:
				t.Stop()
				return
			}
		}
		if _, err := dst.Write(ch.data); err != nil {
			return
		}
	}
}

// close stops accepting and closes every connection.
func (p *proxy) close() {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.ln.Close()
	p.links.wakeAll()
	p.wg.Wait()
}
