package client

import (
	"crypto/sha256"
	"net/http"

	"github.com/sessiond/sessiond/cluster/reqsign"
)

// signClusterKey proves the client holds the cluster key by signing the
// request (method, URI, body hash, time, nonce) with a key derived from
// it; the key itself is never sent, so a wrong address or a proxy learns
// nothing it could reuse. ClusterKeyHeader is not set: servers refuse it.
// The signature names the node it is for (the one at hr's address,
// asked once), so a captured call is good on that node alone, once.
func (c *Client) signClusterKey(hr *http.Request, body []byte) error {
	return c.signer().SignSum(hr, sha256.Sum256(body))
}

// signer is made on first use, with the client's HTTP settings.
func (c *Client) signer() *reqsign.Signer {
	c.signerOnce.Do(func() { c.sign = reqsign.NewSigner(reqsign.Key(c.clusterKey), c.hc) })
	return c.sign
}
