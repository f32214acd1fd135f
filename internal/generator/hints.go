package generator

import (
	"fmt"
	"strings"

	"github.com/service-mesh-performance/smp/internal/engine"
)

// errorHints turns the errors of a trial into warnings that say why requests failed and
// what fixes it, where smp knows: TLS failures name their reason and the flag (or plan
// field) that fixes them.
func errorHints(byClass map[string]int64, examples map[string]string) []string {
	var out []string
	if n := byClass[engine.ClassTLS]; n > 0 {
		msg := examples[engine.ClassTLS]
		line := fmt.Sprintf("%d requests failed in TLS", n)
		if msg != "" {
			line += ": " + msg
		}
		out = append(out, line+"; "+tlsFix(msg))
	}
	return out
}

// tlsFix says what fixes a TLS failure, from its message.
func tlsFix(msg string) string {
	switch {
	case strings.Contains(msg, "unknown authority"):
		return "give the server's CA with --cacert FILE (in a plan, workload.tls.ca_file), or skip verification with -k (workload.tls.insecure_skip_verify: true)"
	case strings.Contains(msg, "certificate is valid for"), strings.Contains(msg, "doesn't contain any IP SANs"):
		return "name the host the certificate is for with workload.tls.server_name, or skip verification with -k (workload.tls.insecure_skip_verify: true)"
	case strings.Contains(msg, "expired or is not yet valid"):
		return "the server's certificate is outside its validity (check it, and this machine's clock); -k skips verification"
	case strings.Contains(msg, "does not look like a TLS handshake"):
		return "the server speaks plaintext: use an http:// (or h2c://) URL"
	case strings.Contains(msg, "certificate required"), strings.Contains(msg, "bad certificate"):
		return "the server wants a client certificate: give it with --cert FILE and --key FILE (workload.tls.cert_file and key_file)"
	}
	return "check the server's TLS; --cacert FILE gives its CA (workload.tls.ca_file), -k skips verification"
}
