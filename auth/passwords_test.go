package auth

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

var phcPattern = regexp.MustCompile(`^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$`)

func mustHash(t testing.TB, pw string, p HashParams) string {
	t.Helper()
	phc, err := HashPassword(pw, p)
	if err != nil {
		t.Fatalf("HashPassword: %v", err)
	}
	return phc
}

func TestHashPassword_PHCFormat(t *testing.T) {
	p := MinimalHashParams()
	a := mustHash(t, "correct horse", p)
	m := phcPattern.FindStringSubmatch(a)
	if m == nil {
		t.Fatalf("not a PHC string: %q", a)
	}
	if m[1] != "64" || m[2] != "1" || m[3] != "1" {
		t.Errorf("params = m=%s,t=%s,p=%s, want 64,1,1", m[1], m[2], m[3])
	}
	if len(m[4]) != 22 || len(m[5]) != 43 { // 16 and 32 bytes, unpadded
		t.Errorf("salt/key b64 lengths = %d/%d, want 22/43", len(m[4]), len(m[5]))
	}
	if b := mustHash(t, "correct horse", p); b == a {
		t.Error("two hashes of one password are equal: salt not random")
	}
}

func TestHashPassword_DefaultParams(t *testing.T) {
	phc := mustHash(t, "correct horse battery staple", DefaultHashParams())
	if !strings.HasPrefix(phc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("prefix of %q", phc)
	}
	ok, rehash, err := VerifyPassword(phc, "correct horse battery staple")
	if err != nil || !ok || rehash {
		t.Fatalf("VerifyPassword = %v, %v, %v; want true, false, nil", ok, rehash, err)
	}
	if ok, _, _ := VerifyPassword(phc, "correct horse battery stapl"); ok {
		t.Fatal("wrong password verified")
	}
}

func TestHashPassword_RefusesBadParams(t *testing.T) {
	bad := MinimalHashParams()
	bad.Threads = 0
	if _, err := HashPassword("pw", bad); !errors.Is(err, ErrBadHashParams) {
		t.Fatalf("err = %v, want ErrBadHashParams", err)
	}
}

func TestVerifyPassword_Argon2id(t *testing.T) {
	const pw = "correct horse ünïcödé"
	phc := mustHash(t, pw, MinimalHashParams())
	tests := []struct {
		name, pw string
		want     bool
	}{
		{"right", pw, true},
		{"wrong", "incorrect horse", false},
		{"empty", "", false},
		{"prefix", pw[:len(pw)-1], false},
		{"extended", pw + "x", false},
		{"case", strings.ToUpper(pw), false},
		{"nfd form", "correct horse u\u0308nïcödé", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := VerifyPassword(phc, tt.pw)
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if ok != tt.want {
				t.Fatalf("ok = %v, want %v", ok, tt.want)
			}
			if ok && !rehash {
				t.Error("minimal params must need a rehash against defaults")
			}
			if !ok && rehash {
				t.Error("needsRehash set on failed verification")
			}
		})
	}
}

func TestVerifyPassword_Bcrypt(t *testing.T) {
	const pw = "imported password"
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"$2a$", "$2b$", "$2y$"} {
		phc := prefix + string(h[4:])
		t.Run(prefix, func(t *testing.T) {
			ok, rehash, err := VerifyPassword(phc, pw)
			if err != nil || !ok || !rehash {
				t.Fatalf("right password: %v, %v, %v; want true, true, nil", ok, rehash, err)
			}
			if ok, _, err := VerifyPassword(phc, "imported passwordx"); ok || err != nil {
				t.Fatalf("wrong password: %v, %v", ok, err)
			}
		})
	}
	// bcrypt reads only 72 bytes; we must not accept a longer password
	// whose first 72 bytes match.
	long := strings.Repeat("a", 72)
	h, err = bcrypt.GenerateFromPassword([]byte(long), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _, _ := VerifyPassword(string(h), long); !ok {
		t.Fatal("72-byte password did not verify")
	}
	if ok, _, _ := VerifyPassword(string(h), long+"tail"); ok {
		t.Fatal("password over 72 bytes verified against bcrypt: truncation")
	}
}

func TestVerifyPassword_Malformed(t *testing.T) {
	good := mustHash(t, "pw", MinimalHashParams())
	parts := strings.Split(good, "$") // "", argon2id, v=19, m=..., salt, key
	join := func(p ...string) string { return strings.Join(p, "$") }
	bc, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	tests := map[string]string{
		"empty":           "",
		"plain text":      "password",
		"argon2i":         join("", "argon2i", parts[2], parts[3], parts[4], parts[5]),
		"argon2d":         join("", "argon2d", parts[2], parts[3], parts[4], parts[5]),
		"version 16":      join("", "argon2id", "v=16", parts[3], parts[4], parts[5]),
		"no version":      join("", "argon2id", parts[3], parts[4], parts[5]),
		"extra field":     good + "$x",
		"missing key":     join("", "argon2id", parts[2], parts[3], parts[4]),
		"params reorder":  join("", "argon2id", parts[2], "t=1,m=64,p=1", parts[4], parts[5]),
		"params extra":    join("", "argon2id", parts[2], "m=64,t=1,p=1,k=1", parts[4], parts[5]),
		"params missing":  join("", "argon2id", parts[2], "m=64,t=1", parts[4], parts[5]),
		"param not int":   join("", "argon2id", parts[2], "m=abc,t=1,p=1", parts[4], parts[5]),
		"param negative":  join("", "argon2id", parts[2], "m=-64,t=1,p=1", parts[4], parts[5]),
		"param plus":      join("", "argon2id", parts[2], "m=+64,t=1,p=1", parts[4], parts[5]),
		"param empty":     join("", "argon2id", parts[2], "m=,t=1,p=1", parts[4], parts[5]),
		"salt not b64":    join("", "argon2id", parts[2], parts[3], "!!!!", parts[5]),
		"salt padded":     join("", "argon2id", parts[2], parts[3], parts[4]+"==", parts[5]),
		"key url b64":     join("", "argon2id", parts[2], parts[3], parts[4], strings.NewReplacer("+", "-", "/", "_").Replace(parts[5])+"-_"),
		"empty salt":      join("", "argon2id", parts[2], parts[3], "", parts[5]),
		"short key":       join("", "argon2id", parts[2], parts[3], parts[4], "AAAA"),
		"leading space":   " " + good,
		"too long":        good + strings.Repeat("A", maxPHCLen),
		"bcrypt short":    string(bc[:59]),
		"bcrypt long":     string(bc) + "A",
		"bcrypt 2x":       "$2x$" + string(bc[4:]),
		"bcrypt 2":        "$2$" + string(bc[4:]) + "A",
		"bcrypt no cost":  "$2a$xx" + string(bc[6:]),
		"bcrypt bad body": string(bc[:29]) + strings.Repeat("!", 31),
		"scrypt":          "$scrypt$ln=16,r=8,p=1$c2FsdA$aGFzaA",
	}
	for name, phc := range tests {
		t.Run(name, func(t *testing.T) {
			ok, rehash, err := VerifyPassword(phc, "pw")
			if !errors.Is(err, ErrBadHash) || ok || rehash {
				t.Fatalf("VerifyPassword(%q) = %v, %v, %v; want ErrBadHash", phc, ok, rehash, err)
			}
		})
	}
}

func TestVerifyPassword_HostileParams(t *testing.T) {
	salt, key := "AAAAAAAAAAAAAAAAAAAAAA", strings.Repeat("A", 43)
	mk := func(params, s, k string) string { return "$argon2id$v=19$" + params + "$" + s + "$" + k }
	bc, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	tests := map[string]string{
		"memory 4GiB":     mk("m=4294967295,t=1,p=1", salt, key),
		"memory 1GiB+1":   mk("m=1048577,t=1,p=1", salt, key),
		"memory overflow": mk("m=4294967296,t=1,p=1", salt, key),
		"memory < 8p":     mk("m=8,t=1,p=2", salt, key),
		"time 0":          mk("m=64,t=0,p=1", salt, key),
		"time 65":         mk("m=64,t=65,p=1", salt, key),
		"time huge":       mk("m=64,t=4294967295,p=1", salt, key),
		"threads 0":       mk("m=64,t=1,p=0", salt, key),
		"threads 65":      mk("m=1024,t=1,p=65", salt, key),
		"threads 256":     mk("m=4096,t=1,p=256", salt, key), // would wrap to 0 as uint8
		"threads 257":     mk("m=4096,t=1,p=257", salt, key), // would wrap to 1
		"salt 1 byte":     mk("m=64,t=1,p=1", "AA", key),
		"key 2KiB":        mk("m=64,t=1,p=1", salt, strings.Repeat("A", 2732)),
		"bcrypt cost 31":  "$2a$31" + string(bc[6:]),
		"bcrypt cost 17":  "$2a$17" + string(bc[6:]),
		"bcrypt cost 14":  "$2a$14" + string(bc[6:]),
		"memory 64MiB+1":  mk("m=65537,t=1,p=1", salt, key),
		"time 11":         mk("m=64,t=11,p=1", salt, key),
		"threads 9":       mk("m=1024,t=1,p=9", salt, key),
		"bcrypt cost 03":  "$2a$03" + string(bc[6:]),
	}
	for name, phc := range tests {
		t.Run(name, func(t *testing.T) {
			if _, _, err := VerifyPassword(phc, "pw"); !errors.Is(err, ErrBadHash) {
				t.Fatalf("err = %v, want ErrBadHash", err)
			}
		})
	}
}

func TestVerifyPassword_NeedsRehash(t *testing.T) {
	def := DefaultHashParams()
	with := func(f func(*HashParams)) HashParams { p := def; f(&p); return p }
	bc, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	tests := []struct {
		name string
		phc  string
		want bool
	}{
		{"defaults", mustHash(t, "pw", def), false},
		{"less memory", mustHash(t, "pw", with(func(p *HashParams) { p.Memory = 8192 })), true},
		{"less time", mustHash(t, "pw", with(func(p *HashParams) { p.Time = 1 })), true},
		{"shorter key", mustHash(t, "pw", with(func(p *HashParams) { p.KeyLen = 16 })), true},
		{"shorter salt", mustHash(t, "pw", with(func(p *HashParams) { p.SaltLen = 8 })), true},
		{"stronger", mustHash(t, "pw", with(func(p *HashParams) { p.Time = 3 })), false},
		{"more threads", mustHash(t, "pw", with(func(p *HashParams) { p.Threads = 2 })), false},
		{"bcrypt", string(bc), true},
		{"garbage", "nope", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if ok, rehash, err := VerifyPassword(tt.phc, "pw"); err == nil && ok && rehash != tt.want {
				t.Fatalf("VerifyPassword needsRehash = %v, want %v", rehash, tt.want)
			}
		})
	}
}

func TestHashParams_Validate(t *testing.T) {
	with := func(f func(*HashParams)) HashParams { p := DefaultHashParams(); f(&p); return p }
	tests := []struct {
		name string
		p    HashParams
		ok   bool
	}{
		{"default", DefaultHashParams(), true},
		{"minimal", MinimalHashParams(), true},
		{"zero", HashParams{}, false},
		{"threads 0", with(func(p *HashParams) { p.Threads = 0 }), false},
		{"threads 65", with(func(p *HashParams) { p.Threads = 65 }), false},
		{"time 0", with(func(p *HashParams) { p.Time = 0 }), false},
		{"memory 64MiB", with(func(p *HashParams) { p.Memory = 64 << 10 }), true},
		{"memory over 64MiB", with(func(p *HashParams) { p.Memory = 64<<10 + 1 }), false},
		{"time 11", with(func(p *HashParams) { p.Time = 11 }), false},
		{"salt 7", with(func(p *HashParams) { p.SaltLen = 7 }), false},
		{"key 15", with(func(p *HashParams) { p.KeyLen = 15 }), false},
		{"key 129", with(func(p *HashParams) { p.KeyLen = 129 }), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrBadHashParams)) {
				t.Fatalf("Validate = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestDummyVerify_ComputesOnce(t *testing.T) {
	p := MinimalHashParams()
	p.KeyLen = 24 // a parameter set no other test uses
	DummyVerify("whatever", p)
	v, ok := dummies.Load(p)
	if !ok {
		t.Fatal("no dummy hash cached")
	}
	first := v.(*dummyEntry).phc
	if h, err := parseArgon2id(first); !strings.HasPrefix(first, "$argon2id$v=19$m=64,t=1,p=1$") || err != nil || h.weakerThan(p) {
		t.Fatalf("dummy hash %q does not match params", first)
	}
	DummyVerify("other", p)
	v, _ = dummies.Load(p)
	if v.(*dummyEntry).phc != first {
		t.Fatal("dummy hash recomputed")
	}
}

func BenchmarkHashPassword_Default(b *testing.B) {
	p := DefaultHashParams()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := HashPassword("correct horse battery staple", p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHashPassword_DefaultParallel runs GOMAXPROCS hashes at once
// (-cpu 1,2,4): ns/op is wall time per hash, so the ratio to the serial
// benchmark shows how well argon2id's 19 MiB working sets share the
// machine's cores and caches — the ceiling of login throughput.
func BenchmarkHashPassword_DefaultParallel(b *testing.B) {
	p := DefaultHashParams()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := HashPassword("correct horse battery staple", p); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
