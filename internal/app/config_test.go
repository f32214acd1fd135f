package app

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	good := Config{Name: "svc-1", HTTPAddr: "127.0.0.1:0"}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want []string // substrings, one per expected problem; none = valid
	}{
		{"minimal", func(*Config) {}, nil},
		{"everything", func(c *Config) {
			c.GRPCAddr, c.TLSAddr, c.CertFile, c.KeyFile = ":9090", "[::1]:8443", "c.pem", "k.pem"
			c.Upstreams = []Upstream{{Name: "svc-2", Addr: "127.0.0.1:9081"}, {Addr: "localhost:9082"}}
			c.UpstreamProtocol, c.UpstreamTimeout = GRPC, time.Second
			c.ResponseSize, c.CPUTime, c.Delay = MaxResponseSize, time.Millisecond, time.Millisecond
		}, nil},
		{"no name or address", func(c *Config) { c.Name, c.HTTPAddr = "", "" }, []string{"name: required", "http_addr: required"}},
		{"bad addresses", func(c *Config) { c.HTTPAddr, c.GRPCAddr = "8080", "host:http" },
			[]string{`http_addr "8080": want host:port`, `grpc_addr "host:http": port must be a number`}},
		{"tls without files", func(c *Config) { c.TLSAddr = ":8443" }, []string{"tls_addr: needs cert_file and key_file"}},
		{"files without tls", func(c *Config) { c.CertFile = "c.pem" }, []string{"cert_file, key_file: only used with tls_addr"}},
		{"unknown protocol", func(c *Config) { c.UpstreamProtocol = "http3" }, []string{`upstream_protocol "http3": want http1, h2c, grpc or tcp`}},
		{"bad upstreams", func(c *Config) {
			c.Upstreams = []Upstream{{Name: "a"}, {Name: "b", Addr: "127.0.0.1:0"}, {Name: "a", Addr: "x:1"}}
		}, []string{"upstreams[0].addr: required", "upstreams[1].addr \"127.0.0.1:0\": port 0", `upstreams[2].name "a": already used by upstreams[0]`}},
		{"unnamed duplicates", func(c *Config) { c.Upstreams = []Upstream{{Addr: "x:1"}, {Addr: "x:1"}} },
			[]string{`upstreams[1].name "x:1": already used`}},
		{"negative numbers", func(c *Config) { c.ResponseSize, c.CPUTime, c.Delay, c.UpstreamTimeout = -1, -1, -1, -1 },
			[]string{"response_size -1", "cpu_time -1ns", "delay -1ns", "upstream_timeout -1ns"}},
		{"huge response", func(c *Config) { c.ResponseSize = MaxResponseSize + 1 }, []string{"response_size 67108865: must be between 0 and 67108864"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.edit(&c)
			err := c.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("valid config rejected: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted, want %d problems: %q", len(tc.want), tc.want)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tc.want) {
				t.Errorf("%d problems, want %d:\n%v", len(lines), len(tc.want), err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("no problem mentions %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestConfigJSON(t *testing.T) {
	const file = `{
  "name": "svc-1",
  "http_addr": "127.0.0.1:0",
  "grpc_addr": "127.0.0.1:0",
  "upstreams": [{"name": "svc-2", "addr": "127.0.0.1:9081"}],
  "upstream_protocol": "h2c",
  "upstream_timeout": "1.5s",
  "response_size": 1024,
  "cpu_time": "20ms",
  "delay": "1ms"
}`
	want := Config{Name: "svc-1", HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0",
		Upstreams: []Upstream{{Name: "svc-2", Addr: "127.0.0.1:9081"}}, UpstreamProtocol: H2C,
		UpstreamTimeout: 1500 * time.Millisecond, ResponseSize: 1024, CPUTime: 20 * time.Millisecond, Delay: time.Millisecond}
	var got Config
	if err := json.Unmarshal([]byte(file), &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decoded\n%+v\nwant\n%+v", got, want)
	}
	out, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"cpu_time":"20ms"`) || !strings.Contains(string(out), `"upstream_timeout":"1.5s"`) {
		t.Errorf("durations are not written as strings: %s", out)
	}
	if strings.Contains(string(out), "tls_addr") {
		t.Errorf("empty fields are written: %s", out)
	}
	var back Config
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, want) {
		t.Errorf("round trip\n%+v\nwant\n%+v", back, want)
	}

	for _, tc := range []struct{ name, in, want string }{
		{"unknown field", `{"name": "a", "http_adr": ":1"}`, `unknown field "http_adr"`},
		{"number duration", `{"cpu_time": 20000000}`, `want a duration string such as "20ms", got 20000000`},
		{"bad duration", `{"delay": "20 ms"}`, `time: unknown unit " ms"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c Config
			err := json.Unmarshal([]byte(tc.in), &c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	in := Config{Name: "svc-1", HTTPAddr: ":0", Upstreams: []Upstream{{Addr: "x:1"}}}
	c := in.withDefaults()
	if c.UpstreamProtocol != HTTP1 || c.UpstreamTimeout != defaultUpstreamTimeout || c.Logger == nil {
		t.Errorf("defaults not applied: %+v", c)
	}
	if c.Upstreams[0].Name != "x:1" {
		t.Errorf("upstream name %q, want its address", c.Upstreams[0].Name)
	}
	if in.Upstreams[0].Name != "" {
		t.Error("withDefaults modified its receiver's upstreams")
	}
}
