package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/service-mesh-performance/smp/internal/app"
)

type appFlags struct {
	config     string
	verbose    bool
	cpuProfile string
}

// newAppCommand is the hidden `smp app`: one service of the built-in sample
// app, started by the local platform as its own process.
func newAppCommand(s streams) *cobra.Command {
	f := &appFlags{}
	cmd := &cobra.Command{
		Use:    "app --config FILE.json",
		Short:  "Run one service of the built-in sample app (used by the local platform)",
		Hidden: true,
		Long: `App runs one service of smp's sample app until it is interrupted. FILE.json is the
service's configuration (internal/app.Config as JSON: snake_case names, durations as Go
duration strings). Once every listener is open it writes exactly one line to stdout,
{"ready":true,"http":"127.0.0.1:1234","grpc":"…","tls":"…"}, and nothing else; logs go
to stderr with --verbose.`,
		Example: `  smp app --config svc-1.json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return appCmd(cmd.Context(), s, f)
		},
	}
	cmd.Flags().StringVar(&f.config, "config", "", "the service's configuration (JSON)")
	cmd.Flags().BoolVarP(&f.verbose, "verbose", "v", false, "log start, stop and upstream failures to stderr")
	_ = cmd.MarkFlagRequired("config")
	_ = cmd.MarkFlagFilename("config", "json")
	addCPUProfileFlag(cmd, &f.cpuProfile)
	return cmd
}

func appCmd(ctx context.Context, s streams, f *appFlags) error {
	data, err := os.ReadFile(f.config)
	if err != nil {
		return err
	}
	var c app.Config
	if err := json.Unmarshal(data, &c); err != nil {
		return &exitError{code: exitUsage, err: fmt.Errorf("%s: %w", f.config, err)}
	}
	if err := c.Validate(); err != nil {
		return &exitError{code: exitUsage, err: fmt.Errorf("%s: %w", f.config, err)}
	}
	stop, err := startCPUProfile(f.cpuProfile, strings.TrimSuffix(filepath.Base(f.config), ".json"))
	if err != nil {
		return err
	}
	defer stop()
	if f.verbose {
		c.Logger = slog.New(slog.NewTextHandler(s.err, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	// Whoever started the service learns its addresses only from the ready
	// line: if it cannot be written, stop.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var writeErr error
	err = app.Run(ctx, c, func(a app.Addrs) {
		line, err := json.Marshal(app.ReadyLine{Ready: true, Addrs: a})
		if err == nil {
			_, err = s.out.Write(append(line, '\n'))
		}
		if err != nil {
			writeErr = err
			cancel()
		}
	})
	if err != nil {
		return err
	}
	if writeErr != nil {
		return fmt.Errorf("write ready line: %w", writeErr)
	}
	return nil
}
