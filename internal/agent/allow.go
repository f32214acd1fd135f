package agent

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// AllowList restricts the targets an agent sends load to. Entries are:
//
//   - a CIDR ("10.0.0.0/8", "fd00::/8") or an IP ("10.0.0.7"): any port on those addresses;
//   - host:port ("api.internal:8080", "10.0.0.7:443"): that port only;
//   - a host name ("api.internal"): any port on that name.
//
// A target given by name matches only name entries (names are compared, not
// resolved: resolving here and again when dialling could give two answers); a target
// given by IP matches IP and CIDR entries. The zero AllowList allows everything.
type AllowList struct {
	prefixes []netip.Prefix
	hosts    map[string]bool // lower-case names and IPs, any port
	hostPort map[string]bool // lower-case host:port
}

// ParseAllowList reads comma-separated entries (empty ones are skipped).
func ParseAllowList(entries ...string) (*AllowList, error) {
	a := &AllowList{hosts: map[string]bool{}, hostPort: map[string]bool{}}
	for _, list := range entries {
		for e := range strings.SplitSeq(list, ",") {
			e = strings.ToLower(strings.TrimSpace(e))
			if e == "" {
				continue
			}
			if p, err := netip.ParsePrefix(e); err == nil {
				a.prefixes = append(a.prefixes, p.Masked())
				continue
			}
			if ip, err := netip.ParseAddr(e); err == nil {
				a.prefixes = append(a.prefixes, netip.PrefixFrom(ip, ip.BitLen()))
				continue
			}
			if h, p, err := net.SplitHostPort(e); err == nil {
				if n, err := strconv.Atoi(p); err != nil || n <= 0 || n > 65535 || h == "" {
					return nil, fmt.Errorf("allow-target %q: want host:port with a port from 1 to 65535", e)
				}
				if ip, err := netip.ParseAddr(h); err == nil {
					h = ip.String()
				}
				a.hostPort[net.JoinHostPort(h, p)] = true
				continue
			}
			if strings.ContainsAny(e, "/:@ ") {
				return nil, fmt.Errorf("allow-target %q: want a CIDR, an IP, host:port or a host name", e)
			}
			a.hosts[e] = true
		}
	}
	return a, nil
}

// Empty reports whether the list allows everything.
func (a *AllowList) Empty() bool {
	return a == nil || len(a.prefixes) == 0 && len(a.hosts) == 0 && len(a.hostPort) == 0
}

// Check returns nil when target (an engine target URL, or host:port for gRPC) may be
// loaded, and an error naming the host otherwise.
func (a *AllowList) Check(target string) error {
	if a.Empty() {
		return nil
	}
	host, port, err := targetHostPort(target)
	if err != nil {
		return err
	}
	host = strings.ToLower(host)
	if ip, err := netip.ParseAddr(host); err == nil {
		ip = ip.Unmap()
		for _, p := range a.prefixes {
			if p.Contains(ip) {
				return nil
			}
		}
		host = ip.String()
	} else if a.hosts[host] {
		return nil
	}
	if a.hostPort[net.JoinHostPort(host, port)] {
		return nil
	}
	return fmt.Errorf("target %s is not in this agent's allow-list", net.JoinHostPort(host, port))
}

// targetHostPort returns the host and port a target URL dials.
func targetHostPort(target string) (host, port string, err error) {
	raw := target
	if !strings.Contains(raw, "://") {
		raw = "grpc://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" {
		return "", "", fmt.Errorf("target %q has no host", target)
	}
	port = u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" || u.Scheme == "grpcs" {
			port = "443"
		}
	}
	return u.Hostname(), port, nil
}
