package api

import (
	"net/http"
	"time"

	"github.com/sessiond/sessiond/auth"
)

// restoreTimeout bounds one restore upload and its answer.
const restoreTimeout = 30 * time.Minute

// longUpload gives a backup upload its own deadlines: a backup of millions
// of sessions is gigabytes, which the server-wide read and write timeouts
// (sized for small requests) would cut off. The size stays bounded by
// cluster.MaxBackupSize.
func longUpload(w http.ResponseWriter) {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(restoreTimeout))
	_ = rc.SetWriteDeadline(time.Now().Add(restoreTimeout))
}

// clusterRestoreCheck verifies an uploaded backup (MAC included) and
// answers what restoring it would do: its least age, its counts beside
// the cluster's, what it would bring back, and the warning the CLI shows
// before asking. Nothing changes. It is a route of its own, not a flag
// of the restore, so that a node too old to know it refuses it (404)
// instead of restoring.
func (s *Server) clusterRestoreCheck(w http.ResponseWriter, r *http.Request) {
	keep, err := boolParam(r, "keep_sessions")
	if err != nil {
		writeNativeError(w, err)
		return
	}
	longUpload(w)
	backup, err := s.node.CheckBackup(r.Body)
	if err != nil {
		writeNativeError(w, err)
		return
	}
	rep := auth.CompareRestore(backup, s.svc.State(), s.svc.Now())
	writeJSON(w, http.StatusOK, map[string]any{"report": rep, "warning": rep.Warning(keep), "keep_sessions": keep})
}

// clusterRestore replaces the cluster's state with an uploaded backup; a
// bad file is refused with 400 and changes nothing. A backup brings back
// whatever was ended after it was taken (logouts, revoked keys, deleted
// clients, old passwords), so by default every session and token from
// before the restore is ended and a fresh signing key starts, through
// ordinary commands after the restore (auth.EndRestoredAccess);
// ?keep_sessions=true keeps the backup as it is. The answer says what the
// backup brought back and what was done about it.
func (s *Server) clusterRestore(w http.ResponseWriter, r *http.Request) {
	keep, err := boolParam(r, "keep_sessions")
	if err != nil {
		writeNativeError(w, err)
		return
	}
	longUpload(w)
	before := s.svc.State()
	revoked := auth.RevokedKids(before)
	if err := s.node.Restore(r.Context(), r.Body); err != nil {
		writeNativeError(w, err)
		return
	}
	out := map[string]any{"restored": true, "keep_sessions": keep}
	audit := []any{"event", "cluster_restore", "node", s.node.ID(), "client_addr", s.clientAddr(r), "keep_sessions", keep}
	// The restore ran on the leader: read the restored state here only
	// once this node has it. The replaced state is held no longer than
	// the report needs it (a restore already holds two states at once).
	err = s.svc.CatchUp(r.Context())
	if err == nil {
		rep := auth.CompareRestore(s.svc.State(), before, s.svc.Now())
		out["report"], out["warning"] = rep, rep.Warning(keep)
		if !keep {
			var done auth.AfterRestore
			done, err = s.svc.EndRestoredAccess(r.Context(), revoked)
			out["after_restore"] = done
			audit = append(audit, "ended_sessions", done.EndedSessions, "new_kid", done.NewKid)
		}
	}
	if err == nil && !keep {
		// Ending the restored sessions ran through the leader too: count
		// here only once this node has applied it (a follower would
		// otherwise answer the counts from before).
		err = s.svc.CatchUp(r.Context())
	}
	s.writeAudit(audit, err)
	if err != nil {
		writeNativeError(w, fieldError(err, "the backup was restored, but ending what it brought back failed ("+err.Error()+
			"): restore it again, or end the sessions (DELETE /v1/users/{id}/sessions) and rotate the keys (POST /v1/keys) by hand"))
		return
	}
	_, out["sessions"] = s.svc.Counts()
	out["index"] = s.node.AppliedIndex()
	writeJSON(w, http.StatusOK, out)
}
