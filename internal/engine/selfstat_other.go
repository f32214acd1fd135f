//go:build !linux

package engine

// sampleSelf knows only the time elsewhere: CPU and run delay are unknown.
func (r *run) sampleSelf() selfUsage {
	u := selfUsage{at: r.since(), cpu: -1, runDelay: -1}
	return u
}
