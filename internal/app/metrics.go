package app

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Values of the protocol label of request metrics.
const (
	protoHTTP1    = "http1"
	protoHTTP1TLS = "http1-tls"
	protoH2C      = "h2c"
	protoH2       = "h2"
	protoGRPC     = "grpc"
)

// Values of the outcome label of upstream metrics.
const (
	outcomeOK      = "ok"
	outcomeStatus  = "status"
	outcomeTimeout = "timeout"
	outcomeError   = "error"
	// outcomeCanceled is a call abandoned because the caller of this
	// service went away (or Run is stopping): not the upstream's fault.
	outcomeCanceled = "canceled"
)

// codeClientGone is nginx's 499 "client closed request": the caller went
// away before the reply, so nobody saw the status the handler would have
// sent.
const codeClientGone = "499"

// metrics is one service's registry with its instruments resolved for the
// label values the hot path uses, so that a request does no label lookup.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	inFlight prometheus.Gauge
	byProto  map[string]*protoMetrics
	byUp     []*upstreamMetrics // index of Config.Upstreams
}

type protoMetrics struct {
	requests *prometheus.CounterVec // curried with protocol
	ok, bad  prometheus.Counter     // 200 (OK) and 502 (Unavailable)
	gone     prometheus.Counter     // 499
	duration prometheus.Observer
}

type upstreamMetrics struct {
	ok, status, timeout, err, canceled prometheus.Counter
	duration                           prometheus.Observer
}

func newMetrics(c Config) *metrics {
	reg := prometheus.NewRegistry()
	// From 100µs (one loopback hop) to 6.5s (past the default upstream
	// timeout), doubling.
	buckets := prometheus.ExponentialBuckets(100e-6, 2, 17)
	service := prometheus.Labels{"service": c.Name}
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "smp_app_requests_total", ConstLabels: service,
		Help: "Requests answered, by protocol and status (HTTP status or gRPC code; 499: the caller went away first).",
	}, []string{"protocol", "code"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "smp_app_request_duration_seconds", ConstLabels: service, Buckets: buckets,
		Help: "Time from the request's arrival to its reply, upstream calls included.",
	}, []string{"protocol"})
	inFlight := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "smp_app_requests_in_flight", ConstLabels: service,
		Help: "Requests being handled.",
	})
	calls := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "smp_app_upstream_calls_total", ConstLabels: service,
		Help: "Calls to upstreams, by upstream and outcome (ok; status: answered but not 2xx/OK; timeout; error: no answer; canceled: our caller went away).",
	}, []string{"upstream", "outcome"})
	upDuration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "smp_app_upstream_duration_seconds", ConstLabels: service, Buckets: buckets,
		Help: "Time of each upstream call, failed ones included.",
	}, []string{"upstream"})
	reg.MustRegister(requests, duration, inFlight, calls, upDuration,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	m := &metrics{reg: reg, requests: requests, inFlight: inFlight, byProto: map[string]*protoMetrics{}}
	for _, p := range []string{protoHTTP1, protoHTTP1TLS, protoH2C, protoH2, protoGRPC} {
		okCode, badCode := "200", "502"
		if p == protoGRPC {
			okCode, badCode = "OK", "Unavailable"
		}
		curried := requests.MustCurryWith(prometheus.Labels{"protocol": p})
		m.byProto[p] = &protoMetrics{
			requests: curried,
			ok:       curried.WithLabelValues(okCode),
			bad:      curried.WithLabelValues(badCode),
			gone:     curried.WithLabelValues(codeClientGone),
			duration: duration.WithLabelValues(p),
		}
	}
	for _, u := range c.Upstreams {
		m.byUp = append(m.byUp, &upstreamMetrics{
			ok:       calls.WithLabelValues(u.Name, outcomeOK),
			status:   calls.WithLabelValues(u.Name, outcomeStatus),
			timeout:  calls.WithLabelValues(u.Name, outcomeTimeout),
			err:      calls.WithLabelValues(u.Name, outcomeError),
			canceled: calls.WithLabelValues(u.Name, outcomeCanceled),
			duration: upDuration.WithLabelValues(u.Name),
		})
	}
	return m
}

// handler serves the registry in the text (or negotiated) exposition format.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

func (u *upstreamMetrics) count(outcome string) {
	switch outcome {
	case outcomeOK:
		u.ok.Inc()
	case outcomeStatus:
		u.status.Inc()
	case outcomeTimeout:
		u.timeout.Inc()
	case outcomeCanceled:
		u.canceled.Inc()
	default:
		u.err.Inc()
	}
}
