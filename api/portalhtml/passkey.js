// Passkeys on the portal's pages (issue 26). WebAuthn needs JavaScript;
// this file is all of it, served from the portal's own origin (the CSP
// allows script-src 'self' and nothing inline). It wires three buttons:
// #passkey-register on the account page, #passkey-signin on the sign-in
// page and #passkey-second on the second-step page. Each carries
// data-prefix (the portal's path).
"use strict";

(function () {
  function b64uToBuf(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function bufToB64u(buf) {
    var bytes = new Uint8Array(buf), bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function ids(list) {
    return (list || []).map(function (c) { return Object.assign({}, c, { id: b64uToBuf(c.id) }); });
  }
  function creationOptions(pk) {
    var o = Object.assign({}, pk);
    o.challenge = b64uToBuf(pk.challenge);
    o.user = Object.assign({}, pk.user, { id: b64uToBuf(pk.user.id) });
    o.excludeCredentials = ids(pk.excludeCredentials);
    return o;
  }
  function requestOptions(pk) {
    var o = Object.assign({}, pk);
    o.challenge = b64uToBuf(pk.challenge);
    o.allowCredentials = ids(pk.allowCredentials);
    return o;
  }
  function credentialJSON(cred) {
    var r = cred.response, resp = { clientDataJSON: bufToB64u(r.clientDataJSON) };
    if (r.attestationObject) {
      resp.attestationObject = bufToB64u(r.attestationObject);
      if (r.getTransports) resp.transports = r.getTransports();
    } else {
      resp.authenticatorData = bufToB64u(r.authenticatorData);
      resp.signature = bufToB64u(r.signature);
      if (r.userHandle) resp.userHandle = bufToB64u(r.userHandle);
    }
    return { id: cred.id, rawId: bufToB64u(cred.rawId), type: cred.type, response: resp,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {} };
  }
  function post(url, body) {
    return fetch(url, { method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify(body || {}) })
      .then(function (res) {
        return res.json().catch(function () { return {}; }).then(function (j) {
          if (!res.ok) {
            var e = new Error((j.error && j.error.message) || ("HTTP " + res.status));
            e.code = j.error && j.error.code;
            throw e;
          }
          return j;
        });
      });
  }
  function show(id, msg) {
    var el = document.getElementById(id);
    if (el) { el.textContent = msg; el.hidden = !msg; }
  }

  var reg = document.getElementById("passkey-register");
  if (reg) {
    reg.addEventListener("click", function (ev) {
      ev.preventDefault();
      var prefix = reg.dataset.prefix, nameEl = document.getElementById("passkey-name");
      show("passkey-error", "");
      if (!window.PublicKeyCredential) { show("passkey-error", "This browser has no passkey support."); return; }
      post(prefix + "account/passkeys/begin").then(function (begin) {
        return navigator.credentials.create({ publicKey: creationOptions(begin.publicKey) }).then(function (cred) {
          return post(prefix + "account/passkeys/finish",
            { challenge_id: begin.challenge_id, name: nameEl ? nameEl.value : "", credential: credentialJSON(cred) });
        });
      }).then(function () {
        location.assign(prefix + "account?done=passkey");
      }).catch(function (e) {
        if (e.code === "step_up_required") {
          location.assign(prefix + "?reauth=1&rd=" + encodeURIComponent(prefix + "account"));
          return;
        }
        show("passkey-error", "The passkey was not added: " + e.message);
      });
    });
  }

  // assertWith wires a sign-in button: #passkey-signin (no password) and
  // #passkey-second (the second step after a password) differ only in
  // their routes; the answer names where to go on.
  function assertWith(id, path) {
    var btn = document.getElementById(id);
    if (!btn) return;
    btn.addEventListener("click", function (ev) {
      ev.preventDefault();
      var prefix = btn.dataset.prefix, rd = btn.dataset.rd || "";
      show("passkey-error", "");
      if (!window.PublicKeyCredential) { show("passkey-error", "This browser has no passkey support."); return; }
      post(prefix + path + "begin").then(function (begin) {
        return navigator.credentials.get({ publicKey: requestOptions(begin.publicKey) }).then(function (cred) {
          var body = { challenge_id: begin.challenge_id, credential: credentialJSON(cred) };
          if (rd) body.rd = rd;
          return post(prefix + path + "finish", body);
        });
      }).then(function (done) {
        location.assign(done.location);
      }).catch(function (e) {
        show("passkey-error", "Signing in with a passkey did not work: " + e.message);
      });
    });
  }
  assertWith("passkey-signin", "passkey/");
  assertWith("passkey-second", "signin/second/passkey/");
})();
