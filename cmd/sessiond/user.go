package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/sessiond/sessiond/api/client"
)

// userCmd is one parsed `sessiond user` command.
type userCmd struct {
	cli      cliFlags
	db       string
	email    string
	name     string
	admin    bool
	operator bool // add --operator; operator --revoke clears it (false)
	revoke   bool
	passFile string
	asJSON   bool
	login    string
}

// userVerbs are the user commands and what each does.
var userVerbs = []struct{ verb, usage, short string }{
	{"add", "sessiond user add [--admin] [--operator] [--email E] [--name N] [--db DB] [--password-file F] LOGIN", "create a user"},
	{"passwd", "sessiond user passwd [--db DB] [--password-file F] LOGIN", "set a new password (ends the user's sessions)"},
	{"disable", "sessiond user disable [--db DB] LOGIN", "refuse the user's logins (ends the user's sessions)"},
	{"enable", "sessiond user enable [--db DB] LOGIN", "allow the user's logins again"},
	{"unlock", "sessiond user unlock [--db DB] LOGIN", "lift a lockout after failed logins"},
	{"delete", "sessiond user delete [--db DB] LOGIN", "delete the user and end its sessions"},
	{"operator", "sessiond user operator [--revoke] [--db DB] LOGIN", "grant (or --revoke) the cluster operator role"},
	{"list", "sessiond user list [--db DB] [--json]", "list users"},
}

// userFlags declares the flags of one user verb on fs.
func userFlags(fs *flag.FlagSet, verb string, u *userCmd) {
	u.cli.register(fs)
	fs.StringVar(&u.db, "db", "", "the user's `db` (default: the server's default)")
	switch verb {
	case "add":
		fs.BoolVar(&u.admin, "admin", false, "make the user an admin of its db")
		fs.BoolVar(&u.operator, "operator", false, "make the user a cluster operator (as the operator only)")
		fs.StringVar(&u.email, "email", "", "e-mail `address`")
		fs.StringVar(&u.name, "name", "", "display `name`")
		fs.StringVar(&u.passFile, "password-file", "", "`file` holding the new password")
	case "passwd":
		fs.StringVar(&u.passFile, "password-file", "", "`file` holding the new password")
	case "list":
		fs.BoolVar(&u.asJSON, "json", false, "print JSON")
	case "operator":
		fs.BoolVar(&u.revoke, "revoke", false, "take the role back instead")
	}
}

func (m *Main) userCommands(group groupFunc, leaf leafFunc) *ffcli.Command {
	var subs []*ffcli.Command
	for _, v := range userVerbs {
		verb := v.verb
		subs = append(subs, leaf([]string{"user", verb}, v.short, v.usage, userLong,
			func(fs *flag.FlagSet) { userFlags(fs, verb, new(userCmd)) },
			func(ctx context.Context, raw []string) error { return m.runUser(ctx, append([]string{verb}, raw...)) }))
	}
	return group("user", "manage users through a running node", "sessiond user add|passwd|disable|enable|unlock|operator|delete|list [flags] [LOGIN]", userLong, subs...)
}

// runUser runs `sessiond user <verb>`.
func (m *Main) runUser(ctx context.Context, args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return usageErr("user needs a command: add, passwd, disable, enable, unlock, operator, delete or list")
	}
	verb, args := args[0], args[1:]
	known := false
	for _, v := range userVerbs {
		known = known || v.verb == verb
	}
	if !known {
		return usageErr("unknown user command %q: run 'sessiond user --help'", verb)
	}
	var u userCmd
	fs := newFlagSet("user "+verb, m.Stderr)
	userFlags(fs, verb, &u)
	pos, err := parseCommand(fs, args, m.Env)
	if err != nil {
		return err
	}
	switch {
	case verb == "list" && len(pos) > 0:
		return usageErr("user list takes no login")
	case verb != "list" && len(pos) != 1:
		return usageErr("user %s needs exactly one login", verb)
	case verb != "list":
		u.login = pos[0]
	}
	ctx, cancel := context.WithTimeout(ctx, u.cli.timeout)
	defer cancel()
	c, err := m.client(&u.cli)
	if err != nil {
		return err
	}
	// Read the new password before logging in: a bad one costs no session.
	var pw string
	if verb == "add" || verb == "passwd" {
		if pw, err = m.newPassword(u.passFile); err != nil {
			return err
		}
	}
	if verb == "unlock" || verb == "operator" {
		// Break-glass first: with the cluster key, act without logging
		// in, so it works while the admin account itself is being guessed
		// at, and names the first operator of an upgraded cluster.
		if done, err := m.userWithKey(ctx, &u, verb); done {
			return err
		}
	}
	if verb == "add" {
		// First run: no admin yet, so no admin password; the cluster key
		// names the first admin (POST /v1/cluster/first-admin).
		if done, err := m.firstAdminWithKey(ctx, &u, pw); done {
			return err
		}
	}
	token, logout, err := m.adminSession(ctx, c, &u.cli)
	if err != nil {
		return err
	}
	defer logout()
	switch verb {
	case "add":
		return m.userAdd(ctx, c, token, &u, pw)
	case "passwd":
		return m.userUpdate(ctx, c, token, &u, client.UserUpdate{Password: &pw}, "password changed")
	case "disable":
		yes := true
		return m.userUpdate(ctx, c, token, &u, client.UserUpdate{Disabled: &yes}, "disabled")
	case "enable":
		no := false
		return m.userUpdate(ctx, c, token, &u, client.UserUpdate{Disabled: &no}, "enabled")
	case "unlock":
		yes := true
		return m.userUpdate(ctx, c, token, &u, client.UserUpdate{Unlock: &yes}, "unlocked")
	case "operator":
		grant := !u.revoke
		return m.userUpdate(ctx, c, token, &u, client.UserUpdate{Operator: &grant}, operatorDone(grant))
	case "delete":
		found, err := findUser(ctx, c, token, u.db, u.login)
		if err != nil {
			return err
		}
		if err := c.DeleteUser(ctx, token, found.ID); err != nil {
			return fmt.Errorf("delete user %q: %w", u.login, err)
		}
		fmt.Fprintf(m.Stdout, "user %s (id %d, db %s): deleted\n", found.Login, found.ID, found.DB)
		return nil
	}
	return m.userList(ctx, c, token, &u)
}

func (m *Main) userAdd(ctx context.Context, c *client.Client, token string, u *userCmd, pw string) error {
	nu, err := c.CreateUser(ctx, token, client.NewUser{DB: u.db, Login: u.login, Password: pw, Email: u.email, Name: u.name,
		Admin: u.admin, Operator: u.operator})
	if err != nil {
		return fmt.Errorf("add user %q: %w", u.login, err)
	}
	fmt.Fprintf(m.Stdout, "created user %s (id %d, db %s, admin %s, operator %s)\n", nu.Login, nu.ID, nu.DB, yesNo(nu.Admin), yesNo(nu.Operator))
	return nil
}

func (m *Main) userUpdate(ctx context.Context, c *client.Client, token string, u *userCmd, up client.UserUpdate, done string) error {
	found, err := findUser(ctx, c, token, u.db, u.login)
	if err != nil {
		return err
	}
	if _, err := c.UpdateUser(ctx, token, found.ID, up); err != nil {
		return fmt.Errorf("update user %q: %w", u.login, err)
	}
	fmt.Fprintf(m.Stdout, "user %s (id %d, db %s): %s\n", found.Login, found.ID, found.DB, done)
	return nil
}

func (m *Main) userList(ctx context.Context, c *client.Client, token string, u *userCmd) error {
	users, err := c.ListUsers(ctx, token, u.db)
	if err != nil {
		return err
	}
	if u.asJSON {
		enc := json.NewEncoder(m.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(users)
	}
	tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tLOGIN\tDB\tADMIN\tOPERATOR\tDISABLED\tEMAIL\tNAME")
	for _, x := range users {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", x.ID, x.Login, x.DB, yesNo(x.Admin), yesNo(x.Operator), yesNo(x.Disabled),
			orDash(x.Email), orDash(x.Name))
	}
	return tw.Flush()
}

// findUser resolves a login to its account. Logins are case-folded by
// the server, so the match ignores case.
func findUser(ctx context.Context, c *client.Client, token, db, login string) (*client.User, error) {
	users, err := c.ListUsers(ctx, token, db)
	if err != nil {
		return nil, err
	}
	var hits []client.User
	for _, x := range users {
		if strings.EqualFold(x.Login, strings.TrimSpace(login)) {
			hits = append(hits, x)
		}
	}
	switch len(hits) {
	case 0:
		return nil, fmt.Errorf("no user %q: %w", login, client.ErrNotFound)
	case 1:
		return &hits[0], nil
	}
	return nil, usageErr("login %q exists in several dbs; give --db", login)
}

// userWithKey unlocks (POST /v1/cluster/unlock) or grants the operator
// role (POST /v1/cluster/operator) signed with the cluster key
// (SESSIOND_CLUSTER_KEY[_FILE]); done is false when no key is configured,
// and the caller falls back on an admin login.
func (m *Main) userWithKey(ctx context.Context, u *userCmd, verb string) (done bool, err error) {
	key, err := readSecret(m.Env, envClusterKey, u.cli.clusterKeyFile)
	if err != nil || key == "" {
		return false, nil
	}
	c, err := m.client(&u.cli, client.WithClusterKey(string(key)))
	if err != nil {
		return true, err
	}
	var found *client.User
	what := "unlocked"
	if verb == "operator" {
		found, err = c.SetOperator(ctx, "", u.db, u.login, !u.revoke)
		what = operatorDone(!u.revoke)
	} else {
		found, err = c.Unlock(ctx, "", u.db, u.login)
	}
	if err != nil {
		return true, fmt.Errorf("%s %q with the cluster key: %w", verb, u.login, err)
	}
	fmt.Fprintf(m.Stdout, "user %s (id %d, db %s): %s (break-glass, with the cluster key)\n", found.Login, found.ID, found.DB, what)
	return true, nil
}

// firstAdminWithKey creates the cluster's first admin with the cluster
// key when no admin password is configured and a key is; done is false
// otherwise (the caller logs in as the admin).
func (m *Main) firstAdminWithKey(ctx context.Context, u *userCmd, pw string) (done bool, err error) {
	if adminPw, err := readSecret(m.Env, envAdminPassword, u.cli.adminPassFile); err != nil || adminPw != "" {
		return false, nil
	}
	key, err := readSecret(m.Env, envClusterKey, u.cli.clusterKeyFile)
	if err != nil || key == "" {
		return false, nil
	}
	if !u.admin {
		return true, usageErr("with the cluster key and no admin password, user add creates only the cluster's first admin: "+
			"give --admin, or set %s[_FILE] to add users as an admin", envAdminPassword)
	}
	c, err := m.client(&u.cli, client.WithClusterKey(string(key)))
	if err != nil {
		return true, err
	}
	nu, err := c.FirstAdmin(ctx, u.db, u.login, pw)
	if errors.Is(err, client.ErrConflict) {
		return true, fmt.Errorf("add first admin %q: the cluster has an admin already; add users as an admin (set %s[_FILE]): %w", u.login, envAdminPassword, err)
	}
	if err != nil {
		return true, fmt.Errorf("add first admin %q with the cluster key: %w", u.login, err)
	}
	fmt.Fprintf(m.Stdout, "created user %s (id %d, db %s, admin %s, operator %s): the first admin (break-glass, with the cluster key)\n",
		nu.Login, nu.ID, nu.DB, yesNo(nu.Admin), yesNo(nu.Operator))
	return true, nil
}

func operatorDone(grant bool) string {
	if grant {
		return "is a cluster operator"
	}
	return "is no longer a cluster operator"
}
