package main

import (
	"flag"
	"time"

	"github.com/sessiond/sessiond/api"
	"github.com/sessiond/sessiond/fsm"
	"github.com/sessiond/sessiond/internal/webhook"
)

// EventsFlags configure events and webhooks (docs/EVENTS.md).
type EventsFlags struct {
	Retention    int           // --event-retention: events kept in memory and snapshots
	AllowPrivate bool          // --webhook-allow-private: targets on internal addresses
	PauseAfter   time.Duration // --webhook-pause-after: failing this long pauses a subscription
	Issuer       string        // --events-issuer: iss of back-channel logout tokens
}

func eventsFlags(fs *flag.FlagSet, e *EventsFlags) {
	e.Retention = fsm.DefaultEventRetention
	e.PauseAfter = webhook.DefaultConfig().PauseAfter
	fs.IntVar(&e.Retention, "event-retention", e.Retention, "events this node keeps for the stream and webhook delivery (memory and snapshots); older ones are dropped")
	fs.BoolVar(&e.AllowPrivate, "webhook-allow-private", false, "let webhook and back-channel logout URLs reach loopback, private and link-local addresses (refused by default: no SSRF through webhooks)")
	fs.DurationVar(&e.PauseAfter, "webhook-pause-after", e.PauseAfter, "a subscription failing this long is paused and reported (sessiond_webhook_pauses_total) instead of retried")
	fs.StringVar(&e.Issuer, "events-issuer", "", "`iss` of back-channel logout tokens (default: --api-url)")
}

func (e EventsFlags) apply(ac *api.Config) {
	fsm.SetEventRetention(e.Retention)
	ac.Webhooks.AllowPrivate, ac.Webhooks.PauseAfter = e.AllowPrivate, e.PauseAfter
	ac.EventsIssuer = e.Issuer
}
