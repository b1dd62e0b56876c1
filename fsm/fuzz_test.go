package fsm

import (
	"bytes"
	"reflect"
	"testing"
)

// allCommands returns one command of every type with every field set, so
// that a field dropped by the encoding shows up as a difference.
func allCommands() []Command {
	key := SigningKey{Kid: "k1", Alg: "ES256", Secret: []byte{0, 1, 2, 0xFF}, Public: []byte("pub"), Created: t0, Retired: t0 + 1}
	settings := Settings{
		SignupEnabled: true, TokenLimitPerUser: 3, LockoutThreshold: 4, LockoutDuration: 5,
		OdooTTL: 6, OdooIdle: 7, JWTTTL: 8, KnoxTTL: 9, NativeTTL: 10, NativeIdle: 11, JWTActiveKid: "k1",
	}
	return []Command{
		&CreateUser{Nonce: "n", DB: "db", Login: "l", Email: "e@x", Name: "Ünïcode ☃", CompanyID: 7,
			CompanyName: "c", PasswordHash: "h", Admin: true, Now: -1},
		&UpdateUser{UserID: 1, Name: sp(""), Email: sp("e"), PasswordHash: sp("h"), Admin: bp(false), Disabled: bp(true), Now: 1 << 62},
		&DeleteUser{UserID: 1<<64 - 1},
		&CreateSession{UserVersion: 2, Session: Session{ID: "i", Digest: dg("x"), Kind: KindKnox, UserID: 1, DB: "db",
			Created: 1, ExpiresAt: 2, IdleTimeout: 3, LastRefresh: 4, Name: "n", UserAgent: "ua", ClientAddr: "[::1]:1",
			AuthTime: 5, AMR: AMRPwd | AMROTP}, SingleFactor: true, AppPassword: "a1"},
		&RevokeSession{Digest: dp(dg("y")), ID: "i", UserID: 3},
		&RevokeUserSessions{UserID: 3, KeepID: "k"},
		&PurgeExpired{Now: 5, Digests: []Digest{dg("a"), {}, {0: 0xFF}}},
		&RefreshSessions{Refreshes: []Refresh{{Digest: dg("a"), At: 1}, {Digest: dg("b"), At: -1}}},
		&LoginFailed{UserID: 1, At: 2, Threshold: 3, LockFor: 4, Window: 5},
		&ResetFailures{UserID: 9},
		&SetSettings{Settings: settings},
		&PutNode{Node: Node{ID: "n1", RaftAddr: "r", APIAddr: "a"}},
		&RemoveNode{ID: "n1"},
		&PutKey{Key: key, Activate: true},
		&RetireKey{Kid: "k1", At: 3},
		&CreateDB{Name: "db"},
		&ResealKey{Kid: "k1", From: dg("s"), Secret: []byte{9, 0, 0xFE}},
		&PutClient{Client: Client{ID: "c1", Name: "n", DB: "db", SecretDigest: dg("s"), Created: 1}},
		&DeleteClient{ID: "c1"},
		// Second factors (totp).
		&TOTPEnrol{UserID: 1, Secret: []byte{0, 1, 0xFF}},
		&TOTPConfirm{UserID: 1, Pending: dg("p"), Step: 55, Recovery: []Digest{dg("r1"), dg("r2")}, Now: 3},
		&FactorUse{Nonce: "n", UserID: 1, Secret: dp(dg("p")), Step: 56, Recovery: dp(dg("r1"))},
		&SetRecoveryCodes{UserID: 1, Recovery: []Digest{dg("r3")}, Now: 4},
		&ResetFactors{UserID: 1},
		&PutChallenge{Challenge: Challenge{ID: dg("c"), UserID: 1, Kind: "portal_2fa", Data: []byte("{}"), Created: 1, Expires: 2}},
		&TakeChallenge{ID: dg("c"), Now: 1},
		&PutAppPassword{UserID: 1, AppPassword: AppPassword{ID: "a1", Name: "n", Digest: dg("ap"), Created: 1}},
		&DeleteAppPassword{UserID: 1, ID: "a1"},
		&PutWebhook{Webhook: Webhook{ID: "wh", DB: "db", URL: "https://x/h", Events: []string{"session.ended"}, Format: "standard",
			ClientID: "c1", Secret: []byte{1, 0}, Created: 2, Cursor: EventID{3, 4}, Paused: true, PauseReason: "r", PausedAt: 5}},
		&DeleteWebhook{ID: "wh"},
		&AdvanceWebhooks{Cursors: []WebhookCursor{{ID: "wh", Through: EventID{9, 1}}}, Pauses: []WebhookPause{{ID: "wh", Reason: "r", At: 1}}},
		&SetClusterFormat{Level: FormatV3, Downgrade: true},
		&ResealValue{What: ResealTOTP, UserID: 1, From: Digest{1}, Sealed: []byte("sealed")},
		// Passkeys (portal).
		&PutPasskey{UserID: 1, Passkey: Passkey{ID: []byte{1, 0, 0xFF}, PublicKey: []byte{0xA5, 1}, SignCount: 3, AAGUID: []byte{9},
			Transports: []string{"usb"}, Flags: 0x45, AttType: "none", Name: "k", Created: 1, LastUsed: 2}},
		&RenamePasskey{UserID: 1, ID: []byte{1, 0, 0xFF}, Name: "n"},
		&PasskeyUse{UserID: 1, ID: []byte{1, 0, 0xFF}, SignCount: 4, Now: 5},
		&DeletePasskey{UserID: 1, ID: []byte{1, 0, 0xFF}},
	}
}

func equalCommands(a, b Command) bool { return reflect.DeepEqual(a, b) }

// TestAllCommands_CoverEveryType keeps the seed corpus and the encoding
// round-trip test honest when a command type is added.
func TestAllCommands_CoverEveryType(t *testing.T) {
	have := map[CmdType]bool{}
	for _, c := range allCommands() {
		have[c.Type()] = true
	}
	for typ := CmdType(0); typ < IgnorableFlag; typ++ {
		if c := newCommand(typ); c != nil && !have[typ] {
			t.Errorf("type %d (%T) missing from allCommands", typ, c)
		}
	}
}

// FuzzDecode checks that Decode never panics on any log entry, and that
// what it accepts survives a round trip. Equality is on the encoding: JSON
// does not tell a nil slice from an empty one under omitempty, and a value
// that re-encodes to the same bytes is the same command to every replica.
func FuzzDecode(f *testing.F) {
	for _, c := range allCommands() {
		e := MustEncode(c)
		f.Add(e)
		f.Add(e[:len(e)/2]) // truncated JSON
		f.Add(append([]byte{byte(c.Type())}, "null"...))
		f.Add(append([]byte{byte(c.Type())}, "[]"...))
		f.Add(append([]byte{byte(c.Type())}, "[1,2]"...))
		f.Add(append([]byte{byte(c.Type()) | byte(IgnorableFlag)}, e[1:]...))
	}
	for _, s := range []string{
		"",
		"\x01",
		"\x04",
		"\x01{}",
		"\x01{\"login\":\"\xff\xfe\",\"db\":\"\xc3\"}",    // invalid UTF-8
		"\x03{\"user_id\":18446744073709551616}",          // uint64 overflow
		"\x03{\"user_id\":1e400}",                         // huge float
		"\x03{\"user_id\":-1}",                            // negative into unsigned
		"\x09{\"at\":9223372036854775807,\"lock_for\":1}", // max int64
		"\x07{\"digests\":[\"" + string(make([]byte, 64)) + "\"]}",
		"\x07{\"digests\":[\"ABCDEF0123456789abcdef0123456789ABCDEF0123456789abcdef012345678\"]}", // 63 hex
		"\x05{\"digest\":null,\"id\":\"x\"}",
		"\x0e{\"key\":{\"kid\":\"k\",\"secret\":\"not base64!\"}}",
		"\x0e{\"key\":{\"kid\":\"k\",\"public\":\"\"}}",
		"\x02{\"name\":null,\"NAME\":\"x\"}",
		"\x11{}", // first unknown type
		"\x7f{}",
		"\x80", // ignorable, nothing known
		"\xf0garbage",
		"\xff",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, entry []byte) {
		c, err := Decode(entry)
		if err != nil || c == nil {
			if err == nil && (len(entry) == 0 || entry[0]&byte(IgnorableFlag) == 0) {
				t.Fatalf("Decode(%q) = nil, nil for a non-ignorable entry", entry)
			}
			return
		}
		if c.Type() != CmdType(entry[0]) {
			t.Fatalf("decoded %T from type byte %d", c, entry[0])
		}
		e1, err := Encode(c)
		if err != nil {
			t.Fatalf("re-encode %T: %v", c, err)
		}
		c2, err := Decode(e1)
		if err != nil {
			t.Fatalf("decode of re-encoded %q: %v", e1, err)
		}
		e2 := MustEncode(c2)
		if !bytes.Equal(e1, e2) {
			t.Fatalf("not a fixed point:\n%q\n%q", e1, e2)
		}
		if c3, _ := Decode(e2); !equalCommands(c2, c3) {
			t.Fatalf("decoded values differ: %+v vs %+v", c2, c3)
		}
	})
}

// FuzzReadSnapshot checks that no snapshot, however damaged, panics the
// reader; one that is accepted must write back the same bytes.
func FuzzReadSnapshot(f *testing.F) {
	a := &applier{t: f, f: New()}
	a.must(newUser("alice"))
	a.must(newSession(1, "s1"))
	a.must(&PutNode{Node: Node{ID: "n1", RaftAddr: "r", APIAddr: "a"}})
	a.must(&PutKey{Key: SigningKey{Kid: "k", Alg: "HS256", Secret: []byte("s")}, Activate: true})
	snap := snapshotBytes(f, a.f)
	f.Add(snap)
	for _, n := range []int{0, 1, 8, 19, 20, 21, len(snap) / 2, len(snap) - 33, len(snap) - 1} {
		f.Add(snap[:n])
	}
	f.Add(snapshotBytes(f, New()))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, index, err := ReadSnapshot(bytes.NewReader(b))
		if err != nil {
			return
		}
		g := New()
		g.state.Store(st)
		g.applied.Store(index)
		var out bytes.Buffer
		if _, err := g.WriteSnapshot(&out); err != nil {
			t.Fatal(err)
		}
		// Bytes after the checksum are not part of the snapshot.
		if !bytes.HasPrefix(b, out.Bytes()) {
			t.Fatalf("accepted snapshot does not write back the same bytes")
		}
	})
}
