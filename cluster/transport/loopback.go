package transport

import "net"

// IsLoopback reports whether host:port names a loopback host (127.0.0.0/8,
// ::1 or localhost). A wildcard or any other name is not loopback. Callers
// use it to refuse settings that are only safe when nothing but this host
// can connect (a key-less Raft port, a plain-HTTP member URL, pprof).
func IsLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
