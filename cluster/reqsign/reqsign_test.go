package reqsign

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestSign_TargetInsideTheMAC signs a call for an awkward node id and
// checks that it parses back, verifies, and stops verifying when the id
// (or anything else) is changed.
func TestSign_TargetInsideTheMAC(t *testing.T) {
	key := Key("test-cluster-key")
	body := []byte(`{"x":1}`)
	req, _ := http.NewRequest("POST", "http://127.0.0.1:1/internal/v1/apply?a=b", nil)
	target := "node one=2\n"
	SignSum(req, key, target, sha256.Sum256(body), time.Now())
	sig, err := Parse(req.Header.Get(Header))
	if err != nil || sig.Target != target {
		t.Fatalf("parse: %v, target %q", err, sig.Target)
	}
	if !sig.Valid(key, "POST", "/internal/v1/apply?a=b", sha256.Sum256(body)) {
		t.Fatal("a fresh signature does not verify")
	}
	sig.Target = "node two"
	if sig.Valid(key, "POST", "/internal/v1/apply?a=b", sha256.Sum256(body)) {
		t.Fatal("a signature verifies for another target")
	}
	for _, v := range []string{"", "v2 t=1 n=00 s=00", strings.Replace(req.Header.Get(Header), "d=", "d=%zz", 1),
		"v1 t=1 n=" + strings.Repeat("00", NonceSize) + " s=" + strings.Repeat("00", 32)} {
		if _, err := Parse(v); err == nil {
			t.Errorf("%q parsed", v)
		}
	}
}

// TestSign_LegacyHeaderForOldNodes checks the second header every call
// carries during the upgrade window: it verifies under the previous
// release's rule (fields and MAC as that release computed them), so old
// nodes keep accepting calls from upgraded ones.
func TestSign_LegacyHeaderForOldNodes(t *testing.T) {
	key := Key("test-cluster-key")
	req, _ := http.NewRequest("GET", "http://127.0.0.1:1/v1/cluster", nil)
	if err := Sign(req, key, "n1"); err != nil {
		t.Fatal(err)
	}
	var unix int64
	var nonceHex, macHex string
	if n, err := fmt.Sscanf(req.Header.Get(LegacyHeader), "v1 t=%d n=%s s=%s", &unix, &nonceHex, &macHex); n != 3 || err != nil {
		t.Fatalf("legacy header %q: %v", req.Header.Get(LegacyHeader), err)
	}
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "%s\n%s\n%s\n%x\n%d\n%s", "sessiond/v1/internal-request-signature", "GET", "/v1/cluster", sha256.Sum256(nil), unix, nonceHex)
	if got, _ := hex.DecodeString(macHex); !hmac.Equal(got, m.Sum(nil)) {
		t.Fatal("the legacy signature does not verify as the previous release verifies it")
	}
}
