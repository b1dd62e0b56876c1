package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/sessiond/sessiond/api"
)

// serveParser holds the flag set of serve and join and what it binds;
// the CLI's command tree parses the same flag set (see commands.go).
type serveParser struct {
	c              Config
	bootstrap      optBool
	files          secretFiles
	configFile     string
	printConfig    bool
	trustedProxies string
	fs             *flag.FlagSet
}

func newServeParser(name string, out io.Writer) *serveParser {
	p := &serveParser{c: DefaultConfig()}
	p.fs = newFlagSet(name, out)
	serveFlags(p.fs, &p.c, &p.bootstrap, &p.files)
	p.fs.StringVar(&p.trustedProxies, "trusted-proxies", "", "`CIDR,...` of reverse proxies whose X-Forwarded-For is believed (default none)")
	p.fs.BoolVar(&p.c.AllowWeaker, "allow-weaker-consistency", false, "let a request ask for a weaker consistency than --consistency (?consistency=stale)")
	p.fs.StringVar(&p.configFile, "config", "", "TOML `file` of settings named like the flags (node-id = \"n1\"); flags and SESSIOND_* win over it")
	p.fs.BoolVar(&p.printConfig, "print-config", false, "print the effective configuration (secrets redacted) and exit")
	return p
}

// prepare applies the config file, then the environment, before the
// command line is parsed over them: flag > env > file > default.
func (p *serveParser) prepare(args []string, env Env) error {
	file := configFlagValue(args)
	if file == "" {
		file, _ = env(envName("config"))
	}
	if file != "" {
		if err := applyConfigFile(p.fs, file); err != nil {
			return err
		}
	}
	return applyEnv(p.fs, env, nil)
}

// finish checks what was parsed and reads the secrets.
func (p *serveParser) finish(env Env, requireJoin bool) (Config, error) {
	c, fs := p.c, p.fs
	if fs.NArg() > 0 {
		return c, usageErr("unexpected argument %q", fs.Arg(0))
	}
	if requireJoin && c.Join == "" {
		return c, usageErr("join needs --join <URL of a member>")
	}
	c.Bootstrap = c.Join == ""
	if p.bootstrap.set {
		if p.bootstrap.val && c.Join != "" {
			return c, errors.New("--bootstrap and --join exclude each other: a joining node gets its state from the cluster")
		}
		c.Bootstrap = p.bootstrap.val
	}
	var err error
	if p.trustedProxies != "" {
		if c.TrustedProxies, err = api.ParseTrustedProxies(p.trustedProxies); err != nil {
			return c, fmt.Errorf("--trusted-proxies: %w", err)
		}
	}
	if c.ClusterKey, err = readSecret(env, envClusterKey, p.files.clusterKey); err != nil {
		return c, err
	}
	if c.ClusterKeyOld, err = readSecret(env, envClusterKeyOld, p.files.clusterKeyOld); err != nil {
		return c, err
	}
	if c.AdminPassword, err = readSecret(env, envAdminPassword, p.files.adminPassword); err != nil {
		return c, err
	}
	if c.JWTKey, err = readSecret(env, envJWTKey, p.files.jwtKey); err != nil {
		return c, err
	}
	if c.JWTKey == "" {
		if v, ok := env(envOdooJWTKey); ok {
			c.JWTKey = secret(v)
		}
	}
	if c.MetricsToken, err = readSecret(env, envMetricsToken, p.files.metricsToken); err != nil {
		return c, err
	}
	c.EnvSecrets = secretsInEnv(env)
	if c.Seal, err = readSealConfig(env, p.files, c.DataDir, c.ClusterKey); err != nil {
		return c, err
	}
	c.Seal.acceptOldClusterKey(c.ClusterKeyOld)
	if err = c.Authz.load(); err != nil {
		return c, err
	}
	if c.APIURL == "" && apiPort(c.APIAddr) != "0" {
		c.APIURL = defaultAPIURL(c.APIAddr, c.TLSCert != "")
	}
	return c, c.Validate()
}
