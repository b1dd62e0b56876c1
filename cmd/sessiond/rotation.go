package main

import "flag"

// envClusterKeyOld is the other cluster key of a rotation, which this
// node accepts from peers and tools but never uses (cluster.Config's
// ClusterKeysAccepted). Consul's keyring model, one restart per step on
// every node: install (the new key here, the old one still in
// SESSIOND_CLUSTER_KEY), use (the new key in SESSIOND_CLUSTER_KEY, the old
// one here), remove (unset this). docs/OPERATIONS.md has the procedure.
const envClusterKeyOld = "SESSIOND_CLUSTER_KEY_OLD"

func clusterKeyOldFlag(fs *flag.FlagSet, files *secretFiles) {
	fs.StringVar(&files.clusterKeyOld, "cluster-key-old-file", "", "`file` holding the other cluster key of a rotation, accepted but never used (or "+envClusterKeyOld+")")
}

// acceptOldClusterKey lets a node that seals with the cluster key still
// unseal, and verify backups, under the rotation's other key: the leader
// then reseals the keyring under the key in use.
func (c *SealConfig) acceptOldClusterKey(old secret) {
	if old != "" && c.Source == sealCluster {
		c.Old = append(c.Old, old)
	}
}
