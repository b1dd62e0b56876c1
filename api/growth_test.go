package api

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/cluster"
)

// behindProxy trusts loopback as a proxy, so a test can pick the client
// address with X-Forwarded-For.
func behindProxy(_ *cluster.Config, _ *auth.ServiceConfig, c *Config) {
	p, err := ParseTrustedProxies("127.0.0.1")
	if err != nil {
		panic(err)
	}
	c.TrustedProxies = p
}

// Issue 11: 40 registrations were accepted from one address in 4 s. The
// 6th from one address within the hour is refused with 429, Retry-After
// and the JWT envelope; another address still registers, and logins from
// the first are not throttled by it.
func TestRegister_PerAddressBudget(t *testing.T) {
	e := newTestEnv(t, behindProxy)
	e.waitActiveKey()
	e.patchSettings(map[string]any{"signup_enabled": true})
	reg := func(i int, addr string) resp {
		return e.raw("POST", "/api/register", form("email", "flood"+strconv.Itoa(i)+"@example.com", "name", "F", "password", "flood-password"),
			formCT, "X-Forwarded-For: "+addr)
	}
	for i := 0; i < auth.DefaultRegisterBurst; i++ {
		if r := reg(i, "198.51.100.7"); r.Status != 200 {
			t.Fatalf("registration %d: %d %s", i+1, r.Status, r.Body)
		}
	}
	r := reg(99, "198.51.100.7")
	wantJSON(t, r, 429, `{"success": false, "message": "Too many attempts, try again later", "data": null}`)
	if ra, _ := strconv.Atoi(r.Header.Get("Retry-After")); ra < 60 {
		t.Fatalf("Retry-After %q", r.Header.Get("Retry-After"))
	}
	if _, ok := e.node.FSM().State().UserByLogin("sessiond", "flood99@example.com"); ok {
		t.Fatal("the refused registration created an account")
	}
	if r := reg(100, "198.51.100.8"); r.Status != 200 {
		t.Fatalf("another address: %d %s", r.Status, r.Body)
	}
	if r := e.raw("POST", "/api/login", form("email", "flood0@example.com", "password", "flood-password"), formCT,
		"X-Forwarded-For: 198.51.100.7"); r.Status != 200 {
		t.Fatalf("login from the registering address: %d %s", r.Status, r.Body)
	}
}

// Issue 11: registration could claim an e-mail another account already
// held, which /api/me then reported for the attacker. Now the address is
// refused at register ("Email address already existed") and at admin
// create and update (409 email_exists), and /api/me of the victim is the
// only one that shows it.
func TestEmailUnique_RegisterAndAdmin(t *testing.T) {
	e := newTestEnv(t)
	e.waitActiveKey()
	e.createUser("alice", "alice-password", map[string]any{"email": "Alice@Example.com"})
	e.patchSettings(map[string]any{"signup_enabled": true})
	wantJSON(t, e.raw("POST", "/api/register", form("email", "alice@example.com", "name", "Mallory", "password", "mallory-password"), formCT),
		400, `{"success": false, "message": "Email address already existed", "data": null}`)
	if r := e.raw("POST", "/api/login", form("email", "alice@example.com", "password", "mallory-password"), formCT); r.Status == 200 {
		t.Fatalf("the impersonating account exists: %s", r.Body)
	}
	for _, u := range e.node.FSM().State().Users("") {
		if strings.EqualFold(u.Email, "alice@example.com") && u.Login != "alice" {
			t.Fatalf("another account holds alice's address: %+v", u)
		}
	}
	r := e.do("POST", "/v1/users", map[string]any{"login": "bob", "password": "bob-password", "email": "ALICE@example.com"}, bearerH(e.admin))
	if r.Status != http.StatusConflict || r.json(t)["error"].(map[string]any)["code"] != "email_exists" {
		t.Fatalf("admin create with a taken e-mail: %d %s", r.Status, r.Body)
	}
	bob := e.createUser("bob", "bob-password", map[string]any{"email": "bob@example.com"})
	r = e.do("PATCH", "/v1/users/"+itoa(bob), map[string]any{"email": "alice@EXAMPLE.com"}, bearerH(e.admin))
	if r.Status != http.StatusConflict || r.json(t)["error"].(map[string]any)["code"] != "email_exists" {
		t.Fatalf("admin update to a taken e-mail: %d %s", r.Status, r.Body)
	}
	// A registration whose address is another account's login is refused too.
	e.createUser("carol@example.com", "carol-password", nil)
	wantJSON(t, e.raw("POST", "/api/register", form("email", "CAROL@example.com", "name", "C", "password", "mallory-password"), formCT),
		400, `{"success": false, "message": "Email address already existed", "data": null}`)
}

// Issue 11: an imported hash asking for 1 GiB and t=64 took 2 min 13 s and
// 1.1 GB per login. It is refused at import with 400 and a message naming
// the bound, as are bcrypt costs above 13; common settings are accepted.
func TestImportHash_Bounded(t *testing.T) {
	e := newTestEnv(t)
	huge := "$argon2id$v=19$m=1048576,t=64,p=1$c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"
	r := e.do("POST", "/v1/users", map[string]any{"login": "huge", "password_hash": huge}, bearerH(e.admin))
	if r.Status != 400 {
		t.Fatalf("1 GiB/t=64 import: %d %s", r.Status, r.Body)
	}
	m := r.json(t)["error"].(map[string]any)
	if m["code"] != "bad_hash" || !strings.Contains(m["message"].(string), "out of range") {
		t.Fatalf("body %s", r.Body)
	}
	bc := "$2b$15$" + strings.Repeat("a", 53)
	if r := e.do("POST", "/v1/users", map[string]any{"login": "costly", "password_hash": bc}, bearerH(e.admin)); r.Status != 400 {
		t.Fatalf("bcrypt cost 15 import: %d %s", r.Status, r.Body)
	}
	ok, err := auth.HashPassword("imported-password", auth.DefaultHashParams())
	if err != nil {
		t.Fatal(err)
	}
	e.createUser("imported", "", map[string]any{"password": nil, "password_hash": ok})
	e.login("imported", "imported-password")
}
