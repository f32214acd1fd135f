package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/service-mesh-performance/smp/internal/input"
	"github.com/service-mesh-performance/smp/internal/redact"
	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

// inputLimits bound what smp reads (--max-plan-size, --max-result-size).
type inputLimits struct {
	plan, result sizeFlag
}

// sizeFlag is a byte count given as a size ("4MiB", "512MB").
type sizeFlag spec.Size

func (f *sizeFlag) String() string { return spec.Size(*f).String() }
func (f *sizeFlag) Type() string   { return "size" }
func (f *sizeFlag) Set(s string) error {
	v, err := spec.ParseSize(s)
	if err != nil {
		return err
	}
	if v <= 0 {
		return fmt.Errorf("%s: a limit is more than 0 bytes", s)
	}
	*f = sizeFlag(v)
	return nil
}

func (l *inputLimits) bind(root *cobra.Command) {
	l.plan, l.result = spec.DefaultMaxPlanBytes, result.DefaultMaxBytes
	root.PersistentFlags().Var(&l.plan, "max-plan-size", "largest plan file smp reads")
	root.PersistentFlags().Var(&l.result, "max-result-size", "largest result document smp reads")
}

// protect gives s the redactor of this user (internal/redact) and redacts everything
// written to s.out and s.err with it: no secret given to smp is printed, whatever prints
// it (help aside, smp's own words: helpAsWritten). It also gives s the input limits the
// root command binds.
func (s streams) protect() streams {
	salt, err := redact.Salt("")
	if err != nil {
		salt = nil // a random salt: markers then compare within this run only
	}
	s.redactor = redact.New(salt)
	s.out, s.err = s.redactor.Writer(s.out), s.redactor.Writer(s.err)
	s.limits = &inputLimits{}
	return s
}

// loadPlan reads and checks the plan at path within --max-plan-size, ending at Ctrl-C.
// Its secrets join what the redactor hides.
func (s streams) loadPlan(ctx context.Context, path string) (*spec.Plan, error) {
	limit := int64(spec.DefaultMaxPlanBytes)
	if s.limits != nil {
		limit = int64(s.limits.plan)
	}
	p, err := spec.LoadContext(ctx, path, spec.LoadOptions{MaxBytes: limit})
	if err != nil {
		return nil, raiseHint(err, "--max-plan-size")
	}
	if s.redactor != nil {
		s.redactor.Add(p.Secrets()...)
	}
	return p, nil
}

// loadResult reads and checks the result document at path ("-": standard input) within
// --max-result-size, ending at Ctrl-C, with any secret it still holds redacted.
func (s streams) loadResult(ctx context.Context, path string) (*result.Document, error) {
	opt := result.ReadOptions{MaxBytes: result.DefaultMaxBytes}
	if s.limits != nil {
		opt.MaxBytes = int64(s.limits.result)
	}
	if s.redactor != nil {
		opt.Redactor = s.redactor
	}
	var doc *result.Document
	var err error
	if path == "-" {
		opt.Name = "standard input"
		doc, err = result.ReadContext(ctx, s.in, opt)
	} else {
		doc, err = result.LoadContext(ctx, path, opt)
	}
	return doc, raiseHint(err, "--max-result-size")
}

// raiseHint adds to an input that is too large the flag that raises the limit.
func raiseHint(err error, flag string) error {
	var tl *input.TooLargeError
	if errors.As(err, &tl) {
		return fmt.Errorf("%w; raise the limit with %s %s if it is what you meant", err, flag, input.FormatSize(4*tl.Limit))
	}
	return err
}
