package spec

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// The decoder walks a yaml.Node tree against the Go types by reflection instead of using
// yaml.Unmarshal, because it must (a) reject unknown fields with a suggestion, (b) record
// the line and column of every value for later validation errors, (c) accept SMP's
// aliases, integer enums and shorthand forms, and (d) report every problem, not the first.
// JSON input goes through the same path: JSON is YAML, and yaml.v3 gives positions for it.

// fieldInfo is a decodable struct field.
type fieldInfo struct {
	name    string
	aliases []string
	def     string
	index   int
	typ     reflect.Type
	// quotedNumber: a number of an SMP message that the protobuf JSON mapping may write
	// as a string (int64 always is: "rps": "10"; int32 and double may be), tagged
	// `protojson:"number"`.
	quotedNumber bool
}

// fieldsOf lists the decodable fields of a struct type: exported, with a json name.
func fieldsOf(t reflect.Type) []fieldInfo {
	var out []fieldInfo
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		var aliases []string
		if a := f.Tag.Get("alias"); a != "" {
			aliases = strings.Split(a, ",")
		}
		out = append(out, fieldInfo{name: name, aliases: aliases, def: f.Tag.Get("default"), index: i, typ: f.Type,
			quotedNumber: f.Tag.Get("protojson") == "number"})
	}
	return out
}

type decoder struct {
	src  *source
	errs Errors
	// index maps a field name to the paths where it is valid in a native plan, to tell a
	// user that "rate" belongs under "workload". Built on first use.
	index map[string][]string
	// merging holds the mappings whose merge keys are being expanded, to catch a merge
	// that refers to its own mapping; expanded keeps each expansion, so that merges of
	// merges (a chain of anchors each merging the previous one twice) stay linear.
	merging  map[*yaml.Node]bool
	expanded map[*yaml.Node][]pair
	// nulls holds the paths written as null (or left empty), which mean "unset".
	nulls map[string]bool
}

func newDecoder(file string) *decoder {
	return &decoder{src: newSource(file)}
}

func (d *decoder) fail(n *yaml.Node, path, fix, format string, args ...any) {
	e := &Error{File: d.src.file, Path: path, Message: fmt.Sprintf(format, args...), Fix: fix, Severity: "error"}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	d.errs = append(d.errs, e)
}

// failPath reports a problem with an already-decoded value, found by its path.
func (d *decoder) failPath(path, fix, format string, args ...any) {
	pos, _ := d.src.at(path)
	d.errs = append(d.errs, &Error{File: d.src.file, Line: pos.Line, Column: pos.Column, Path: path,
		Message: fmt.Sprintf(format, args...), Fix: fix, Severity: "error"})
}

func (d *decoder) record(path string, n *yaml.Node) {
	if _, ok := d.src.pos[path]; !ok {
		d.src.pos[path] = Position{Line: n.Line, Column: n.Column}
	}
}

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && (n.Kind == yaml.AliasNode || n.Kind == yaml.DocumentNode) {
		if n.Kind == yaml.AliasNode {
			n = n.Alias
		} else if len(n.Content) > 0 {
			n = n.Content[0]
		} else {
			return nil
		}
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// describe says what a node is, for "expected X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return "null"
		case "!!int", "!!float":
			return "the number " + n.Value
		case "!!bool":
			return n.Value
		}
		return strconv.Quote(n.Value)
	}
	return "something else"
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

var (
	durationType = reflect.TypeOf(Duration(0))
	sizeType     = reflect.TypeOf(Size(0))
)

// value decodes n into v, which must be settable.
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string) {
	n = resolve(n)
	if n == nil {
		return
	}
	d.record(path, n)
	if isNull(n) {
		if d.nulls == nil {
			d.nulls = map[string]bool{}
		}
		d.nulls[path] = true
	}
	if v.Kind() == reflect.Pointer {
		if isNull(n) {
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.value(n, v.Elem(), path)
		return
	}
	switch {
	case v.Type() == durationType:
		d.duration(n, v, path)
		return
	case v.Type() == sizeType:
		d.size(n, v, path)
		return
	}
	if e, ok := v.Addr().Interface().(enumType); ok {
		d.enum(n, v, e.enum(), path)
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.structValue(n, v, path)
	case reflect.Map:
		d.mapValue(n, v, path)
	case reflect.Slice:
		d.sliceValue(n, v, path)
	case reflect.String:
		if !d.scalar(n, path, "write a string") {
			return
		}
		if !isNull(n) {
			v.SetString(n.Value)
		}
	case reflect.Bool:
		if !d.scalar(n, path, "write true or false") {
			return
		}
		if n.Tag != "!!bool" {
			d.fail(n, path, "write true or false", "expected true or false, got %s", describe(n))
			return
		}
		v.SetBool(n.Value == "true" || n.Value == "True" || n.Value == "TRUE")
	case reflect.Int, reflect.Int32, reflect.Int64:
		if !d.scalar(n, path, "write a whole number, e.g. 16") {
			return
		}
		i, ok := intOf(n)
		if !ok {
			d.fail(n, path, "write a whole number, e.g. 16", "expected a whole number, got %s", describe(n))
			return
		}
		if v.OverflowInt(i) {
			d.fail(n, path, "write a smaller number", "%d is out of range", i)
			return
		}
		v.SetInt(i)
	case reflect.Float64:
		if !d.scalar(n, path, "write a number, e.g. 1000") {
			return
		}
		f, ok := floatOf(n)
		if !ok {
			d.fail(n, path, "write a number, e.g. 1000", "expected a number, got %s", describe(n))
			return
		}
		v.SetFloat(f)
	default:
		panic(fmt.Sprintf("spec: no decoder for %s at %s", v.Type(), path)) // a bug in this package, not bad input
	}
}

// scalar checks that n is a scalar, reporting otherwise.
func (d *decoder) scalar(n *yaml.Node, path, fix string) bool {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, fix, "expected a single value, got %s", describe(n))
		return false
	}
	return true
}

func intOf(n *yaml.Node) (int64, bool) {
	switch n.Tag {
	case "!!int":
		var i int64
		if err := n.Decode(&i); err != nil {
			return 0, false
		}
		return i, true
	case "!!float":
		f, ok := floatOf(n)
		if ok && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			return int64(f), true
		}
	}
	return 0, false
}

func floatOf(n *yaml.Node) (float64, bool) {
	if n.Tag != "!!int" && n.Tag != "!!float" {
		return 0, false
	}
	var f float64
	if err := n.Decode(&f); err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

func (d *decoder) duration(n *yaml.Node, v reflect.Value, path string) {
	const fix = "write a duration with a unit, e.g. 30s, 1m30s or 500ms"
	if !d.scalar(n, path, fix) {
		return
	}
	if isNull(n) {
		return
	}
	dur, err := ParseDuration(n.Value)
	if err != nil {
		if n.Tag == "!!int" || n.Tag == "!!float" {
			fixed := fmt.Sprintf("write %ss for seconds or %sms for milliseconds", n.Value, n.Value)
			d.fail(n, path, fixed, "the duration %s has no unit", n.Value)
			return
		}
		d.fail(n, path, fix, "%v", err)
		return
	}
	if dur < 0 {
		d.fail(n, path, "write a positive duration", "the duration %s is negative", n.Value)
		return
	}
	v.SetInt(int64(dur))
}

func (d *decoder) size(n *yaml.Node, v reflect.Value, path string) {
	const fix = "write bytes or a size with a unit, e.g. 512, 1KiB or 64KB"
	if !d.scalar(n, path, fix) {
		return
	}
	if isNull(n) {
		return
	}
	s, err := ParseSize(n.Value)
	if err != nil {
		d.fail(n, path, fix, "%v", err)
		return
	}
	v.SetInt(int64(s))
}

func (d *decoder) enum(n *yaml.Node, v reflect.Value, t *enumTable, path string) {
	fix := "use one of: " + strings.Join(t.names(), ", ")
	if !d.scalar(n, path, fix) {
		return
	}
	if isNull(n) {
		return
	}
	if n.Tag == "!!int" {
		i, _ := intOf(n)
		if name, ok := t.byNumber(i); ok {
			v.SetString(name)
			return
		}
		if nums := t.numbers(); len(nums) > 0 {
			d.fail(n, path, fix, "%d is not an SMP %s number smp supports (known: %s)", i, t.what, numberList(nums))
		} else {
			d.fail(n, path, fix, "expected a %s name, got the number %d", t.what, i)
		}
		return
	}
	if name, ok := t.lookup(n.Value); ok {
		v.SetString(name)
		return
	}
	if s := suggest(n.Value, t.allNames()); s != "" {
		if c, ok := t.lookup(s); ok {
			s = c
		}
		d.fail(n, path, fmt.Sprintf("did you mean %q?", s), "unknown %s %q", t.what, n.Value)
		return
	}
	d.fail(n, path, fix, "unknown %s %q", t.what, n.Value)
}

func numberList(m map[int32]string) string {
	var parts []string
	for i := int32(0); i < 64; i++ {
		if name, ok := m[i]; ok {
			parts = append(parts, fmt.Sprintf("%d=%s", i, name))
		}
	}
	return strings.Join(parts, ", ")
}

type pair struct{ key, value *yaml.Node }

// pairs lists a mapping's entries with YAML merge keys ("<<: *defaults") expanded; keys
// given directly win over merged ones, as the YAML merge spec says.
func (d *decoder) pairs(n *yaml.Node, path string) []pair {
	if ps, ok := d.expanded[n]; ok {
		return ps
	}
	if d.merging == nil {
		d.merging, d.expanded = map[*yaml.Node]bool{}, map[*yaml.Node][]pair{}
	}
	d.merging[n] = true
	defer delete(d.merging, n)
	var direct, merged []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			src := resolve(val)
			var srcs []*yaml.Node
			switch {
			case src != nil && src.Kind == yaml.MappingNode:
				srcs = []*yaml.Node{src}
			case src != nil && src.Kind == yaml.SequenceNode:
				for _, s := range src.Content {
					srcs = append(srcs, resolve(s))
				}
			default:
				srcs = []*yaml.Node{src}
			}
			for _, s := range srcs {
				if s == nil || s.Kind != yaml.MappingNode {
					d.fail(k, path, "merge a mapping, e.g. <<: *defaults", "<< must refer to a mapping")
					continue
				}
				if d.merging[s] {
					d.fail(k, path, "merge another anchor, or remove the <<", "the merge key refers to the mapping that contains it")
					continue
				}
				merged = append(merged, d.pairs(s, path)...)
			}
			continue
		}
		direct = append(direct, pair{k, val})
	}
	seen := map[string]bool{}
	for _, p := range direct {
		seen[p.key.Value] = true
	}
	for _, p := range merged {
		if !seen[p.key.Value] {
			direct = append(direct, p)
			seen[p.key.Value] = true
		}
	}
	d.expanded[n] = direct
	return direct
}

func (d *decoder) structValue(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		if sh, ok := v.Addr().Interface().(shorthand); ok && !isNull(n) {
			name := sh.shorthandField()
			for _, f := range fieldsOf(v.Type()) {
				if f.name == name {
					d.value(n, v.Field(f.index), join(path, name))
					return
				}
			}
		}
		if isNull(n) {
			return
		}
		d.fail(n, path, "write key: value pairs under "+lastElem(path), "expected a mapping, got %s", describe(n))
		return
	}
	fields := fieldsOf(v.Type())
	byName := map[string]fieldInfo{}
	for _, f := range fields {
		byName[f.name] = f
		for _, a := range f.aliases {
			byName[a] = f
		}
	}
	given := map[string]*yaml.Node{} // canonical name → the key that set it
	for _, p := range d.pairs(n, path) {
		key := p.key.Value
		f, ok := byName[key]
		if !ok {
			d.unknownField(p.key, path, key, fields)
			continue
		}
		if prev, dup := given[f.name]; dup {
			if prev.Value == key {
				d.fail(p.key, join(path, key), "remove one of them", "%q is given twice (also at line %d)", key, prev.Line)
			} else {
				d.fail(p.key, join(path, key), "remove one of them", "%q and %q are the same field (%q at line %d)", key, prev.Value, prev.Value, prev.Line)
			}
			continue
		}
		given[f.name] = p.key
		val := p.value
		if f.quotedNumber {
			val = unquoteNumber(val)
		}
		d.value(val, v.Field(f.index), join(path, f.name))
	}
}

// unquoteNumber returns a quoted decimal number (`"10"`, `"2.5"`, `"-1e3"`) as a number
// node at the same position, as protobuf's JSON parsers read it; anything else unchanged,
// so that a string that is no number still gets the usual "expected a number" error.
func unquoteNumber(n *yaml.Node) *yaml.Node {
	r := resolve(n)
	if r == nil || r.Kind != yaml.ScalarNode || r.Tag != "!!str" {
		return n
	}
	c := *r
	if _, err := strconv.ParseInt(r.Value, 10, 64); err == nil {
		c.Tag = "!!int"
		return &c
	}
	if f, err := strconv.ParseFloat(r.Value, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) &&
		strings.TrimLeft(r.Value, "+-.0123456789eE") == "" {
		c.Tag = "!!float"
		return &c
	}
	return n
}

func lastElem(path string) string {
	if path == "" {
		return "the top level"
	}
	if i := strings.LastIndexAny(path, "."); i >= 0 {
		return path[i+1:]
	}
	return path
}

func (d *decoder) unknownField(key *yaml.Node, path, name string, fields []fieldInfo) {
	var candidates []string
	for _, f := range fields {
		candidates = append(candidates, f.name)
		candidates = append(candidates, f.aliases...)
	}
	at := join(path, name)
	where := "at the top level"
	if path != "" {
		where = "in " + path
	}
	s := suggest(name, candidates)
	if d.index != nil && (s == "" || normalizeEnum(snakeCase(s)) != normalizeEnum(snakeCase(name))) {
		if homes := d.index[snakeCase(name)]; len(homes) > 0 {
			d.fail(key, at, fmt.Sprintf("move it to %s", strings.Join(homes, " or ")), "unknown field %q %s", name, where)
			return
		}
	}
	if s != "" {
		d.fail(key, at, fmt.Sprintf("did you mean %q?", s), "unknown field %q %s", name, where)
		return
	}
	d.fail(key, at, "valid fields here: "+strings.Join(fieldNames(fields), ", "), "unknown field %q %s", name, where)
}

func fieldNames(fields []fieldInfo) []string {
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = f.name
	}
	return out
}

func (d *decoder) mapValue(n *yaml.Node, v reflect.Value, path string) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "write key: value pairs, e.g. {x-env: test}", "expected a mapping, got %s", describe(n))
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	first := map[string]int{}
	for _, p := range d.pairs(n, path) {
		k := resolve(p.key)
		if k.Kind != yaml.ScalarNode {
			d.fail(k, path, "use a plain string as the key", "expected a string key, got %s", describe(k))
			continue
		}
		at := path + "." + k.Value
		if line, dup := first[k.Value]; dup {
			d.fail(k, at, "remove one of them", "%q is given twice (also at line %d)", k.Value, line)
			continue
		}
		first[k.Value] = k.Line
		elem := reflect.New(v.Type().Elem()).Elem()
		d.value(p.value, elem, at)
		v.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), elem)
	}
}

func (d *decoder) sliceValue(n *yaml.Node, v reflect.Value, path string) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		// A single scalar where a list of scalars is expected is a list of one:
		// endpoint_urls: http://host/ reads as naturally as the list form.
		if n.Kind == yaml.ScalarNode && isScalarKind(v.Type().Elem()) {
			elem := reflect.New(v.Type().Elem()).Elem()
			d.value(n, elem, path+"[0]")
			v.Set(reflect.Append(reflect.MakeSlice(v.Type(), 0, 1), elem))
			return
		}
		d.fail(n, path, "write a list: one \"- item\" per line, or [a, b]", "expected a list, got %s", describe(n))
		return
	}
	out := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		d.value(item, out.Index(i), fmt.Sprintf("%s[%d]", path, i))
	}
	v.Set(out)
}

func isScalarKind(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.String, reflect.Int, reflect.Int64, reflect.Float64, reflect.Bool:
		return true
	}
	return false
}

// snakeCase turns loadGenerator into load_generator, so a camelCase key can be matched
// against snake_case fields when suggesting a fix. A word boundary is an upper-case letter
// after a lower-case letter or digit, so upper-case names stay whole (ISTIO → istio,
// endpointURLs → endpoint_urls).
func snakeCase(s string) string {
	var b strings.Builder
	prevLower := false
	for _, r := range s {
		if r >= 'A' && r <= 'Z' {
			if prevLower {
				b.WriteByte('_')
			}
			b.WriteRune(r + ('a' - 'A'))
			prevLower = false
			continue
		}
		if r == '-' {
			r = '_'
		}
		prevLower = r >= 'a' && r <= 'z' || r >= '0' && r <= '9'
		b.WriteRune(r)
	}
	return b.String()
}

// suggest returns the candidate closest to s, if it is close enough to be a likely typo
// (or the same name in another case convention).
func suggest(s string, candidates []string) string {
	best, bestDist := "", math.MaxInt
	ns := normalizeEnum(snakeCase(s))
	for _, c := range candidates {
		nc := normalizeEnum(c)
		if nc == ns {
			return c
		}
		if dist := levenshtein(ns, nc); dist < bestDist {
			best, bestDist = c, dist
		}
	}
	// The allowance grows with the shorter of the two names, so that a long unknown name
	// is not "corrected" to a short one it merely shares a suffix with (gloo-mesh is not
	// no-mesh) and two short names are not matched on half their letters (kong is not none).
	n := min(len([]rune(ns)), len([]rune(normalizeEnum(best))))
	limit := 2
	if n >= 8 {
		limit = 3
	}
	if n <= 4 {
		limit = 1
	}
	if bestDist <= limit {
		return best
	}
	return ""
}

// levenshtein is the optimal-string-alignment distance: insertions, deletions,
// substitutions, and swaps of two neighbouring letters ("rtae" for "rate") cost one each.
func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// fieldIndex maps every field name of a native plan to the paths where it may appear.
func fieldIndex() map[string][]string {
	idx := map[string][]string{}
	var walk func(t reflect.Type, path string, depth int)
	walk = func(t reflect.Type, path string, depth int) {
		if depth > 4 {
			return
		}
		for _, f := range fieldsOf(t) {
			p := join(path, f.name)
			idx[f.name] = append(idx[f.name], p)
			for _, a := range f.aliases {
				idx[a] = append(idx[a], p)
			}
			ft := f.typ
			for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
				if ft.Kind() == reflect.Slice {
					p += "[]"
				}
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct && ft != durationType {
				walk(ft, p, depth+1)
			}
		}
	}
	walk(reflect.TypeOf(Plan{}), "", 0)
	return idx
}
