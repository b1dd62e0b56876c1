package main

import (
	"flag"
	"testing"
	"time"
)

// TestPortalFlags_CookieDomain: --portal-cookie-domain parses each key,
// repeats, and refuses what would misconfigure a cookie or a redirect.
func TestPortalFlags_CookieDomain(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	var p PortalFlags
	portalFlags(fs, &p)
	err := fs.Parse([]string{"--portal-cookie-domain", "domain=.Example.com,portal=https://auth.example.com/auth/,default=https://app.example.com/,inactivity=5m,expiration=1h,remember_me=720h",
		"--portal-cookie-domain", "domain=example.org"})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Domains) != 2 || p.Prefix != "/auth/" {
		t.Fatalf("%+v", p)
	}
	d := p.Domains[0]
	if d.Domain != "example.com" || d.PortalURL != "https://auth.example.com/auth/" || d.DefaultRedirect != "https://app.example.com/" ||
		d.Inactivity != 5*time.Minute || d.Expiration != time.Hour || d.RememberMe != 720*time.Hour {
		t.Fatalf("%+v", d)
	}
	for _, bad := range []string{"", "portal=https://a.example.com/", "domain=localhost", "domain=example.com:443", "domain=example.com,color=red",
		"domain=example.com,portal=javascript:alert(1)", "domain=example.com,default=//evil.com", "domain=example.com,inactivity=-1s",
		"domain=example.com,expiration=soon", "domain=example.com,portal=https://user@auth.example.com/"} {
		if err := new(cookieDomains).Set(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
