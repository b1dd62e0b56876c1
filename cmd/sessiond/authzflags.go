package main

import (
	"flag"
	"fmt"
	"net/http"
	"strings"

	"github.com/sessiond/sessiond/api"
)

// AuthzFlags configure forward auth (GET /v1/authz; docs/deploy/README.md).
type AuthzFlags struct {
	LoginURL      string // --authz-login-url: where a browser without a session is sent
	RedirectHosts string // --authz-redirect-hosts: hosts the original URL may name
	RulesFile     string // --authz-rules: per-path rules (JSON)
	CORSOrigins   string // --jwt-cors-origins: origins whose pages may call the JWT dialect (api/crossorigin.go)
	rules         []api.AuthzRule
}

func authzFlags(fs *flag.FlagSet, a *AuthzFlags) {
	fs.StringVar(&a.LoginURL, "authz-login-url", "", "forward auth: `URL` of the login page a browser without a session is redirected to")
	fs.StringVar(&a.RedirectHosts, "authz-redirect-hosts", "", "forward auth: comma-separated `hosts` the original URL of a redirect may name (no open redirect)")
	fs.StringVar(&a.RulesFile, "authz-rules", "", "forward auth: `file` of per-path rules (JSON; see docs/deploy/README.md)")
	fs.StringVar(&a.CORSOrigins, "jwt-cors-origins", "", "comma-separated `origins` (https://app.example.com) whose pages may call the JWT dialect (/api/) from a browser; * for any (the seed's behaviour); none by default")
}

// load reads the rules file once, at start-up: a bad file refuses to start
// rather than fail open.
func (a *AuthzFlags) load() error {
	check := http.NewCrossOriginProtection() // the API's own rules for an origin
	for _, o := range strings.Split(a.CORSOrigins, ",") {
		if o = strings.TrimSpace(o); o != "" && o != "*" {
			if err := check.AddTrustedOrigin(o); err != nil {
				return fmt.Errorf("--jwt-cors-origins: %w (want scheme://host[:port], or *)", err)
			}
		}
	}
	if a.RulesFile == "" {
		return nil
	}
	rules, err := api.LoadAuthzRules(a.RulesFile)
	if err != nil {
		return fmt.Errorf("--authz-rules %s: %w", a.RulesFile, err)
	}
	a.rules = rules
	return nil
}

func (a AuthzFlags) apply(ac *api.Config) {
	ac.AuthzLoginURL = a.LoginURL
	for _, h := range strings.Split(a.RedirectHosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			ac.AuthzRedirectHosts = append(ac.AuthzRedirectHosts, h)
		}
	}
	ac.AuthzRules = a.rules
	for _, o := range strings.Split(a.CORSOrigins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			ac.JWTCORSOrigins = append(ac.JWTCORSOrigins, o)
		}
	}
}
