package api

import (
	"encoding/json"
	"testing"
)

// FuzzNativeLoginBody drives POST /v1/login with arbitrary bodies: never a
// server error, always a JSON answer, and every refusal in the native error
// shape with a code.
func FuzzNativeLoginBody(f *testing.F) {
	e := newFuzzEnv(f)
	for _, seed := range []string{
		`{"login":"` + fuzzLogin + `","password":"` + fuzzPassword + `"}`,
		``, `null`, `[]`, `"x"`, `{"login":"a","login":"b","password":"p"}`,
		`{"login":"a","password":"p"} {}`, "{\"login\":\"\xff\",\"password\":\"p\"}",
		`{"login":1,"password":true}`, `{"login":"a","password":"p","extra":1}`,
		`{"login":"a\u0000b","password":"p"}`, `{"db":"nope","login":"a","password":"p"}`,
	} {
		f.Add([]byte(seed), uint8(0))
	}
	f.Fuzz(func(t *testing.T, body []byte, ct uint8) {
		r := e.request("POST", "/v1/login", "", body, fuzzContentTypes[int(ct)%len(fuzzContentTypes)])
		rec := e.serve(r)
		check(t, r, rec)
		if rec.Code != 201 {
			var m struct {
				Error struct{ Code string } `json:"error"`
			}
			if json.Unmarshal(rec.Body.Bytes(), &m) != nil || m.Error.Code == "" {
				t.Fatalf("refusal without a native error code: %d %s", rec.Code, rec.Body)
			}
		}
	})
}
