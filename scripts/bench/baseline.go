package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"log"
	"net/http"
	"strings"
	"sync"
	"time"
)

// The baseline is the "minimal net/http handler" the targets are ratios
// of: one process, no Raft, no persistence, no middleware, no metrics.
// /ping is the HTTP ceiling (a tiny JSON answer); /v1/session is the
// reference validator of perf-anchors (SHA-256 + map under an RWMutex
// over the same prefilled tokens sessiond holds); login, logout and
// logoutall are in-memory, for the write workloads' upper bound.
//
//	bench baseline -addr 127.0.0.1:18080 -tokens 100000

type baseSession struct {
	ID      string `json:"id"`
	UserID  uint64 `json:"user_id"`
	Created int64  `json:"created"`
}

type baseStore struct {
	mu     sync.RWMutex
	byTok  map[[32]byte]*baseSession
	byUser map[uint64]map[[32]byte]struct{}
	users  map[string]uint64
}

func runBaseline(args []string) {
	fs := flag.NewFlagSet("baseline", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:18080", "listen address (loopback)")
	n := fs.Int("tokens", 100000, "prefilled validation tokens (tokenFor(kindValidate, i))")
	users := fs.Int("users", 1000, "users the prefilled tokens are spread over")
	fs.Parse(args)
	st := &baseStore{byTok: make(map[[32]byte]*baseSession, *n), byUser: map[uint64]map[[32]byte]struct{}{}, users: map[string]uint64{}}
	for u := 0; u < *users; u++ {
		st.users[userLogin(kindMinUser, u)] = uint64(u + 1)
	}
	now := time.Now().UnixNano()
	for i := 0; i < *n; i++ {
		st.put(sha256.Sum256([]byte(tokenFor(kindValidate, i))), &baseSession{ID: sessionID(kindValidate, i), UserID: uint64(i%*users + 1), Created: now})
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ping", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	mux.HandleFunc("GET /v1/session", st.whoami)
	mux.HandleFunc("POST /v1/login", st.login)
	mux.HandleFunc("POST /v1/logout", st.logout)
	mux.HandleFunc("POST /v1/logoutall", st.logoutAll)
	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(srv.ListenAndServe())
}

func (s *baseStore) put(d [32]byte, sess *baseSession) {
	s.mu.Lock()
	s.byTok[d] = sess
	m := s.byUser[sess.UserID]
	if m == nil {
		m = map[[32]byte]struct{}{}
		s.byUser[sess.UserID] = m
	}
	m[d] = struct{}{}
	s.mu.Unlock()
}

func baseBearer(r *http.Request) ([32]byte, bool) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || len(tok) != 64 {
		return [32]byte{}, false
	}
	return sha256.Sum256([]byte(tok)), true
}

func (s *baseStore) lookup(r *http.Request) ([32]byte, *baseSession) {
	d, ok := baseBearer(r)
	if !ok {
		return d, nil
	}
	s.mu.RLock()
	sess := s.byTok[d]
	s.mu.RUnlock()
	return d, sess
}

func (s *baseStore) whoami(w http.ResponseWriter, r *http.Request) {
	_, sess := s.lookup(r)
	if sess == nil {
		http.Error(w, `{"error":{"code":"invalid_token"}}`, http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"session": sess, "user": map[string]any{"id": sess.UserID}})
}

func (s *baseStore) login(w http.ResponseWriter, r *http.Request) {
	var in struct{ Login, Password string }
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<10)).Decode(&in); err != nil {
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	s.mu.RLock()
	uid, ok := s.users[in.Login]
	s.mu.RUnlock()
	if !ok {
		http.Error(w, `{"error":{"code":"bad_credentials"}}`, http.StatusUnauthorized)
		return
	}
	var b [32]byte
	rand.Read(b[:])
	tok := hex.EncodeToString(b[:])
	s.put(sha256.Sum256([]byte(tok)), &baseSession{ID: hex.EncodeToString(b[:16]), UserID: uid, Created: time.Now().UnixNano()})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(map[string]string{"token": tok, "token_type": "Bearer"})
}

func (s *baseStore) logout(w http.ResponseWriter, r *http.Request) {
	d, sess := s.lookup(r)
	if sess != nil {
		s.mu.Lock()
		delete(s.byTok, d)
		delete(s.byUser[sess.UserID], d)
		s.mu.Unlock()
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *baseStore) logoutAll(w http.ResponseWriter, r *http.Request) {
	_, sess := s.lookup(r)
	if sess == nil {
		http.Error(w, `{"error":{"code":"invalid_token"}}`, http.StatusUnauthorized)
		return
	}
	s.mu.Lock()
	for d := range s.byUser[sess.UserID] {
		delete(s.byTok, d)
	}
	delete(s.byUser, sess.UserID)
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}
