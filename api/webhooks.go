package api

import (
	"errors"
	"net/http"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/fsm"
	"github.com/sessiond/sessiond/internal/webhook"
)

// Webhook subscriptions (docs/EVENTS.md). A tenant admin manages its own
// db's subscriptions, the operator every one, the cluster-wide ones
// included; the secret is shown once, in the answer that creates it.
func (s *Server) webhookRoutes() {
	s.handle("POST /v1/webhooks", s.admin(s.createWebhook))
	s.handle("GET /v1/webhooks", s.admin(s.listWebhooks))
	s.handle("GET /v1/webhooks/{id}", s.admin(s.getWebhook))
	s.handle("PATCH /v1/webhooks/{id}", s.admin(s.patchWebhook))
	s.handle("DELETE /v1/webhooks/{id}", s.admin(s.deleteWebhook))
}

// webhookJSON shows a subscription and its delivery state, never its secret.
func webhookJSON(w *fsm.Webhook) map[string]any {
	var db, client any
	if w.DB != "" {
		db = w.DB
	}
	if w.ClientID != "" {
		client = w.ClientID
	}
	events := w.Events
	if events == nil {
		events = []string{}
	}
	format := w.Format
	if format == "" {
		format = fsm.FormatStandardWebhooks
	}
	out := map[string]any{"id": w.ID, "db": db, "url": w.URL, "events": events, "format": format,
		"client_id": client, "created": unixOrNil(w.Created), "cursor": w.Cursor.String(), "paused": w.Paused}
	if w.Paused {
		out["pause_reason"], out["paused_at"] = w.PauseReason, unixOrNil(w.PausedAt)
	}
	return out
}

// checkWebhookURL turns the target checks into field errors.
func (s *Server) checkWebhookURL(r *http.Request, u string) error {
	err := webhook.CheckURL(r.Context(), u, s.cfg.Webhooks.AllowPrivate)
	if err != nil {
		return fieldError(ErrBadField, "url: "+err.Error())
	}
	return nil
}

func webhookError(err error) error {
	switch {
	case errors.Is(err, auth.ErrBadEventType):
		return fieldError(ErrBadField, "events: "+err.Error()+"; known: session.created, session.ended, key.revoked")
	case errors.Is(err, auth.ErrWebhookNotFound):
		return ErrNotFound
	}
	return err
}

// createWebhook: {"url", "events"?, "db"?} → 201 {"id", "secret", ...}.
// Without db, the operator's subscription is cluster-wide and an
// admin's is bound to its db.
func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request, p principal) {
	var in struct {
		URL    string   `json:"url"`
		Events []string `json:"events"`
		DB     string   `json:"db"`
	}
	if err := decodeJSON(r, &in); err != nil {
		writeNativeError(w, err)
		return
	}
	db, err := scopeDB(p, in.DB)
	if err == nil && in.URL == "" {
		err = fieldError(ErrMissingField, "url is required")
	}
	if err == nil {
		err = s.checkWebhookURL(r, in.URL)
	}
	if err != nil {
		writeNativeError(w, err)
		return
	}
	wh, secret, err := s.svc.CreateWebhook(r.Context(), auth.NewWebhook{DB: db, URL: in.URL, Events: in.Events})
	s.auditAdmin(r, "webhook_create", p, 0, err)
	if err != nil {
		writeNativeError(w, webhookError(err))
		return
	}
	out := webhookJSON(wh)
	out["secret"] = secret
	noStore(w)
	writeJSON(w, http.StatusCreated, out)
}

// mayManageWebhook: the operator any, an admin its own db's.
func mayManageWebhook(p principal, w *fsm.Webhook) bool {
	return isOperator(p) || (w.DB != "" && canManageDB(p, w.DB))
}

func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request, p principal) {
	out := []map[string]any{}
	for _, wh := range s.svc.Webhooks() {
		if mayManageWebhook(p, wh) {
			out = append(out, webhookJSON(wh))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"webhooks": out})
}

// pathWebhook finds the subscription of the path that p may manage. To
// an admin, another db's, a cluster-wide and a missing one get the same
// 403 (as clients do); the operator gets 404 for a missing one.
func (s *Server) pathWebhook(r *http.Request, p principal) (*fsm.Webhook, error) {
	id := r.PathValue("id")
	if len(id) > 64 {
		return nil, fieldError(ErrBadField, "webhook id too long")
	}
	wh, ok := s.svc.Webhook(id)
	switch {
	case ok && mayManageWebhook(p, wh):
		return wh, nil
	case isOperator(p):
		return nil, ErrNotFound
	}
	return nil, ErrForbidden
}

func (s *Server) getWebhook(w http.ResponseWriter, r *http.Request, p principal) {
	wh, err := s.pathWebhook(r, p)
	if err != nil {
		writeNativeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, webhookJSON(wh))
}

// patchWebhook: {"url"?, "events"?, "paused"?}. Unpausing resumes from
// the cursor: nothing the subscription missed is skipped.
func (s *Server) patchWebhook(w http.ResponseWriter, r *http.Request, p principal) {
	wh, err := s.pathWebhook(r, p)
	if err != nil {
		writeNativeError(w, err)
		return
	}
	var in struct {
		URL    *string   `json:"url"`
		Events *[]string `json:"events"`
		Paused *bool     `json:"paused"`
	}
	if err := decodeJSON(r, &in); err != nil {
		writeNativeError(w, err)
		return
	}
	if in.URL != nil {
		if err := s.checkWebhookURL(r, *in.URL); err != nil {
			writeNativeError(w, err)
			return
		}
	}
	got, err := s.svc.UpdateWebhook(r.Context(), wh.ID, auth.WebhookChange{URL: in.URL, Events: in.Events, Paused: in.Paused})
	s.auditAdmin(r, "webhook_change", p, 0, err)
	if err != nil {
		writeNativeError(w, webhookError(err))
		return
	}
	writeJSON(w, http.StatusOK, webhookJSON(got))
}

func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request, p principal) {
	wh, err := s.pathWebhook(r, p)
	if err != nil {
		writeNativeError(w, err)
		return
	}
	err = s.svc.DeleteWebhook(r.Context(), wh.ID)
	s.auditAdmin(r, "webhook_delete", p, 0, err)
	if err != nil {
		writeNativeError(w, webhookError(err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
