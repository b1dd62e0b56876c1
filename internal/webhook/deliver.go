package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/sessiond/sessiond/fsm"
)

// PayloadType is the "type" of every Standard Webhooks call: its data
// holds one or more events, in index order.
const PayloadType = "sessiond.events"

// Payload is the JSON body of a Standard Webhooks call.
type Payload struct {
	Type      string `json:"type"`
	Timestamp string `json:"timestamp"`
	Data      struct {
		Events []fsm.Event `json:"events"`
	} `json:"data"`
}

// MessageID is a call's webhook-id: the first and last event ids it
// carries. A retry of the same batch has the same id; after a failover
// the batches may be cut differently, so receivers deduplicate on the
// events' own ids.
func MessageID(batch []fsm.Event) string {
	return "msg_" + batch[0].ID.String() + "_" + batch[len(batch)-1].ID.String()
}

// Sign is the webhook-signature value for a message: "v1," and the
// base64 HMAC-SHA256, under the secret, of "id.timestamp.body".
func Sign(secret []byte, id string, ts int64, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(strconv.FormatInt(ts, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// deliver sends batch to w and returns how many events were delivered
// (all or none for a Standard Webhooks call; one call per event for
// back-channel logout, so possibly some).
func (d *Dispatcher) deliver(ctx context.Context, w *fsm.Webhook, batch []fsm.Event) (int, error) {
	if w.Format == fsm.FormatBackchannelLogout {
		for i := range batch {
			if err := d.backchannel(ctx, w, &batch[i]); err != nil {
				return i, err
			}
		}
		return len(batch), nil
	}
	secret, err := d.sign.WebhookSecret(w)
	if err != nil {
		return 0, err
	}
	now := d.cfg.Now()
	body := appendPayload(make([]byte, 0, 64+160*len(batch)), now, batch)
	id, ts := MessageID(batch), now.Unix()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "sessiond-webhook")
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	h.Set("webhook-signature", Sign(secret, id, ts, body))
	if err := d.do(req); err != nil {
		return 0, err
	}
	return len(batch), nil
}

// backchannel POSTs one logout_token (OpenID Connect Back-Channel Logout
// 1.0, section 2.5) for an ended session.
func (d *Dispatcher) backchannel(ctx context.Context, w *fsm.Webhook, e *fsm.Event) error {
	tok, err := d.sign.LogoutToken(w, e, d.cfg.Now())
	if err != nil {
		return err
	}
	form := url.Values{"logout_token": {tok}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader([]byte(form)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "sessiond-backchannel-logout")
	return d.do(req)
}

// do sends req; anything but a 2xx answer is a failure.
func (d *Dispatcher) do(req *http.Request) error {
	resp, err := d.client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook: %s answered %d", req.URL.Redacted(), resp.StatusCode)
	}
	return nil
}

// appendPayload writes the Standard Webhooks body for batch without
// reflection: it is the dispatcher's per-event cost on the leader, paid
// once per subscription. TestAppendPayload_MatchesEncodingJSON holds it to
// what encoding/json writes for Payload.
func appendPayload(b []byte, now time.Time, batch []fsm.Event) []byte {
	b = append(b, `{"type":"`+PayloadType+`","timestamp":"`...)
	b = now.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","data":{"events":[`...)
	for i := range batch {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendEvent(b, &batch[i])
	}
	return append(b, "]}}"...)
}

// appendEvent writes e as encoding/json would (same keys, order and
// omitempty rules as fsm.Event's tags).
func appendEvent(b []byte, e *fsm.Event) []byte {
	b = append(b, `{"id":"`...)
	b = strconv.AppendUint(b, e.ID.Index, 10)
	b = append(b, '.')
	b = strconv.AppendUint(b, uint64(e.ID.Seq), 10)
	b = append(b, `","type":`...)
	b = appendString(b, e.Type)
	field := func(name, v string) {
		if v != "" {
			b = append(b, `,"`+name+`":`...)
			b = appendString(b, v)
		}
	}
	field("reason", e.Reason)
	field("db", e.DB)
	if e.UserID != 0 {
		b = append(b, `,"user_id":`...)
		b = strconv.AppendUint(b, e.UserID, 10)
	}
	field("login", e.Login)
	field("session_id", e.SessionID)
	field("dialect", e.Dialect)
	field("kid", e.Kid)
	b = append(b, `,"time":`...)
	b = strconv.AppendInt(b, e.Time, 10)
	return append(b, '}')
}

// appendString writes s as a JSON string with encoding/json's escaping
// (control characters, quote, backslash, <, >, &, U+2028/9; invalid UTF-8
// as U+FFFD).
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
