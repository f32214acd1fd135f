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
// calibration plan and its statistics, finding the newest certificate, and the plain
// text rendering of a certificate. It does not run the calibration itself: that is an
// ordinary smp run of CalibrationPlan, which cmd/smp hands to internal/experiment (only
// cmd/smp may import it), and whose document SamplesOf reads. It does not talk to
// Kubernetes either: KubeSource is the interface the Kubernetes platform implements,
// and FileSource reads `kubectl get -o json` output in the meantime.
//
// Imports: result, spec, internal/hist, internal/sysinfo and the standard library. Never
// internal/experiment, a platform, or k8s.io/*.
package certify
