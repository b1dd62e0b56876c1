// Package wire holds the JSON shapes that the server writes and api/client
// reads where the two must agree field for field (today GET /v1/cluster).
// One definition keeps them from drifting apart; the package imports
// nothing, so api/client still imports nothing of the server.
package wire

// ClusterStatus is one node's view of the cluster, as GET /v1/cluster and
// `sessiond status` show it. cluster.Status and client.ClusterStatus embed
// it, each with what only its side knows.
type ClusterStatus struct {
	NodeID       string   `json:"node_id"`
	State        string   `json:"state"`
	Leader       string   `json:"leader"`
	LeaderURL    string   `json:"leader_url,omitempty"`
	Term         uint64   `json:"term"`
	CommitIndex  uint64   `json:"commit_index"`
	AppliedIndex uint64   `json:"applied_index"`
	LastIndex    uint64   `json:"last_index"`
	LastContact  string   `json:"last_contact,omitempty"`
	LeaseValid   bool     `json:"lease_valid"`
	Ready        bool     `json:"ready"`
	Users        int      `json:"users"`
	Sessions     int      `json:"sessions"`
	StateHash    string   `json:"state_hash,omitempty"`
	Members      []Member `json:"members"`
}

// Member is one server of the Raft configuration with its published
// addresses.
type Member struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raft_addr"`
	APIURL   string `json:"api_url,omitempty"`
	Suffrage string `json:"suffrage"`
	Leader   bool   `json:"leader"`
}
