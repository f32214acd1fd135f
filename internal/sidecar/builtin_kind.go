package sidecar

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/service-mesh-performance/smp/internal/proc"
)

// builtinSubcommand is the smp command that runs a builtin sidecar (cmd/smp/sidecar_cmd.go).
const builtinSubcommand = "sidecar"

func builtinImpl() implementation {
	return implementation{
		render:   renderBuiltin,
		counters: builtinCounters,
	}
}

func checkBuiltin(binary string) (Tool, error) {
	path := binary
	if path == "" {
		exe, err := os.Executable()
		if err != nil {
			return Tool{}, fmt.Errorf("builtin sidecar: find the smp binary: %w", err)
		}
		path = exe
	}
	if _, err := os.Stat(path); err != nil {
		return Tool{}, fmt.Errorf("builtin sidecar: %w", err)
	}
	return Tool{Kind: Builtin, Path: path, Version: "builtin"}, nil
}

// renderBuiltin writes the Config as JSON; the command is `smp sidecar --config FILE`.
func renderBuiltin(s Spec, t Tool) (*Plan, error) {
	b, err := json.MarshalIndent(s.BuiltinConfig(), "", "  ")
	if err != nil {
		return nil, err
	}
	name := "sidecar.json"
	cfg := filepath.Join(s.WorkDir, name)
	admin := "http://" + s.AdminListen
	return &Plan{
		Files: []File{{Name: name, Data: append(b, '\n')}},
		Cmd: proc.Cmd{
			Name: s.Name,
			Path: t.Path,
			Args: []string{builtinSubcommand, "--config", cfg},
			Dir:  s.WorkDir,
		},
		AdminURL:   admin,
		StatsURL:   admin + "/stats",
		ReadyURL:   admin + "/ready",
		MetricsURL: admin + "/metrics",
	}, nil
}

func builtinCounters(ctx context.Context, r statsReader, url string) (Counters, error) {
	body, err := get(ctx, r, url)
	if err != nil {
		return Counters{}, err
	}
	var d StatsDocument
	if err := json.Unmarshal(body, &d); err != nil {
		return Counters{}, fmt.Errorf("decode %s: %w", url, err)
	}
	return d.counters(), nil
}
