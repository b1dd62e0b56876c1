package api

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"os"
	"strings"
)

// The portal's pages: html/template from embed.FS, each page file with
// layout.html. Config.Portal.TemplateDir overrides any of the files by
// name (a custom sign-in page keeps the field names: login, password,
// rd, db, remember_me). The pages need no JavaScript except for passkeys
// (WebAuthn is a script API): passkey.js, served from the embedded files,
// is the only script the CSP allows, on the pages that offer passkeys.

//go:embed portalhtml
var portalFiles embed.FS

// portalPageNames are the pages; each is parsed together with layout.html.
var portalPageNames = []string{"signin.html", "signedin.html", "signedout.html", "error.html", "account.html",
	"secondfactor.html"}

// portalPages are the parsed pages and the stylesheet.
type portalPages struct {
	pages map[string]*template.Template
	css   []byte
	js    []byte // passkey.js, the pages' one script (portalpasskeys.go)
}

// overlayFS reads a file from dir when it is there, else from base.
type overlayFS struct {
	dir  string
	base fs.FS
}

func (o overlayFS) Open(name string) (fs.File, error) {
	if o.dir != "" {
		if f, err := os.DirFS(o.dir).Open(name); err == nil {
			return f, nil
		}
	}
	return o.base.Open(name)
}

// loadPortalPages parses the pages once, at start-up: a bad override
// refuses to start rather than fail on the first visitor.
func loadPortalPages(dir string) (*portalPages, error) {
	base, err := fs.Sub(portalFiles, "portalhtml")
	if err != nil {
		return nil, err
	}
	fsys := overlayFS{dir: dir, base: base}
	p := &portalPages{pages: map[string]*template.Template{}}
	for _, name := range portalPageNames {
		t, err := template.New(name).ParseFS(fsys, name, "layout.html")
		if err != nil {
			return nil, fmt.Errorf("portal template %s: %w", name, err)
		}
		p.pages[name] = t
	}
	if p.css, err = fs.ReadFile(fsys, "portal.css"); err != nil {
		return nil, fmt.Errorf("portal stylesheet: %w", err)
	}
	if p.js, err = fs.ReadFile(fsys, "passkey.js"); err != nil {
		return nil, fmt.Errorf("portal script: %w", err)
	}
	return p, nil
}

// pageData is what every page template gets.
type pageData struct {
	Title, Prefix  string
	Error, Notice  string
	RD             string // the rd to carry on (as given, re-validated on use)
	Continue       string // a validated URL to go on to
	Login, DB      string
	DBs            []string // shown only where several exist
	User           string
	Sessions       []sessionRow
	formActionHost string // the origin sign-in or sign-out may redirect to (CSP)
	// Factor is the account page's second-factor section (portal2fa.go);
	// codes are recovery codes just made, shown once.
	Factor *factorView
	codes  []string
	// newAppPassword is an app password just made, shown once.
	newAppPassword string
	// Passkeys are the account's passkeys; PasskeyOK shows the passkey
	// buttons (a relying party can be named for this request). A page
	// with them loads passkey.js: its CSP allows script-src 'self'.
	Passkeys  []passkeyView
	PasskeyOK bool
}

// portalHeaders are the headers of every portal answer: nothing cached,
// nothing framed, no script, no referrer (rd and the page URL stay here).
func portalHeaders(w http.ResponseWriter, formTo string) {
	h := w.Header()
	csp := "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
	if formTo != "" {
		// Chromium checks form-action on the redirect after a form post,
		// so the origin sign-in sends the browser on to must be listed.
		csp += " " + formTo
	}
	h.Set("Content-Security-Policy", csp)
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}

// render writes a page with status. Rendering goes to a buffer first, so
// a template error is a 500 page, never half a page.
func (s *Server) render(w http.ResponseWriter, status int, page string, d pageData) {
	d.Prefix = s.cfg.Portal.Prefix
	var buf bytes.Buffer
	if err := s.portal.pages[page].Execute(&buf, d); err != nil {
		s.log.Error("portal template", "page", page, "err", err)
		buf.Reset()
		status = http.StatusInternalServerError
		buf.WriteString("<!doctype html><title>Error</title><p>The page could not be shown.</p>")
	}
	portalHeaders(w, d.formActionHost)
	if d.PasskeyOK {
		// The one script, from this origin (no inline script, no eval),
		// and the calls it makes, to this origin.
		w.Header().Set("Content-Security-Policy", w.Header().Get("Content-Security-Policy")+"; script-src 'self'; connect-src 'self'")
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// renderError is the error page.
func (s *Server) renderError(w http.ResponseWriter, status int, msg string) {
	s.render(w, status, "error.html", pageData{Title: http.StatusText(status), Error: msg})
}

// serveCSS serves the stylesheet the CSP allows ('self').
func (s *Server) serveCSS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(s.portal.css)
}

// deviceLabel is a coarse "Browser on OS" from a user agent, for people
// to recognise their devices; "" user agents (API clients) say so.
func deviceLabel(ua string) string {
	if ua == "" {
		return "Unknown device"
	}
	browser := "Unknown browser"
	for _, b := range [...]struct{ token, name string }{
		{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"}, {"Chromium/", "Chromium"},
		{"HeadlessChrome/", "Headless Chrome"}, {"Chrome/", "Chrome"}, {"Safari/", "Safari"},
		{"curl/", "curl"}, {"Go-http-client/", "Go program"}, {"python-requests/", "Python program"},
	} {
		if strings.Contains(ua, b.token) {
			browser = b.name
			break
		}
	}
	os := ""
	for _, o := range [...]struct{ token, name string }{
		{"Android", "Android"}, {"iPhone", "iOS"}, {"iPad", "iPadOS"}, {"CrOS", "ChromeOS"},
		{"Windows", "Windows"}, {"Mac OS X", "macOS"}, {"Macintosh", "macOS"}, {"Linux", "Linux"},
	} {
		if strings.Contains(ua, o.token) {
			os = o.name
			break
		}
	}
	if os == "" {
		return browser
	}
	return browser + " on " + os
}
