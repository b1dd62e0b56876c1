package main

import (
	"flag"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/sessiond/sessiond/api"
)

// PortalFlags configure the login portal (api/portal.go; README,
// "Protect a web app for people with a browser").
type PortalFlags struct {
	Prefix     string        // --portal-prefix: "" serves no portal
	Templates  string        // --portal-templates: directory overriding the pages
	Inactivity time.Duration // --portal-inactivity: host-only cookies
	Expiration time.Duration // --portal-expiration
	RememberMe time.Duration // --portal-remember-me
	Domains    cookieDomains // --portal-cookie-domain, repeatable
}

func portalFlags(fs *flag.FlagSet, p *PortalFlags) {
	p.Prefix = api.DefaultPortalPrefix
	fs.StringVar(&p.Prefix, "portal-prefix", p.Prefix, "login portal: `path` its pages are served under (\"\" = no portal)")
	fs.StringVar(&p.Templates, "portal-templates", "", "login portal: `directory` whose files override the built-in pages by name")
	fs.DurationVar(&p.Inactivity, "portal-inactivity", api.DefaultPortalInactivity, "login portal: a browser session unused this long ends")
	fs.DurationVar(&p.Expiration, "portal-expiration", api.DefaultPortalExpiration, "login portal: a browser session ends this long after sign-in")
	fs.DurationVar(&p.RememberMe, "portal-remember-me", api.DefaultPortalRememberMe, "login portal: lifetime of a session signed in with \"keep me signed in\"")
	fs.Var(&p.Domains, "portal-cookie-domain", "login portal: a cookie `domain` and its settings, repeatable: "+
		"domain=example.com[,portal=URL][,default=URL][,inactivity=D][,expiration=D][,remember_me=D]")
}

// cookieDomains is the repeatable --portal-cookie-domain.
type cookieDomains []api.CookieDomain

func (c *cookieDomains) String() string {
	if c == nil {
		return ""
	}
	var out []string
	for _, d := range *c {
		out = append(out, d.Domain)
	}
	return strings.Join(out, " ")
}

// Set parses one domain's settings; anything unknown or malformed
// refuses to start.
func (c *cookieDomains) Set(v string) error {
	d, err := parseCookieDomain(v)
	if err != nil {
		return err
	}
	*c = append(*c, d)
	return nil
}

func parseCookieDomain(v string) (api.CookieDomain, error) {
	var d api.CookieDomain
	for _, kv := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || val == "" {
			return d, fmt.Errorf("%q: want key=value", kv)
		}
		var err error
		switch k {
		case "domain":
			d.Domain = strings.ToLower(strings.TrimPrefix(val, "."))
			if strings.ContainsAny(d.Domain, ":/ ") || !strings.Contains(d.Domain, ".") {
				return d, fmt.Errorf("domain %q: want a DNS name with a dot (example.com), no port", val)
			}
		case "portal":
			d.PortalURL, err = absURL(k, val)
		case "default":
			d.DefaultRedirect, err = absURL(k, val)
		case "inactivity":
			d.Inactivity, err = positiveDuration(k, val)
		case "expiration":
			d.Expiration, err = positiveDuration(k, val)
		case "remember_me":
			d.RememberMe, err = positiveDuration(k, val)
		default:
			return d, fmt.Errorf("unknown key %q (domain, portal, default, inactivity, expiration, remember_me)", k)
		}
		if err != nil {
			return d, err
		}
	}
	if d.Domain == "" {
		return d, fmt.Errorf("%q: domain= is required", v)
	}
	return d, nil
}

func absURL(k, v string) (string, error) {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return "", fmt.Errorf("%s=%q: want an absolute http(s) URL", k, v)
	}
	return u.String(), nil
}

func positiveDuration(k, v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s=%q: want a positive duration (90m, 12h)", k, v)
	}
	return d, nil
}

func (p PortalFlags) apply(ac *api.Config) {
	ac.Portal = api.PortalConfig{Prefix: p.Prefix, Cookies: p.Domains, TemplateDir: p.Templates,
		Default: api.CookieDomain{Inactivity: p.Inactivity, Expiration: p.Expiration, RememberMe: p.RememberMe}}
}
