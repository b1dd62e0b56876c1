package auth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/fsm"
)

// CompareRestore counts each kind of thing a backup would bring back:
// two FSMs fed the same log up to the "backup", then the current one
// goes on to delete, demote, disable, re-password, revoke and retire.
func TestCompareRestore_CountsEachRevival(t *testing.T) {
	backup, current := fsm.New(), fsm.New()
	idx := uint64(0)
	both := func(cmds ...fsm.Command) { apply(t, &idx, cmds, backup, current) }
	at := time.Unix(1_800_000_000, 0)
	ns := at.UnixNano()
	yes, no := true, false
	hash := "$argon2id$v=19$m=8,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"
	newHash := strings.Replace(hash, "aGFz", "bGFz", 1)
	both(&fsm.CreateDB{Name: "db"},
		&fsm.CreateUser{DB: "db", Login: "u1", PasswordHash: hash, Admin: true, Now: ns},
		&fsm.CreateUser{DB: "db", Login: "u2", PasswordHash: hash, Now: ns},
		&fsm.CreateUser{DB: "db", Login: "u3", PasswordHash: hash, Now: ns},
		&fsm.CreateSession{Session: fsm.Session{ID: "s1", Digest: DigestToken("t1"), Kind: fsm.KindNative, UserID: 1, Created: ns}},
		&fsm.PutClient{Client: fsm.Client{ID: "c1", Created: ns}},
		&fsm.PutKey{Key: fsm.SigningKey{Kid: "k1", Alg: AlgHS256, Secret: []byte("s1"), Created: ns}, Activate: true},
		&fsm.PutKey{Key: fsm.SigningKey{Kid: "k2", Alg: AlgHS256, Secret: []byte("s2"), Created: ns}})
	apply(t, &idx, []fsm.Command{
		&fsm.DeleteUser{UserID: 3},
		&fsm.UpdateUser{UserID: 1, Admin: &no, Now: ns},
		&fsm.UpdateUser{UserID: 2, PasswordHash: &newHash, Disabled: &yes, Now: ns},
		&fsm.DeleteClient{ID: "c1"},
		&fsm.RetireKey{Kid: "k1", At: ns},
		&fsm.RetireKey{Kid: "k2", At: ns, Revoke: true},
		&fsm.CreateUser{DB: "db", Login: "u4", PasswordHash: hash, Now: ns},
		&fsm.RevokeSession{Digest: ptr(DigestToken("t1"))},
	}, current)

	rep := CompareRestore(backup.State(), current.State(), at.Add(90*time.Minute))
	want := Revival{Sessions: 1, DeletedUsers: 1, OldPasswords: 1, AdminRights: 1, ReEnabled: 1, Clients: 1,
		RevokedKeys: 1, RetiredKeys: 1, LostUsers: 1}
	if rep.BringsBack != want {
		t.Fatalf("brings back %+v\nwant          %+v", rep.BringsBack, want)
	}
	b := rep.Backup
	if b.Users != 3 || b.Sessions != 1 || b.Clients != 1 || b.Keys != 2 || !b.Newest.Equal(at) {
		t.Fatalf("backup summary %+v", b)
	}
	if c := rep.Current; c.Users != 3 || c.Sessions != 0 || c.Clients != 0 || c.Keys != 2 {
		t.Fatalf("current summary %+v", c)
	}
	if rep.AgeAtLeast != "1h30m0s" {
		t.Fatalf("age %q", rep.AgeAtLeast)
	}
	for _, keep := range []bool{false, true} {
		w := rep.Warning(keep)
		if !strings.Contains(w, "at least 1h30m0s old") || !strings.Contains(w, "1 old passwords") ||
			!strings.Contains(w, "come back as they were") || strings.Contains(w, "--keep-sessions every") != keep {
			t.Fatalf("warning (keep %v): %s", keep, w)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func apply(t *testing.T, idx *uint64, cmds []fsm.Command, fs ...*fsm.FSM) {
	t.Helper()
	for _, c := range cmds {
		data, err := fsm.Encode(c)
		if err != nil {
			t.Fatal(err)
		}
		*idx++
		for _, f := range fs {
			if res := f.ApplyEntry(*idx, data); res.Err() != nil {
				t.Fatalf("%T: %v", c, res.Err())
			}
		}
	}
}

// refusingNode is an fsmNode that cannot commit one command type, as a
// cluster without a leader cannot commit any.
type refusingNode struct {
	*fsmNode
	refuse fsm.CmdType
}

var errNoCommit = errors.New("test: no leader")

func (n refusingNode) Apply(ctx context.Context, c fsm.Command) (fsm.Result, error) {
	if c.Type() == n.refuse {
		return fsm.Result{}, errNoCommit
	}
	return n.fsmNode.Apply(ctx, c)
}

// When the revocations after a restore cannot be committed, the error says
// which step failed and wraps the cause, the keyring is left as it was,
// and nothing else is attempted.
func TestEndRestoredAccess_FailureSaysWhichStep(t *testing.T) {
	svc, node := newGrowthService(t, nil)
	ctx := context.Background()
	for _, login := range []string{"a", "b", "c"} {
		uid, err := svc.CreateUser(ctx, NewUser{DB: "db", Login: login, Password: "password-" + login})
		if err != nil {
			t.Fatal(err)
		}
		u, _ := svc.User(uid)
		if _, err := svc.CreateSession(ctx, u, SessionOptions{Kind: fsm.KindNative}); err != nil {
			t.Fatal(err)
		}
	}
	keysBefore := len(node.State().Keys())
	broken, err := NewService(svc.cfg, Deps{Node: refusingNode{node, fsm.TypeRevokeUserSessions}})
	if err != nil {
		t.Fatal(err)
	}
	done, err := broken.EndRestoredAccess(ctx, nil)
	if !errors.Is(err, errNoCommit) || !strings.Contains(err.Error(), "ending the sessions") {
		t.Fatalf("error %v", err)
	}
	if done.EndedSessions != 0 || done.NewKid != "" || len(node.State().Keys()) != keysBefore {
		t.Fatalf("went on after the failure: %+v", done)
	}
	// The working service finishes the job.
	done, err = svc.EndRestoredAccess(ctx, nil)
	if err != nil || done.EndedSessions != 3 || done.Users != 3 || done.NewKid == "" {
		t.Fatalf("second run: %v %+v", err, done)
	}
	if _, sessions := node.State().Counts(); sessions != 0 {
		t.Fatalf("%d sessions left", sessions)
	}
}
