// Package version reports which smp this is: the module version, the commit it was built
// from and the Go toolchain, for `smp version` and for every result document.
//
// The values come from the build information Go embeds in every binary; a release build
// may override them with -ldflags "-X github.com/service-mesh-performance/smp/internal/version.commit=…"
// (builds with -buildvcs=false carry no commit otherwise).
package version

import (
	"runtime"
	"runtime/debug"
)

// Set at link time by release builds; empty otherwise.
var (
	version string
	commit  string
)

// Info identifies a build of smp.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Modified  bool   `json:"modified,omitempty"`
	GoVersion string `json:"go_version"`
	Platform  string `json:"platform"`
}

// Get returns the build's identity; fields that are not known say "unknown".
func Get() Info {
	info := Info{Version: version, Commit: commit, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if info.Version == "" && bi.Main.Version != "" {
			info.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if info.Commit == "" {
					info.Commit = s.Value
				}
			case "vcs.modified":
				info.Modified = s.Value == "true"
			}
		}
	}
	if info.Version == "" {
		info.Version = "(devel)"
	}
	if info.Commit == "" {
		info.Commit = "unknown"
	}
	return info
}

// String is the one-line form: "smp (devel) commit abc123 go1.26.8 linux/amd64".
func (i Info) String() string {
	s := "smp " + i.Version + " commit " + i.Commit
	if i.Modified {
		s += " (modified)"
	}
	return s + " " + i.GoVersion + " " + i.Platform
}
