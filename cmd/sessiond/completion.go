package main

import (
	"flag"
	"fmt"
	"sort"
	"strings"

	"github.com/peterbourgon/ff/v3/ffcli"
)

// Completion scripts are generated from the command tree, so a new
// command or flag completes without anyone editing a script: each
// command path maps to its subcommands and flags.

type compNode struct {
	path  string // "user add"
	subs  []string
	flags []string
}

func compTree(c *ffcli.Command, path string, out *[]compNode) {
	n := compNode{path: path}
	for _, s := range c.Subcommands {
		n.subs = append(n.subs, s.Name)
	}
	if c.FlagSet != nil {
		c.FlagSet.VisitAll(func(f *flag.Flag) { n.flags = append(n.flags, "--"+f.Name) })
	}
	sort.Strings(n.flags)
	*out = append(*out, n)
	for _, s := range c.Subcommands {
		p := s.Name
		if path != "" {
			p = path + " " + s.Name
		}
		compTree(s, p, out)
	}
}

func (m *Main) runCompletion(root *ffcli.Command, args []string) error {
	if len(args) != 1 {
		return usageErr("completion needs one shell: bash, zsh or fish")
	}
	var nodes []compNode
	compTree(root, "", &nodes)
	var b strings.Builder
	switch args[0] {
	case "bash":
		bashCompletion(&b, nodes)
	case "zsh":
		b.WriteString("#compdef sessiond\n# zsh completion for sessiond (sessiond completion zsh)\nautoload -U +X bashcompinit && bashcompinit\n")
		bashCompletion(&b, nodes)
	case "fish":
		fishCompletion(&b, nodes)
	default:
		return usageErr("completion: unknown shell %q: want bash, zsh or fish", args[0])
	}
	fmt.Fprint(m.Stdout, b.String())
	return nil
}

func bashCompletion(b *strings.Builder, nodes []compNode) {
	b.WriteString("# bash completion for sessiond (sessiond completion bash)\n_sessiond() {\n")
	b.WriteString("  local cur path w\n  cur=\"${COMP_WORDS[COMP_CWORD]}\"\n  path=\"\"\n")
	b.WriteString("  for w in \"${COMP_WORDS[@]:1:COMP_CWORD-1}\"; do\n    case \"$w\" in -*) ;; *)\n")
	b.WriteString("      case \"${path:+$path }$w\" in\n")
	var paths []string
	for _, n := range nodes {
		if n.path != "" {
			paths = append(paths, n.path)
		}
	}
	fmt.Fprintf(b, "        %s) path=\"${path:+$path }$w\" ;;\n", strings.Join(quoteAll(paths), "|"))
	b.WriteString("      esac ;;\n    esac\n  done\n  case \"$path\" in\n")
	for _, n := range nodes {
		words := append(append([]string(nil), n.subs...), n.flags...)
		fmt.Fprintf(b, "    %q) COMPREPLY=($(compgen -W %q -- \"$cur\")) ;;\n", n.path, strings.Join(words, " "))
	}
	b.WriteString("  esac\n}\ncomplete -o default -F _sessiond sessiond\n")
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

func fishCompletion(b *strings.Builder, nodes []compNode) {
	b.WriteString("# fish completion for sessiond (sessiond completion fish)\n")
	for _, n := range nodes {
		cond := "__fish_use_subcommand"
		if n.path != "" {
			words := strings.Fields(n.path)
			cond = "__fish_seen_subcommand_from " + words[len(words)-1]
		}
		for _, s := range n.subs {
			fmt.Fprintf(b, "complete -c sessiond -f -n '%s' -a %s\n", cond, s)
		}
		for _, f := range n.flags {
			fmt.Fprintf(b, "complete -c sessiond -n '%s' -l %s\n", cond, strings.TrimPrefix(f, "--"))
		}
	}
}
