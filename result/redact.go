package result

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Redactor hides secrets in the strings of a document (internal/redact implements it).
type Redactor interface {
	// Header returns the value of a request header as it may be written.
	Header(name, value string) string
	// Secret returns the marker that replaces a value that is a secret as a whole.
	Secret(s string) string
	// String returns free text with the secrets it holds replaced.
	String(s string) string
}

// Redacted returns a copy of the document with its secrets replaced by r's markers:
// request headers (the plan's workload.headers and mix[].headers, by header name),
// cookies (every value), and every other string through r.String (URLs with userinfo or
// token parameters in targets, errors and warnings, and the values r knows). Encoded
// histograms are left alone. The receiver is not modified.
func (d *Document) Redacted(r Redactor) (*Document, error) {
	data, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("redact result: %w", d.encodeError(err))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // numbers pass through as written
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return nil, fmt.Errorf("redact result: %w", err)
	}
	tree = redactValue(r, "", tree)
	if data, err = json.Marshal(tree); err != nil {
		return nil, fmt.Errorf("redact result: %w", err)
	}
	var out Document
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("redact result: %w", err)
	}
	return &out, nil
}

// redactValue redacts v, the value of the field named key.
func redactValue(r Redactor, key string, v any) any {
	switch v := v.(type) {
	case string:
		return r.String(v)
	case []any:
		for i := range v {
			v[i] = redactValue(r, key, v[i])
		}
		return v
	case map[string]any:
		for k, e := range v {
			s, isString := e.(string)
			switch {
			case key == "histogram" && k == "data":
				// HDR data is base64; nothing secret, and a chance match must not corrupt it.
			case key == "headers" && isString:
				v[k] = r.Header(k, s)
			case key == "cookies" && isString:
				v[k] = r.Secret(s)
			default:
				v[k] = redactValue(r, k, e)
			}
		}
		return v
	}
	return v
}
