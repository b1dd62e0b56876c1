package fsm

import (
	"bufio"
	"errors"
	"hash"
	"io"
	"sync/atomic"
)

// snapWriter is where a snapshot's records go: Close flushes and returns
// the bytes written to the output and the first write error.
type snapWriter interface {
	io.Writer
	Close() (int64, error)
}

// pipeMinSessions is the state size from which a snapshot is written by a
// pipeWriter. Below it a snapshot takes well under a second on one
// goroutine, and spreading it over both cores of a small machine only
// takes CPU from the reads running meanwhile: with the pipe, validation
// p99 during back-to-back snapshots of 100k sessions rose from 1.85× and
// 1.74× of alone to 2.21× and 2.37× (interleaved A/B, docs/BENCHMARKS.md).
// From a million sessions up a snapshot runs for seconds to tens of
// seconds, and finishing it sooner (log compaction, a backup, a
// follower's catch-up) is worth the second core. A variable so that tests
// can run the pipe on small states.
var pipeMinSessions = 1_000_000

// newSnapWriter picks the writer for a state of sessions sessions.
func newSnapWriter(out io.Writer, sum hash.Hash, sessions int) snapWriter {
	if sessions >= pipeMinSessions {
		return newPipeWriter(out, sum)
	}
	return newSeqWriter(out, sum)
}

// seqWriter writes, checksums and encodes on the caller's goroutine,
// through one buffer.
type seqWriter struct {
	*bufio.Writer
	cw *countingWriter
}

func newSeqWriter(out io.Writer, sum hash.Hash) *seqWriter {
	cw := &countingWriter{w: out}
	var w io.Writer = cw
	if sum != nil {
		w = io.MultiWriter(cw, sum)
	}
	return &seqWriter{Writer: bufio.NewWriterSize(w, 256<<10), cw: cw}
}

func (s *seqWriter) Close() (int64, error) {
	err := s.Flush()
	return s.cw.n, err
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// pipeWriter overlaps the three costs of writing a snapshot: encoding the
// records (the caller's goroutine), checksumming them, and writing them
// out, each on its own goroutine, passing 1 MiB chunks along in order.
// Run in one goroutine they add up (issue 16: at 10M sessions, 1.24 GB,
// persist took 3.46 s per million on the cluster; in a profile at 3M in
// process SHA-256 and the write syscalls were about 65 % of its CPU); pipelined, a snapshot takes about as
// long as its slowest stage (10M in process: 1.82 and 1.68 s per million
// before, 1.21 and 1.12 after). The bytes and their order are unchanged, so
// are snapshots (the golden tests hold).
//
// A write error stops the writing; the chunks still in flight are
// dropped, Write reports the error from then on, and Close returns it.
type pipeWriter struct {
	buf    []byte
	toSum  chan []byte
	toOut  chan []byte
	free   chan []byte
	done   chan struct{}
	made   int // chunks allocated so far: made on demand, so a small state costs one
	failed atomic.Bool
	err    error // the first write error; read after done
	n      int64 // bytes written to out; read after done
}

// pipeChunk is a var only so that the package's tests can use small
// chunks (pipe_test.go's TestMain) and so fill the pipe with a small
// state: under -race a 7.5 MB snapshot took minutes.
var pipeChunk = 1 << 20

const pipeChunks = 4 // in flight at most, so memory stays at 4 chunks (4 MiB)

// newPipeWriter starts the checksum and output stages. sum may be nil (the
// state hash writes into a hash already). Close must be called.
func newPipeWriter(out io.Writer, sum hash.Hash) *pipeWriter {
	p := &pipeWriter{
		toSum: make(chan []byte, pipeChunks),
		toOut: make(chan []byte, pipeChunks),
		free:  make(chan []byte, pipeChunks),
		done:  make(chan struct{}),
		buf:   make([]byte, 0, pipeChunk),
		made:  1,
	}
	go func() {
		for b := range p.toSum {
			if sum != nil {
				sum.Write(b)
			}
			p.toOut <- b
		}
		close(p.toOut)
	}()
	go func() {
		defer close(p.done)
		for b := range p.toOut {
			if p.err == nil {
				n, err := out.Write(b)
				p.n += int64(n)
				if err != nil {
					p.err = err
					p.failed.Store(true)
				}
			}
			p.free <- b[:0]
		}
	}()
	return p
}

// Write buffers b, passing each full chunk on.
func (p *pipeWriter) Write(b []byte) (int, error) {
	if p.failed.Load() {
		return 0, errPipeFailed
	}
	written := len(b)
	for len(b) > 0 {
		k := min(len(b), cap(p.buf)-len(p.buf))
		p.buf = append(p.buf, b[:k]...)
		b = b[k:]
		if len(p.buf) == cap(p.buf) {
			p.toSum <- p.buf
			p.buf = p.nextChunk()
		}
	}
	return written, nil
}

// nextChunk is a free chunk, a new one while fewer than pipeChunks
// exist, or else the next one the output stage gives back.
func (p *pipeWriter) nextChunk() []byte {
	select {
	case b := <-p.free:
		return b
	default:
	}
	if p.made < pipeChunks {
		p.made++
		return make([]byte, 0, pipeChunk)
	}
	return <-p.free
}

// Close passes the last partial chunk on, waits for every stage, and
// returns the bytes written to out and the first write error.
func (p *pipeWriter) Close() (int64, error) {
	if len(p.buf) > 0 {
		p.toSum <- p.buf
		p.buf = nil
	}
	close(p.toSum)
	<-p.done
	return p.n, p.err
}

// errPipeFailed is what Write reports after the output failed; Close
// returns the output's own error.
var errPipeFailed = errors.New("fsm: snapshot output failed")
