package collect

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestSlowReadsAreKept: a source that answers in one and a half intervals (a kubelet's
// cAdvisor page through a loaded API server) loses no read: the sampler waits for it
// instead of cutting it at the interval.
func TestSlowReadsAreKept(t *testing.T) {
	const interval = 20 * time.Millisecond
	reads := make(chan struct{}, 100)
	s := newSampler(samplerConfig{name: "slow", interval: interval, retention: time.Minute,
		fetch: func(ctx context.Context, targets []Target) ([]point, []error) {
			pts, errs := make([]point, len(targets)), make([]error, len(targets))
			select {
			case <-time.After(interval * 3 / 2): // the source's own slowness
				for i := range pts {
					pts[i] = newPoint(time.Now())
				}
			case <-ctx.Done():
				for i := range errs {
					errs[i] = errors.New("read cut: " + ctx.Err().Error())
				}
			}
			reads <- struct{}{}
			return pts, errs
		}})
	if err := s.start(context.Background(), []Target{{}}); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		<-reads
	}
	s.stop()
	st := s.targets[0]
	if st.errors != 0 || len(st.ring) < 5 {
		t.Errorf("%d reads failed (last: %s), %d points kept; want none failed and at least 5 kept", st.errors, st.lastErr, len(st.ring))
	}
}
