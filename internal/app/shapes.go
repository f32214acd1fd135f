package app

// Shapes: the call graphs and payloads of the two applications mesh people know,
// bookinfo (istio/istio samples/bookinfo) and emojivoto (BuoyantIO/emojivoto), played by
// smp's own services under names of their own, so that a result can never be taken
// for a measurement of the real images. The platforms deploy a shape's services as
// they deploy a chain's, one `smp app` per service, with each service's Config built
// from its ShapeService.

// Shape names, the values of the plan's workload.app.topology that select them.
const (
	ShapeBookinfo  = "bookinfo-shape"
	ShapeEmojivoto = "emojivoto-shape"
)

// ShapeService is one service of a shape.
type ShapeService struct {
	// Name is the service's name (x-smp-service, the Kubernetes Service and
	// Deployment, the local process).
	Name string
	// Serves is the protocol its callers (the load, for the first service) use: HTTP1
	// on its HTTPAddr or GRPC on its GRPCAddr.
	Serves Protocol
	// Upstreams are the services it calls for every request, by index in the shape;
	// UpstreamProtocol is how, and Sequential whether one after the other.
	Upstreams        []int
	UpstreamProtocol Protocol
	Sequential       bool
	// ResponseSize is the body of its successful replies (gRPC: the BytesValue's
	// length), about the size of what the real service answers.
	ResponseSize int
}

// Shape returns the services of the named shape, the entry first, and whether it is
// one.
//
// bookinfo (samples/bookinfo at 1.20): productpage renders its page after calling
// details, then reviews (productpage.py's front(): getProductDetails before
// getProductReviews, one after the other); reviews v2/v3 call ratings; all HTTP/1.1.
// The sizes are those of the bodies that upstream's source builds for product 0,
// counted from it (the images cannot be pulled here to measure them): details.rb's
// book JSON is 178 bytes, ratings.js's {"id":0,"ratings":{"Reviewer1":5,"Reviewer2":4}}
// 48, reviews v2's LibertyRestEndpoint JSON with two reviews, their ratings and its pod
// name about 442, and productpage.html rendered with them about 5 KB (a template of
// about 4.5 KB of HTML, filled with the details table and both reviews).
//
// emojivoto (v11): web serves the browser's HTTP API and calls its back ends over gRPC.
// The shape is the call that its vote-bot sends, GET /api/vote?choice=…: web's
// voteHandler calls EmojiService.FindByShortcode, then VotingService.Vote<Emoji>, one
// after the other, and answers 200 with an empty body. FindByShortcode's reply is an
// Emoji (a 4-byte unicode character and a shortcode such as ":doughnut:": 20 bytes of
// protobuf, played by a BytesValue of 18 bytes, 20 on the wire); Vote's is an empty
// VoteResponse.
func Shape(name string) ([]ShapeService, bool) {
	switch name {
	case ShapeBookinfo:
		return []ShapeService{
			{Name: "svc-page", Serves: HTTP1, Upstreams: []int{1, 2}, UpstreamProtocol: HTTP1, Sequential: true, ResponseSize: 5 << 10},
			{Name: "svc-facts", Serves: HTTP1, UpstreamProtocol: HTTP1, ResponseSize: 178},
			{Name: "svc-opinions", Serves: HTTP1, Upstreams: []int{3}, UpstreamProtocol: HTTP1, ResponseSize: 442},
			{Name: "svc-stars", Serves: HTTP1, UpstreamProtocol: HTTP1, ResponseSize: 48},
		}, true
	case ShapeEmojivoto:
		return []ShapeService{
			{Name: "svc-front", Serves: HTTP1, Upstreams: []int{1, 2}, UpstreamProtocol: GRPC, Sequential: true, ResponseSize: 0},
			{Name: "svc-glyphs", Serves: GRPC, UpstreamProtocol: GRPC, ResponseSize: 18},
			{Name: "svc-ballot", Serves: GRPC, UpstreamProtocol: GRPC, ResponseSize: 0},
		}, true
	}
	return nil, false
}
