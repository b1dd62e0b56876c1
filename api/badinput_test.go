package api

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestBadInput_NativeJSON drives every JSON-taking native endpoint with the
// malformed bodies of docs/RELIABILITY.md: each must be refused with a clear
// error and change nothing.
func TestBadInput_NativeJSON(t *testing.T) {
	e := newTestEnv(t)
	e.createUser("alice", "alice-password", nil)
	bodies := []struct {
		name, body string
		want       int
	}{
		{"empty", "", 400},
		{"null", "null", 400},
		{"array", `[{"login":"alice","password":"alice-password"}]`, 400},
		{"scalar", `"alice"`, 400},
		{"number", `42`, 400},
		{"truncated", `{"login":"alice","password":"alice-pa`, 400},
		{"trailing", `{"login":"alice","password":"alice-password"} {}`, 400},
		{"trailing garbage", `{"login":"alice","password":"alice-password"}x`, 400},
		{"unknown field", `{"login":"alice","password":"alice-password","admin":true}`, 400},
		{"duplicate key", `{"login":"mallory","login":"alice","password":"alice-password"}`, 400},
		{"wrong type", `{"login":42,"password":"alice-password"}`, 400},
		{"deep nesting", `{"login":"alice","password":"alice-password","name":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, 400},
		{"invalid utf8", "{\"login\":\"ali\xffce\",\"password\":\"alice-password\"}", 400},
		{"missing password", `{"login":"alice"}`, 400},
		{"empty login", `{"login":"","password":"alice-password"}`, 400},
		{"control char login", `{"login":"ali\u0000ce","password":"alice-password"}`, 400},
		{"over-long login", `{"login":"` + strings.Repeat("a", 300) + `","password":"alice-password"}`, 400},
		{"over-long password", `{"login":"alice","password":"` + strings.Repeat("p", 2000) + `"}`, 400},
		{"over limit", `{"login":"alice","password":"` + strings.Repeat("p", 20000) + `"}`, 413},
	}
	before := e.node.FSM().AppliedIndex()
	for _, b := range bodies {
		t.Run(b.name, func(t *testing.T) {
			r := e.do("POST", "/v1/login", b.body)
			if r.Status != b.want {
				t.Fatalf("status %d, want %d: %s", r.Status, b.want, r.Body)
			}
			m := r.json(t)
			if _, ok := m["error"].(map[string]any)["code"]; !ok {
				t.Fatalf("no error code: %s", r.Body)
			}
		})
	}
	if after := e.node.FSM().AppliedIndex(); after != before {
		t.Fatalf("bad input changed the state: index %d -> %d", before, after)
	}
	// The same malformed bodies on an admin endpoint.
	for _, b := range bodies[:13] {
		if b.name == "unknown field" { // "admin" is a field of this endpoint
			b.body = `{"login":"x1","password":"alice-password","bogus":1}`
		}
		if r := e.do("POST", "/v1/users", b.body, bearerH(e.admin)); r.Status != 400 {
			t.Errorf("POST /v1/users %s: %d", b.name, r.Status)
		}
	}
}

func TestBadInput_ContentTypeMethodPath(t *testing.T) {
	e := newTestEnv(t)
	req, _ := http.NewRequest("POST", e.URL+"/v1/login", strings.NewReader(`login=a&password=b`))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 415 {
		t.Fatalf("form body on native login: %d", res.StatusCode)
	}
	r := e.do("GET", "/v1/login", nil)
	if r.Status != 405 || !strings.Contains(r.Header.Get("Allow"), "POST") {
		t.Fatalf("wrong method: %d Allow=%q", r.Status, r.Header.Get("Allow"))
	}
	if r.json(t)["error"] == nil {
		t.Fatal("405 without JSON error")
	}
	if r := e.do("GET", "/v1/nope", nil); r.Status != 404 || r.json(t)["error"] == nil {
		t.Fatalf("unknown path: %d %s", r.Status, r.Body)
	}
}

func TestBadInput_Tokens(t *testing.T) {
	e := newTestEnv(t)
	e.createUser("bob", "bob-password", nil)
	good := e.login("bob", "bob-password")
	cases := []struct {
		name, header string
		want         int
	}{
		{"missing", "", 401},
		{"empty", "Authorization: ", 401},
		{"wrong scheme", "Authorization: Token " + good, 401},
		{"basic", "Authorization: Basic Ym9iOmJvYi1wYXNzd29yZA==", 401},
		{"short", "Authorization: Bearer abc", 401},
		{"uppercase hex", "Authorization: Bearer " + strings.ToUpper(good), 401},
		{"non hex", "Authorization: Bearer " + strings.Repeat("z", 64), 401},
		{"10KB", "Authorization: Bearer " + strings.Repeat("a", 10000), 401},
		{"extra part", "Authorization: Bearer " + good + " x", 401},
		{"unknown", "Authorization: Bearer " + strings.Repeat("a", 64), 401},
		{"good lower-case scheme", "Authorization: bearer " + good, 200},
	}
	for _, c := range cases {
		var hs []string
		if c.header != "" {
			hs = append(hs, c.header)
		}
		if r := e.do("GET", "/v1/session", nil, hs...); r.Status != c.want {
			t.Errorf("%s: %d, want %d", c.name, r.Status, c.want)
		}
	}
	if r := e.do("GET", "/v1/session?consistency=bogus", nil, bearerH(good)); r.Status != 400 {
		t.Errorf("bad consistency level: %d", r.Status)
	}
}

// TestBadInput_SlowAndHugeHeaders checks the server-level limits: a client
// that never finishes its headers is cut off, and huge headers get 431.
func TestBadInput_SlowAndHugeHeaders(t *testing.T) {
	e := newTestEnv(t)
	hs := e.srv.HTTPServer("127.0.0.1:0")
	hs.ReadHeaderTimeout = 300 * time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n") // never ends the headers
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1)
	if _, err := conn.Read(buf); err == nil {
		// A 408 response is also acceptable; what matters is no hang.
		t.Log("server answered the slow client before closing")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("server kept a slow-header connection open past ReadHeaderTimeout")
	}

	c2, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	fmt.Fprintf(c2, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", strings.Repeat("a", 100<<10))
	c2.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c2).ReadString('\n')
	if err != nil || !strings.Contains(line, "431") {
		t.Fatalf("huge header: %q %v", line, err)
	}
}
