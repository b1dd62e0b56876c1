package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
)

// newLogger builds the process logger: text or JSON on w, at level.
func newLogger(w io.Writer, format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// raftLogWriter turns the Raft library's hclog lines into slog records, so
// that --log-format json gives one format on stderr.
type raftLogWriter struct {
	log *slog.Logger
	mu  sync.Mutex
	buf []byte
}

func (w *raftLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.emit(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 64<<10 { // a line without end: do not grow forever
		w.emit(string(w.buf))
		w.buf = w.buf[:0]
	}
	return len(p), nil
}

// emit logs one hclog line ("<time> [WARN]  raft: message: k=v") at the
// level it names.
func (w *raftLogWriter) emit(line string) {
	level, msg := slog.LevelInfo, strings.TrimSpace(line)
	for tag, l := range map[string]slog.Level{"[ERROR]": slog.LevelError, "[WARN]": slog.LevelWarn, "[DEBUG]": slog.LevelDebug, "[TRACE]": slog.LevelDebug, "[INFO]": slog.LevelInfo} {
		if i := strings.Index(msg, tag); i >= 0 {
			level, msg = l, strings.TrimSpace(msg[i+len(tag):])
			break
		}
	}
	if msg != "" {
		w.log.Log(context.Background(), level, "raft", "detail", msg)
	}
}
