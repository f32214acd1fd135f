package result

import (
	"fmt"
	"math"
	"reflect"
	"strings"
)

// encodeError is err, an encoding of d that failed, with the path of d's first NaN or
// infinite number added when there is one: json says only "unsupported value: NaN".
func (d *Document) encodeError(err error) error {
	if p := nonFinite(reflect.ValueOf(d), ""); p != "" {
		return fmt.Errorf("%w (%s)", err, p)
	}
	return err
}

// nonFinite returns the JSON path of the first NaN or infinite number in v (which JSON
// cannot hold), or "" when there is none.
func nonFinite(v reflect.Value, path string) string {
	switch v.Kind() {
	case reflect.Float32, reflect.Float64:
		if f := v.Float(); math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Sprintf("%s is %v", path, f)
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			return nonFinite(v.Elem(), path)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if !f.IsExported() || name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if p := nonFinite(v.Field(i), strings.TrimPrefix(path+"."+name, ".")); p != "" {
				return p
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if p := nonFinite(v.Index(i), fmt.Sprintf("%s[%d]", path, i)); p != "" {
				return p
			}
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			if p := nonFinite(v.MapIndex(k), fmt.Sprintf("%s[%v]", path, k)); p != "" {
				return p
			}
		}
	}
	return ""
}
