package local

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// ports hands out loopback ports for the processes of a deployment before they start,
// because the wiring is circular (a service must know its sidecar's outbound port and
// the sidecar the service's port). Ports come from below the kernel's ephemeral range,
// so that the thousands of client connections of a load run, which take ephemeral ports,
// cannot grab one between the check here and the child's bind.
type ports struct {
	low, high int // candidates are [low, high)
	taken     map[int]bool
	rng       *rand.Rand
}

func newPorts() *ports {
	low, high := 20000, 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if eph, err := strconv.Atoi(f[0]); err == nil && eph > 2048 {
				high = eph
				if low >= high-1000 {
					low = max(1024, high-10000)
				}
			}
		}
	}
	return &ports{low: low, high: high, taken: map[int]bool{}, rng: rand.New(rand.NewPCG(uint64(os.Getpid()), rand.Uint64()))}
}

// next returns "127.0.0.1:<port>" for a port that is free now and not handed out before.
func (p *ports) next() (string, error) {
	for range 200 {
		port := p.low + p.rng.IntN(p.high-p.low)
		if p.taken[port] {
			continue
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		ln.Close()
		p.taken[port] = true
		return addr, nil
	}
	return "", fmt.Errorf("no free loopback port in %d-%d", p.low, p.high)
}
