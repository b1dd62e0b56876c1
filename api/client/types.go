package client

import (
	"time"

	"github.com/sessiond/sessiond/wire"
)

// LoginRequest is the body of POST /v1/login. DB may be empty when the
// cluster has one database (or a default one).
type LoginRequest struct {
	DB       string `json:"db,omitempty"`
	Login    string `json:"login"`
	Password string `json:"password"`
	Name     string `json:"name,omitempty"` // a device or client name shown in session lists
}

// LoginResponse is a created session and its secret token.
type LoginResponse struct {
	Token     string  `json:"token"`
	TokenType string  `json:"token_type"`
	Session   Session `json:"session"`
	User      User    `json:"user"`
	Meta      Meta    `json:"-"`
}

// Session is a live login as the API shows it; the token is never part of
// it.
type Session struct {
	ID          string     `json:"id"`
	Kind        string     `json:"kind"` // native, odoo, jwt, knox
	DB          string     `json:"db,omitempty"`
	Created     time.Time  `json:"created"`
	ExpiresAt   *time.Time `json:"expires_at"` // nil: no expiry
	LastRefresh time.Time  `json:"last_refresh"`
	Name        string     `json:"name,omitempty"`
	UserAgent   string     `json:"user_agent,omitempty"`
	ClientAddr  string     `json:"client_addr,omitempty"`
	Current     bool       `json:"current,omitempty"` // the session of the token that asked
}

// User is an account as the API shows it; never a password hash.
type User struct {
	ID              uint64     `json:"id"`
	DB              string     `json:"db"`
	Login           string     `json:"login"`
	Email           string     `json:"email,omitempty"`
	Name            string     `json:"name,omitempty"`
	CompanyID       uint64     `json:"company_id,omitempty"`
	CompanyName     string     `json:"company_name,omitempty"`
	Admin           bool       `json:"admin"`    // of its db
	Operator        bool       `json:"operator"` // of the cluster
	Disabled        bool       `json:"disabled"`
	Created         time.Time  `json:"created"`
	PasswordChanged *time.Time `json:"password_changed,omitempty"`
	LockedUntil     *time.Time `json:"locked_until,omitempty"` // nil: not locked
}

// Whoami is the answer of GET /v1/session: the caller's session and user.
type Whoami struct {
	Session Session `json:"session"`
	User    User    `json:"user"`
	Meta    Meta    `json:"-"`
}

// Meta is what every answer says about the node that gave it.
type Meta struct {
	Node  string // X-Sessiond-Node
	Index uint64 // X-Sessiond-Index: the node's applied Raft index
	Addr  string // the base URL the answer came from
}

// Introspection is an RFC 7662 token introspection answer. Inactive
// tokens carry only Active=false.
type Introspection struct {
	Active    bool   `json:"active"`
	Sub       string `json:"sub,omitempty"`
	Username  string `json:"username,omitempty"`
	Exp       int64  `json:"exp,omitempty"`
	Iat       int64  `json:"iat,omitempty"`
	TokenType string `json:"token_type,omitempty"`
	ClientID  string `json:"client_id,omitempty"`
	Scope     string `json:"scope,omitempty"`
	DB        string `json:"db,omitempty"`
	SessionID string `json:"sid,omitempty"`
}

// NewUser is the body of POST /v1/users.
type NewUser struct {
	DB       string `json:"db,omitempty"`
	Login    string `json:"login"`
	Password string `json:"password"`
	Email    string `json:"email,omitempty"`
	Name     string `json:"name,omitempty"`
	Admin    bool   `json:"admin,omitempty"`
	Operator bool   `json:"operator,omitempty"` // the operator only may grant it
}

// UserUpdate is the body of PATCH /v1/users/{id}; nil fields are left as
// they are. A new password ends every session of the user.
type UserUpdate struct {
	Name     *string `json:"name,omitempty"`
	Email    *string `json:"email,omitempty"`
	Password *string `json:"password,omitempty"`
	Admin    *bool   `json:"admin,omitempty"`
	Operator *bool   `json:"operator,omitempty"` // the operator only may change it
	Disabled *bool   `json:"disabled,omitempty"`
	Unlock   *bool   `json:"unlock,omitempty"`
}

// ClusterStatus is one node's view of the cluster (GET /v1/cluster): the
// shape the server writes (package wire) and where the answer came from.
type ClusterStatus struct {
	wire.ClusterStatus
	Meta Meta `json:"-"`
}

// Member is one server of the Raft configuration.
type Member = wire.Member

// Consistency levels for Session (see docs/ARCHITECTURE.md, rule 4). Empty means the
// node's default.
const (
	ConsistencyDefault    = "default"
	ConsistencyConsistent = "consistent"
	ConsistencyStale      = "stale"
)
