// Command pause is the process of a pod's sandbox container: it holds the pod's
// namespaces, reaps the zombies it inherits, and exits on SIGINT or SIGTERM, like
// Kubernetes' pause (which is C; this one is Go so that scripts/kube-node can build it
// from a Go module).
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sigs {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
