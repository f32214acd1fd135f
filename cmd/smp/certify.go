package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/service-mesh-performance/smp/internal/certify"
	"github.com/service-mesh-performance/smp/internal/experiment"
	"github.com/service-mesh-performance/smp/internal/term"
	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

type certifyFlags struct {
	platform   string
	output     string
	resultsDir string
	calibrate  string
	interval   time.Duration
	nodes      string
	pods       string
	kubeconfig string
	context    string
	observe    time.Duration
	quiet      bool
}

func newCertifyCommand(s streams) *cobra.Command {
	f := &certifyFlags{}
	cmd := &cobra.Command{
		Use:   "certify",
		Short: "Check that this environment can produce comparable numbers, and write a certificate",
		Long: `Certify checks the environment smp measures in, then calibrates it, and writes a
certificate that smp run embeds in its results and smp compare consults.

Checks (pass, warn or fail, each with its reason): CPU frequency governor and turbo, SMT,
steal time and other tenants' CPU use over a short interval, load average, free memory,
clocksource, file-descriptor limit, ephemeral port range and somaxconn.

With --platform kubernetes, also the cluster: node homogeneity, the proxy containers' CPU
requests vs limits, and their CPU throttling. The cluster is the live one (--kubeconfig,
else $KUBECONFIG, else ~/.kube/config, else in cluster; --context, else the current one):
smp lists the nodes and every pod's proxy containers (sidecars, waypoints, ztunnel,
cilium-envoy), and reads the CFS counters of those with a CPU limit from their nodes'
kubelet cAdvisor through the API server's node proxy (get nodes/proxy), at the start and
the end of --observe (0: once, since the containers started). Where that read fails the
throttling check is skipped with the reason. --nodes and --pods check saved kubectl
output instead, offline (no throttling).

Calibration (--calibrate NxDURATION, default 5x10s, "none" to skip) runs the platform's
baseline N times, identically: the sample app with one service and no mesh, closed loop over
one connection. The coefficient of variation of p50, p99 and throughput across the runs is
the noise floor under any comparison made here.

The certificate goes to <results>/certificate-<time>.json (or -o FILE); smp run picks the
newest one in its results folder. The exit code is 1 when the verdict is fail (the
certificate is still written). docs/certify.md explains every check and threshold.`,
		Example: `  smp certify
  smp certify --calibrate 3x5s -o cert.json
  smp certify --calibrate none                     # checks only
  smp certify --platform kubernetes --context prod --calibrate none --observe 30s
  kubectl get nodes -o json > nodes.json; kubectl get pods -A -o json > pods.json
  smp certify --platform kubernetes --nodes nodes.json --pods pods.json --calibrate none`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return certifyCmd(cmd.Context(), s, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.platform, "platform", "local", "platform to certify: local or kubernetes")
	fl.StringVarP(&f.output, "output", "o", "", "write the certificate to FILE (default <results>/certificate-<time>.json)")
	fl.StringVar(&f.resultsDir, "results", "results", "folder for the certificate, where smp run looks for it")
	fl.StringVar(&f.calibrate, "calibrate", fmt.Sprintf("%dx%s", certify.DefaultRepetitions, spec.Duration(certify.DefaultDuration)), "calibration runs: repetitions x duration, or none")
	fl.DurationVar(&f.interval, "interval", time.Second, "how long steal time and other tenants' CPU use are observed")
	fl.StringVar(&f.nodes, "nodes", "", "kubectl get nodes -o json output (platform kubernetes)")
	fl.StringVar(&f.pods, "pods", "", "kubectl get pods -A -o json output (platform kubernetes)")
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file of the cluster (platform kubernetes; default $KUBECONFIG, ~/.kube/config or in cluster)")
	fl.StringVar(&f.context, "context", "", "kubeconfig context (platform kubernetes; default the current one)")
	fl.DurationVar(&f.observe, "observe", 10*time.Second, "how long the proxies' CPU throttling is observed on the cluster (0: since the containers started)")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "no progress or status lines on stderr")
	return cmd
}

func certifyCmd(ctx context.Context, s streams, f *certifyFlags) error {
	opt, err := f.options()
	if err != nil {
		return err
	}
	if !f.quiet {
		opt.Status, opt.Progress = s.err, term.Auto
	}
	cert, err := experiment.Certify(ctx, opt)
	if err != nil {
		return err
	}
	path := f.output
	if path == "" {
		path = certify.DefaultPath(f.resultsDir, cert)
	}
	if err := cert.Save(path); err != nil {
		return err
	}
	if err := certify.WriteText(s.out, cert); err != nil {
		return err
	}
	if !f.quiet {
		fmt.Fprintf(s.err, "smp: certificate written to %s\n", path)
	}
	if cert.Verdict == result.VerdictFail {
		return &exitError{code: exitFailure, err: fmt.Errorf("the environment failed certification (%s)", path)}
	}
	return nil
}

// options checks the flags and turns them into Certify's options.
func (f *certifyFlags) options() (experiment.CertifyOptions, error) {
	var o experiment.CertifyOptions
	name, err := spec.ParseEnum(spec.Platform(""), f.platform)
	if err != nil {
		return o, usageErrorf("--platform: %v", err)
	}
	platform := spec.Platform(name)
	offline, live := f.nodes != "" || f.pods != "", f.kubeconfig != "" || f.context != ""
	if (offline || live) && platform != spec.PlatformKubernetes {
		return o, usageErrorf("--nodes, --pods, --kubeconfig and --context apply to --platform kubernetes")
	}
	if offline && live {
		return o, usageErrorf("--nodes and --pods check saved kubectl output, --kubeconfig and --context a live cluster: use one or the other")
	}
	if f.observe < 0 {
		return o, usageErrorf("--observe %s: use 0 or more", f.observe)
	}
	reps, d, err := certify.ParseCalibrate(f.calibrate)
	if err != nil {
		return o, usageErrorf("--calibrate: %v", err)
	}
	if f.interval < 100*time.Millisecond {
		return o, usageErrorf("--interval %s: use at least 100ms", f.interval)
	}
	return experiment.CertifyOptions{Platform: platform, Interval: f.interval, Repetitions: reps, Duration: d,
		NodesFile: f.nodes, PodsFile: f.pods, Kubeconfig: f.kubeconfig, Context: f.context, Observe: f.observe,
		Progress: term.Quiet}, nil
}

// resolveCertificate finds the certificate smp run embeds: FILE, "auto" (the newest in
// the results folder, if any) or "none".
func resolveCertificate(s streams, flag, resultsDir string, quiet bool) (*result.Certificate, error) {
	switch strings.ToLower(flag) {
	case "none", "":
		return nil, nil
	case "auto":
		c, path, err := certify.Find(resultsDir)
		if err != nil {
			return nil, fmt.Errorf("--certificate auto: %w", err)
		}
		if c != nil && !quiet {
			fmt.Fprintf(s.err, "smp: embedding certificate %s (%s)\n", filepath.Base(path), c.Verdict)
		}
		return c, nil
	}
	c, err := result.LoadCertificate(flag)
	if err != nil {
		return nil, usageErrorf("--certificate: %v", err)
	}
	return c, nil
}
