package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/sessiond/sessiond/api/client"
	"github.com/sessiond/sessiond/cluster/reqsign"
)

// apiCaller makes JSON calls of the admin API through --addr for routes
// the api client has no method for, signed with the cluster key when
// keyOK and one is set, else as the admin.
type apiCaller struct {
	m      *Main
	f      *cliFlags
	hc     *http.Client
	auth   func(*http.Request) error
	keyed  bool
	logout func()
}

func (m *Main) newCaller(ctx context.Context, f *cliFlags, keyOK bool) (*apiCaller, error) {
	a := &apiCaller{m: m, f: f, hc: http.DefaultClient, logout: func() {}}
	if f.tlsCA != "" {
		pool, err := loadCAPool(f.tlsCA)
		if err != nil {
			return nil, err
		}
		a.hc = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	}
	if keyOK {
		key, err := readSecret(m.Env, envClusterKey, f.clusterKeyFile)
		if err != nil {
			return nil, err
		}
		if key != "" {
			a.auth, a.keyed = reqsign.NewSigner(reqsign.Key(string(key)), a.hc).Sign, true
			return a, nil
		}
	}
	c, err := m.client(f)
	if err != nil {
		return nil, err
	}
	token, logout, err := m.adminSession(ctx, c, f)
	if err != nil {
		return nil, err
	}
	a.logout = logout
	a.auth = func(r *http.Request) error { r.Header.Set("Authorization", "Bearer "+token); return nil }
	return a, nil
}

// request is one admin call of a subcommand within its --timeout: it opens
// a caller (an admin session unless the cluster key signs) and closes it
// again. A failure of the call itself is prefixed with what, the failure
// to open the caller is returned as it is.
func (m *Main) request(ctx context.Context, f *cliFlags, keyOK bool, what, method, path string, in, out any) error {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	a, err := m.newCaller(ctx, f, keyOK)
	if err != nil {
		return err
	}
	defer a.logout()
	if err := a.call(ctx, method, path, in, out); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// call sends in as JSON (nil: no body) and decodes the answer into out.
func (a *apiCaller) call(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		body, _ = json.Marshal(in)
	}
	err := eachAddr(a.f.addr, func(base string) error {
		req, err := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(body))
		if err != nil {
			return err
		}
		if in != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if err := a.auth(req); err != nil {
			return err
		}
		resp, err := a.hc.Do(req)
		if err != nil {
			return fmt.Errorf("cannot reach %s: %w", base, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode >= 300 {
			return httpError(resp)
		}
		if out != nil && resp.StatusCode != http.StatusNoContent {
			return json.NewDecoder(resp.Body).Decode(out)
		}
		return nil
	})
	return a.explain(err)
}

// explain turns a refused cluster key into what to do about it.
func (a *apiCaller) explain(err error) error {
	if a.keyed && (errors.Is(err, client.ErrForbidden) || errors.Is(err, client.ErrNoCredentials)) {
		return keyRefused(err)
	}
	return err
}

func keyRefused(err error) error {
	return fmt.Errorf("the node refused the cluster key: check that %s (or %s_FILE, --cluster-key-file) holds this cluster's key (%w)",
		envClusterKey, envClusterKey, err)
}

func (m *Main) nodeCommands(group groupFunc, leaf leafFunc) *ffcli.Command {
	var subs []*ffcli.Command
	for _, v := range []struct{ verb, short string }{
		{"remove", "take a member out of the cluster (a dead node, before replacing it)"},
		{"promote", "make a non-voter a voter"},
		{"demote", "make a voter a non-voter"},
	} {
		verb := v.verb
		subs = append(subs, leaf([]string{"node", verb}, v.short, "sessiond node "+verb+" [flags] ID", nodeLong,
			func(fs *flag.FlagSet) { new(cliFlags).register(fs) },
			func(ctx context.Context, raw []string) error { return m.runNode(ctx, verb, raw) }))
	}
	return group("node", "remove, promote or demote a member", "sessiond node remove|promote|demote ID", nodeLong, subs...)
}

func (m *Main) runNode(ctx context.Context, verb string, args []string) error {
	var f cliFlags
	fs := newFlagSet("node "+verb, m.Stderr)
	f.register(fs)
	pos, err := parseCommand(fs, args, m.Env)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErr("node %s needs exactly one node ID", verb)
	}
	path, method := "/v1/cluster/nodes/"+url.PathEscape(pos[0]), http.MethodPost
	if verb == "remove" {
		method = http.MethodDelete
	} else {
		path += "/" + verb
	}
	if err := m.request(ctx, &f, true, "node "+verb+" "+pos[0], method, path, nil, nil); err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "node %s: %s done\n", pos[0], verb)
	return nil
}

func (m *Main) settingsCommands(group groupFunc, leaf leafFunc) *ffcli.Command {
	decl := func(fs *flag.FlagSet) { new(cliFlags).register(fs); fs.Bool("json", false, "print JSON") }
	return group("settings", "show or change the cluster's settings", "sessiond settings get|set [KEY=VALUE...]", settingsLong,
		leaf([]string{"settings", "get"}, "show the settings", "sessiond settings get [--json]", settingsLong, decl,
			func(ctx context.Context, raw []string) error { return m.runSettings(ctx, "get", raw) }),
		leaf([]string{"settings", "set"}, "change settings", "sessiond settings set KEY=VALUE...", settingsLong, decl,
			func(ctx context.Context, raw []string) error { return m.runSettings(ctx, "set", raw) }))
}

func (m *Main) runSettings(ctx context.Context, verb string, args []string) error {
	var f cliFlags
	var asJSON bool
	fs := newFlagSet("settings "+verb, m.Stderr)
	f.register(fs)
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	pos, err := parseCommand(fs, args, m.Env)
	if err != nil {
		return err
	}
	patch := map[string]any{}
	switch {
	case verb == "get" && len(pos) > 0:
		return usageErr("settings get takes no arguments")
	case verb == "set" && len(pos) == 0:
		return usageErr("settings set needs KEY=VALUE (see 'sessiond settings get' for the keys)")
	}
	for _, kv := range pos {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return usageErr("%q is not KEY=VALUE", kv)
		}
		if b, err := strconv.ParseBool(v); err == nil {
			patch[k] = b
		} else if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			patch[k] = n
		} else if d, err := time.ParseDuration(v); err == nil && strings.HasSuffix(k, "_seconds") {
			patch[k] = int64(d / time.Second) // session_ttl_seconds=720h
		} else {
			return usageErr("%s: %q is neither a boolean nor a whole number", k, v)
		}
	}
	method, body := http.MethodPatch, any(patch)
	if verb == "get" {
		method, body = http.MethodGet, nil
	}
	var out map[string]any
	if err := m.request(ctx, &f, false, "settings "+verb, method, "/v1/settings", body, &out); err != nil {
		return err
	}
	return m.printMap(out, asJSON)
}

func (m *Main) printMap(out map[string]any, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(m.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	keys := make([]string, 0, len(out))
	for k := range out {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t%s\n", k, showValue(k, out[k]))
	}
	return tw.Flush()
}

// showValue prints a JSON number as the whole number it is (2592000,
// not 2.592e+06), and a *_seconds setting also as a duration
// ("2592000 (720h0m0s)").
func showValue(key string, v any) string {
	f, ok := v.(float64)
	if !ok {
		return fmt.Sprint(v)
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if strings.HasSuffix(key, "_seconds") && f == float64(int64(f)) {
		s += " (" + (time.Duration(f) * time.Second).String() + ")"
	}
	return s
}

func (m *Main) keysCommands(group groupFunc, leaf leafFunc) *ffcli.Command {
	base := func(fs *flag.FlagSet) { new(cliFlags).register(fs); fs.Bool("json", false, "print JSON") }
	return group("keys", "list, add or retire JWT signing keys", "sessiond keys list|add|retire [KID]", keysLong,
		leaf([]string{"keys", "list"}, "list the signing keys", "sessiond keys list [--json]", keysLong, base,
			func(ctx context.Context, raw []string) error { return m.runKeys(ctx, "list", raw) }),
		leaf([]string{"keys", "add"}, "generate a key and (by default) sign with it", "sessiond keys add [--alg HS256|HS384|HS512|EdDSA|RS256] [--activate=false]", keysLong,
			func(fs *flag.FlagSet) { base(fs); keyAddFlags(fs, new(string), new(bool)) },
			func(ctx context.Context, raw []string) error { return m.runKeys(ctx, "add", raw) }),
		leaf([]string{"keys", "retire"}, "stop signing and verifying with a key", "sessiond keys retire KID", keysLong, base,
			func(ctx context.Context, raw []string) error { return m.runKeys(ctx, "retire", raw) }))
}

func keyAddFlags(fs *flag.FlagSet, alg *string, activate *bool) {
	fs.StringVar(alg, "alg", "HS256", "algorithm: HS256, HS384, HS512, EdDSA or RS256")
	fs.BoolVar(activate, "activate", true, "make the new key the signing key")
}

func (m *Main) runKeys(ctx context.Context, verb string, args []string) error {
	var f cliFlags
	var asJSON, activate bool
	var alg string
	fs := newFlagSet("keys "+verb, m.Stderr)
	f.register(fs)
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	if verb == "add" {
		keyAddFlags(fs, &alg, &activate)
	}
	pos, err := parseCommand(fs, args, m.Env)
	if err != nil {
		return err
	}
	if want := map[string]int{"list": 0, "add": 0, "retire": 1}[verb]; len(pos) != want {
		return usageErr("keys %s takes %d argument(s), got %d", verb, want, len(pos))
	}
	method, path, body := http.MethodGet, "/v1/keys", any(nil)
	switch verb {
	case "add":
		method, body = http.MethodPost, map[string]any{"alg": alg, "activate": activate}
	case "retire":
		method, path = http.MethodDelete, "/v1/keys/"+url.PathEscape(pos[0])
	}
	var out map[string]any
	if err := m.request(ctx, &f, false, "keys "+verb, method, path, body, &out); err != nil {
		return err
	}
	if verb == "list" && !asJSON {
		return printKeys(m, out)
	}
	if out == nil {
		fmt.Fprintf(m.Stdout, "key %s retired\n", pos[0])
		return nil
	}
	return m.printMap(out, asJSON)
}

func printKeys(m *Main, out map[string]any) error {
	keys, _ := out["keys"].([]any)
	tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tACTIVE\tCREATED\tRETIRED")
	for _, k := range keys {
		km, _ := k.(map[string]any)
		fmt.Fprintf(tw, "%v\t%v\t%s\t%v\t%v\n", km["kid"], km["alg"], yesNo(km["kid"] == out["active_kid"]), orNil(km["created"]), orNil(km["retired"]))
	}
	return tw.Flush()
}

func orNil(v any) any {
	if v == nil {
		return "-"
	}
	return v
}
