package auth

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond/fsm"
)

// jwtCacheEnv is a service on a clock the test moves, with a user and an
// active HS256 key.
type jwtCacheEnv struct {
	t     testing.TB
	svc   *Service
	clock *atomic.Int64
	user  *fsm.User
}

func newJWTCacheEnv(t testing.TB) *jwtCacheEnv {
	clock := &atomic.Int64{}
	clock.Store(time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC).UnixNano())
	svc, _ := newGrowthService(t, func(c *ServiceConfig) { c.Now = func() time.Time { return time.Unix(0, clock.Load()) } })
	ctx := context.Background()
	set := svc.Settings()
	set.JWTTTL = int64(time.Hour)
	set.JWTRetiredGrace = int64(time.Minute)
	if _, err := svc.SetSettings(ctx, set); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AddKey(ctx, "HS256", true); err != nil {
		t.Fatal(err)
	}
	uid, err := svc.CreateUser(ctx, NewUser{DB: "db", Login: "ann", Password: "ann-password-123"})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := svc.User(uid)
	return &jwtCacheEnv{t: t, svc: svc, clock: clock, user: u}
}

// token logs the user in as a JWT session signed by the active key.
func (e *jwtCacheEnv) token() string {
	e.t.Helper()
	key, err := e.svc.ActiveKey()
	if err != nil {
		e.t.Fatal(err)
	}
	iss, err := e.svc.CreateSession(context.Background(), e.user, SessionOptions{Kind: fsm.KindJWT})
	if err != nil {
		e.t.Fatal(err)
	}
	tok, err := e.svc.SignSession(key, iss, e.user)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// validate validates tok twice (the second from the cache) and returns
// the error of a third call after change ran.
func (e *jwtCacheEnv) cachedThen(tok string, change func()) error {
	e.t.Helper()
	for range 2 {
		if _, err := e.svc.ValidateJWT(context.Background(), fsm.Stale, tok); err != nil {
			e.t.Fatalf("before the change: %v", err)
		}
	}
	change()
	_, err := e.svc.ValidateJWT(context.Background(), fsm.Stale, tok)
	return err
}

func (e *jwtCacheEnv) rotate() string {
	e.t.Helper()
	old, _ := e.svc.ActiveKey()
	if _, err := e.svc.AddKey(context.Background(), "HS256", true); err != nil {
		e.t.Fatal(err)
	}
	return old.Kid
}

// A JWT presented again skips its signature check: one verification for
// any number of validations.
func TestJWTCache_RepeatSkipsSignatureCheck(t *testing.T) {
	e := newJWTCacheEnv(t)
	tok := e.token()
	for range 5 {
		p, err := e.svc.ValidateJWT(context.Background(), fsm.Stale, tok)
		if err != nil || p.User.ID != e.user.ID || p.JTI == "" {
			t.Fatalf("validate: %v %+v", err, p)
		}
	}
	if n := e.svc.jwts.verifications.Load(); n != 1 {
		t.Fatalf("%d signature checks for one token validated 5 times", n)
	}
}

// Attack: replay a JWT whose verdict is cached after its credential was
// revoked. The cache may skip the signature check only: a logged-out
// session, a revoked key, a key retired past its grace, a disabled user
// and a passed exp are each refused on the very next validation.
func TestJWTCache_RevocationRefusedAtOnce(t *testing.T) {
	e := newJWTCacheEnv(t)
	ctx := context.Background()
	for name, tc := range map[string]struct {
		change func(tok string)
		want   error
	}{
		"session logged out": {func(tok string) {
			claims, err := VerifyJWT(stateKeyring{e.svc}, tok, e.svc.Now())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.svc.Revoke(ctx, DigestToken(claims.SessionID)); err != nil {
				t.Fatal(err)
			}
		}, ErrTokenUnknown},
		"key revoked": {func(string) {
			if err := e.svc.RevokeKey(ctx, e.rotate()); err != nil {
				t.Fatal(err)
			}
		}, ErrTokenMalformed},
		"key retired past its grace": {func(string) {
			if err := e.svc.RetireKey(ctx, e.rotate()); err != nil {
				t.Fatal(err)
			}
			e.clock.Add(int64(2 * time.Minute))
		}, ErrTokenMalformed},
		"user disabled": {func(string) {
			yes := true
			if _, err := e.svc.UpdateUser(ctx, e.user.ID, UserChanges{Disabled: &yes}); err != nil {
				t.Fatal(err)
			}
		}, ErrInvalidToken}, // disabling ends the sessions too; either refusal will do
		"exp passed": {func(string) { e.clock.Add(int64(2 * time.Hour)) }, ErrTokenExpired},
	} {
		t.Run(name, func(t *testing.T) {
			if u, _ := e.svc.User(e.user.ID); u.Disabled { // the previous case disabled the user
				no := false
				if _, err := e.svc.UpdateUser(ctx, e.user.ID, UserChanges{Disabled: &no}); err != nil {
					t.Fatal(err)
				}
			}
			tok := e.token()
			if err := e.cachedThen(tok, func() { tc.change(tok) }); !errors.Is(err, tc.want) || !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("after the change: %v, want %v", err, tc.want)
			}
		})
	}
}

// Within a retired key's grace its tokens stay valid from the cache, as
// without one: the cache changes no verdict.
func TestJWTCache_RetiredKeyWithinGraceStillVerifies(t *testing.T) {
	e := newJWTCacheEnv(t)
	tok := e.token()
	err := e.cachedThen(tok, func() {
		if err := e.svc.RetireKey(context.Background(), e.rotate()); err != nil {
			t.Fatal(err)
		}
	})
	if err != nil {
		t.Fatalf("retired key within its grace: %v", err)
	}
}

// BenchmarkValidateJWT_Repeat is a JWT validated again (the cache's hit:
// key state, exp and session checked, no signature check); compare
// BenchmarkVerifyJWT_HS256, the signature check alone.
//
//	go test ./auth -run '^$' -bench 'ValidateJWT_Repeat|VerifyJWT_HS256' -benchmem
func BenchmarkValidateJWT_Repeat(b *testing.B) {
	e := newJWTCacheEnv(b)
	tok := e.token()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.svc.ValidateJWT(ctx, fsm.Stale, tok); err != nil {
			b.Fatal(err)
		}
	}
}
