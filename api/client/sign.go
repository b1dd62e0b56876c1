package client

import (
	"crypto/sha256"
	"net/http"
	"time"

	"github.com/sessiond/sessiond/cluster/reqsign"
)

// signClusterKey proves the client holds the cluster key by signing the
// request (method, URI, body hash, time, nonce) with a key derived from
// it; the key itself is never sent, so a wrong address or a proxy learns
// nothing it could reuse. ClusterKeyHeader is not set: servers refuse it.
func signClusterKey(hr *http.Request, clusterKey string, body []byte) {
	reqsign.SignSum(hr, reqsign.Key(clusterKey), sha256.Sum256(body), time.Now())
}
