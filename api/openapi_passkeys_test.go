package api

import (
	"encoding/json"
	"net/http"
	"testing"
)

// TestOpenAPI_PasskeyAnswersMatchDocument runs the passkey routes once
// each (and their refusals) through a real node and validates every
// answer against openapi.json, as TestOpenAPI_AnswersMatchDocument does
// for the rest of /v1.
func TestOpenAPI_PasskeyAnswersMatchDocument(t *testing.T) {
	_, router := loadOpenAPI(t)
	o := &oapiEnv{testEnv: newTestEnv(t, withPasskeyRP), router: router}
	o.createUser("ivan", "ivan-password-123", nil)
	tok := o.login("ivan", "ivan-password-123")
	h := bearerH(tok)
	k := newSoftKey(t, passkeyOrigin)
	enc := func(v any) string { b, _ := json.Marshal(v); return string(b) }

	begin := o.json("POST", "/v1/me/passkeys/register/begin", "{}", h)
	o.expect(begin, http.StatusOK, "register begin")
	bm := begin.json(t)
	fin := o.json("POST", "/v1/me/passkeys/register/finish", enc(map[string]any{"challenge_id": bm["challenge_id"], "name": "k",
		"credential": k.create(bm["publicKey"].(map[string]any))}), h)
	o.expect(fin, http.StatusCreated, "register finish")
	id := fin.json(t)["id"].(string)
	o.expect(o.json("GET", "/v1/me/passkeys", "", h), http.StatusOK, "list")
	o.expect(o.json("PATCH", "/v1/me/passkeys/"+id, `{"name":"renamed"}`, h), http.StatusNoContent, "rename")
	o.expect(o.json("PATCH", "/v1/me/passkeys/AAAA", `{"name":"x"}`, h), http.StatusNotFound, "rename of an unknown key")

	lb := o.json("POST", "/v1/login/passkey/begin", "{}")
	o.expect(lb, http.StatusOK, "login begin")
	lm := lb.json(t)
	body := enc(map[string]any{"challenge_id": lm["challenge_id"], "credential": k.get(lm["publicKey"].(map[string]any))})
	o.expect(o.json("POST", "/v1/login/passkey/finish", body), http.StatusCreated, "login finish")
	o.expect(o.json("POST", "/v1/login/passkey/finish", body), http.StatusBadRequest, "replayed finish")
	o.expect(o.json("DELETE", "/v1/me/passkeys/"+id, "", h), http.StatusNoContent, "remove")
}
