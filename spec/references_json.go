package spec

import (
	"encoding/json"
	"strings"
)

// A value that held "$${" holds "${" once its references are resolved. Written to JSON
// (a result records the plan as run) it is escaped again, so that the plan read back
// (by Parse, or from a result) means what it meant: the fields that take references
// marshal "${" as "$${", and unmarshal it back.

func escapeRef(s string) string   { return strings.ReplaceAll(s, "${", "$${") }
func unescapeRef(s string) string { return strings.ReplaceAll(s, "$${", "${") }

func mapRefs(m map[string]string, f func(string) string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = f(v)
	}
	return out
}

func listRefs(l []string, f func(string) string) []string {
	if l == nil {
		return nil
	}
	out := make([]string, len(l))
	for i, v := range l {
		out[i] = f(v)
	}
	return out
}

// MarshalJSON writes the workload with "${" in headers, cookies and URLs escaped.
func (w Workload) MarshalJSON() ([]byte, error) {
	type plain Workload
	p := plain(w.withRefs(escapeRef))
	return json.Marshal(p)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (w *Workload) UnmarshalJSON(b []byte) error {
	type plain Workload
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*w = Workload(p).withRefs(unescapeRef)
	return nil
}

func (w Workload) withRefs(f func(string) string) Workload {
	w.Headers, w.Cookies, w.EndpointURLs = mapRefs(w.Headers, f), mapRefs(w.Cookies, f), listRefs(w.EndpointURLs, f)
	if w.Mix != nil {
		mix := make([]Request, len(w.Mix))
		for i, r := range w.Mix {
			r.Headers = mapRefs(r.Headers, f)
			mix[i] = r
		}
		w.Mix = mix
	}
	return w
}

// MarshalJSON writes the arm with "${" in its URLs escaped.
func (a Arm) MarshalJSON() ([]byte, error) {
	type plain Arm
	p := plain(a)
	p.EndpointURLs = listRefs(a.EndpointURLs, escapeRef)
	return json.Marshal(p)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (a *Arm) UnmarshalJSON(b []byte) error {
	type plain Arm
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	p.EndpointURLs = listRefs(p.EndpointURLs, unescapeRef)
	*a = Arm(p)
	return nil
}

// MarshalJSON writes the collector with "${" in its URL escaped.
func (c Collector) MarshalJSON() ([]byte, error) {
	type plain Collector
	p := plain(c)
	p.URL = escapeRef(c.URL)
	return json.Marshal(p)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (c *Collector) UnmarshalJSON(b []byte) error {
	type plain Collector
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	p.URL = unescapeRef(p.URL)
	*c = Collector(p)
	return nil
}
