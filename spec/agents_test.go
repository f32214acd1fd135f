package spec_test

import (
	"testing"

	"github.com/service-mesh-performance/smp/spec"
)

// TestAgentAddresses: the address forms docs/agents.md promises are accepted, agents
// defaults to their number, and the forms it does not promise are refused.
func TestAgentAddresses(t *testing.T) {
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"10.0.0.3:7070", true},
		{"https://10.0.0.3:7070", true},
		{"https://agent-0.example.com:7070/", true},
		{"[::1]:7070", true},
		{"10.0.0.3", false},
		{"http://10.0.0.3:7070", false},
		{"https://10.0.0.3:7070/run", false},
		{"10.0.0.3:0", false},
		{"10.0.0.3:http", false},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			p, err := spec.Parse("p.yaml", []byte("workload:\n  agent_urls: [\""+tc.addr+"\"]\n  agent_certs: certs\n"))
			if tc.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tc.ok {
				if err == nil {
					t.Fatal("accepted")
				}
				return
			}
			if p.Workload.Agents != 1 {
				t.Errorf("agents = %d, want 1 (the number of agent_urls)", p.Workload.Agents)
			}
		})
	}
}
