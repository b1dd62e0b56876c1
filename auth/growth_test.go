package auth

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sessiond/sessiond/fsm"
	"golang.org/x/crypto/bcrypt"
)

func newGrowthService(t testing.TB, edit func(*ServiceConfig)) (*Service, *fsmNode) {
	t.Helper()
	node := &fsmNode{f: fsm.New()}
	cfg := DefaultServiceConfig()
	cfg.Hash = MinimalHashParams()
	cfg.DefaultDB = "db"
	if edit != nil {
		edit(&cfg)
	}
	svc, err := NewService(cfg, Deps{Node: node})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := node.Apply(ctx, &fsm.CreateDB{Name: "db"}); err != nil {
		t.Fatal(err)
	}
	set := fsm.DefaultSettings()
	set.SignupEnabled = true
	if _, err := svc.SetSettings(ctx, set); err != nil {
		t.Fatal(err)
	}
	return svc, node
}

// phc builds an argon2id PHC string with the given parameters and a
// 16-byte salt and 32-byte key (not a real hash: only its shape matters).
func phc(m, tm, p int) string {
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g", m, tm, p)
}

// The hostile import (1 GiB, t=64 took 2 min 13 s and 1.1 GB) and
// its neighbours are refused at once, without hashing, at import and at
// verify; the settings people use (OWASP's, RFC 9106's second choice,
// bcrypt 10–13) are admitted.
func TestHashBounds_HostileRefusedCommonAdmitted(t *testing.T) {
	bc := func(cost int) string {
		h, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		h[4], h[5] = byte('0'+cost/10), byte('0'+cost%10)
		return string(h)
	}
	for _, h := range []string{
		phc(1<<20, 64, 1), phc(65537, 1, 1), phc(19456, 11, 1), phc(19456, 2, 9), bc(14), bc(31),
	} {
		start := time.Now()
		err := CheckHash(h)
		if !errors.Is(err, ErrBadHash) {
			t.Fatalf("CheckHash(%s) = %v, want ErrBadHash", h, err)
		}
		if _, _, err := VerifyPassword(h, "pw"); !errors.Is(err, ErrBadHash) {
			t.Fatalf("VerifyPassword(%s) = %v, want ErrBadHash", h, err)
		}
		if d := time.Since(start); d > 100*time.Millisecond {
			t.Fatalf("refusing %s took %v: it hashed", h, d)
		}
	}
	for _, h := range []string{
		phc(19456, 2, 1), phc(47104, 1, 1), phc(7168, 5, 1), phc(65536, 3, 4), phc(65536, 10, 8), bc(10), bc(12), bc(13),
	} {
		if err := CheckHash(h); err != nil {
			t.Fatalf("CheckHash(%s) = %v, want admitted", h, err)
		}
	}
}

// Import goes through the same bound, and the admitted hash is not
// computed at import (the old check verified "" against it).
func TestCreateUser_ImportedHashBounded(t *testing.T) {
	svc, _ := newGrowthService(t, nil)
	ctx := context.Background()
	_, err := svc.CreateUser(ctx, NewUser{Login: "huge", PasswordHash: phc(1<<20, 64, 1)})
	if !errors.Is(err, ErrBadHash) {
		t.Fatalf("import of a 1 GiB/t=64 hash: %v", err)
	}
	start := time.Now()
	if _, err := svc.CreateUser(ctx, NewUser{Login: "big", PasswordHash: phc(65536, 10, 8)}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Fatalf("import took %v: the hash was computed", d)
	}
}

// Registration has its own per-address budget, charged for every attempt
// before any hashing: the 6th from one address in an hour is refused with
// a retry-after, another address still registers, and the login limiter
// is untouched.
func TestRegister_PerAddressBudget(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	svc, _ := newGrowthService(t, func(c *ServiceConfig) { c.Now = func() time.Time { return now } })
	ctx := context.Background()
	reg := func(i int, addr string) error {
		_, err := svc.Register(ctx, Registration{
			Email: fmt.Sprintf("user%d@example.com", i), Name: "U", Password: "long-enough-pw", ClientAddr: addr,
		})
		return err
	}
	for i := 0; i < DefaultRegisterBurst; i++ {
		if err := reg(i, "198.51.100.7"); err != nil {
			t.Fatalf("registration %d: %v", i+1, err)
		}
	}
	err := reg(99, "198.51.100.7")
	var re *RetryError
	if !errors.Is(err, ErrThrottled) || !errors.As(err, &re) || re.RetryAfter() < 60 {
		t.Fatalf("6th registration: %v", err)
	}
	// Another address still registers.
	if err := reg(100, "198.51.100.8"); err != nil {
		t.Fatalf("another address: %v", err)
	}
	if ok, _ := svc.Limiter().Allow("198.51.100.7", now); !ok {
		t.Fatal("registrations charged the login limiter")
	}
	// The budget comes back at its documented rate: one per 12 minutes.
	now = now.Add(time.Hour / DefaultRegisterBurst)
	if err := reg(101, "198.51.100.7"); err != nil {
		t.Fatalf("after 12 minutes: %v", err)
	}
	if err := reg(102, "198.51.100.7"); !errors.Is(err, ErrThrottled) {
		t.Fatalf("second after 12 minutes: %v", err)
	}
}

// Two concurrent registrations of one address: exactly one wins, in the
// FSM, whatever the local pre-checks saw; an e-mail another account holds
// is refused at register and at admin create/update.
func TestRegister_EmailUnique(t *testing.T) {
	svc, _ := newGrowthService(t, nil)
	ctx := context.Background()
	if _, err := svc.CreateUser(ctx, NewUser{Login: "alice", Password: "alice-password", Email: "Alice@Example.com"}); err != nil {
		t.Fatal(err)
	}
	_, err := svc.Register(ctx, Registration{Email: "alice@example.com", Name: "M", Password: "mallory-password", ClientAddr: "192.0.2.1"})
	if !errors.Is(err, fsm.ErrEmailExists) {
		t.Fatalf("register with alice's e-mail: %v", err)
	}
	bob, err := svc.CreateUser(ctx, NewUser{Login: "bob", Password: "bob-password", Email: "bob@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateUser(ctx, NewUser{Login: "bob2", Password: "bob-password", Email: "ALICE@example.com"}); !errors.Is(err, fsm.ErrEmailExists) {
		t.Fatalf("admin create with a taken e-mail: %v", err)
	}
	taken := "alice@EXAMPLE.com"
	if _, err := svc.UpdateUser(ctx, bob, UserChanges{Email: &taken}); !errors.Is(err, fsm.ErrEmailExists) {
		t.Fatalf("admin update to a taken e-mail: %v", err)
	}
}
