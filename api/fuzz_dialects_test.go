package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/cluster"
	"github.com/sessiond/sessiond/fsm"
)

// fuzzEnv is one real single-node cluster shared by every input of a fuzz
// target; requests go straight to the handler through a recorder.
type fuzzEnv struct {
	srv  *Server
	h    http.Handler
	addr atomic.Uint64
	// Valid credentials of every kind, for the seed corpus.
	sid, knox, jwt, native string
}

const (
	fuzzLogin    = "fuzz@odoo.com"
	fuzzPassword = "fuzz-password"
)

func newFuzzEnv(f *testing.F) *fuzzEnv {
	f.Helper()
	tn := startTestNode(f, "f1", "http://127.0.0.1:1", func(c *cluster.Config, _ *auth.ServiceConfig, ac *Config) { // one node: nothing is forwarded
		c.MaxStale = time.Second
		ac.JWTSecret = testJWTSecret
	})
	node, svc, srv := tn.node, tn.svc, tn.srv
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := svc.CreateUser(ctx, auth.NewUser{Login: fuzzLogin, Password: fuzzPassword, Name: "Fuzz"}); err != nil {
		f.Fatal(err)
	}
	set := node.FSM().State().Settings()
	set.SignupEnabled, set.LockoutThreshold = true, 0 // exercise register; never lock the fixture user
	if _, err := node.Apply(ctx, &fsm.SetSettings{Settings: set}); err != nil {
		f.Fatal(err)
	}
	e := &fuzzEnv{srv: srv, h: srv.Handler()}
	login := func(path, body, ctype string) map[string]any {
		rec := e.serve(e.request("POST", path, "", []byte(body), ctype))
		var m map[string]any
		if rec.Code/100 != 2 || json.Unmarshal(rec.Body.Bytes(), &m) != nil {
			f.Fatalf("fixture login %s: %d %s", path, rec.Code, rec.Body)
		}
		return m
	}
	creds := `{"login":"` + fuzzLogin + `","password":"` + fuzzPassword + `"}`
	e.sid = login("/session/auth/login", creds, "application/json")["session"].(map[string]any)["sid"].(string)
	e.native = login("/v1/login", creds, "application/json")["token"].(string)
	e.knox = login("/auth/login/", `{"username":"`+fuzzLogin+`","password":"`+fuzzPassword+`"}`, "application/json")["token"].(string)
	e.jwt = login("/api/login", "email="+fuzzLogin+"&password="+fuzzPassword, formCT)["data"].(map[string]any)["token"].(string)
	return e
}

// request builds a request with an arbitrary raw query, from a client
// address that changes per input so the address throttle does not hide
// the paths behind it.
func (e *fuzzEnv) request(method, path, rawQuery string, body []byte, ctype string) *http.Request {
	r := httptest.NewRequest(method, path, bytes.NewReader(body))
	r.URL.RawQuery = rawQuery
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	n := e.addr.Add(1)
	r.RemoteAddr = "10." + strconv.Itoa(int(n>>16&255)) + "." + strconv.Itoa(int(n>>8&255)) + "." + strconv.Itoa(int(n&255)) + ":4711"
	return r
}

func (e *fuzzEnv) serve(r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, r)
	return rec
}

// check asserts what every answer to arbitrary input must hold: no
// server error (a panic would be recovered into a 500) and, when there is
// a body, a JSON one.
func check(t *testing.T, r *http.Request, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code >= 500 {
		t.Fatalf("%s %s: %d %s", r.Method, r.URL.Path, rec.Code, rec.Body)
	}
	if rec.Body.Len() > 0 && !json.Valid(rec.Body.Bytes()) {
		t.Fatalf("%s %s: %d non-JSON body %q", r.Method, r.URL.Path, rec.Code, rec.Body)
	}
}

var fuzzContentTypes = []string{"application/json", formCT, "", "multipart/form-data; boundary=XX", "text/plain", "application/json; charset=utf-8"}

func FuzzOdooLoginParams(f *testing.F) {
	e := newFuzzEnv(f)
	f.Add("", []byte(`{"login":"`+fuzzLogin+`","password":"`+fuzzPassword+`"}`), uint8(0))
	f.Add("login="+fuzzLogin+"&password="+fuzzPassword+"&db=sessiond", []byte(nil), uint8(2))
	f.Add("db=%zz&login[]=a", []byte(`{"db":"x","login":null,"password":1}`), uint8(0))
	f.Add("session_id="+e.sid, []byte(`{"login":"a","login":"b"}`), uint8(5))
	f.Add("", []byte("{\"login\":\"\xff\"}"), uint8(1))
	f.Fuzz(func(t *testing.T, query string, body []byte, ct uint8) {
		r := e.request("POST", "/session/auth/login", query, body, fuzzContentTypes[int(ct)%len(fuzzContentTypes)])
		rec := e.serve(r)
		check(t, r, rec)
		if rec.Code != 200 {
			var m map[string]any
			json.Unmarshal(rec.Body.Bytes(), &m)
			if m["code"] != float64(rec.Code) || m["name"] == nil {
				t.Fatalf("error not in base_rest's shape: %d %s", rec.Code, rec.Body)
			}
		}
	})
}

func FuzzJWTLoginBody(f *testing.F) {
	e := newFuzzEnv(f)
	f.Add([]byte("email="+fuzzLogin+"&password="+fuzzPassword), uint8(1), false)
	f.Add([]byte(`{"email":"`+fuzzLogin+`","password":"`+fuzzPassword+`"}`), uint8(0), false)
	f.Add([]byte("--XX\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\na@b.c\r\n--XX--\r\n"), uint8(3), false)
	f.Add([]byte(`{"email":"new@odoo.com","name":"N","password":"new-password"}`), uint8(0), true)
	f.Add([]byte("email=bad&name=&password="), uint8(1), true)
	f.Add([]byte(`{"email":1,"password":[]}`), uint8(5), false)
	f.Fuzz(func(t *testing.T, body []byte, ct uint8, register bool) {
		path := "/api/login"
		if register {
			path = "/api/register"
		}
		r := e.request("POST", path, "", body, fuzzContentTypes[int(ct)%len(fuzzContentTypes)])
		rec := e.serve(r)
		check(t, r, rec)
		var m map[string]any
		if json.Unmarshal(rec.Body.Bytes(), &m) != nil || len(m) != 3 || m["success"] != (rec.Code == 200) {
			t.Fatalf("not the envelope: %d %s", rec.Code, rec.Body)
		}
	})
}

func FuzzKnoxLoginBody(f *testing.F) {
	e := newFuzzEnv(f)
	f.Add([]byte(`{"username":"`+fuzzLogin+`","password":"`+fuzzPassword+`"}`), uint8(0))
	f.Add([]byte("username="+fuzzLogin+"&password="+fuzzPassword), uint8(1))
	f.Add([]byte(`{"username":null,"password":1.5e3}`), uint8(2))
	f.Add([]byte(`{"username":" ","password":"a\u0000"}`), uint8(0))
	f.Add([]byte(`[1,2]`), uint8(4))
	f.Fuzz(func(t *testing.T, body []byte, ct uint8) {
		r := e.request("POST", "/auth/login/", "", body, fuzzContentTypes[int(ct)%len(fuzzContentTypes)])
		rec := e.serve(r)
		check(t, r, rec)
		if rec.Code == 200 {
			var m map[string]any
			if json.Unmarshal(rec.Body.Bytes(), &m) != nil || !auth.ValidTokenSyntax(m["token"].(string), auth.TokenLen) {
				t.Fatalf("login answer %s", rec.Body)
			}
		}
	})
}

// tokenRoutes are the endpoints that read a token, with the method each
// is called with.
var tokenRoutes = []struct{ method, path string }{
	{"GET", "/api/me"}, {"POST", "/api/logout"}, {"POST", "/session/auth/logout"},
	{"POST", "/auth/logout/"}, {"POST", "/auth/logoutall/"}, {"GET", "/v1/session"},
}

func FuzzTokenHeaders(f *testing.F) {
	e := newFuzzEnv(f)
	f.Add("Bearer "+e.jwt, "", "", "", uint8(0))
	f.Add("Token "+e.knox, "", "", "", uint8(3))
	f.Add("", e.sid, "session_id="+e.sid, "", uint8(2))
	f.Add("", "", "", e.sid, uint8(2))
	f.Add("Bearer "+e.native, "", "", "", uint8(5))
	f.Add("token  "+e.knox+" x", "", "session_id", "%", uint8(4))
	f.Add("Bearer "+strings.Repeat("a", 10<<10), strings.Repeat("b", 40), "session_id=;session_id="+e.sid, "", uint8(1))
	f.Add("x eyJhbGciOiJub25lIn0.e30.", "", "", "", uint8(0))
	f.Fuzz(func(t *testing.T, authz, sidHeader, cookie, param string, route uint8) {
		rt := tokenRoutes[int(route)%len(tokenRoutes)]
		q := ""
		if param != "" {
			q = "session_id=" + param // raw: the query parser must cope
		}
		r := e.request(rt.method, rt.path, q, nil, "")
		for k, v := range map[string]string{"Authorization": authz, "X-Openerp-Session-Id": sidHeader, "Cookie": cookie} {
			if v != "" {
				r.Header.Set(k, v)
			}
		}
		rec := e.serve(r)
		check(t, r, rec)
		switch {
		case rec.Code == 200:
		case strings.HasPrefix(rt.path, "/api/"):
			if rec.Code != statusTokenInvalid && rec.Code != 400 {
				t.Fatalf("jwt dialect answered %d", rec.Code)
			}
		case rec.Code != 401 && rec.Code != 400:
			t.Fatalf("%s answered %d", rt.path, rec.Code)
		}
	})
}
