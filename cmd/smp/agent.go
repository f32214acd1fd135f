package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/service-mesh-performance/smp/internal/agent"
	"github.com/service-mesh-performance/smp/internal/version"
)

type agentFlags struct {
	listen    string
	certs     string
	caFile    string
	certFile  string
	keyFile   string
	tokenFile string
	allow     []string
}

func newAgentCommand(s streams) *cobra.Command {
	f := &agentFlags{}
	cmd := &cobra.Command{
		Use:   "agent --listen ADDR --certs DIR",
		Short: "Run a load agent that a controller (smp load --agents, smp run) drives",
		Long: `Agent sends load for a controller: smp load --agents or smp run with workload.agents.
The controller sends the agent its share of the load (rate, connections, streams) and a
common start time; the agent runs smp's engine and streams progress, then its HDR
histograms, which the controller merges exactly with the other agents' (docs/agents.md).

It takes orders only over mutual TLS from the controller of its run CA: create the
credentials once with 'smp agent certs --dir DIR', give the agent machines ca.pem,
smp-agent.pem and smp-agent-key.pem (and token, if made), and keep smp-controller*.pem
on the controller. Refused connections and requests are logged on stderr. With
--allow-target the agent sends load only to those targets.

It runs one load at a time until SIGINT or SIGTERM; a run stops as soon as its
controller disconnects.`,
		Example: `  smp agent certs --dir agent-certs
  smp agent --listen :7070 --certs agent-certs
  smp agent --listen 10.0.0.3:7070 --ca ca.pem --cert smp-agent.pem --key smp-agent-key.pem --allow-target 10.0.1.0/24`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return agentCmd(cmd.Context(), s, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.listen, "listen", fmt.Sprintf(":%d", agent.DefaultPort), "address to listen on (host:port; port 0 picks one)")
	fl.StringVar(&f.certs, "certs", "", "folder from 'smp agent certs' (ca.pem, smp-agent.pem, smp-agent-key.pem, token if any)")
	fl.StringVar(&f.caFile, "ca", "", "the run CA's certificate (instead of --certs)")
	fl.StringVar(&f.certFile, "cert", "", "the agent's certificate (instead of --certs)")
	fl.StringVar(&f.keyFile, "key", "", "the agent's key (instead of --certs)")
	fl.StringVar(&f.tokenFile, "token-file", "", "require this shared token from the controller too (Authorization: Bearer)")
	fl.StringSliceVar(&f.allow, "allow-target", nil, "send load only to these targets: CIDR, IP, host:port or host name (repeatable, comma-separated)")
	cmd.AddCommand(newAgentCertsCommand(s))
	return cmd
}

// agentCmd loads the credentials, listens and serves until ctx ends.
func agentCmd(ctx context.Context, s streams, f *agentFlags) error {
	var creds agent.Credentials
	var err error
	switch {
	case f.certs != "" && (f.caFile != "" || f.certFile != "" || f.keyFile != ""):
		return usageErrorf("give either --certs or --ca, --cert and --key")
	case f.certs != "":
		creds, err = agent.LoadCredentials(f.certs, agent.RoleAgent)
		if err == nil && f.tokenFile != "" {
			var tok agent.Credentials
			tok, err = agent.LoadFiles(agent.RoleAgent, filepath.Join(f.certs, agent.CAFile),
				filepath.Join(f.certs, agent.CertFile(agent.RoleAgent)), filepath.Join(f.certs, agent.KeyFile(agent.RoleAgent)), f.tokenFile)
			creds = tok
		}
	case f.caFile != "" && f.certFile != "" && f.keyFile != "":
		creds, err = agent.LoadFiles(agent.RoleAgent, f.caFile, f.certFile, f.keyFile, f.tokenFile)
	default:
		return usageErrorf("an agent needs credentials: --certs DIR (from 'smp agent certs'), or --ca, --cert and --key")
	}
	if err != nil {
		return err
	}
	allow, err := agent.ParseAllowList(f.allow...)
	if err != nil {
		return usageErrorf("%v", err)
	}
	log := slog.New(slog.NewTextHandler(s.err, nil)).With("component", "agent")
	srv, err := agent.NewServer(agent.ServerConfig{Credentials: creds, Allow: allow, Logger: log, Version: version.Get().Version})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("agent: listen on %s: %w", f.listen, err)
	}
	targets := "any target its controller sends"
	if !allow.Empty() {
		targets = "targets in " + strings.Join(f.allow, ",")
	}
	token := ""
	if creds.Token != "" {
		token = " and the shared token"
	}
	fmt.Fprintf(s.err, "smp agent: listening on %s for the controller of %s (mutual TLS%s); load goes to %s\n",
		agent.URL(ln.Addr().String()), strings.TrimSuffix(creds.ID, "/sa/"+agent.RoleAgent), token, targets)
	return srv.Serve(ctx, ln)
}

type agentCertsFlags struct {
	dir   string
	token bool
	force bool
}

func newAgentCertsCommand(s streams) *cobra.Command {
	f := &agentCertsFlags{}
	cmd := &cobra.Command{
		Use:   "certs --dir DIR",
		Short: "Create a CA and the agent and controller certificates",
		Long: `Certs creates a fresh CA and issues two identities from it: smp-agent (for every agent)
and smp-controller (for smp load --agents / smp run), with SPIFFE ids naming a new run.
The CA's key is not kept: to add or rotate, create a new folder. Certificates are valid
for ` + agent.Validity.String() + `.

Give the agents ca.pem, smp-agent.pem and smp-agent-key.pem (and token); keep
smp-controller.pem and smp-controller-key.pem on the controller and point --agent-certs
(or workload.agent_certs) at the folder.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.dir == "" {
				return usageErrorf("--dir is required")
			}
			if _, err := os.Stat(filepath.Join(f.dir, agent.CAFile)); err == nil && !f.force {
				return usageErrorf("%s already holds credentials; use --force to replace them", f.dir)
			}
			b, err := agent.NewBundle("", f.token)
			if err != nil {
				return err
			}
			if err := b.WriteFiles(f.dir); err != nil {
				return err
			}
			var agentFiles, ctrlFiles []string
			for name := range b.AgentFiles() {
				agentFiles = append(agentFiles, name)
			}
			for name := range b.ControllerFiles() {
				ctrlFiles = append(ctrlFiles, name)
			}
			sort.Strings(agentFiles)
			sort.Strings(ctrlFiles)
			fmt.Fprintf(s.out, "wrote %s for run %s (valid %s)\n  agents:     %s\n  controller: %s\n",
				f.dir, b.RunID, agent.Validity, strings.Join(agentFiles, " "), strings.Join(ctrlFiles, " "))
			return nil
		},
	}
	cmd.Flags().StringVar(&f.dir, "dir", "", "folder to write into (created if missing)")
	cmd.Flags().BoolVar(&f.token, "token", false, "also create a shared token that agents require")
	cmd.Flags().BoolVar(&f.force, "force", false, "replace credentials already in the folder")
	return cmd
}
