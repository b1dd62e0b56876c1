package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Bounds on argon2id and bcrypt parameters, applied when hashing, when
// an imported hash is accepted (CheckHash) and when a stored hash is
// verified, so a hostile or corrupt hash cannot make a login allocate
// gigabytes or spin for minutes (issue 11: a 1 GiB, t=64 import took
// 2 min 13 s and 1.1 GB per login, and two logins against it made every
// login 503). They admit what people deploy: OWASP's argon2id presets
// (19 MiB/t=2 … 46 MiB/t=1), RFC 9106's second recommendation
// (64 MiB/t=3/p=4) and bcrypt costs 4–13 (frameworks default to 10–12).
// The worst admitted cases, measured on the 2-core development machine
// while shared with other builds: argon2id m=64 MiB, t=10, p=8 about
// 0.75 s and 64 MiB; bcrypt cost 13 about 0.6 s (cost 14 took 1.2–2.9 s).
// Both stay under the pool's 2 s MaxWait, so hashes at the bound delay
// other logins without turning them into 503s (TestPool_WorstHashDoesNotStarveLogins).
const (
	maxMemoryKiB  = 64 << 10 // 64 MiB
	maxTime       = 10
	maxThreads    = 8
	minSaltLen    = 8
	maxSaltLen    = 64
	minKeyLen     = 16
	maxKeyLen     = 128
	maxPHCLen     = 512
	minBcryptCost = bcrypt.MinCost
	maxBcryptCost = 13
	// bcryptMaxPassword is where bcrypt silently truncates its input. A
	// longer password never verifies against a bcrypt hash: we do not
	// truncate.
	bcryptMaxPassword = 72
	bcryptHashLen     = 60
)

// phcB64 is the PHC string encoding: standard alphabet, no padding,
// canonical trailing bits only.
var phcB64 = base64.RawStdEncoding.Strict()

// HashParams are the argon2id parameters. They are written into every PHC
// string, so they can be raised at any time: existing hashes keep
// verifying with the parameters they were made with. Stored hashes are not
// upgraded at login (that would need a hash-only command that keeps the
// user's sessions; a password change re-hashes with the current ones).
type HashParams struct {
	Memory  uint32 // KiB
	Time    uint32 // passes over memory
	Threads uint8  // lanes
	SaltLen uint32 // bytes of crypto/rand salt
	KeyLen  uint32 // bytes of derived key
}

// DefaultHashParams are OWASP's argon2id recommendation: m=19456 KiB, t=2,
// p=1, a 16-byte salt and a 32-byte key. VerifyPassword reports
// needsRehash for any stored hash weaker than these.
func DefaultHashParams() HashParams {
	return HashParams{Memory: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
}

// MinimalHashParams are the cheapest parameters Validate accepts (64 KiB,
// t=1, p=1). They exist only so tests and benchmarks can isolate
// replication from hashing cost. They must never be used in production:
// a hash made with them is cheap to brute-force.
func MinimalHashParams() HashParams {
	return HashParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
}

// Validate reports whether p is inside the bounds this package hashes and
// verifies with. It returns an error wrapping ErrBadHashParams.
func (p HashParams) Validate() error {
	if err := checkArgonBounds(p.Memory, p.Time, uint32(p.Threads), p.SaltLen, p.KeyLen); err != "" {
		return fmt.Errorf("%w: %s", ErrBadHashParams, err)
	}
	return nil
}

func checkArgonBounds(m, t, p, saltLen, keyLen uint32) string {
	switch {
	case p < 1 || p > maxThreads:
		return fmt.Sprintf("argon2id threads p=%d out of range 1..%d", p, maxThreads)
	case t < 1 || t > maxTime:
		return fmt.Sprintf("argon2id time t=%d out of range 1..%d", t, maxTime)
	case m < 8*p || m > maxMemoryKiB:
		return fmt.Sprintf("argon2id memory m=%d KiB out of range 8*p..%d (64 MiB)", m, maxMemoryKiB)
	case saltLen < minSaltLen || saltLen > maxSaltLen:
		return "salt length out of range 8..64"
	case keyLen < minKeyLen || keyLen > maxKeyLen:
		return "key length out of range 16..128"
	}
	return ""
}

// HashPassword hashes password with argon2id under p and a fresh
// crypto/rand salt, and returns the PHC string
// "$argon2id$v=19$m=<m>,t=<t>,p=<p>$<salt>$<key>" (standard base64, no
// padding). The password is used whole, never truncated; callers check it
// against a PasswordPolicy first. It is CPU- and memory-heavy: run it on a
// Pool. Safe for concurrent use.
func HashPassword(password string, p HashParams) (string, error) {
	if err := p.Validate(); err != nil {
		return "", err
	}
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("auth: reading salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads,
		phcB64.EncodeToString(salt), phcB64.EncodeToString(key)), nil
}

// argonHash is a parsed argon2id PHC string.
type argonHash struct {
	memory, time uint32
	threads      uint8
	salt, key    []byte
}

// parseArgon2id parses and bounds-checks an argon2id PHC string.
func parseArgon2id(phc string) (argonHash, error) {
	var h argonHash
	bad := func(why string) (argonHash, error) {
		return argonHash{}, fmt.Errorf("%w: %s", ErrBadHash, why)
	}
	if len(phc) > maxPHCLen {
		return bad("too long")
	}
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return bad("not an argon2id PHC string")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return bad("unsupported argon2 version")
	}
	kv := strings.Split(parts[3], ",")
	if len(kv) != 3 {
		return bad("want m=,t=,p= parameters")
	}
	var vals [3]uint64
	for i, name := range []string{"m=", "t=", "p="} {
		s, ok := strings.CutPrefix(kv[i], name)
		if !ok || s == "" || len(s) > 10 {
			return bad("want m=,t=,p= parameters")
		}
		v, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return bad("bad parameter value")
		}
		vals[i] = v
	}
	// Bound before converting threads to uint8 so 256 cannot wrap to 0.
	if vals[2] > maxThreads {
		return bad(fmt.Sprintf("argon2id threads p=%d out of range 1..%d", vals[2], maxThreads))
	}
	var err error
	if h.salt, err = phcB64.DecodeString(parts[4]); err != nil {
		return bad("bad salt encoding")
	}
	if h.key, err = phcB64.DecodeString(parts[5]); err != nil {
		return bad("bad key encoding")
	}
	h.memory, h.time, h.threads = uint32(vals[0]), uint32(vals[1]), uint8(vals[2])
	if why := checkArgonBounds(h.memory, h.time, uint32(h.threads), uint32(len(h.salt)), uint32(len(h.key))); why != "" {
		return bad(why)
	}
	return h, nil
}

// weakerThan reports whether h is cheaper than target in memory, time,
// salt or key length. Threads are not compared: lanes do not change the
// cost an attacker pays per guess.
func (h argonHash) weakerThan(target HashParams) bool {
	return h.memory < target.Memory || h.time < target.Time ||
		uint32(len(h.salt)) < target.SaltLen || uint32(len(h.key)) < target.KeyLen
}

// isBcrypt reports whether s has the shape of a bcrypt hash we accept:
// $2a$, $2b$ or $2y$, a two-digit cost, '$', then 53 characters of
// bcrypt's base64 alphabet.
func isBcrypt(s string) bool {
	if len(s) != bcryptHashLen || s[0] != '$' || s[1] != '2' || s[3] != '$' || s[6] != '$' {
		return false
	}
	switch s[2] {
	case 'a', 'b', 'y':
	default:
		return false
	}
	if s[4] < '0' || s[4] > '9' || s[5] < '0' || s[5] > '9' {
		return false
	}
	for i := 7; i < len(s); i++ { // bcrypt's base64 alphabet
		c := s[i]
		if c != '.' && c != '/' && (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// VerifyPassword checks password against a stored hash: an argon2id PHC
// string with any in-bounds parameters, or a bcrypt hash ($2a$, $2b$,
// $2y$) kept for imported users. The derived key is compared in constant
// time.
//
// ok is false with a nil error on a wrong password. needsRehash is
// meaningful only when ok is true: it is set for bcrypt hashes and for
// argon2id hashes weaker than DefaultHashParams; it tells a caller (a
// migration tool, a test) which hashes are below today's bar. A malformed hash, an unknown
// scheme, or parameters outside the safe bounds give an error wrapping
// ErrBadHash, before any expensive work. A password longer than 72 bytes
// never matches a bcrypt hash, because bcrypt would truncate it.
//
// It is CPU- and memory-heavy: run it on a Pool. Safe for concurrent use.
func VerifyPassword(phc, password string) (ok bool, needsRehash bool, err error) {
	return verifyPassword(phc, password, DefaultHashParams())
}

func verifyPassword(phc, password string, target HashParams) (bool, bool, error) {
	switch {
	case strings.HasPrefix(phc, "$argon2id$"):
		h, err := parseArgon2id(phc)
		if err != nil {
			return false, false, err
		}
		key := argon2.IDKey([]byte(password), h.salt, h.time, h.memory, h.threads, uint32(len(h.key)))
		if subtle.ConstantTimeCompare(key, h.key) != 1 {
			return false, false, nil
		}
		return true, h.weakerThan(target), nil
	case isBcrypt(phc):
		if err := checkBcryptCost(phc); err != nil {
			return false, false, err
		}
		if len(password) > bcryptMaxPassword {
			return false, false, nil
		}
		err := bcrypt.CompareHashAndPassword([]byte(phc), []byte(password))
		switch {
		case err == nil:
			return true, true, nil
		case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
			return false, false, nil
		default:
			return false, false, fmt.Errorf("%w: bcrypt: %v", ErrBadHash, err)
		}
	default:
		return false, false, fmt.Errorf("%w: unknown scheme", ErrBadHash)
	}
}

// checkBcryptCost refuses a bcrypt hash (already shaped by isBcrypt) whose
// cost is outside minBcryptCost..maxBcryptCost.
func checkBcryptCost(phc string) error {
	cost := int(phc[4]-'0')*10 + int(phc[5]-'0')
	if cost < minBcryptCost || cost > maxBcryptCost {
		return fmt.Errorf("%w: bcrypt cost %d out of range %d..%d", ErrBadHash, cost, minBcryptCost, maxBcryptCost)
	}
	return nil
}

// CheckHash reports whether phc is a hash VerifyPassword would work with
// (an argon2id PHC string or a bcrypt hash, inside the bounds above),
// without hashing anything: it is the check for imported hashes, which
// must cost a request nothing however hostile the hash. The error wraps
// ErrBadHash and says which bound was crossed.
func CheckHash(phc string) error {
	switch {
	case strings.HasPrefix(phc, "$argon2id$"):
		_, err := parseArgon2id(phc)
		return err
	case isBcrypt(phc):
		return checkBcryptCost(phc)
	}
	return fmt.Errorf("%w: unknown scheme (want argon2id PHC or bcrypt $2a$/$2b$/$2y$)", ErrBadHash)
}

// dummyEntry holds the hash DummyVerify compares against, per parameter
// set, computed once.
type dummyEntry struct {
	once sync.Once
	phc  string
}

// dummies maps HashParams to *dummyEntry. Callers pass their configured
// parameters, so it holds one or two entries.
var dummies sync.Map

// DummyVerify runs one argon2id verification of password under p against
// a hash computed once per parameter set (the first call pays for that
// hash too) and discards the result. Call it when a login names an unknown
// user, so that "no such user" costs the same as "wrong password" and
// cannot be told apart by latency. Invalid p falls back to
// DefaultHashParams. Run it on a Pool, like a real verification. Safe for
// concurrent use.
func DummyVerify(password string, p HashParams) {
	if p.Validate() != nil {
		p = DefaultHashParams()
	}
	v, _ := dummies.LoadOrStore(p, &dummyEntry{})
	e := v.(*dummyEntry)
	e.once.Do(func() {
		// HashPassword fails only if crypto/rand fails; a fixed salt of the
		// right shape keeps the cost identical in that case.
		phc, err := HashPassword("sessiond dummy password", p)
		if err != nil {
			salt := make([]byte, p.SaltLen)
			key := argon2.IDKey([]byte("x"), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
			phc = fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
				p.Memory, p.Time, p.Threads, phcB64.EncodeToString(salt), phcB64.EncodeToString(key))
		}
		e.phc = phc
	})
	_, _, _ = VerifyPassword(e.phc, password)
}
