// Package certify decides whether an environment is fit to produce comparable numbers,
// and writes down why: `smp certify` checks the machine (CPU frequency governor and
// turbo, SMT, steal time and other tenants' load, free memory, clocksource, file
// descriptor limits, ephemeral ports, somaxconn) or the cluster (node homogeneity, proxy
// requests vs limits, CPU throttling of proxies), then calibrates: repeated short
// identical baseline runs whose coefficient of variation of p50, p99 and throughput is
// the noise floor under every comparison made there. The outcome is a
// result.Certificate that `smp run` embeds and `smp compare` consults (Compatible).
//
// It owns: parsing /proc and /sys contents (pure functions, tested on captured files in
// testdata/), the verdict thresholds with their reasons, the environment hash, the
// calibration plan and its statistics, the cluster sources (ClusterSource reads a live
// cluster's nodes, proxies and, concurrently, its kubelets' CFS counters through a
// platform.Inventory; FileSource reads `kubectl get -o json` output), finding the newest
// certificate, and the plain text rendering of a certificate. It does not run the
// calibration itself: that is an ordinary smp run of CalibrationPlan, which
// internal/experiment's Certify makes (it imports this package, so this one cannot import
// it), and whose document SamplesOf reads.
//
// Imports: result, spec, internal/hist, internal/sysinfo, internal/collect (the
// exposition parser of CFS counters), internal/platform (the contract's Inventory and
// ProxyContainer) and the standard library. Never internal/experiment, a platform
// implementation, or k8s.io/*.
package certify
