// Package schemagen derives the JSON Schemas of plans and result documents, and the field
// reference in docs/plan.md, from the Go types in spec and result. It follows the same
// rules as spec's decoder (json names, alias tags, shorthand forms, enum values with
// their aliases and SMP numbers, units), so that an editor validating a plan against the
// schema agrees with `smp validate` about what may be written.
//
// It runs at development time (tests compare its output with the checked-in files); the
// smp binary only embeds the generated files.
package schemagen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/service-mesh-performance/smp/spec"
)

// Comments maps "pkg.Type" and "pkg.Type.Field" to the doc comments in Go source.
type Comments map[string]string

// ReadComments parses the Go files of the given package directories.
func ReadComments(dirs ...string) (Comments, error) {
	out := Comments{}
	for _, dir := range dirs {
		fset := token.NewFileSet()
		pkgs, err := parser.ParseDir(fset, dir, func(fi fs.FileInfo) bool {
			return !strings.HasSuffix(fi.Name(), "_test.go")
		}, parser.ParseComments)
		if err != nil {
			return nil, fmt.Errorf("read comments in %s: %w", dir, err)
		}
		for name, pkg := range pkgs {
			for _, f := range pkg.Files {
				for _, decl := range f.Decls {
					gd, ok := decl.(*ast.GenDecl)
					if !ok || gd.Tok != token.TYPE {
						continue
					}
					for _, s := range gd.Specs {
						ts := s.(*ast.TypeSpec)
						typeDoc := ts.Doc
						if typeDoc == nil && len(gd.Specs) == 1 {
							typeDoc = gd.Doc
						}
						key := name + "." + ts.Name.Name
						if typeDoc != nil {
							// The first paragraph is for users; later ones are notes for Go readers.
							first, _, _ := strings.Cut(typeDoc.Text(), "\n\n")
							out[key] = clean(first)
						}
						st, ok := ts.Type.(*ast.StructType)
						if !ok {
							continue
						}
						for _, fld := range st.Fields.List {
							text := ""
							if fld.Doc != nil {
								text = fld.Doc.Text()
							} else if fld.Comment != nil {
								text = fld.Comment.Text()
							}
							for _, n := range fld.Names {
								out[key+"."+n.Name] = clean(text)
							}
						}
					}
				}
			}
		}
	}
	return out, nil
}

// clean turns a doc comment into one paragraph of plain text.
func clean(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// Options describe a schema to generate.
type Options struct {
	ID, Title, Description string
	// Roots are the accepted top-level types; more than one gives a oneOf.
	Roots []reflect.Type
	// Open allows properties the types do not list (for documents other programs may
	// extend); plans are closed, like the decoder.
	Open bool
}

type generator struct {
	comments Comments
	defs     map[string]any
	open     bool
}

var (
	durationType = reflect.TypeOf(spec.Duration(0))
	sizeType     = reflect.TypeOf(spec.Size(0))
	timeType     = reflect.TypeOf(time.Time{})
)

// durationPattern matches what spec.ParseDuration accepts (Go duration strings).
const durationPattern = `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`

// sizePattern matches what spec.ParseSize accepts.
const sizePattern = `^[0-9]*\.?[0-9]+\s*(B|kB|KB|K|k|KiB|Ki|MB|M|MiB|Mi|GB|G|GiB|Gi)?$`

// Generate returns the schema as indented JSON with a trailing newline.
func Generate(c Comments, opt Options) ([]byte, error) {
	g := &generator{comments: c, defs: map[string]any{}, open: opt.Open}
	schema := map[string]any{
		"$schema":     "https://json-schema.org/draft/2020-12/schema",
		"$id":         opt.ID,
		"title":       opt.Title,
		"description": opt.Description,
	}
	if len(opt.Roots) == 1 {
		schema["$ref"] = g.ref(opt.Roots[0])
	} else {
		var alts []any
		for _, r := range opt.Roots {
			alts = append(alts, map[string]any{"$ref": g.ref(r)})
		}
		schema["oneOf"] = alts
	}
	schema["$defs"] = g.defs
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(schema); err != nil {
		return nil, fmt.Errorf("encode schema: %w", err)
	}
	return buf.Bytes(), nil
}

func defName(t reflect.Type) string {
	pkg := t.PkgPath()
	if i := strings.LastIndex(pkg, "/"); i >= 0 {
		pkg = pkg[i+1:]
	}
	return pkg + "." + t.Name()
}

// ref returns a $ref to the definition of a named struct type, generating it once.
func (g *generator) ref(t reflect.Type) string {
	name := defName(t)
	if _, ok := g.defs[name]; !ok {
		g.defs[name] = nil // reserve, for recursive types
		g.defs[name] = g.object(t)
	}
	return "#/$defs/" + name
}

func (g *generator) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	for _, f := range fields(t) {
		s := g.schema(f.typ)
		if f.quotedNumber {
			// protobuf JSON writes int64 as a string, and spec's decoder reads it.
			s = map[string]any{"anyOf": []any{s, map[string]any{"type": "string", "pattern": quotedNumberPattern}}}
		}
		desc := g.comments[defName(t)+"."+f.goName]
		if desc != "" {
			s["description"] = desc
		}
		if f.def != "" {
			var v any
			if err := json.Unmarshal([]byte(f.def), &v); err == nil {
				s["default"] = v
			} else {
				s["default"] = f.def
			}
		}
		props[f.name] = s
		for _, a := range f.aliases {
			props[a] = map[string]any{"$comment": "alias", "description": "Same as " + f.name + ".", "allOf": []any{withoutMeta(s)}}
		}
	}
	obj := map[string]any{"type": "object", "properties": props}
	if d := g.comments[defName(t)]; d != "" {
		obj["description"] = d
	}
	if !g.open {
		obj["additionalProperties"] = false
	}
	short := spec.ShorthandField(reflect.New(t).Elem().Interface())
	if short == "" {
		return obj
	}
	for _, f := range fields(t) {
		if f.name == short {
			return map[string]any{
				"description": fmt.Sprintf("A %s, or the shorthand: a value for %s.", t.Name(), short),
				"anyOf":       []any{obj, g.schema(f.typ)},
			}
		}
	}
	return obj
}

func withoutMeta(s map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range s {
		if k != "description" && k != "default" {
			out[k] = v
		}
	}
	return out
}

// schema returns the schema of a field type.
func (g *generator) schema(t reflect.Type) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t {
	case durationType:
		return map[string]any{"type": "string", "pattern": durationPattern}
	case sizeType:
		return map[string]any{"anyOf": []any{
			map[string]any{"type": "integer", "minimum": 0},
			map[string]any{"type": "string", "pattern": sizePattern},
		}}
	case timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	}
	if info, ok := spec.Enum(reflect.New(t).Elem().Interface()); ok {
		return enumSchema(info)
	}
	switch t.Kind() {
	case reflect.Struct:
		return map[string]any{"$ref": g.ref(t)}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "contentEncoding": "base64"}
		}
		arr := map[string]any{"type": "array", "items": g.schema(t.Elem())}
		if isScalar(t.Elem()) && !g.open {
			// The decoder reads a single value as a list of one.
			return map[string]any{"anyOf": []any{arr, g.schema(t.Elem())}}
		}
		return arr
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem())}
	case reflect.String:
		if g.open {
			return map[string]any{"type": "string"}
		}
		// The decoder takes any scalar as a string (version: 1.20 is "1.20").
		return map[string]any{"type": []any{"string", "number", "boolean"}}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int32, reflect.Int64:
		return map[string]any{"type": "integer"}
	case reflect.Float64, reflect.Float32:
		return map[string]any{"type": "number"}
	case reflect.Interface:
		return map[string]any{}
	}
	panic(fmt.Sprintf("schemagen: no schema for %s", t))
}

func isScalar(t reflect.Type) bool {
	if _, ok := spec.Enum(reflect.New(t).Elem().Interface()); ok {
		return true
	}
	switch t.Kind() {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int64, reflect.Float64:
		return true
	}
	return t == durationType
}

// enumSchema lists every accepted spelling: canonical names, aliases, SMP's upper-case
// proto names and SMP numbers. (The decoder also ignores case, which a schema cannot say.)
func enumSchema(info spec.EnumInfo) map[string]any {
	seen := map[string]bool{}
	var names []any
	add := func(s string) {
		if !seen[s] {
			seen[s] = true
			names = append(names, s)
		}
	}
	for _, v := range info.Values {
		add(v)
	}
	for _, v := range info.Values {
		for _, a := range info.Aliases[v] {
			add(a)
		}
	}
	if len(info.Numbers) == 0 {
		return map[string]any{"type": "string", "enum": names}
	}
	var nums []int
	for n := range info.Numbers {
		nums = append(nums, int(n))
	}
	sort.Ints(nums)
	// SMP's proto spelling of every name and alias: PROTOCOL_HTTP, APP_MESH, ISTIO.
	for _, v := range info.Values {
		for _, name := range append([]string{v}, info.Aliases[v]...) {
			add(strings.ToUpper(strings.ReplaceAll(name, "-", "_")))
		}
	}
	numAny := make([]any, len(nums))
	for i, n := range nums {
		numAny[i] = n
	}
	return map[string]any{"anyOf": []any{
		map[string]any{"type": "string", "enum": names},
		map[string]any{"type": "integer", "enum": numAny, "description": "SMP enum number"},
	}}
}

type field struct {
	name, goName, def string
	aliases           []string
	typ               reflect.Type
	quotedNumber      bool // `protojson:"number"`: also read from a quoted decimal
}

// quotedNumberPattern is a decimal number in quotes, as protobuf JSON writes int64.
const quotedNumberPattern = `^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$`

// fields lists the serialised fields of a struct the way encoding/json and spec's
// decoder see them.
func fields(t reflect.Type) []field {
	var out []field
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		var aliases []string
		if a := f.Tag.Get("alias"); a != "" {
			aliases = strings.Split(a, ",")
		}
		out = append(out, field{name: name, goName: f.Name, def: f.Tag.Get("default"), aliases: aliases, typ: f.Type,
			quotedNumber: f.Tag.Get("protojson") == "number"})
	}
	return out
}
