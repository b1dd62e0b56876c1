package api

import (
	"net/http"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/fsm"
)

// GET /v1/session answers every validation, so its JSON is written by hand
// into a pooled buffer: encoding/json through the typed views cost about
// 15 allocations per answer (an RFC 3339 string and its interface box per
// timestamp, the views, the boxed whoamiView). The bytes are exactly what
// writeJSON gives for whoamiView (TestWhoamiJSON_SameBytesAsEncoder checks
// them against encoding/json on hostile strings), so clients see no change.

// jsonBufs are the answer buffers; an answer is about 500 bytes.
var jsonBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// contentTypeJSON is the Content-Type value, shared by every answer: a
// full slice, so an Add elsewhere reallocates instead of appending into it.
var contentTypeJSON = []string{"application/json"}

// writeWhoami answers a validated session and its user.
func writeWhoami(w http.ResponseWriter, sess *fsm.Session, u *fsm.User) {
	bp := jsonBufs.Get().(*[]byte)
	b := appendWhoami((*bp)[:0], sess, u)
	w.Header()["Content-Type"] = contentTypeJSON[:1:1]
	w.WriteHeader(http.StatusOK)
	w.Write(b)
	if cap(b) <= 64<<10 { // an outsized answer (huge names) is not kept
		*bp = b
		jsonBufs.Put(bp)
	}
}

// appendWhoami appends whoamiView{sessionJSON(sess, true), userJSON(u)} as
// writeJSON encodes it: keys in the views' order, no HTML escaping, a
// trailing newline.
func appendWhoami(b []byte, sess *fsm.Session, u *fsm.User) []byte {
	b = append(b, `{"session":{"amr":`...)
	b = sess.Methods().AppendJSON(b)
	b = append(b, `,"auth_time":`...)
	b = appendTime(b, sess.AuthAt())
	b = append(b, `,"client_addr":`...)
	b = appendJSONString(b, sess.ClientAddr)
	b = append(b, `,"created":`...)
	b = appendTime(b, sess.Created)
	b = append(b, `,"current":true,"db":`...)
	b = appendJSONString(b, sess.DB)
	b = append(b, `,"expires_at":`...)
	b = appendTime(b, sess.ExpiresAt)
	b = append(b, `,"id":`...)
	b = appendJSONString(b, auth.PublicID(sess))
	b = append(b, `,"kind":`...)
	b = appendJSONString(b, sess.Kind.String())
	b = append(b, `,"last_refresh":`...)
	b = appendTime(b, sess.LastRefresh)
	b = append(b, `,"name":`...)
	b = appendJSONString(b, sess.Name)
	b = append(b, `,"user_agent":`...)
	b = appendJSONString(b, sess.UserAgent)
	b = append(b, `},"user":{"admin":`...)
	b = strconv.AppendBool(b, u.Admin)
	b = append(b, `,"company_id":`...)
	b = strconv.AppendUint(b, u.CompanyID, 10)
	b = append(b, `,"company_name":`...)
	b = appendJSONString(b, u.CompanyName)
	b = append(b, `,"created":`...)
	b = appendTime(b, u.Created)
	b = append(b, `,"db":`...)
	b = appendJSONString(b, u.DB)
	b = append(b, `,"disabled":`...)
	b = strconv.AppendBool(b, u.Disabled)
	b = append(b, `,"email":`...)
	b = appendJSONString(b, u.Email)
	b = append(b, `,"email_verified":`...)
	b = strconv.AppendBool(b, !u.EmailUnverified)
	b = append(b, `,"id":`...)
	b = strconv.AppendUint(b, u.ID, 10)
	b = append(b, `,"locked_until":`...)
	b = appendTime(b, u.LockedUntil)
	b = append(b, `,"login":`...)
	b = appendJSONString(b, u.Login)
	b = append(b, `,"name":`...)
	b = appendJSONString(b, u.Name)
	b = append(b, `,"operator":`...)
	b = strconv.AppendBool(b, u.Operator)
	b = append(b, `,"password_changed":`...)
	b = appendTime(b, u.PasswordChanged)
	return append(b, "}}\n"...)
}

// appendTime appends unixOrNil(ns) as JSON: null for 0, else the RFC 3339
// UTC time as a string (its characters never need escaping).
func appendTime(b []byte, ns int64) []byte {
	if ns == 0 {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = time.Unix(0, ns).UTC().AppendFormat(b, time.RFC3339)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as encoding/json does with HTML escaping off:
// quote and backslash escaped, \b \f \n \r \t by name, other control
// characters as \u00XX, invalid UTF-8 as \ufffd, and U+2028 and U+2029
// escaped (JavaScript line terminators).
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
