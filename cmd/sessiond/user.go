package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/sessiond/sessiond/api/client"
)

const userUsage = `usage:
  sessiond user add [--admin] [--email E] [--name N] [--db DB] [--password-file F] <login>
  sessiond user passwd [--db DB] [--password-file F] <login>   (ends the user's sessions)
  sessiond user disable [--db DB] <login>                       (ends the user's sessions)
  sessiond user enable [--db DB] <login>
  sessiond user list [--db DB] [--json]

They act through a running node (--addr) as an admin (--admin-login, password
from SESSIOND_ADMIN_PASSWORD[_FILE] or --admin-password-file). A new password
comes from --password-file, SESSIOND_USER_PASSWORD or stdin; never a flag.
`

// userCmd is one parsed `sessiond user` command.
type userCmd struct {
	cli      cliFlags
	db       string
	email    string
	name     string
	admin    bool
	passFile string
	asJSON   bool
	login    string
}

// runUser dispatches `sessiond user <verb>`.
func (m *Main) runUser(ctx context.Context, args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprint(m.Stderr, userUsage)
		return usageErr("user needs a command: add, passwd, disable, enable or list")
	}
	verb, args := args[0], args[1:]
	var u userCmd
	fs := newFlagSet("user "+verb, m.Stderr)
	fs.Usage = func() { fmt.Fprint(m.Stderr, userUsage, "\nflags:\n"); fs.PrintDefaults() }
	u.cli.register(fs)
	fs.StringVar(&u.db, "db", "", "the user's `db` (default: the server's default)")
	switch verb {
	case "add":
		fs.BoolVar(&u.admin, "admin", false, "make the user an admin")
		fs.StringVar(&u.email, "email", "", "e-mail `address`")
		fs.StringVar(&u.name, "name", "", "display `name`")
		fs.StringVar(&u.passFile, "password-file", "", "`file` holding the new password")
	case "passwd":
		fs.StringVar(&u.passFile, "password-file", "", "`file` holding the new password")
	case "list":
		fs.BoolVar(&u.asJSON, "json", false, "print JSON")
	case "disable", "enable":
	default:
		fmt.Fprint(m.Stderr, userUsage)
		return usageErr("unknown user command %q", verb)
	}
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
	}
	return m.userList(ctx, c, token, &u)
}

func (m *Main) userAdd(ctx context.Context, c *client.Client, token string, u *userCmd, pw string) error {
	nu, err := c.CreateUser(ctx, token, client.NewUser{DB: u.db, Login: u.login, Password: pw, Email: u.email, Name: u.name, Admin: u.admin})
	if err != nil {
		return fmt.Errorf("add user %q: %w", u.login, err)
	}
	fmt.Fprintf(m.Stdout, "created user %s (id %d, db %s, admin %s)\n", nu.Login, nu.ID, nu.DB, yesNo(nu.Admin))
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
	fmt.Fprintln(tw, "ID\tLOGIN\tDB\tADMIN\tDISABLED\tEMAIL\tNAME")
	for _, x := range users {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", x.ID, x.Login, x.DB, yesNo(x.Admin), yesNo(x.Disabled), orDash(x.Email), orDash(x.Name))
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
