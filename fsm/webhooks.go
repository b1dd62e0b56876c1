package fsm

import "sort"

// Webhook subscriptions and their delivery cursors are replicated state:
// whichever node leads delivers, starting from the cursor the previous
// leader committed (internal/webhook), so a failover repeats at most the
// deliveries after the last committed cursor and skips none.

// Command types of the events range (45–54).
const (
	TypePutWebhook      CmdType = 45
	TypeDeleteWebhook   CmdType = 46
	TypeAdvanceWebhooks CmdType = 47
)

// Webhook formats.
const (
	// FormatStandardWebhooks is a signed JSON POST (standardwebhooks.com).
	FormatStandardWebhooks = "standard"
	// FormatBackchannelLogout is OpenID Connect Back-Channel Logout 1.0:
	// a form POST of a logout_token per ended session, for a service client.
	FormatBackchannelLogout = "backchannel_logout"
)

// Webhook is one subscription. Values are immutable once stored.
type Webhook struct {
	ID     string   `json:"id"`
	DB     string   `json:"db,omitempty"` // "" = every db (operator's)
	URL    string   `json:"url"`
	Events []string `json:"events,omitempty"` // empty = every type
	Format string   `json:"format,omitempty"` // "" = FormatStandardWebhooks
	// ClientID is the service client a back-channel subscription serves
	// (its aud); deleting the client deletes the subscription.
	ClientID string `json:"client_id,omitempty"`
	// Secret is the signing secret sealed by auth (never clear in the log);
	// empty for back-channel logout, whose tokens the keyring signs.
	Secret  []byte `json:"secret,omitempty"`
	Created int64  `json:"created"`

	// Delivery state. Cursor is the newest event delivered (or passed
	// over as not matching); it only moves forward.
	Cursor      EventID `json:"cursor"`
	Paused      bool    `json:"paused,omitempty"`
	PauseReason string  `json:"pause_reason,omitempty"`
	PausedAt    int64   `json:"paused_at,omitempty"`
}

// Wants reports whether the subscription takes event e.
func (w *Webhook) Wants(e *Event) bool {
	if w.DB != "" && e.DB != w.DB && e.Type != EventKeyRevoked {
		return false
	}
	if w.Format == FormatBackchannelLogout {
		return e.Type == EventSessionEnded
	}
	if len(w.Events) == 0 {
		return true
	}
	for _, t := range w.Events {
		if t == e.Type {
			return true
		}
	}
	return false
}

// PutWebhook creates a subscription or changes one. A new one starts
// after the entry that creates it: it receives what happens from then on.
// A change keeps the cursor; Paused false clears a pause.
type PutWebhook struct {
	Webhook Webhook `json:"webhook"`
}

// DeleteWebhook removes a subscription; Count 0 when there was none.
type DeleteWebhook struct {
	ID string `json:"id"`
}

// WebhookCursor moves one subscription's cursor forward to Through.
type WebhookCursor struct {
	ID      string  `json:"id"`
	Through EventID `json:"through"`
}

// WebhookPause pauses one subscription that kept failing.
type WebhookPause struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
	At     int64  `json:"at"`
}

// AdvanceWebhooks is the dispatcher's batched commit: every cursor that
// moved since its last one, and any pause, in one entry, so delivery
// costs the log a few entries a second, not one per event.
type AdvanceWebhooks struct {
	Cursors []WebhookCursor `json:"cursors,omitempty"`
	Pauses  []WebhookPause  `json:"pauses,omitempty"`
}

// Type implementations.
func (PutWebhook) Type() CmdType      { return TypePutWebhook }
func (DeleteWebhook) Type() CmdType   { return TypeDeleteWebhook }
func (AdvanceWebhooks) Type() CmdType { return TypeAdvanceWebhooks }

func (s *State) applyPutWebhook(c *PutWebhook) Result {
	w := c.Webhook
	if w.ID == "" || w.URL == "" {
		return fail(ErrBadCommand)
	}
	if s.webhooks == nil {
		s.webhooks = make(map[string]*Webhook)
	}
	if old, ok := s.webhooks[w.ID]; ok {
		w.Cursor, w.Created, w.ClientID, w.Format = old.Cursor, old.Created, old.ClientID, old.Format
		if len(w.Secret) == 0 {
			w.Secret = old.Secret
		}
		if w.Paused && old.Paused {
			w.PauseReason, w.PausedAt = old.PauseReason, old.PausedAt
		}
	} else {
		w.Cursor = EventID{Index: s.index, Seq: ^uint32(0)}
	}
	if !w.Paused {
		w.PauseReason, w.PausedAt = "", 0
	}
	s.webhooks[w.ID] = &w
	return Result{Count: 1}
}

func (s *State) applyDeleteWebhook(c *DeleteWebhook) Result {
	if _, ok := s.webhooks[c.ID]; !ok {
		return Result{}
	}
	delete(s.webhooks, c.ID)
	return Result{Count: 1}
}

// applyAdvanceWebhooks moves cursors forward only (a late commit from a
// deposed leader never moves one back) and pauses; unknown ids are
// skipped (deleted meanwhile).
func (s *State) applyAdvanceWebhooks(c *AdvanceWebhooks) Result {
	n := 0
	for _, cur := range c.Cursors {
		w, ok := s.webhooks[cur.ID]
		if !ok || !w.Cursor.Less(cur.Through) {
			continue
		}
		cp := *w
		cp.Cursor = cur.Through
		s.webhooks[w.ID] = &cp
		n++
	}
	for _, p := range c.Pauses {
		w, ok := s.webhooks[p.ID]
		if !ok || w.Paused {
			continue
		}
		cp := *w
		cp.Paused, cp.PauseReason, cp.PausedAt = true, p.Reason, p.At
		s.webhooks[w.ID] = &cp
		n++
	}
	return Result{Count: n}
}

// dropClientWebhooks removes a deleted client's back-channel subscription.
func (s *State) dropClientWebhooks(clientID string) {
	for id, w := range s.webhooks {
		if w.ClientID == clientID {
			delete(s.webhooks, id)
		}
	}
}

// Webhook returns one subscription. The value must not be modified.
func (s *State) Webhook(id string) (*Webhook, bool) {
	s.mu.RLock()
	w, ok := s.webhooks[id]
	s.mu.RUnlock()
	return w, ok
}

// Webhooks lists the subscriptions, sorted by id.
func (s *State) Webhooks() []*Webhook {
	s.mu.RLock()
	out := make([]*Webhook, 0, len(s.webhooks))
	for _, w := range s.webhooks {
		out = append(out, w)
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
