package fsm

import "fmt"

// User.EmailUnverified is state a binary before FormatV3 would drop (and
// so pass the address on again): a downgrade below FormatV3 is refused
// while any user carries it.
func init() {
	FormatUses(func(s *State) (int, string) {
		for _, u := range s.users {
			if u.EmailUnverified {
				return FormatV3, fmt.Sprintf("user %q has an unverified e-mail address (verify it first: PATCH /v1/users/%d {\"email_verified\": true}, or delete the user)", u.Login, u.ID)
			}
		}
		return FormatBase, ""
	})
}
