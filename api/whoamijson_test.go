package api

import (
	"bytes"
	"math/rand/v2"
	"net/http/httptest"
	"testing"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/fsm"
)

// whoamiByEncoder is the answer as encoding/json writes it (writeJSON of
// the typed views): what appendWhoami must reproduce byte for byte.
func whoamiByEncoder(sess *fsm.Session, u *fsm.User) []byte {
	rec := httptest.NewRecorder()
	writeJSON(rec, 200, whoamiView{Session: sessionJSON(sess, true), User: userJSON(u)})
	return rec.Body.Bytes()
}

func checkWhoamiBytes(t *testing.T, sess *fsm.Session, u *fsm.User) {
	t.Helper()
	want := whoamiByEncoder(sess, u)
	if got := appendWhoami(nil, sess, u); !bytes.Equal(got, want) {
		t.Fatalf("hand-written whoami differs from encoding/json:\n got %q\nwant %q", got, want)
	}
}

// hostile are strings that make a JSON encoder work: every escape class,
// invalid UTF-8, JavaScript line terminators, HTML characters (not
// escaped by writeJSON), multi-byte runes at the end.
var hostile = []string{"", "plain", `quo"te`, `back\slash`, "\x00\x01\x1f\x7f", "\b\f\n\r\t", "<script>&amp;</script>",
	"\u2028\u2029", "\xff\xfe", "caf\xc3", "Zoë 日本 🎉", "\xed\xa0\x80", "tab\tend\u2029"}

func TestWhoamiJSON_SameBytesAsEncoder(t *testing.T) {
	for i, s := range hostile {
		sess := &fsm.Session{ID: "0123456789abcdef0123456789abcdef", Kind: fsm.Kind(i%4 + 1), DB: s, Name: s, UserAgent: s, ClientAddr: s,
			Created: 1e18 + int64(i), ExpiresAt: int64(i) * 1e17, LastRefresh: -int64(i) * 1e9}
		u := &fsm.User{ID: uint64(i) << 60, DB: s, Login: s, Email: s, Name: s, CompanyName: s, CompanyID: uint64(i),
			Admin: i%2 == 0, Disabled: i%3 == 0, Operator: i%5 == 0, Created: 1, LockedUntil: int64(i), PasswordChanged: 9e18}
		checkWhoamiBytes(t, sess, u)
	}
	// Random bytes, random runes: 2,000 strings, seeded so a failure repeats.
	rng := rand.New(rand.NewPCG(23, 5))
	for range 2000 {
		buf := make([]byte, rng.IntN(24))
		for j := range buf {
			if rng.IntN(3) == 0 {
				buf[j] = byte(rng.IntN(0x20))
			} else {
				buf[j] = byte(rng.IntN(256))
			}
		}
		s := string(buf) + string(rune(rng.IntN(0x10ffff)))
		checkWhoamiBytes(t, &fsm.Session{ID: s, Kind: fsm.KindJWT, Name: s, Digest: auth.DigestToken(s)}, &fsm.User{Name: s, Login: s})
	}
}

// FuzzWhoamiJSON looks further than the table: any string, any time.
func FuzzWhoamiJSON(f *testing.F) {
	for _, s := range hostile {
		f.Add(s, int64(1e18))
	}
	f.Fuzz(func(t *testing.T, s string, ns int64) {
		checkWhoamiBytes(t, &fsm.Session{ID: s, Name: s, UserAgent: s, Created: ns, ExpiresAt: -ns}, &fsm.User{Login: s, Email: s, Created: ns})
	})
}
