package experiment

import (
	"context"
	"errors"

	"github.com/service-mesh-performance/smp/internal/redact"
	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

// Run executes a validated plan (with defaults applied) and returns its result. The error
// is for problems that prevent the run from starting (a missing proxy binary, an
// unreachable cluster); what goes wrong during trials is recorded in the document. When
// ctx is cancelled, Run stops after tearing down the current trial and returns the
// partial document with status interrupted, and ctx's error.
//
// No secret of the plan leaves Run: the document, the status lines and the error show
// opt.Redactor's markers instead (see internal/redact for what counts as a secret).
func Run(ctx context.Context, plan *spec.Plan, opt Options) (*result.Document, error) {
	r := opt.Redactor
	if r == nil {
		r = redact.New(nil)
	}
	registerSecrets(r, plan)
	if opt.Status != nil {
		opt.Status = r.Writer(opt.Status)
	}
	doc, err := run(ctx, plan, opt)
	if doc != nil {
		red, rerr := doc.Redacted(r)
		if rerr != nil {
			return nil, errors.Join(err, rerr)
		}
		doc = red
	}
	if err != nil {
		err = &redactedError{msg: r.String(err.Error()), err: err}
	}
	return doc, err
}

// registerSecrets tells r the secrets the plan holds, so that they are found in free text
// too (an error that quotes a header, a URL without its scheme).
func registerSecrets(r *redact.Redactor, plan *spec.Plan) {
	r.Add(plan.Secrets()...)
	w := plan.Workload
	for k, v := range w.Headers {
		r.Header(k, v)
	}
	for _, m := range w.Mix {
		for k, v := range m.Headers {
			r.Header(k, v)
		}
	}
	for _, v := range w.Cookies {
		r.Secret(v)
	}
	urls := append([]string(nil), w.EndpointURLs...)
	for _, a := range plan.Arms {
		urls = append(urls, a.EndpointURLs...)
	}
	for _, c := range plan.Metrics.Collectors {
		urls = append(urls, c.URL)
	}
	for _, u := range urls {
		r.URL(u)
	}
}

// redactedError reads as its message with the secrets replaced, and unwraps to the
// original (errors.Is and errors.As still see context.Canceled or spec.Errors).
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
