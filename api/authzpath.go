package api

import (
	"net/url"
	"slices"
	"strings"
)

// Forward-auth rules must match the path the app will route, and apps
// read one request target in different ways: Tomcat, Jetty and Spring
// drop ";params" from each segment; most routers decode %XX before they
// resolve dot segments, some after; some turn an encoded slash into a
// separator, most keep it inside the segment. pathViews computes the path
// under each of these readings that can differ for the target at hand,
// and authzRules admits the request only when the caller passes the rule
// of every one of them: whichever way the app reads the target, the rule
// that covers it was applied.
//
// What no reading can settle is refused as ambiguous (403 with the
// reason): a raw '#' (a browser never sends one; an app that parses the
// target as a URL drops what follows), a backslash or control character,
// raw or encoded (Windows and IIS-style servers treat '\' as '/'), a
// malformed escape, and an escape that is still an escaped '/', '.', ';',
// '\' or '%' after one decode (a double-encoded target, which an app that
// decodes twice reads differently). Paths stay case-sensitive.

// errAmbiguousPath refuses a target pathViews cannot settle.
func errAmbiguousPath(why string) error {
	return fieldError(ErrForbidden, "ambiguous path: "+why)
}

// Readings of a request target; each bit set changes one choice.
const (
	viewStripParams = 1 << iota // drop ";params" from each segment (Tomcat, Jetty, Spring)
	viewSlashSplits             // an encoded slash (%2F) separates segments
	viewDecodeLate              // resolve dot segments before decoding (%2e%2e is a name)
	viewAll         = viewStripParams | viewSlashSplits | viewDecodeLate
)

// pathViews returns the distinct paths target (a raw request target, path
// and query) can route to, each absolute, decoded and with dot segments
// resolved; or an ambiguity error. A plain target has one view.
func pathViews(target string) ([]string, error) {
	if err := checkTarget(target); err != nil {
		return nil, err
	}
	p, _, _ := strings.Cut(target, "?")
	if !strings.ContainsAny(p, "%;.") && !strings.Contains(p, "//") {
		return []string{p}, nil // every reading is the path itself: the common case
	}
	// Only the choices this path can be affected by are varied.
	vary := 0
	if strings.Contains(p, ";") {
		vary |= viewStripParams
	}
	lower := strings.ToLower(p)
	if strings.Contains(lower, "%2f") {
		vary |= viewSlashSplits
	}
	if strings.Contains(lower, "%2e") {
		vary |= viewDecodeLate
	}
	views := make([]string, 0, 1)
	for v := 0; v <= viewAll; v++ {
		if v&^vary != 0 {
			continue
		}
		pv := pathView(p, v)
		if !slices.Contains(views, pv) {
			views = append(views, pv)
		}
	}
	return views, nil
}

// checkTarget refuses what no reading settles (see the comment above).
func checkTarget(target string) error {
	if !strings.HasPrefix(target, "/") {
		return errAmbiguousPath("the target must start with /")
	}
	if strings.ContainsFunc(target, func(c rune) bool { return isCTL(c) || c == '#' || c == '\\' || c == ' ' }) {
		return errAmbiguousPath("a raw '#', backslash, space or control character")
	}
	p, _, _ := strings.Cut(target, "?")
	once, err := url.PathUnescape(p)
	if err != nil {
		return errAmbiguousPath("a malformed %-escape")
	}
	if strings.ContainsFunc(once, func(c rune) bool { return isCTL(c) || c == '\\' }) {
		return errAmbiguousPath("an encoded backslash or control character")
	}
	for i := strings.IndexByte(once, '%'); i >= 0; i = strings.IndexByte(once, '%') {
		if i+2 < len(once) && ishex(once[i+1]) && ishex(once[i+2]) {
			switch unhex(once[i+1])<<4 | unhex(once[i+2]) {
			case '/', '.', ';', '\\', '%':
				return errAmbiguousPath("a double-encoded '/', '.', ';', '\\' or '%'")
			}
			if unhex(once[i+1]) < 2 || unhex(once[i+1]) == 7 && unhex(once[i+2]) == 0xf {
				return errAmbiguousPath("a double-encoded control character")
			}
		}
		once = once[i+1:]
	}
	return nil
}

// pathView is the path p routes to under one reading v.
func pathView(p string, v int) string {
	segs := strings.Split(p, "/")
	if v&viewSlashSplits != 0 {
		var split []string
		for _, s := range segs {
			split = append(split, splitFold(s, "%2f")...)
		}
		segs = split
	}
	out := make([]string, 0, len(segs))
	for _, s := range segs {
		if v&viewStripParams != 0 {
			s, _, _ = strings.Cut(s, ";")
		}
		if v&viewDecodeLate == 0 {
			s = decodeSegment(s)
		}
		switch {
		case s == "" || s == ".":
		case s == "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, s)
		}
	}
	if v&viewDecodeLate != 0 {
		for i := range out {
			out[i] = decodeSegment(out[i])
		}
	}
	return "/" + strings.Join(out, "/")
}

// decodeSegment decodes one segment (checkTarget has vetted the escapes);
// a slash decoded inside it stays an escaped slash, so it can never form
// a segment boundary that a prefix rule would see.
func decodeSegment(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	d, err := url.PathUnescape(s)
	if err != nil {
		return s
	}
	return strings.ReplaceAll(d, "/", "%2F")
}

// splitFold splits s around each case-insensitive sep (ASCII).
func splitFold(s, sep string) []string {
	var out []string
	for {
		i := strings.Index(strings.ToLower(s), sep)
		if i < 0 {
			return append(out, s)
		}
		out = append(out, s[:i])
		s = s[i+len(sep):]
	}
}

func ishex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
