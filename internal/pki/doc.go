// Package pki is the certificate authority smp creates for one run, and the workload
// identities it issues to every sidecar so that traffic between sidecars is real mutual
// TLS.
//
// Identities follow SPIFFE's X.509 shape: the URI SAN
// spiffe://smp.local/run/<run-id>/sa/<service> names the workload; DNS SANs <service> and
// localhost and the IP SAN 127.0.0.1 let proxies that can only check host names (haproxy,
// nginx) verify a peer too. Keys are ECDSA P-256, the cheapest handshake that every proxy
// supports, so that the mTLS cost measured is the one a mesh would pay with its defaults
// (Istio and Linkerd issue P-256 workload certificates).
//
// Everything is valid for a short time (Validity) and lives only in memory until
// WriteFiles puts it in a run's temporary directory.
//
// Imports: the standard library only.
package pki
