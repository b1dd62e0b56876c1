package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path"
	"slices"
	"strings"
)

// AuthzRule is one access rule of forward auth, for the original
// request's path (X-Forwarded-Uri of a trusted proxy). A valid session
// passes a rule when its user meets every condition set; the rule of the
// longest matching prefix applies, and a path no rule matches needs only a
// valid session. The rules are a file on each node (--authz-rules), not
// replicated state: like the proxy's own configuration, they belong to
// the deployment and change with it.
type AuthzRule struct {
	// Prefix is a path prefix matched on segment boundaries: "/admin"
	// covers /admin and /admin/x, not /administrator. "/" covers all.
	Prefix string `json:"prefix"`
	// Admin requires an admin user.
	Admin bool `json:"admin,omitempty"`
	// DB requires a user of this db.
	DB string `json:"db,omitempty"`
	// Logins, when set, admits only these users (compared case-folded, as
	// logins are stored).
	Logins []string `json:"logins,omitempty"`
	// TwoFactor requires a session signed in with a second factor (its
	// amr holds otp, kba or hwk); MaxAge a sign-in at most this old
	// ("15m"). A session that falls short is sent to sign in again and
	// comes back (authzstepup.go).
	TwoFactor bool       `json:"two_factor,omitempty"`
	MaxAge    ruleMaxAge `json:"max_age,omitempty"`
}

// authzRulesFile is the file's shape: {"rules": [...]}.
type authzRulesFile struct {
	Rules []AuthzRule `json:"rules"`
}

// LoadAuthzRules reads a rules file (docs/deploy/README.md): unknown keys
// are refused, so a typo ("admn") cannot silently open a path.
func LoadAuthzRules(file string) ([]AuthzRule, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return ParseAuthzRules(b)
}

// ParseAuthzRules parses and checks the rules, ordered longest prefix
// first so the first match is the most specific.
func ParseAuthzRules(b []byte) ([]AuthzRule, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var f authzRulesFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("authz rules: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("authz rules: trailing data after the object")
	}
	seen := map[string]bool{}
	for i := range f.Rules {
		ru := &f.Rules[i]
		if !strings.HasPrefix(ru.Prefix, "/") {
			return nil, fmt.Errorf("authz rules: rule %d: prefix %q must start with /", i, ru.Prefix)
		}
		ru.Prefix = path.Clean(ru.Prefix)
		if seen[ru.Prefix] {
			return nil, fmt.Errorf("authz rules: prefix %q appears twice", ru.Prefix)
		}
		seen[ru.Prefix] = true
		for j, l := range ru.Logins {
			ru.Logins[j] = strings.ToLower(strings.TrimSpace(l))
		}
	}
	slices.SortStableFunc(f.Rules, func(a, b AuthzRule) int { return len(b.Prefix) - len(a.Prefix) })
	return f.Rules, nil
}

// matches reports whether the cleaned path p is under the rule's prefix.
func (ru *AuthzRule) matches(p string) bool {
	if ru.Prefix == "/" {
		return true
	}
	return p == ru.Prefix || (strings.HasPrefix(p, ru.Prefix) && p[len(ru.Prefix)] == '/')
}

// errRuleNoPath refuses a request the rules cannot place: some rule is
// for a path prefix, and the path did not come from a trusted proxy.
var errRuleNoPath = fieldError(ErrForbidden, "authz rules need the original path (X-Forwarded-Uri or X-Original-URL) from a trusted proxy")

// authzRules applies the configured rules to a validated caller. Without
// a believable path only the "/" rule can be chosen, and if any other
// rule exists the request is refused: a rule must not be skipped because
// the proxy was not trusted. The path is read as apps read it
// (pathViews): the caller must pass the rule of every reading.
func (s *Server) authzRules(r *http.Request, p principal) error {
	if err := s.secondFactorPolicy(p); err != nil {
		return err
	}
	rules := s.cfg.AuthzRules
	if len(rules) == 0 {
		return nil
	}
	o, ok, err := s.forwardedRequest(r)
	if err != nil {
		return err
	}
	if !ok || o.target == "" {
		if len(rules) > 1 || rules[0].Prefix != "/" {
			return errRuleNoPath
		}
		return s.ruleAdmits(&rules[0], p)
	}
	views, err := pathViews(o.target)
	if err != nil {
		return err
	}
	for _, v := range views {
		if ru := matchRule(rules, v); ru != nil {
			if err := s.ruleAdmits(ru, p); err != nil {
				return err
			}
		}
	}
	return nil
}

// matchRule is the rule of the longest prefix covering the path, or nil.
func matchRule(rules []AuthzRule, path string) *AuthzRule {
	for i := range rules {
		if rules[i].matches(path) {
			return &rules[i]
		}
	}
	return nil
}

// ruleAdmits checks one rule's conditions.
func (s *Server) ruleAdmits(ru *AuthzRule, p principal) error {
	u := p.User
	if err := s.ruleStepUp(ru, p); err != nil {
		return err
	}
	switch {
	case ru.Admin && !u.Admin:
		return fieldError(ErrForbidden, "admins only")
	case ru.DB != "" && u.DB != ru.DB:
		return fieldError(ErrForbidden, "users of another db only")
	case len(ru.Logins) > 0 && !slices.Contains(ru.Logins, strings.ToLower(u.Login)):
		return fieldError(ErrForbidden, "not among the allowed users")
	}
	return nil
}
