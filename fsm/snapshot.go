package fsm

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"sort"

	"github.com/hashicorp/raft"
)

// Snapshot format, version 1:
//
//	magic "SSNDSNAP" | uint32 version | uint64 applied index
//	records: [kind byte][uvarint length][payload] ...
//	end:     [recEnd][32-byte SHA-256 of every byte before it]
//
// Records come in a fixed order, each group sorted, so two replicas with the
// same state write byte-identical snapshots. Sessions are a compact binary
// record (there may be millions); everything else is JSON.
//
// Versions read: this binary reads versions minSnapVersion..snapVersion,
// today only 1, and refuses any other with ErrSnapshotVersion before
// reading a record. testdata/snapshot-v1.golden is a version-1 snapshot
// that every later binary must keep restoring; snapshot-v1-once.golden is
// one of a FormatV3 state (recOnce records, operator and member formats).
//
// Within a version the format only grows, and a reader tolerates both
// directions of a rolling upgrade, so a snapshot (or backup) moves between
// adjacent binaries:
//   - a record kind it does not know is skipped (its bytes still count in
//     the checksum);
//   - a field an older writer did not have reads as its zero value: a key
//     missing from a JSON record (encoding/json's rule), or fields missing
//     from the end of a session record (readSession's); in the meta record
//     that means zero settings fields, not DefaultSettings;
//   - fields it does not know (a newer writer) are ignored: unknown JSON
//     keys, and bytes after the last known session field.
//
// Ignored data is lost when this binary writes its own snapshot. A change
// an older binary must not silently drop or zero, or any reordering or
// change of meaning, needs a new version instead; a binary that writes
// version N should still read N-1, so that its restores do not depend on
// every peer having upgraded first.
const (
	snapMagic      = "SSNDSNAP"
	snapVersion    = 1 // the version written
	minSnapVersion = 1 // the oldest version read

	recMeta    byte = 1
	recUser    byte = 2
	recNode    byte = 3
	recKey     byte = 4
	recSession byte = 5
	recClient  byte = 6 // written only when there are clients, so older snapshots' bytes are unchanged
	// Events and webhooks (16–19), each written only when there is one,
	// so a state without them writes the bytes it always did. Webhooks
	// exist only after a FormatV3 command; events are derived, and a
	// binary that skips their records only misses what it never served.
	recEventMeta byte = 16
	recEvent     byte = 17
	recWebhook   byte = 18
	recOnce      byte = 8 // remembered request ids (once.go), oldest first; only when there are any (FormatV3)
	recEnd       byte = 0xFF

	maxRecord = 1 << 20
)

// Snapshot errors.
var (
	ErrSnapshotMagic    = errors.New("fsm: not a sessiond snapshot")
	ErrSnapshotVersion  = errors.New("fsm: unsupported snapshot version")
	ErrSnapshotChecksum = errors.New("fsm: snapshot checksum mismatch")
	ErrSnapshotCorrupt  = errors.New("fsm: corrupt snapshot")
)

type meta struct {
	Settings Settings `json:"settings"`
	NextUser uint64   `json:"next_user"`
	DBs      []string `json:"dbs"`
	// ClusterFormat is the replicated level (clusterformat.go), absent
	// until set: older binaries ignore the key.
	ClusterFormat *ClusterFormat `json:"cluster_format,omitempty"`
}

// image is a point-in-time copy of the state's pointers: cheap to take,
// and safe to serialise later because the values are immutable.
type image struct {
	index    uint64
	meta     meta
	users    []*User
	nodes    []Node
	keys     []SigningKey
	sessions []*Session
	clients  []Client
	factors  []*Factors
	challs   []*Challenge
	passkeys []*Passkeys
	webhooks []*Webhook
	evMeta   eventMeta
	events   []Event
	once     []onceRec // in apply order, which is the same on every replica
}

// capture copies the state's pointers and the index they belong to. It
// holds apMu so that a command that runs without mu (sessionOnly) is never
// seen half applied.
func (s *State) capture() *image {
	s.apMu.Lock()
	defer s.apMu.Unlock()
	s.mu.RLock()
	defer s.mu.RUnlock()
	img := &image{index: s.index, meta: meta{Settings: s.settings, NextUser: s.nextUser, ClusterFormat: s.clusterFormat.Load()}}
	for d := range s.dbs {
		img.meta.DBs = append(img.meta.DBs, d)
	}
	for _, u := range s.users {
		img.users = append(img.users, u)
	}
	for _, n := range s.nodes {
		img.nodes = append(img.nodes, n)
	}
	for _, k := range s.keys {
		img.keys = append(img.keys, k)
	}
	for _, c := range s.clients {
		img.clients = append(img.clients, c)
	}
	for _, f := range s.factors {
		img.factors = append(img.factors, f)
	}
	for _, c := range s.challenges {
		img.challs = append(img.challs, c)
	}
	for _, p := range s.passkeys {
		img.passkeys = append(img.passkeys, p)
	}
	for _, w := range s.webhooks {
		img.webhooks = append(img.webhooks, w)
	}
	img.evMeta, img.events = s.captureEvents()
	img.once = s.once.live()
	img.sessions = make([]*Session, 0, s.sessions.Load())
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.RLock()
		sh.each(func(sess *Session) bool {
			img.sessions = append(img.sessions, sess)
			return true
		})
		sh.mu.RUnlock()
	}
	return img
}

func (img *image) sort() {
	sort.Strings(img.meta.DBs)
	sort.Slice(img.users, func(i, j int) bool { return img.users[i].ID < img.users[j].ID })
	sort.Slice(img.nodes, func(i, j int) bool { return img.nodes[i].ID < img.nodes[j].ID })
	sort.Slice(img.keys, func(i, j int) bool { return img.keys[i].Kid < img.keys[j].Kid })
	sort.Slice(img.clients, func(i, j int) bool { return img.clients[i].ID < img.clients[j].ID })
	sort.Slice(img.factors, func(i, j int) bool { return img.factors[i].UserID < img.factors[j].UserID })
	sort.Slice(img.challs, func(i, j int) bool { return string(img.challs[i].ID[:]) < string(img.challs[j].ID[:]) })
	sort.Slice(img.passkeys, func(i, j int) bool { return img.passkeys[i].UserID < img.passkeys[j].UserID })
	sort.Slice(img.webhooks, func(i, j int) bool { return img.webhooks[i].ID < img.webhooks[j].ID })
	sortByDigest(img.sessions)
}

// Snapshot captures the state. Raft calls it between Applies, so the image
// is consistent; the expensive part (sorting, writing) happens in Persist
// while Apply and reads go on.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	return &snapshot{img: f.State().capture()}, nil
}

type snapshot struct{ img *image }

// Persist writes the snapshot to sink and closes it, or cancels it on error.
func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := s.img.writeTo(sink, true); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

// Release is a no-op: the image holds only pointers to immutable values.
func (s *snapshot) Release() {}

// WriteSnapshot writes a snapshot of the current state to w (for backups
// and tests). It may run concurrently with Apply; the image it writes is
// consistent because it is captured under the state lock.
func (f *FSM) WriteSnapshot(w io.Writer) (int64, error) {
	return f.State().capture().writeTo(w, true)
}

// StateHash is a SHA-256 over the records of the state (not the index), the
// same on every replica that applied the same log. It returns the applied
// index it was taken at.
func (f *FSM) StateHash() (string, uint64) {
	img := f.State().capture()
	h := sha256.New()
	img.writeTo(h, false)
	return hex.EncodeToString(h.Sum(nil)), img.index
}

func (img *image) writeTo(out io.Writer, header bool) (int64, error) {
	img.sort()
	var sum hash.Hash
	if header {
		sum = sha256.New()
	}
	pw := newSnapWriter(out, sum, len(img.sessions))
	if header {
		var hdr [20]byte
		copy(hdr[:8], snapMagic)
		binary.BigEndian.PutUint32(hdr[8:], snapVersion)
		binary.BigEndian.PutUint64(hdr[12:], img.index)
		pw.Write(hdr[:])
	}
	rw := recordWriter{w: pw}
	rw.json(recMeta, img.meta)
	for _, u := range img.users {
		rw.json(recUser, u)
	}
	for _, n := range img.nodes {
		rw.json(recNode, n)
	}
	for _, k := range img.keys {
		rw.json(recKey, k)
	}
	for _, c := range img.clients {
		rw.json(recClient, c)
	}
	for _, f := range img.factors {
		rw.json(recFactors, f)
	}
	for _, c := range img.challs {
		rw.json(recChallenge, c)
	}
	for _, p := range img.passkeys {
		rw.json(recPasskeys, p)
	}
	for _, w := range img.webhooks {
		rw.json(recWebhook, w)
	}
	if header && len(img.events) > 0 {
		// Events stay out of StateHash (header false): retention is a
		// per-node choice, so healthy replicas may keep different tails.
		rw.json(recEventMeta, img.evMeta)
		for i := range img.events {
			rw.json(recEvent, &img.events[i])
		}
	}
	for _, r := range img.once {
		rw.json(recOnce, r)
	}
	for _, sess := range img.sessions {
		if rw.err != nil {
			break
		}
		rw.buf = appendSession(rw.buf[:0], sess)
		rw.record(recSession, rw.buf)
	}
	n, err := pw.Close()
	if err == nil {
		err = rw.err
	}
	if err != nil {
		return n, err
	}
	if header {
		m, err := out.Write(append([]byte{recEnd}, sum.Sum(nil)...))
		return n + int64(m), err
	}
	return n, nil
}

type recordWriter struct {
	w   io.Writer
	buf []byte
	err error
}

func (r *recordWriter) json(kind byte, v any) {
	b, err := json.Marshal(v)
	if err != nil && r.err == nil {
		r.err = err
	}
	r.record(kind, b)
}

func (r *recordWriter) record(kind byte, payload []byte) {
	if r.err != nil {
		return
	}
	var hdr [1 + binary.MaxVarintLen64]byte
	hdr[0] = kind
	n := binary.PutUvarint(hdr[1:], uint64(len(payload)))
	r.w.Write(hdr[:1+n])
	_, r.err = r.w.Write(payload)
}

// Restore replaces the state with the snapshot in rc. The new state is built
// aside and swapped in whole, so a corrupt snapshot changes nothing.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	st, index, err := ReadSnapshot(rc)
	if err != nil {
		return err
	}
	f.state.Store(st)
	f.applied.Store(index)
	f.notifyEvents()
	return nil
}

// ReadSnapshot parses and verifies a snapshot without installing it. It is
// how a backup is checked before a restore is proposed.
func ReadSnapshot(r io.Reader) (*State, uint64, error) {
	sum := sha256.New()
	br := bufio.NewReaderSize(r, 256<<10)
	var hdr [20]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return nil, 0, fmt.Errorf("%w: header: %v", ErrSnapshotCorrupt, err)
	}
	if string(hdr[:8]) != snapMagic {
		return nil, 0, ErrSnapshotMagic
	}
	if v := binary.BigEndian.Uint32(hdr[8:]); v < minSnapVersion || v > snapVersion {
		return nil, 0, fmt.Errorf("%w: %d", ErrSnapshotVersion, v)
	}
	index := binary.BigEndian.Uint64(hdr[12:])
	sum.Write(hdr[:])
	st := newState()
	st.index = index
	if err := st.readRecords(br, sum); err != nil {
		return nil, 0, err
	}
	return st, index, nil
}

// readRecords loads the records into s. Sessions are collected and put
// into the indexes only after the checksum is verified, all at once
// (installSessions): they are the last records, and nothing else reads them.
func (s *State) readRecords(br *bufio.Reader, sum hash.Hash) error {
	var buf []byte
	var sessions []*Session
	for {
		kind, err := br.ReadByte()
		if err != nil {
			return fmt.Errorf("%w: missing end record", ErrSnapshotCorrupt)
		}
		if kind == recEnd {
			var want [32]byte
			if _, err := io.ReadFull(br, want[:]); err != nil {
				return fmt.Errorf("%w: short checksum", ErrSnapshotCorrupt)
			}
			if !bytes.Equal(want[:], sum.Sum(nil)) {
				return ErrSnapshotChecksum
			}
			s.installSessions(sessions)
			return nil
		}
		n, err := binary.ReadUvarint(br)
		if err != nil || n > maxRecord {
			return fmt.Errorf("%w: bad record length", ErrSnapshotCorrupt)
		}
		if uint64(cap(buf)) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(br, buf); err != nil {
			return fmt.Errorf("%w: short record", ErrSnapshotCorrupt)
		}
		var lh [1 + binary.MaxVarintLen64]byte
		lh[0] = kind
		sum.Write(lh[:1+binary.PutUvarint(lh[1:], n)])
		sum.Write(buf)
		if kind == recSession {
			sess, err := readSession(buf)
			if err != nil {
				return fmt.Errorf("%w: record kind %d: %v", ErrSnapshotCorrupt, kind, err)
			}
			sessions = append(sessions, sess)
			continue
		}
		if err := s.loadRecord(kind, buf); err != nil {
			return fmt.Errorf("%w: record kind %d: %v", ErrSnapshotCorrupt, kind, err)
		}
	}
}

func (s *State) loadRecord(kind byte, b []byte) error {
	switch kind {
	case recMeta:
		var m meta
		if err := json.Unmarshal(b, &m); err != nil {
			return err
		}
		s.settings, s.nextUser = m.Settings, m.NextUser
		s.clusterFormat.Store(m.ClusterFormat)
		for _, d := range m.DBs {
			s.dbs[d] = struct{}{}
		}
	case recUser:
		u := &User{}
		if err := json.Unmarshal(b, u); err != nil {
			return err
		}
		s.users[u.ID] = u
		s.byLogin[loginKey(u.DB, u.Login)] = u.ID
		s.indexEmails(u)
	case recNode:
		var n Node
		if err := json.Unmarshal(b, &n); err != nil {
			return err
		}
		s.nodes[n.ID] = n
	case recKey:
		var k SigningKey
		if err := json.Unmarshal(b, &k); err != nil {
			return err
		}
		s.keys[k.Kid] = k
	// recSession is read by readRecords, which collects the sessions.
	case recClient:
		var c Client
		if err := json.Unmarshal(b, &c); err != nil {
			return err
		}
		if s.clients == nil {
			s.clients = make(map[string]Client)
		}
		s.clients[c.ID] = c
	case recFactors:
		f := &Factors{}
		if err := json.Unmarshal(b, f); err != nil {
			return err
		}
		if s.factors == nil {
			s.factors = make(map[uint64]*Factors)
		}
		s.factors[f.UserID] = f
	case recChallenge:
		c := &Challenge{}
		if err := json.Unmarshal(b, c); err != nil {
			return err
		}
		if s.challenges == nil {
			s.challenges = make(map[Digest]*Challenge)
		}
		s.challenges[c.ID] = c
	case recPasskeys:
		p := &Passkeys{}
		if err := json.Unmarshal(b, p); err != nil {
			return err
		}
		if s.passkeys == nil {
			s.passkeys = make(map[uint64]*Passkeys)
		}
		s.passkeys[p.UserID] = p
	case recWebhook:
		w := &Webhook{}
		if err := json.Unmarshal(b, w); err != nil {
			return err
		}
		if s.webhooks == nil {
			s.webhooks = make(map[string]*Webhook)
		}
		s.webhooks[w.ID] = w
	case recEventMeta:
		var m eventMeta
		if err := json.Unmarshal(b, &m); err != nil {
			return err
		}
		s.loadEventMeta(m)
	case recEvent:
		var e Event
		if err := json.Unmarshal(b, &e); err != nil {
			return err
		}
		s.loadEvent(e)
	case recOnce:
		var r onceRec
		if err := json.Unmarshal(b, &r); err != nil {
			return err
		}
		if r.Nonce == "" {
			return errors.New("request id record without a nonce")
		}
		s.once.add(r)
	default:
		// Unknown record kinds from a newer version are skipped: their
		// bytes are still covered by the checksum.
	}
	return nil
}

// WriteState writes st as a snapshot stamped with index. A backup being
// restored is re-stamped this way with the index Raft gives the restore, so
// applied indexes never move backwards on any replica.
func WriteState(st *State, index uint64, w io.Writer) (int64, error) {
	img := st.capture()
	img.index = index
	return img.writeTo(w, true)
}
