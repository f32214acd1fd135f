package sidecar

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/service-mesh-performance/smp/internal/proc"
)

// Envoy's configuration for a sidecar is a static bootstrap, bootstrap.json (the v3
// API in its JSON mapping):
//
//   - a listener per Spec listener with an HTTP connection manager (codec AUTO: HTTP/1.1
//     and h2c prior knowledge; h2 by ALPN over TLS) and the router; stat prefixes
//     "inbound" and "outbound_<i>";
//   - strict inbound: a DownstreamTlsContext with require_client_certificate and the
//     run's CA; permissive: the tls_inspector listener filter and two filter chains
//     (transport_protocol "tls" with the TLS context, "raw_buffer" without);
//   - a cluster per target ("app", "upstream_<i>") with explicit HTTP/1.1 or HTTP/2
//     protocol options, an UpstreamTlsContext (identity, run CA, and the upstream's
//     SPIFFE id as an exact URI SAN match) between sidecars;
//   - settings of Envoy's "how to benchmark Envoy" FAQ: generate_request_id off,
//     dynamic_stats off, circuit breakers out of the way;
//   - admin on AdminListen; --concurrency from Concurrency; --disable-hot-restart so
//     that several instances run side by side.
//
// Envoy is not installed where smp's tests run: they check the bootstrap against
// go-control-plane's generated validators instead of running it.

func envoyImpl() implementation {
	return implementation{
		binary:       "envoy",
		installHint:  "install Envoy from https://www.envoyproxy.io/docs/envoy/latest/start/install (Debian has no package)",
		versionArgs:  []string{"--version"},
		parseVersion: parseEnvoyVersion,
		supports: func(p Protocol, _ MTLSMode, _ Tool) error {
			if p == TCP {
				// Envoy would carry it with tcp_proxy, but no envoy binary runs here to
				// test a configuration against, and smp does not ship untested ones.
				return fmt.Errorf("smp renders Envoy configurations for HTTP only; protocol tcp needs the builtin, haproxy or nginx sidecar")
			}
			return nil
		},
		render:   renderEnvoy,
		counters: envoyCounters,
	}
}

func parseEnvoyVersion(out string, t *Tool) {
	// "envoy  version: 816188b86a0a52095b116b107f576324082c7c02/1.30.1/Clean/RELEASE/BoringSSL"
	_, rest, ok := strings.Cut(out, "version: ")
	if !ok {
		return
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return
	}
	if parts := strings.Split(fields[0], "/"); len(parts) >= 2 {
		t.Version = parts[1]
	} else {
		t.Version = fields[0]
	}
}

const envoyConfigFile = "bootstrap.json"

// Envoy extension names and type URLs.
const (
	envoyTLSSocket  = "envoy.transport_sockets.tls"
	envoyHCM        = "envoy.filters.network.http_connection_manager"
	envoyRouter     = "envoy.filters.http.router"
	envoyInspector  = "envoy.filters.listener.tls_inspector"
	envoyHTTPOpts   = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
	typePrefix      = "type.googleapis.com/"
	typeDownTLS     = typePrefix + "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"
	typeUpTLS       = typePrefix + "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
	typeHCM         = typePrefix + "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
	typeRouter      = typePrefix + "envoy.extensions.filters.http.router.v3.Router"
	typeInspector   = typePrefix + "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"
	typeHTTPOptions = typePrefix + envoyHTTPOpts
	// circuitOpen keeps Envoy's circuit breakers (default 1024 connections/requests)
	// from shaping a benchmark, as its FAQ advises.
	circuitOpen = 1_000_000_000
)

type obj = map[string]any

func renderEnvoy(s Spec, t Tool) (*Plan, error) {
	var listeners, clusters []obj
	if s.Inbound != nil {
		l, c, err := envoyInbound(s.inboundSpec())
		if err != nil {
			return nil, err
		}
		listeners, clusters = append(listeners, l), append(clusters, c)
	}
	for i, o := range s.Outbounds {
		l, c, err := envoyOutbound(s.outboundSpec(i), i, o)
		if err != nil {
			return nil, err
		}
		listeners, clusters = append(listeners, l), append(clusters, c)
	}
	admin, err := envoyAddress(s.AdminListen)
	if err != nil {
		return nil, fmt.Errorf("admin listen: %w", err)
	}
	bootstrap := obj{
		"node":             obj{"id": s.Name, "cluster": "smp"},
		"admin":            obj{"address": admin},
		"static_resources": obj{"listeners": listeners, "clusters": clusters},
	}
	data, err := json.MarshalIndent(bootstrap, "", "  ")
	if err != nil {
		return nil, err
	}
	args := []string{"-c", filepath.Join(s.WorkDir, envoyConfigFile), "--disable-hot-restart", "--log-level", "warn"}
	if s.Concurrency > 0 {
		args = append(args, "--concurrency", strconv.Itoa(s.Concurrency))
	}
	base := "http://" + s.AdminListen
	return &Plan{
		Files:      []File{{Name: envoyConfigFile, Data: append(data, '\n')}},
		Cmd:        proc.Cmd{Name: s.Name, Path: t.Path, Args: args, Dir: s.WorkDir},
		AdminURL:   base,
		StatsURL:   base + "/stats?format=json",
		ReadyURL:   base + "/ready",
		MetricsURL: base + "/stats/prometheus",
	}, nil
}

// envoyInbound is the inbound listener, with mTLS as s.MTLS says, and the app's
// cluster.
func envoyInbound(s Spec) (listener, cluster obj, err error) {
	a, err := envoyAddress(s.Inbound.Listen)
	if err != nil {
		return nil, nil, fmt.Errorf("inbound listen: %w", err)
	}
	l := obj{"name": "inbound", "stat_prefix": "inbound", "address": a}
	filters := []obj{envoyConnectionManager("inbound", "app")}
	switch s.MTLS {
	case Strict:
		l["filter_chains"] = []obj{{"filters": filters, "transport_socket": envoyDownstreamTLS(s)}}
	case Permissive:
		l["listener_filters"] = []obj{{"name": envoyInspector, "typed_config": obj{"@type": typeInspector}}}
		l["filter_chains"] = []obj{
			{"name": "mtls", "filter_chain_match": obj{"transport_protocol": "tls"}, "filters": filters, "transport_socket": envoyDownstreamTLS(s)},
			{"name": "plaintext", "filter_chain_match": obj{"transport_protocol": "raw_buffer"}, "filters": filters},
		}
	case Off:
		l["filter_chains"] = []obj{{"filters": filters}}
	}
	c, err := envoyCluster(s, "app", s.Inbound.App, false, "")
	if err != nil {
		return nil, nil, fmt.Errorf("inbound app: %w", err)
	}
	return l, c, nil
}

// envoyOutbound is outbound i's listener and its upstream's cluster, over mTLS unless
// s.MTLS is off.
func envoyOutbound(s Spec, i int, o Outbound) (listener, cluster obj, err error) {
	name := fmt.Sprintf("outbound_%d", i)
	up := fmt.Sprintf("upstream_%d", i)
	a, err := envoyAddress(o.Listen)
	if err != nil {
		return nil, nil, fmt.Errorf("outbounds[%d] listen: %w", i, err)
	}
	l := obj{
		"name": name, "stat_prefix": name, "address": a,
		"filter_chains": []obj{{"filters": []obj{envoyConnectionManager(name, up)}}},
	}
	c, err := envoyCluster(s, up, o.Upstream, s.MTLS != Off, o.UpstreamID)
	if err != nil {
		return nil, nil, fmt.Errorf("outbounds[%d] upstream: %w", i, err)
	}
	return l, c, nil
}

// envoyAddress is a host:port as an Envoy socket address.
func envoyAddress(hostport string) (obj, error) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		return nil, err
	}
	return obj{"socket_address": obj{"address": host, "port_value": n}}, nil
}

// envoyIdentity is the sidecar's certificate and key.
func envoyIdentity(s Spec) obj {
	return obj{
		"certificate_chain": obj{"filename": s.CertFile},
		"private_key":       obj{"filename": s.KeyFile},
	}
}

// envoyConnectionManager is the HTTP connection manager of a listener: every request
// routed to cluster, without a route timeout, request ids or dynamic stats.
func envoyConnectionManager(prefix, cluster string) obj {
	return obj{
		"name": envoyHCM,
		"typed_config": obj{
			"@type":               typeHCM,
			"stat_prefix":         prefix,
			"codec_type":          "AUTO",
			"generate_request_id": false,
			"stream_idle_timeout": envoyDuration(serverIdleTimeout),
			"common_http_protocol_options": obj{
				"idle_timeout": envoyDuration(serverIdleTimeout),
			},
			"route_config": obj{
				"name": prefix,
				"virtual_hosts": []obj{{
					"name":    prefix,
					"domains": []string{"*"},
					"routes": []obj{{
						"match": obj{"prefix": "/"},
						// timeout 0s: no route timeout (gRPC streams, slow services).
						"route": obj{"cluster": cluster, "timeout": "0s"},
					}},
				}},
			},
			"http_filters": []obj{{
				"name":         envoyRouter,
				"typed_config": obj{"@type": typeRouter, "dynamic_stats": false},
			}},
		},
	}
}

// envoyDownstreamTLS terminates mTLS with a client certificate from the run's CA.
func envoyDownstreamTLS(s Spec) obj {
	return obj{
		"name": envoyTLSSocket,
		"typed_config": obj{
			"@type":                      typeDownTLS,
			"require_client_certificate": true,
			"common_tls_context": obj{
				"tls_certificates":   []obj{envoyIdentity(s)},
				"validation_context": obj{"trusted_ca": obj{"filename": s.CAFile}},
				"alpn_protocols":     []string{"h2", "http/1.1"},
			},
		},
	}
}

// envoyCluster is the cluster of one target: the protocol of s, circuit breakers out
// of the way, and mTLS towards upstreamID when upstreamTLS.
func envoyCluster(s Spec, name, target string, upstreamTLS bool, upstreamID string) (obj, error) {
	a, err := envoyAddress(target)
	if err != nil {
		return nil, err
	}
	discovery := "STATIC"
	if host, _, _ := net.SplitHostPort(target); net.ParseIP(host) == nil {
		discovery = "STRICT_DNS"
	}
	httpCfg := obj{"http_protocol_options": obj{}}
	if s.Protocol != HTTP1 {
		httpCfg = obj{"http2_protocol_options": obj{}}
	}
	c := obj{
		"name":            name,
		"type":            discovery,
		"connect_timeout": envoyDuration(dialTimeout),
		"load_assignment": obj{
			"cluster_name": name,
			"endpoints":    []obj{{"lb_endpoints": []obj{{"endpoint": obj{"address": a}}}}},
		},
		"circuit_breakers": obj{"thresholds": []obj{{
			"max_connections":      circuitOpen,
			"max_pending_requests": circuitOpen,
			"max_requests":         circuitOpen,
			"max_retries":          circuitOpen,
		}}},
		"typed_extension_protocol_options": obj{
			envoyHTTPOpts: obj{
				"@type":                        typeHTTPOptions,
				"explicit_http_config":         httpCfg,
				"common_http_protocol_options": obj{"idle_timeout": envoyDuration(clientIdleTimeout)},
			},
		},
	}
	if upstreamTLS {
		c["transport_socket"] = envoyUpstreamTLS(s, upstreamID)
	}
	return c, nil
}

// envoyUpstreamTLS is the client side of mTLS towards an upstream sidecar: the
// sidecar's identity, the run's CA and, when given, the upstream's SPIFFE id as an
// exact URI SAN.
func envoyUpstreamTLS(s Spec, upstreamID string) obj {
	alpn := []string{"http/1.1"}
	if s.Protocol != HTTP1 {
		alpn = []string{"h2"}
	}
	validation := obj{"trusted_ca": obj{"filename": s.CAFile}}
	if upstreamID != "" {
		validation["match_typed_subject_alt_names"] = []obj{{
			"san_type": "URI",
			"matcher":  obj{"exact": upstreamID},
		}}
	}
	return obj{
		"name": envoyTLSSocket,
		"typed_config": obj{
			"@type": typeUpTLS,
			"common_tls_context": obj{
				"tls_certificates":   []obj{envoyIdentity(s)},
				"validation_context": validation,
				"alpn_protocols":     alpn,
			},
		},
	}
}

// envoyDuration writes d as a protobuf Duration in JSON ("5s", "0.250s").
func envoyDuration(d interface{ Seconds() float64 }) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s"
}

// envoyCounters reads /stats?format=json: {"stats":[{"name":…,"value":…},…,
// {"histograms":…}]}, where text readouts have string values.
func envoyCounters(ctx context.Context, r statsReader, url string) (Counters, error) {
	body, err := get(ctx, r, url)
	if err != nil {
		return Counters{}, err
	}
	return parseEnvoyStats(body)
}

func parseEnvoyStats(body []byte) (Counters, error) {
	var doc struct {
		Stats []struct {
			Name  string          `json:"name"`
			Value json.RawMessage `json:"value"`
		} `json:"stats"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return Counters{}, fmt.Errorf("decode envoy stats: %w", err)
	}
	var c Counters
	for _, st := range doc.Stats {
		var v int64
		if st.Name == "" || json.Unmarshal(st.Value, &v) != nil {
			continue // the histograms entry, or a text readout
		}
		if rest, ok := strings.CutPrefix(st.Name, "http."); ok {
			prefix, stat, ok := strings.Cut(rest, ".")
			if !ok || !(prefix == "inbound" || strings.HasPrefix(prefix, "outbound_")) {
				continue
			}
			switch stat {
			case "downstream_rq_total":
				c.Requests += v
			case "downstream_cx_rx_bytes_total":
				c.BytesIn += v
			case "downstream_cx_tx_bytes_total":
				c.BytesOut += v
			case "downstream_cx_active":
				c.ActiveConnections += v
			case "downstream_rq_5xx":
				c.Errors += v
			}
			continue
		}
		if rest, ok := strings.CutPrefix(st.Name, "listener."); ok {
			if prefix, stat, ok := strings.Cut(rest, "."); ok && prefix != "admin" && stat == "ssl.handshake" {
				c.Handshakes += v
			}
		}
	}
	return c, nil
}
