package api

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"testing"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
)

// softKey is a software WebAuthn authenticator for tests: an ES256 key,
// attestation "none" (CBOR, as a security key sends it), clientDataJSON
// with the origin it is told, and signed assertions. It does what a
// browser plus authenticator do, so the server's checks run for real.
type softKey struct {
	t       *testing.T
	id      []byte
	key     *ecdsa.PrivateKey
	origin  string
	rpID    string
	handle  []byte // the user.id it was registered for
	count   uint32 // signature counter; counting false = always 0 (a synced passkey)
	noCount bool
}

var b64 = base64.RawURLEncoding

func newSoftKey(t *testing.T, origin string) *softKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 32)
	rand.Read(id)
	return &softKey{t: t, id: id, key: key, origin: origin}
}

func (k *softKey) clientData(typ string, opts map[string]any) []byte {
	cd, _ := json.Marshal(map[string]any{"type": typ, "challenge": opts["challenge"], "origin": k.origin, "crossOrigin": false})
	return cd
}

func (k *softKey) authData(flags byte, extra []byte) []byte {
	h := sha256.Sum256([]byte(k.rpID))
	out := append(h[:], flags)
	out = binary.BigEndian.AppendUint32(out, k.count)
	return append(out, extra...)
}

// create answers navigator.credentials.create's options (a begin's
// "publicKey") with a registration response.
func (k *softKey) create(opts map[string]any) map[string]any {
	k.t.Helper()
	k.rpID = opts["rp"].(map[string]any)["id"].(string)
	h, err := b64.DecodeString(opts["user"].(map[string]any)["id"].(string))
	if err != nil {
		k.t.Fatalf("user.id: %v", err)
	}
	k.handle = h
	pub, _ := k.key.PublicKey.ECDH()
	xy := pub.Bytes()[1:]
	cose, err := webauthncbor.Marshal(webauthncose.EC2PublicKeyData{
		PublicKeyData: webauthncose.PublicKeyData{KeyType: int64(webauthncose.EllipticKey), Algorithm: int64(webauthncose.AlgES256)},
		Curve:         1, XCoord: xy[:32], YCoord: xy[32:]})
	if err != nil {
		k.t.Fatal(err)
	}
	acd := make([]byte, 16) // AAGUID: none
	acd = binary.BigEndian.AppendUint16(acd, uint16(len(k.id)))
	acd = append(append(acd, k.id...), cose...)
	att, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": k.authData(0x45, acd)}) // UP UV AT
	if err != nil {
		k.t.Fatal(err)
	}
	return map[string]any{"id": b64.EncodeToString(k.id), "rawId": b64.EncodeToString(k.id), "type": "public-key",
		"response": map[string]any{"clientDataJSON": b64.EncodeToString(k.clientData("webauthn.create", opts)),
			"attestationObject": b64.EncodeToString(att), "transports": []string{"internal"}}}
}

// get answers navigator.credentials.get's options with an assertion of
// this key (the counter moves first, as a counting authenticator's).
func (k *softKey) get(opts map[string]any) map[string]any {
	k.t.Helper()
	if !k.noCount {
		k.count++
	}
	cd := k.clientData("webauthn.get", opts)
	ad := k.authData(0x05, nil) // UP UV
	cdh := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, ad...), cdh[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.key, digest[:])
	if err != nil {
		k.t.Fatal(err)
	}
	return map[string]any{"id": b64.EncodeToString(k.id), "rawId": b64.EncodeToString(k.id), "type": "public-key",
		"response": map[string]any{"clientDataJSON": b64.EncodeToString(cd), "authenticatorData": b64.EncodeToString(ad),
			"signature": b64.EncodeToString(sig), "userHandle": b64.EncodeToString(k.handle)}}
}
