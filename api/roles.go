package api

import (
	"net/http"

	"github.com/sessiond/sessiond/cluster"
	"github.com/sessiond/sessiond/fsm"
)

// Roles (DESIGN rule 7). An admin (fsm.User.Admin) manages its own db:
// its users, their sessions, the service clients bound to it. The cluster
// operator (fsm.User.Operator) manages the cluster: membership, backup,
// restore, settings, signing keys, cluster-wide clients, every db, and
// who else is an operator. The first admin of a new cluster is its
// operator (auth.SeedCluster); the cluster key (KeyGate) stays the
// break-glass operator on /v1/cluster/*.
//
// Every refusal is ErrForbidden (403 "forbidden") and is decided before
// anything is proposed, so a refused call changes no state.
// TestRoles_TenantAdminRefusedOnEveryAdminRoute walks every route of the
// table as the admin of another db.

// operator wraps a handler that needs the cluster operator's Bearer token.
func (s *Server) operator(h func(http.ResponseWriter, *http.Request, principal)) http.HandlerFunc {
	return s.admin(func(w http.ResponseWriter, r *http.Request, p principal) {
		if !isOperator(p) {
			writeNativeError(w, ErrForbidden)
			return
		}
		h(w, r, p)
	})
}

// operatorOrKey wraps a cluster route: open to the operator and to
// cluster-key holders (other nodes' and operators' tools, via KeyGate).
func (s *Server) operatorOrKey(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := s.operatorOrClusterKey(r); err != nil {
			writeNativeError(w, err)
			return
		}
		h(w, r)
	}
}

// operatorOrClusterKey admits a cluster-key holder or the operator.
func (s *Server) operatorOrClusterKey(r *http.Request) error {
	if byKey(r) {
		return s.checkKey(r)
	}
	p, err := s.adminAuth(r)
	if err != nil {
		return err
	}
	if !isOperator(p) {
		return ErrForbidden
	}
	return nil
}

// byKey reports whether the request came through KeyGate's verified
// cluster-key path: a mark in its context that only KeyGate sets.
func byKey(r *http.Request) bool { return cluster.KeyVerified(r.Context()) }

func (s *Server) checkKey(r *http.Request) error {
	if byKey(r) {
		return nil
	}
	return ErrForbidden
}

func isOperator(p principal) bool { return p.User != nil && p.User.Operator }

// canManageDB: the operator manages every db, an admin its own.
func canManageDB(p principal, db string) bool {
	return isOperator(p) || (p.User != nil && p.User.Admin && p.User.DB == db)
}

// canChangeUser: an admin changes the users of its db but not an
// operator among them (else it could take over the operator's account by
// setting its password); the operator changes anyone.
func canChangeUser(p principal, u *fsm.User) bool {
	return isOperator(p) || (canManageDB(p, u.DB) && !u.Operator)
}

// scopeDB is the db an admin's request acts on: the named one, or, when
// none is named, the caller's own for an admin ("" for the operator, whom
// auth resolves to the default db). ErrForbidden when the caller may not
// manage it.
func scopeDB(p principal, db string) (string, error) {
	if db == "" && !isOperator(p) {
		db = p.User.DB
	}
	if db != "" && !canManageDB(p, db) {
		return "", ErrForbidden
	}
	return db, nil
}
