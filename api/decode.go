package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxDepth bounds JSON nesting; login bodies are flat.
const maxDepth = 16

// readBody reads the (already size-limited) body; an over-limit body is
// ErrBodyTooLarge.
func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, ErrBodyTooLarge
		}
		return nil, fmt.Errorf("%w: %v", ErrBadJSON, err)
	}
	return b, nil
}

// mediaType returns the request's media type, lower-cased, or "".
func mediaType(r *http.Request) string {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return ""
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return "invalid"
	}
	return mt
}

// decodeJSON decodes a JSON object body into v strictly: the content type
// must be JSON, the body valid UTF-8 (Go's decoder would silently replace
// bad bytes with U+FFFD, letting two different logins collide), one object
// with no unknown or duplicate keys, no trailing data, bounded depth.
func decodeJSON(r *http.Request, v any) error {
	if mt := mediaType(r); mt != "application/json" {
		return ErrUnsupportedMedia
	}
	b, err := readBody(r)
	if err != nil {
		return err
	}
	return decodeJSONBytes(b, v)
}

// decodeJSONBytes is decodeJSON's checks on a body already read.
func decodeJSONBytes(b []byte, v any) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return fmt.Errorf("%w: empty body", ErrBadJSON)
	}
	if !utf8.Valid(b) {
		return fmt.Errorf("%w: invalid UTF-8", ErrBadJSON)
	}
	if err := checkJSONShape(b); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrBadJSON, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: trailing data after the object", ErrBadJSON)
	}
	return nil
}

// checkJSONShape walks the tokens once: the top level must be an object,
// no object may repeat a key, and nesting stays under maxDepth.
func checkJSONShape(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	type frame struct {
		obj     bool
		keys    map[string]struct{}
		wantKey bool
	}
	var stack []*frame
	first := true
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBadJSON, err)
		}
		if first {
			if d, ok := tok.(json.Delim); !ok || d != '{' {
				return fmt.Errorf("%w: body must be a JSON object", ErrBadJSON)
			}
			first = false
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.obj && top.wantKey {
			if key, ok := tok.(string); ok {
				// Go's decoder matches keys to fields without regard to
				// case ({"admin":false,"ADMIN":true} sets Admin from the
				// last), so keys equal under case folding are duplicates.
				folded := foldKey(key)
				if _, dup := top.keys[folded]; dup {
					return fmt.Errorf("%w: duplicate key %q", ErrBadJSON, key)
				}
				top.keys[folded] = struct{}{}
				top.wantKey = false
				continue
			}
		}
		if top != nil && top.obj {
			top.wantKey = true // a value was consumed (or the object closes)
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				if len(stack) >= maxDepth {
					return fmt.Errorf("%w: nested deeper than %d", ErrBadJSON, maxDepth)
				}
				stack = append(stack, &frame{obj: d == '{', keys: map[string]struct{}{}, wantKey: d == '{'})
			case '}', ']':
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].obj {
					stack[len(stack)-1].wantKey = true
				}
			}
		}
		if len(stack) == 0 && !first {
			// The top-level object closed; anything after is trailing data
			// and is caught by the decoder.
			if _, err := dec.Token(); err != io.EOF {
				return fmt.Errorf("%w: trailing data after the object", ErrBadJSON)
			}
			return nil
		}
	}
	return fmt.Errorf("%w: truncated JSON", ErrBadJSON)
}

// writeJSON writes v with the status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// noStore marks a response that carries a token as not cacheable.
func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
}

// writeNativeError renders err as the native API's error JSON, with the
// status from the one error table and Retry-After where it applies.
func writeNativeError(w http.ResponseWriter, err error) {
	e := lookupError(err)
	if ra := retryAfter(err); ra > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(ra))
	}
	if e.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="sessiond"`)
	}
	msg := err.Error()
	if e.status == http.StatusInternalServerError {
		msg = "internal error"
	}
	writeJSON(w, e.status, map[string]any{"error": map[string]string{"code": e.code, "message": msg}})
}

// foldKey maps a key to one spelling per case-folding class: each rune to
// the smallest rune of its Unicode simple-folding orbit, so "ADMIN",
// "admin" and "\u212Admin"-style look-alikes (Kelvin sign, long s) that
// encoding/json would also match fold alike.
func foldKey(k string) string {
	ascii := true
	for i := 0; i < len(k); i++ {
		if k[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToLower(k)
	}
	var b strings.Builder
	for _, r := range k {
		min := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if f < min {
				min = f
			}
		}
		if min < 0x80 {
			min = unicode.ToLower(min)
		}
		b.WriteRune(min)
	}
	return b.String()
}
