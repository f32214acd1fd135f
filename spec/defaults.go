package spec

import "time"

// DefaultRepetitions is how many times each arm is measured when the plan does not say.
// Repetitions are what let the analysis see how much a figure changes from one deployment
// to the next, which decides whether a difference between arms is real; five give its t
// test 8 degrees of freedom, and found a 25% change of p50 in every simulated run where
// three found two in three (internal/analysis's package documentation has the
// measurements behind the choice).
const DefaultRepetitions = 5

// DefaultErrorCeiling is workload.error_ceiling's default: above one failed request in
// ten, a trial's latency and resources describe a failing system rather than the one
// under test, whatever an SLO says.
const DefaultErrorCeiling = 0.1

// Default values that are not literal in a `default` tag because they depend on other fields.
const (
	defaultRate          = 1000.0
	defaultWarmup        = 5 * time.Second
	defaultUniformJitter = 0.1
)

// DefaultPercentiles are reported when a plan lists none: SMP's p50/p90/p99 plus p95 and
// p99.9, which mesh overhead discussions quote most.
func DefaultPercentiles() []float64 { return []float64{50, 90, 95, 99, 99.9} }

func ptr[T any](v T) *T { return &v }

// WithDefaults returns a copy of the plan with every unset field given its default. The
// receiver is not modified. Defaults that only make sense for some settings (app sizes for
// the builtin app, injection on Kubernetes) are only filled in there, so that the plan
// recorded in a result says what was really used.
func (p *Plan) WithDefaults() *Plan {
	out := *p
	if out.APIVersion == "" {
		out.APIVersion = APIVersion
	}
	if out.Name == "" {
		out.Name = "plan"
	}
	if out.Repetitions == 0 {
		out.Repetitions = DefaultRepetitions
	}
	if out.Order == "" {
		out.Order = OrderInterleaved
	}
	if out.Seed == 0 {
		out.Seed = 1
	}
	if out.Output.Dir == "" {
		out.Output.Dir = "results"
	}
	out.Environment = p.Environment.withDefaults()
	out.Workload = p.Workload.withDefaults(out.Seed, p.hasEndpoints())

	out.Arms = make([]Arm, len(p.Arms))
	copy(out.Arms, p.Arms)
	if len(out.Arms) == 0 {
		out.Arms = []Arm{{}}
	}
	for i := range out.Arms {
		out.Arms[i] = out.Arms[i].withDefaults(out.Environment.Platform, out.Workload.App.Kind == AppExternal)
	}
	if out.Baseline == "" {
		for _, a := range out.Arms {
			if a.Mesh.IsBaseline() {
				out.Baseline = a.Name
				break
			}
		}
	}
	out.Metrics = p.Metrics.withDefaults(out.Environment.Platform)
	out.SLO = append([]SLO(nil), p.SLO...)
	return &out
}

func (p *Plan) hasEndpoints() bool {
	if len(p.Workload.EndpointURLs) > 0 {
		return true
	}
	for _, a := range p.Arms {
		if len(a.EndpointURLs) > 0 {
			return true
		}
	}
	return false
}

// withDefaults fills in an arm. With an external app smp deploys and configures nothing,
// so a mesh arm's data plane and mTLS stay as the plan says (empty: not known), rather
// than smp's defaults for meshes it installs: a result then records only what was
// declared or measured.
func (a Arm) withDefaults(platform Platform, external bool) Arm {
	if a.Mesh == "" {
		a.Mesh = MeshNone
	}
	if a.Name == "" {
		if a.Mesh.IsBaseline() {
			a.Name = "baseline"
		} else {
			a.Name = string(a.Mesh)
		}
	}
	if a.Mesh.IsBaseline() {
		if a.MTLS == "" {
			a.MTLS = MTLSOff
		}
		return a
	}
	if external {
		return a
	}
	if a.DataPlane == "" {
		a.DataPlane = DataPlaneSidecar
		if a.Mesh == MeshCilium {
			a.DataPlane = DataPlaneNode
		}
	}
	if a.MTLS == "" {
		a.MTLS = MTLSStrict
	}
	if a.Injection == "" && platform == PlatformKubernetes && a.DataPlane == DataPlaneSidecar {
		a.Injection = InjectionNamespace
	}
	return a
}

func (w Workload) withDefaults(seed int64, external bool) Workload {
	if w.App.Kind == "" {
		w.App.Kind = AppBuiltin
		if external {
			w.App.Kind = AppExternal
		}
	}
	if w.App.Kind == AppBuiltin {
		if w.App.Topology == "" {
			w.App.Topology = TopologyChain
		}
		// A shape has its own services and response sizes.
		if n := w.App.Topology.ShapeServices(); n > 0 {
			if w.App.Services == 0 {
				w.App.Services = n
			}
		} else {
			if w.App.Services == 0 {
				w.App.Services = 3
			}
			if w.App.ResponseSize == nil {
				w.App.ResponseSize = ptr(Size(1024))
			}
		}
	}
	if w.App.Kind != AppExternal && w.App.Replicas == 0 {
		w.App.Replicas = 1
	}
	if w.Protocol == "" {
		w.Protocol = ProtocolHTTP1
	}
	if w.Rate == nil {
		w.Rate = ptr(defaultRate)
	}
	if w.Connections == 0 {
		w.Connections = 16
	}
	if w.Streams == 0 {
		w.Streams = 1
	}
	if w.MaxInflight == 0 {
		w.MaxInflight = 10000
	}
	if w.ErrorCeiling == nil {
		w.ErrorCeiling = ptr(DefaultErrorCeiling)
	}
	if w.Duration == 0 {
		w.Duration = Duration(30 * time.Second)
	}
	if w.Warmup == nil {
		w.Warmup = ptr(Duration(defaultWarmup))
	}
	if w.Timeout == 0 {
		w.Timeout = Duration(10 * time.Second)
	}
	if w.KeepAlive == nil {
		w.KeepAlive = ptr(true)
	}
	if w.Entry.Via == "" {
		w.Entry.Via = EntryDirect
	}
	if w.Internal == nil {
		// A client that enters through the gateway is outside the mesh.
		w.Internal = ptr(w.Entry.Via != EntryGateway)
	}
	if w.Protocol == ProtocolTCP {
		// A TCP echo's message: istio/tools' 1KB payload, the app's response size.
		if w.RequestSize == 0 && w.Body == "" && w.BodyFile == "" {
			w.RequestSize = 1024
		}
	} else if w.Method == "" {
		w.Method = "GET"
		if w.Body != "" || w.BodyFile != "" || w.RequestSize > 0 {
			w.Method = "POST"
		}
	}
	if w.Path == "" {
		w.Path = "/"
	}
	if w.LoadGenerator == "" {
		w.LoadGenerator = GeneratorBuiltin
	}
	if w.Agents == 0 {
		w.Agents = len(w.AgentURLs)
	}
	if w.ReachTimeout == 0 && w.Agents > 0 {
		w.ReachTimeout = Duration(2 * time.Minute)
	}
	if w.Protocol == ProtocolGRPC && w.GRPC.Method == "" {
		w.GRPC.Method = GRPCHealth
		if w.App.Kind == AppBuiltin {
			w.GRPC.Method = GRPCEcho
		}
	}
	w.Arrival = w.Arrival.withDefaults(seed, w.Duration)
	if w.Arrival.Pattern == PatternRealWorld {
		w.Arrival.RealWorld = w.Arrival.RealWorld.withDefaults(w.Duration, w.Protocol == ProtocolHTTP1 && *w.KeepAlive)
	}
	if w.FindMax.Enabled {
		w.FindMax = w.FindMax.withDefaults()
	}
	if len(w.Mix) > 0 {
		mix := make([]Request, len(w.Mix))
		for i, r := range w.Mix {
			if r.Weight == 0 {
				r.Weight = 1
			}
			if r.Path == "" {
				r.Path = "/"
			}
			mix[i] = r
		}
		w.Mix = mix
	}
	return w
}

func (a Arrival) withDefaults(seed int64, duration Duration) Arrival {
	if a.Pattern == "" {
		a.Pattern = PatternConstant
	}
	if a.Seed == 0 {
		a.Seed = seed
	}
	if a.Pattern == PatternUniform && a.Jitter == 0 {
		a.Jitter = defaultUniformJitter
	}
	if a.Pattern == PatternRamp && a.Ramp == 0 {
		a.Ramp = duration
	}
	return a
}

// Defaults of pattern realworld and of find_max (the field comments in plan.go say the
// same; docs/realworld.md explains the values).
const (
	defaultBurstFactor      = 3.0
	defaultBurstEvery       = 15 * time.Second
	defaultBurstLength      = 2 * time.Second
	defaultDiurnalAmplitude = 0.5
	defaultNoise            = 0.1
	defaultSizeSpread       = 0.5
	defaultChurn            = 100.0

	defaultFindMaxP99          = 25 * time.Millisecond
	defaultFindMaxErrorRate    = 0.001
	defaultFindMaxStartRate    = 100.0
	defaultFindMaxMaxRate      = 1e6
	defaultFindMaxPrecision    = 0.02
	defaultFindMaxStepDuration = 5 * time.Second
	defaultFindMaxStepWarmup   = time.Second
)

// withDefaults fills in realworld's defaults; churn applies to HTTP/1.1 connections that
// are kept alive (reusable).
func (r RealWorld) withDefaults(duration Duration, reusable bool) RealWorld {
	if r.BurstFactor == 0 {
		r.BurstFactor = defaultBurstFactor
	}
	if r.BurstEvery == 0 {
		r.BurstEvery = Duration(defaultBurstEvery)
	}
	if r.BurstLength == 0 {
		r.BurstLength = Duration(defaultBurstLength)
	}
	if r.DiurnalPeriod == 0 {
		r.DiurnalPeriod = duration
	}
	if r.DiurnalAmplitude == nil {
		r.DiurnalAmplitude = ptr(defaultDiurnalAmplitude)
	}
	if r.Noise == nil {
		r.Noise = ptr(defaultNoise)
	}
	if r.SizeSpread == nil {
		r.SizeSpread = ptr(defaultSizeSpread)
	}
	if r.Churn == nil {
		r.Churn = ptr(0.0)
		if reusable {
			r.Churn = ptr(defaultChurn)
		}
	}
	return r
}

func (f FindMax) withDefaults() FindMax {
	if f.P99 == 0 {
		f.P99 = Duration(defaultFindMaxP99)
	}
	if f.MaxErrorRate == nil {
		f.MaxErrorRate = ptr(defaultFindMaxErrorRate)
	}
	if f.StartRate == 0 {
		f.StartRate = defaultFindMaxStartRate
	}
	if f.MaxRate == 0 {
		f.MaxRate = max(defaultFindMaxMaxRate, f.StartRate)
	}
	if f.Precision == 0 {
		f.Precision = defaultFindMaxPrecision
	}
	if f.StepDuration == 0 {
		f.StepDuration = Duration(defaultFindMaxStepDuration)
	}
	if f.StepWarmup == nil {
		f.StepWarmup = ptr(Duration(defaultFindMaxStepWarmup))
	}
	return f
}

func (m Metrics) withDefaults(platform Platform) Metrics {
	if len(m.Percentiles) == 0 {
		m.Percentiles = DefaultPercentiles()
	} else {
		m.Percentiles = append([]float64(nil), m.Percentiles...)
	}
	if m.Interval == 0 {
		m.Interval = Duration(time.Second)
	}
	b := &m.Buckets
	if b.Scheme == "" {
		b.Scheme = BucketsLog
		if len(b.Bounds) > 0 {
			b.Scheme = BucketsExplicit
		}
	}
	if b.Scheme == BucketsLog {
		if b.From == 0 {
			b.From = Duration(10 * time.Microsecond)
		}
		if b.To == 0 {
			b.To = Duration(10 * time.Second)
		}
		if b.PerDecade == 0 {
			b.PerDecade = 5
		}
	}
	if m.Collectors == nil && platform == PlatformLocal {
		m.Collectors = []Collector{{Type: CollectorProcfs}}
	}
	cs := make([]Collector, len(m.Collectors))
	for i, c := range m.Collectors {
		if c.Interval == 0 {
			c.Interval = m.Interval
		}
		cs[i] = c
	}
	if m.Collectors != nil {
		m.Collectors = cs
	}
	return m
}

func (e Environment) withDefaults() Environment {
	if e.Platform == "" {
		e.Platform = PlatformLocal
	}
	if e.Platform == PlatformKubernetes {
		if e.Kubernetes.NamespacePrefix == "" {
			e.Kubernetes.NamespacePrefix = "smp"
		}
		if e.Kubernetes.AntiAffinity == nil {
			e.Kubernetes.AntiAffinity = ptr(true)
		}
	}
	return e
}
