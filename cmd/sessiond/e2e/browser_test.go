package e2e

import (
	"context"
	"fmt"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/sessiond/sessiond/api/client"
	"github.com/sessiond/sessiond/internal/browsertest"
)

// TestBrowser_Portal: a real browser (Debian's chromium, driven over the
// DevTools protocol by chromedp) through the shipped nginx.conf and
// Caddyfile in front of a 3-node cluster, as a person uses the portal:
// the app sends the browser to the portal, sign-in brings it back to the
// URL it asked for; a second browser context signs in; the first sees
// both sessions on the account page and signs the other out, whose next
// request through any node goes to the portal; the node that served the
// sign-in is killed and the browser stays signed in through the others;
// sign-out sends it to the portal again.
func TestBrowser_Portal(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts chromium and two proxies; skipped under -short")
	}
	chromium := browsertest.Chromium(t)
	bins := map[string]string{}
	for _, b := range []string{"nginx", "caddy"} {
		if p, err := exec.LookPath(b); err == nil {
			bins[b] = p
		} else if p := "/usr/sbin/" + b; fileExists(p) {
			bins[b] = p
		}
	}
	nodes := startCluster(t, "--trusted-proxies", "127.0.0.1/32")
	root := startChromium(t, chromium)
	admin := login2(t, nodes[0], "admin", adminPassword)
	up := upstream(t)
	c := proxyConf{Upstream: up}
	for _, n := range nodes {
		c.Nodes = append(c.Nodes, strings.TrimPrefix(n.apiURL, "http://"))
	}
	for _, name := range []string{"nginx", "caddy"} {
		t.Run(name, func(t *testing.T) {
			if bins[name] == "" {
				t.Skipf("%s not installed (apt-get install %s)", name, name)
			}
			user := "pat-" + name
			if _, err := nodes[0].client().CreateUser(ctxT(t, 10*time.Second), admin,
				client.NewUser{Login: user, Password: "pat-password-123", Name: "Pat"}); err != nil {
				t.Fatal(err)
			}
			base := "http://" + startFront(t, name, bins, c)
			checkBrowser(t, root, base, user, nodes)
		})
	}
}

// startChromium starts chromium (headless, its own profile) once for the
// test; each walk opens its own browser contexts in it.
func startChromium(t *testing.T, chromium string) context.Context {
	t.Helper()
	return browsertest.Browser(t, chromium, 4*time.Minute)
}

// newBrowserCtx opens a tab in a browser context of its own (its own
// cookie jar: another person's browser).
func newBrowserCtx(t *testing.T, root context.Context) context.Context {
	t.Helper()
	c, cancel := chromedp.NewContext(root, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(c); err != nil {
		t.Fatal(err)
	}
	return c
}

// browse runs browser steps with a deadline, failing the test on error.
func browse(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// read runs one browser query with a deadline.
func read[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// page is where the browser is and the text it shows.
func page(t *testing.T, ctx context.Context) (at, text string) {
	t.Helper()
	return read(t, ctx, "location", chromedp.Location()), read(t, ctx, "page text", chromedp.Text(chromedp.CSS("body")))
}

// visit navigates to u and returns where the browser ends and its text.
func visit(t *testing.T, ctx context.Context, u string) (at, text string) {
	t.Helper()
	browse(t, ctx, "visit "+u, chromedp.Navigate(u))
	return page(t, ctx)
}

// signInHere fills and sends the sign-in form the browser is on.
func signInHere(t *testing.T, ctx context.Context, user string) (at, text string) {
	t.Helper()
	browse(t, ctx, "sign in as "+user,
		chromedp.WaitVisible(chromedp.ID("login")),
		chromedp.SendKeys(chromedp.ID("login"), user),
		chromedp.SendKeys(chromedp.ID("password"), "pat-password-123"),
		chromedp.Click(chromedp.ID("signin")),
		chromedp.WaitNotPresent(chromedp.ID("signin")))
	return page(t, ctx)
}

func atPortal(at, base string) bool { return strings.HasPrefix(at, base+"/auth/") }

// sessionRows counts the rows of the account page's sessions table.
func sessionRows(t *testing.T, ctx context.Context) int {
	return read(t, ctx, "session rows", chromedp.Evaluate[int](`document.querySelectorAll("#sessions tbody tr").length`))
}

func checkBrowser(t *testing.T, root context.Context, base, user string, nodes []*node) {
	start := time.Now()
	a, b := newBrowserCtx(t, root), newBrowserCtx(t, root)
	// Which node served the sign-in: its X-Sessiond-Node, read off the
	// 303 the sign-in answers.
	var mu sync.Mutex
	var signedInOn string
	browse(t, a, "network events", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, network.Enable, network.EnableParams{})
		return err
	}))
	if err := chromedp.Listen(a, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok && e.RedirectResponse != nil && strings.HasSuffix(e.RedirectResponse.URL, "/auth/signin") {
			if v, ok := e.RedirectResponse.Headers["X-Sessiond-Node"].(string); ok {
				mu.Lock()
				signedInOn = v
				mu.Unlock()
			}
		}
	}); err != nil {
		t.Fatal(err)
	}

	orig := base + "/app/page?x=1&y=%C3%A9"
	at, _ := visit(t, a, orig)
	if !atPortal(at, base) || !strings.Contains(at, "rd="+url.QueryEscape(orig)) {
		t.Fatalf("the app sent the browser to %s, want the portal with rd", at)
	}
	at, text := signInHere(t, a, user)
	if at != orig || !strings.Contains(text, user) {
		t.Fatalf("after sign-in the browser is at %s (%q), want %s", at, text, orig)
	}
	if strings.Contains(text, "sessiond=") { // the app echoes the Cookie header it got
		t.Fatalf("the portal's cookie reached the app: %s", text)
	}
	t.Logf("step signed in: %s", time.Since(start))
	// A second person's browser signs in too.
	if at, _ := visit(t, b, base+"/app/other"); !atPortal(at, base) {
		t.Fatalf("second browser: %s", at)
	}
	if at, _ := signInHere(t, b, user); at != base+"/app/other" {
		t.Fatalf("second browser after sign-in: %s", at)
	}
	// The first sees both sessions and signs the other out.
	browse(t, a, "account page", chromedp.Navigate(base+"/auth/account"), chromedp.WaitVisible(chromedp.ID("sessions")))
	if n := sessionRows(t, a); n != 2 {
		t.Fatalf("account page lists %d sessions, want 2", n)
	}
	browse(t, a, "sign out the other browser",
		chromedp.Click(chromedp.CSS(`#sessions tbody tr:not(.current) button`)),
		chromedp.WaitVisible(chromedp.CSS(".notice")))
	notice := read(t, a, "notice", chromedp.Text(chromedp.CSS(".notice")))
	if n := sessionRows(t, a); n != 1 || !strings.Contains(notice, "signed out") {
		t.Fatalf("after signing out the other browser: %d rows, notice %q", n, notice)
	}
	// Its next request, through whichever node, goes to the portal: once
	// the revocation is applied everywhere (within the read lease), three
	// in a row.
	eventually(t, 5*time.Second, "the other browser to be sent to the portal", func() error {
		for i := 0; i < 3; i++ {
			if at, _ := visit(t, b, base+"/app/other"); !atPortal(at, base) {
				return fmt.Errorf("request %d reached %s", i, at)
			}
		}
		return nil
	})
	t.Logf("step other signed out: %s", time.Since(start))
	// Kill the node that served the first sign-in: still signed in.
	mu.Lock()
	victimID := signedInOn
	mu.Unlock()
	var victim *node
	var alive []*node
	for _, n := range nodes {
		if n.id == victimID {
			victim = n
		} else {
			alive = append(alive, n)
		}
	}
	if victim == nil {
		t.Fatalf("the sign-in's X-Sessiond-Node %q names no node", victimID)
	}
	if err := victim.Kill(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		victim.restart()
		waitReady(t, nodes...)
	}()
	waitReady(t, alive...)
	eventually(t, waitLong, "the app through the surviving nodes", func() error {
		for i := 0; i < 3; i++ {
			if at, text := visit(t, a, orig); at != orig || !strings.Contains(text, user) {
				return fmt.Errorf("request %d: at %s", i, at)
			}
		}
		return nil
	})
	t.Logf("step survived kill: %s", time.Since(start))
	// Sign out: the app sends the browser to the portal again.
	browse(t, a, "sign out", chromedp.Navigate(base+"/auth/signout"), chromedp.WaitVisible(chromedp.ID("signout")),
		chromedp.Click(chromedp.ID("signout")), chromedp.WaitVisible(chromedp.ID("signin-again")))
	eventually(t, 5*time.Second, "the signed-out browser to be sent to the portal", func() error {
		if at, _ := visit(t, a, orig); !atPortal(at, base) {
			return fmt.Errorf("reached %s", at)
		}
		return nil
	})
	version := read(t, a, "user agent", chromedp.Evaluate[string](`navigator.userAgent`))
	t.Logf("browser walk through %s: %s (%s)", base, time.Since(start).Round(time.Millisecond), version)
}
