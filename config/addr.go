package config

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// The address checks of `config check`: an address that cannot work is an
// error before start, not a failed start. Nothing here resolves a name or
// opens a socket.

// dialAddr checks an address carrierbill dials: host:port with a host and
// a port from 1 to 65535.
func dialAddr(addr string) error {
	if addr == "" {
		return fmt.Errorf("required: host:port to connect to")
	}
	host, port, err := splitAddr(addr, "10.0.0.5:2775")
	if err != nil {
		return err
	}
	if host == "" {
		return fmt.Errorf("%q has no host (want host:port like 10.0.0.5:2775)", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q: port %q is not a number from 1 to 65535", addr, port)
	}
	return nil
}

// listenAddr checks an address carrierbill listens on: host:port, where the
// host may be left out (every interface) and port 0 picks a free port.
func listenAddr(addr string) error {
	_, port, err := splitAddr(addr, "127.0.0.1:8082")
	if err != nil {
		return err
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q: port %q is not a number from 0 to 65535", addr, port)
	}
	return nil
}

// splitAddr splits host:port and checks the host's spelling: an IP address
// or a DNS name.
func splitAddr(addr, example string) (host, port string, err error) {
	host, port, err = net.SplitHostPort(addr)
	if err != nil {
		return "", "", fmt.Errorf("%q is not host:port (like %s)", addr, example)
	}
	if host != "" && !validHost(host) {
		return "", "", fmt.Errorf("%q: %q is not a host name or an IP address", addr, host)
	}
	return host, port, nil
}

func validHost(host string) bool {
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	if len(host) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(host, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
				return false
			}
		}
	}
	return true
}
