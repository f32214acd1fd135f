// Command coredns is CoreDNS with only the plugins the test node of scripts/kube-node
// needs: cluster DNS from the Kubernetes API (kubernetes), its cache, the address
// to listen on (bind), a readiness endpoint and logs. It is built without CoreDNS's forward plugin
// (and every other plugin that sends queries elsewhere), so that no query for a name
// outside the cluster can leave the machine: such a name is answered SERVFAIL or
// REFUSED. scripts/kube-node builds it into the Kubernetes binaries' cache; nothing
// imports it.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
)

// directives is the order in which the plugins are set up and handle a query (CoreDNS's
// plugin.cfg order, restricted to those linked in).
var directives = []string{"bind", "ready", "errors", "log", "loadbalance", "cache", "kubernetes"}

func main() {
	dnsserver.Directives = directives
	coremain.Run()
}
