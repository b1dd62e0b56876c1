package auth

// requestID is the nonce of a write that is not idempotent by its content
// (logoutall, a failed-login record, a user update, the take of a sign-in
// step; a login's nonce is its session's ID): chosen here, before the log,
// so that every retry the node makes of it carries the same one and the
// state applies it once (fsm/once.go). Randomness failing leaves it empty,
// the old form, which the FSM applies as it always did.
func requestID() string {
	id, err := NewID()
	if err != nil {
		return ""
	}
	return id
}
