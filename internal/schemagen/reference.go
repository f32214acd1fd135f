package schemagen

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/service-mesh-performance/smp/spec"
)

// Reference renders a Markdown field reference of a type and every struct it contains:
// one table per struct, in the order a reader meets them, with each field's type, default
// and description. docs/plan.md embeds it between markers and a test keeps it current.
func Reference(c Comments, root reflect.Type, rootPath string) string {
	var b strings.Builder
	seen := map[reflect.Type]bool{}
	type item struct {
		t    reflect.Type
		path string
	}
	queue := []item{{root, rootPath}}
	for len(queue) > 0 {
		it := queue[0]
		queue = queue[1:]
		if seen[it.t] {
			continue
		}
		seen[it.t] = true
		if it.path == "" {
			b.WriteString("### Top level\n\n")
		} else {
			fmt.Fprintf(&b, "### `%s`\n\n", it.path)
		}
		if d := c[defName(it.t)]; d != "" {
			fmt.Fprintf(&b, "%s\n\n", d)
		}
		if f := spec.ShorthandField(reflect.New(it.t).Elem().Interface()); f != "" {
			fmt.Fprintf(&b, "Shorthand: a value for `%s` alone stands for the whole section.\n\n", f)
		}
		b.WriteString("| field | type | default | description |\n|---|---|---|---|\n")
		for _, f := range fields(it.t) {
			name := "`" + f.name + "`"
			if len(f.aliases) > 0 {
				name += " (also `" + strings.Join(f.aliases, "`, `") + "`)"
			}
			def := ""
			if f.def != "" {
				def = "`" + f.def + "`"
			}
			desc := strings.ReplaceAll(c[defName(it.t)+"."+f.goName], "|", `\|`)
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", name, typeName(f.typ), def, desc)
			if st := structOf(f.typ); st != nil && !seen[st] {
				p := it.path + "." + f.name
				if it.path == "" {
					p = f.name
				}
				if f.typ.Kind() == reflect.Slice {
					p += "[]"
				}
				queue = append(queue, item{st, p})
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

func structOf(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() == reflect.Struct && t != timeType {
		return t
	}
	return nil
}

func typeName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t {
	case durationType:
		return "duration"
	case sizeType:
		return "size"
	}
	if info, ok := spec.Enum(reflect.New(t).Elem().Interface()); ok {
		return strings.Join(info.Values, " \\| ")
	}
	switch t.Kind() {
	case reflect.Struct:
		return "section"
	case reflect.Slice:
		return "list of " + typeName(t.Elem())
	case reflect.Map:
		return "map of " + typeName(t.Elem())
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "bool"
	case reflect.Int, reflect.Int32, reflect.Int64:
		return "integer"
	case reflect.Float64:
		return "number"
	}
	return t.String()
}
