// Command sbom writes a CycloneDX 1.5 software bill of materials (JSON)
// for a Go binary, from the module list the toolchain stamped into it
// (debug/buildinfo): what the binary was built from, not what go.mod
// might resolve to today. scripts/release.sh runs it for each binary.
//
//	go run ./scripts/sbom dist/sessiond-v1.2.3-linux-amd64 v1.2.3 > sessiond.cdx.json
package main

import (
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

type hash struct {
	Alg     string `json:"alg"`
	Content string `json:"content"`
}

type component struct {
	Type    string `json:"type"`
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	PURL    string `json:"purl,omitempty"`
	Hashes  []hash `json:"hashes,omitempty"`
}

type bom struct {
	BOMFormat   string `json:"bomFormat"`
	SpecVersion string `json:"specVersion"`
	Version     int    `json:"version"`
	Metadata    struct {
		Component component `json:"component"`
		Tools     []struct {
			Name string `json:"name"`
		} `json:"tools,omitempty"`
	} `json:"metadata"`
	Components []component `json:"components"`
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: sbom BINARY VERSION")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "sbom:", err)
		os.Exit(1)
	}
}

func run(path, version string) error {
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	var b bom
	b.BOMFormat, b.SpecVersion, b.Version = "CycloneDX", "1.5", 1
	b.Metadata.Component = component{Type: "application", Name: bi.Main.Path, Version: version,
		Hashes: []hash{{Alg: "SHA-256", Content: hex.EncodeToString(sum[:])}}}
	b.Metadata.Tools = append(b.Metadata.Tools, struct {
		Name string `json:"name"`
	}{Name: "scripts/sbom (" + bi.GoVersion + ")"})
	b.Components = append(b.Components, component{Type: "platform", Name: "go", Version: strings.TrimPrefix(bi.GoVersion, "go")})
	for _, d := range bi.Deps {
		m := d
		if d.Replace != nil {
			m = d.Replace
		}
		// No hash: go.sum's h1: is a hash of a file list, not of anything
		// CycloneDX can name; the purl's version pins the module.
		b.Components = append(b.Components, component{Type: "library", Name: m.Path, Version: m.Version,
			PURL: "pkg:golang/" + m.Path + "@" + m.Version})
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(b)
}
