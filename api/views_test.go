package api

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/sessiond/sessiond/fsm"
)

// The typed views replaced maps on the validation path; their bytes must
// stay those a map gives (keys sorted), so clients see no change. Decoding
// into a map and encoding again must give the same bytes.
func TestViews_SameBytesAsMaps(t *testing.T) {
	sess := &fsm.Session{ID: "s1", Kind: fsm.KindNative, DB: "main", Created: 1e18, ExpiresAt: 2e18,
		Name: "laptop", UserAgent: "curl/8", ClientAddr: "127.0.0.1"}
	u := &fsm.User{ID: 7, DB: "main", Login: "ann", Email: "ann@example.com", Name: "Ann",
		CompanyID: 1, CompanyName: "Acme", Admin: true, Created: 1e18}
	for name, v := range map[string]any{
		"session": sessionJSON(sess, true),
		"user":    userJSON(u),
		"whoami":  whoamiView{Session: sessionJSON(sess, false), User: userJSON(u)},
	} {
		typed, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(typed, &m); err != nil {
			t.Fatal(err)
		}
		again, _ := json.Marshal(m)
		if !bytes.Equal(typed, again) {
			t.Errorf("%s: typed view\n%s\ndiffers from the map encoding\n%s", name, typed, again)
		}
	}
}
