package spec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/service-mesh-performance/smp/internal/input"
)

// DefaultMaxPlanBytes is the largest plan file Load reads unless told otherwise: plans
// are a few KB, and a plan that is megabytes long is a mistake (or an attack on memory,
// since its YAML tree takes many times its size).
const DefaultMaxPlanBytes = 4 << 20

// LoadOptions say how LoadContext reads a plan.
type LoadOptions struct {
	// MaxBytes is the largest plan file accepted. Default: DefaultMaxPlanBytes.
	MaxBytes int64
}

// Load is LoadContext without a context, with the default options.
func Load(path string) (*Plan, error) {
	return LoadContext(context.Background(), path, LoadOptions{})
}

// LoadContext reads a plan file (YAML or JSON; native, SMP or Meshery shape), resolves
// its ${env:…} and ${file:…} references, applies defaults, validates it and checks the
// files it names (CheckFiles); relative paths in it are taken from the plan's folder and
// made absolute. The read is bounded by opt.MaxBytes (*input.TooLargeError above it) and
// ends, like the decoding, as soon as ctx does. On a problem with the plan it returns
// Errors, each with file, line, column, field path and a fix; the plan is nil.
func LoadContext(ctx context.Context, path string, opt LoadOptions) (*Plan, error) {
	if opt.MaxBytes == 0 {
		opt.MaxBytes = DefaultMaxPlanBytes
	}
	data, err := input.ReadFile(ctx, path, opt.MaxBytes)
	if err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	type outcome struct {
		p   *Plan
		err error
	}
	done := make(chan outcome, 1)
	go func() { // decoding a large plan takes a while; Ctrl-C should not wait for it
		p, err := Parse(path, data)
		if err == nil {
			if err = p.CheckFiles(filepath.Dir(path)); err == nil {
				p.resolvePaths(filepath.Dir(path))
			} else {
				p = nil
			}
		}
		done <- outcome{p, err}
	}()
	select {
	case o := <-done:
		return o.p, o.err
	case <-ctx.Done():
		return nil, fmt.Errorf("read plan %s: interrupted: %w", path, context.Cause(ctx))
	}
}

// Parse is Load for a plan already in memory; file is used in messages (and, without a
// name in the plan, as its name), and its folder is where ${file:…} references are read
// from. It does not check the other files the plan names (CheckFiles does).
func Parse(file string, data []byte) (*Plan, error) {
	p, decodeErrs := decode(file, data)
	if p == nil {
		return nil, decodeErrs.err()
	}
	decodeErrs = append(decodeErrs, p.resolveReferences(filepath.Dir(file))...)
	if p.Name == "" {
		p.Name = nameFromFile(file)
	}
	full := p.WithDefaults()
	// Validate even when some fields did not decode, so that one pass reports everything;
	// but leave out what concerns a field that already has a decode error, whose value
	// the validator could only guess at.
	errs := decodeErrs
	if err := full.Validate(); err != nil {
		for _, e := range err.(Errors) {
			if !relatedToAny(e.Path, decodeErrs) {
				errs = append(errs, e)
			}
		}
	}
	if len(errs) > 0 {
		return nil, errs.err()
	}
	return full, nil
}

// relatedToAny reports whether path is, contains or lies inside the path of one of errs.
//
// It also holds for a path in the same list element as an error (arms[1].name and
// arms[1].mesh): the rest of an element whose field did not decode got defaults that are
// guesses (an arm whose mesh is misspelt is named "baseline" and then clashes with the
// real baseline).
func relatedToAny(path string, errs Errors) bool {
	within := func(path, p string) bool {
		return path == p || strings.HasPrefix(path, p+".") || strings.HasPrefix(path, p+"[")
	}
	for _, e := range errs {
		if e.Path == "" || within(path, e.Path) || within(e.Path, path) {
			return true
		}
		if i := strings.LastIndexByte(e.Path, ']'); i >= 0 && within(path, e.Path[:i+1]) {
			return true
		}
	}
	return false
}

// Decode reads a plan without applying defaults or validating it: what the file says,
// converted to the native shape, with positions.
func Decode(file string, data []byte) (*Plan, error) {
	p, errs := decode(file, data)
	if len(errs) > 0 {
		return nil, errs.err()
	}
	return p, nil
}

// decode returns the plan decoded as far as possible (nil when the file is not a plan at
// all) together with every problem found on the way.
func decode(file string, data []byte) (*Plan, Errors) {
	d := newDecoder(file)
	root, err := parseYAML(file, data)
	if err != nil {
		return nil, err
	}
	if root == nil || isNull(root) {
		return nil, Errors{{File: file, Line: 1, Column: 1, Message: "the plan is empty",
			Fix: "start from the output of `smp init`", Severity: "error"}}
	}
	if root.Kind != yaml.MappingNode {
		return nil, Errors{{File: file, Line: root.Line, Column: root.Column,
			Message: fmt.Sprintf("a plan is a mapping of fields, got %s", describe(root)),
			Fix:     "start from the output of `smp init`", Severity: "error"}}
	}
	var p *Plan
	switch detectShape(root) {
	case "meshery":
		var f MesheryFile
		d.value(root, reflect.ValueOf(&f).Elem(), "")
		p = f.Test.toPlan(d, "test", f.Mesh, "mesh")
	case "smp":
		var c SMPTestConfig
		d.value(root, reflect.ValueOf(&c).Elem(), "")
		p = c.toPlan(d, "", nil, "")
	default:
		d.index = fieldIndex()
		p = &Plan{}
		d.value(root, reflect.ValueOf(p).Elem(), "")
		if p.APIVersion != "" && p.APIVersion != APIVersion {
			d.failPath("api_version", fmt.Sprintf("write api_version: %s (or leave it out)", APIVersion),
				"this smp reads %s, not %q", APIVersion, p.APIVersion)
		}
		d.zeros(p)
	}
	p.src = d.src
	return p, d.errs
}

// detectShape tells native plans from SMP and Meshery files by their top-level keys.
func detectShape(root *yaml.Node) string {
	keys := map[string]bool{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		keys[root.Content[i].Value] = true
	}
	switch {
	case keys["test"] && !keys["workload"]:
		return "meshery"
	case keys["clients"] && !keys["workload"]:
		return "smp"
	}
	return "native"
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseYAML parses exactly one YAML (or JSON) document and turns syntax errors into Errors
// with a line number.
func parseYAML(file string, data []byte) (*yaml.Node, Errors) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, syntaxError(file, data, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, Errors{{File: file, Line: extra.Line, Column: extra.Column,
			Message: "the file holds more than one YAML document",
			Fix:     "keep one plan per file (remove the --- separator)", Severity: "error"}}
	} else if !errors.Is(err, io.EOF) {
		return nil, syntaxError(file, data, err)
	}
	return resolve(&doc), nil
}

// yamlParserProblems are the messages of yaml.v3's parser, as opposed to its scanner.
// yaml.v3 v3.0.1 reports the line of a parser error 0-based (and leaves it out on the
// first line), but the line of a scanner error 1-based; see (*parser).fail in its decode.go.
var yamlParserProblems = []string{
	"did not find expected <", "did not find expected node content", "did not find expected '-' indicator",
	"did not find expected key", "did not find expected ',' or", "found undefined tag handle",
	"found duplicate %", "found incompatible YAML document",
}

var yamlUnknownAnchor = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)

func syntaxError(file string, data []byte, err error) Errors {
	msg := err.Error()
	line, col := 0, 1
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	for _, p := range yamlParserProblems {
		if strings.HasPrefix(msg, p) {
			line++
			break
		}
	}
	fix := "check indentation (spaces, not tabs) and that every key ends with ':'"
	switch {
	case strings.HasPrefix(msg, "did not find expected ',' or ']'"):
		fix = "close the list with ']' and separate its items with ','"
	case strings.HasPrefix(msg, "did not find expected ',' or '}'"):
		fix = "close the mapping with '}' and separate its entries with ','"
	case strings.HasPrefix(msg, "did not find expected node content"):
		fix = "a value is missing: remove a trailing ',' or '-', or write the value"
	case strings.HasPrefix(msg, "found unexpected end of stream"):
		fix = "close the quoted string"
	}
	if m := yamlUnknownAnchor.FindStringSubmatch(msg); m != nil {
		// yaml.v3 gives no position; the first use of the alias is where to look.
		fix = fmt.Sprintf("define the anchor with &%s before using *%s", m[1], m[1])
		if i := bytes.Index(data, []byte("*"+m[1])); i >= 0 {
			line = bytes.Count(data[:i], []byte("\n")) + 1
			col = i - bytes.LastIndexByte(data[:i], '\n')
		}
	}
	// A tab in the indentation is the usual cause; yaml.v3 names it only sometimes, and
	// then may report the line before it.
	lines := strings.Split(string(data), "\n")
	candidates := []int{line}
	if strings.Contains(msg, "tab") {
		fix = "indent with spaces; YAML does not allow tabs for indentation"
		candidates = append(candidates, line+1)
	}
	for _, l := range candidates {
		if l < 1 || l > len(lines) {
			continue
		}
		text := lines[l-1]
		if indent := text[:len(text)-len(strings.TrimLeft(text, " \t"))]; strings.Contains(indent, "\t") {
			fix = "indent with spaces; YAML does not allow tabs for indentation"
			line, col = l, strings.IndexByte(indent, '\t')+1
			break
		}
	}
	if line < 1 {
		line = 1
	}
	return Errors{{File: file, Line: line, Column: col, Message: "invalid YAML: " + msg, Fix: fix, Severity: "error"}}
}

func nameFromFile(file string) string {
	base := filepath.Base(file)
	base = strings.TrimSuffix(base, filepath.Ext(base))
	if base == "" || base == "." || base == "-" || base == string(filepath.Separator) {
		return "plan"
	}
	return base
}

// planKeys are top-level keys that only plans have, in any of the three shapes.
var planKeys = []string{"workload", "arms", "baseline", "repetitions", "slo", "test", "clients", "environment", "metrics"}

// IsPlan reports whether data looks like a test plan (YAML or JSON, any of the three
// shapes), so that a reader of something else can tell a user they gave it a plan.
func IsPlan(data []byte) bool {
	var root yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&root); err != nil {
		return false
	}
	n := resolve(&root)
	if n == nil || n.Kind != yaml.MappingNode {
		return false
	}
	keys := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		keys[n.Content[i].Value] = true
	}
	if keys["kind"] || keys["trials"] {
		return false
	}
	for _, k := range planKeys {
		if keys[k] {
			return true
		}
	}
	return false
}
