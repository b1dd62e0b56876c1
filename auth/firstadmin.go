package auth

import (
	"context"
	"errors"
)

// ErrAdminExists refuses a first admin on a cluster that has one: the
// cluster key names the first admin of a cluster bootstrapped without
// SESSIOND_ADMIN_PASSWORD (a systemd unit with no admin credential), and
// nothing after that.
var ErrAdminExists = errors.New("auth: the cluster already has an admin; ask an admin or the operator")

// CreateFirstAdmin creates nu as an admin and the cluster's operator,
// as seeding would have, when no account in any db is an admin or the
// operator. The check reads after a Sync, so an admin created through
// another node a moment ago is seen. It is a guard against mistakes, not
// a lock: whoever holds the cluster key can already change any state, so
// two such calls racing may both succeed, and both are audited.
func (s *Service) CreateFirstAdmin(ctx context.Context, nu NewUser) (uint64, error) {
	if err := s.node.Sync(ctx); err != nil {
		return 0, err
	}
	for _, u := range s.node.State().Users("") {
		if u.Admin || u.Operator {
			return 0, ErrAdminExists
		}
	}
	nu.Admin, nu.Operator = true, true
	return s.CreateUser(ctx, nu)
}
