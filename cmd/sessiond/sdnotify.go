package main

import (
	"log/slog"

	"github.com/coreos/go-systemd/v22/daemon"
)

// notifySystemd tells systemd (Type=notify, packaging/sessiond.service)
// that the node is ready for traffic or stopping. Outside systemd
// (NOTIFY_SOCKET unset) it does nothing. go-systemd's daemon package is the
// protocol's well-kept implementation, a few hundred lines with no
// dependencies of its own.
func notifySystemd(state string, log *slog.Logger) {
	if sent, err := daemon.SdNotify(false, state); err != nil {
		log.Warn("systemd notify failed", "state", state, "err", err)
	} else if sent {
		log.Debug("systemd notified", "state", state)
	}
}
