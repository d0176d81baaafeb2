package experiment

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/grlscaler/grlscaler/workflows/api"
)

// The decoder walks the yaml.Node tree into the api types itself, rather
// than through yaml.Unmarshal, so that it knows the line and column of
// every field, which fields were given (defaults apply to the others, and
// a given zero is kept), and can report every problem instead of the first.
// Fields are matched by their JSON names, so the YAML and JSON forms of a
// spec have the same field names.

// position is a 1-based line and column.
type position struct{ line, col int }

type decoder struct {
	file string
	errs []*FieldError
	// pos maps a field path to its key's position (a list item's own).
	pos map[string]position
	// given holds the paths that have a non-null value in the document.
	given map[string]bool
	// quiet holds paths whose value could not be decoded: checks of those
	// fields and of fields that depend on them would only repeat the error.
	quiet map[string]bool
	// secret holds paths the secret scan reported.
	secret map[string]bool
}

func newDecoder(file string) *decoder {
	return &decoder{
		file:   file,
		pos:    map[string]position{},
		given:  map[string]bool{},
		quiet:  map[string]bool{},
		secret: map[string]bool{},
	}
}

func (d *decoder) fail(at position, path, format string, args ...any) {
	// The field counts as not given, so its default applies and the
	// fields derived from it are not judged by a value nobody wrote.
	delete(d.given, path)
	d.quiet[path] = true
	d.errs = append(d.errs, &FieldError{File: d.file, Line: at.line, Column: at.col, Path: path, Msg: fmt.Sprintf(format, args...)})
}

var durationType = reflect.TypeFor[api.Duration]()

// value decodes n into v. at is where errors about path are reported.
func (d *decoder) value(n *yaml.Node, path string, at position, v reflect.Value) {
	if n.Kind == yaml.AliasNode {
		d.fail(at, path, "aliases (*name) are not supported; write the value out")
		return
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		// A null value (`key:` or `key: null`) is the same as leaving the
		// field out: the default applies.
		return
	}
	d.given[path] = true
	if v.Type() == durationType {
		d.duration(n, path, at, v)
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.mapping(n, path, at, v)
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.value(n, path, at, v.Elem())
	case reflect.Map:
		d.stringMap(n, path, at, v)
	case reflect.Slice:
		d.sequence(n, path, at, v)
	case reflect.String:
		if d.scalar(n, path, at, "a string", "!!str") {
			v.SetString(n.Value)
		}
	case reflect.Bool:
		var b bool
		if d.scalar(n, path, at, "true or false", "!!bool") && d.decodeScalar(n, path, at, &b, "true or false") {
			v.SetBool(b)
		}
	case reflect.Int:
		var i int64
		if d.scalar(n, path, at, "an integer", "!!int") && d.decodeScalar(n, path, at, &i, "an integer in range") {
			v.SetInt(i)
		}
	case reflect.Uint64:
		var u uint64
		if d.scalar(n, path, at, "a non-negative integer", "!!int") && d.decodeScalar(n, path, at, &u, "a non-negative integer below 2^64") {
			v.SetUint(u)
		}
	case reflect.Float64:
		var f float64
		if !d.scalar(n, path, at, "a number", "!!float", "!!int") || !d.decodeScalar(n, path, at, &f, "a number") {
			return
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			d.fail(at, path, "want a finite number, got %s", n.Value)
			return
		}
		v.SetFloat(f)
	default:
		// Every field of the api types is one of the kinds above; a new
		// kind needs a case here, which the round-trip test catches.
		d.fail(at, path, "cannot decode into %s (a grlscaler defect)", v.Type())
	}
}

// scalar checks that n is a scalar with one of the wanted tags.
func (d *decoder) scalar(n *yaml.Node, path string, at position, want string, tags ...string) bool {
	if n.Kind == yaml.ScalarNode {
		for _, t := range tags {
			if n.ShortTag() == t {
				return true
			}
		}
	}
	d.fail(at, path, "want %s, got %s", want, describe(n))
	return false
}

// decodeScalar converts a scalar with yaml's own rules (0x1f, 1_000, ...).
func (d *decoder) decodeScalar(n *yaml.Node, path string, at position, out any, want string) bool {
	if err := n.Decode(out); err != nil {
		d.fail(at, path, "want %s, got %s", want, describe(n))
		return false
	}
	return true
}

// duration decodes a Go duration string; a bare 0 is accepted too.
func (d *decoder) duration(n *yaml.Node, path string, at position, v reflect.Value) {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!int" {
		if n.Value == "0" {
			v.SetInt(0)
			return
		}
		d.fail(at, path, "%s has no unit; write a duration such as 15s, 500ms or 2m", n.Value)
		return
	}
	if !d.scalar(n, path, at, "a duration such as 15s, 500ms or 2m", "!!str") {
		return
	}
	dur, err := time.ParseDuration(n.Value)
	if err != nil {
		d.fail(at, path, "%s is not a duration; write e.g. 15s, 500ms, 2m or 1h30m", quote(n.Value))
		return
	}
	v.SetInt(int64(dur))
}

// key checks a mapping key and returns its name.
func (d *decoder) key(k *yaml.Node, path string) (string, bool) {
	at := position{k.Line, k.Column}
	switch {
	case k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge":
		d.fail(at, path, "merge keys (<<) are not supported; write the fields out")
		return "", false
	case k.Kind != yaml.ScalarNode || k.ShortTag() != "!!str":
		d.fail(at, path, "mapping keys must be strings, got %s", describe(k))
		return "", false
	}
	return k.Value, true
}

// mapping decodes a mapping into a struct, matching keys to JSON names.
func (d *decoder) mapping(n *yaml.Node, path string, at position, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		if path == "" {
			d.fail(at, path, "the document must be a mapping with apiVersion, kind, metadata and spec, got %s", describe(n))
			return
		}
		d.fail(at, path, "want a mapping with fields %s, got %s", strings.Join(fieldNames(v.Type()), ", "), describe(n))
		return
	}
	fields := fieldIndex(v.Type())
	d.entries(n, path, func(name, p string, kp position, val *yaml.Node) {
		f, ok := fields[name]
		if !ok {
			d.fail(kp, p, "unknown field%s; valid fields%s: %s", didYouMean(name, v.Type()), of(path), strings.Join(fieldNames(v.Type()), ", "))
			return
		}
		d.pos[p] = kp
		d.value(val, p, kp, v.Field(f))
	})
}

// entries calls fn for each key of a mapping node that is a valid,
// non-skipped, first-seen key; duplicates are reported here once for all
// mapping kinds.
func (d *decoder) entries(n *yaml.Node, path string, fn func(name, p string, kp position, val *yaml.Node)) {
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		name, ok := d.key(k, path)
		if !ok || skipKey(name) {
			continue
		}
		p := childPath(path, name)
		kp := position{k.Line, k.Column}
		if line, dup := seen[name]; dup {
			d.fail(kp, p, "duplicate key (first set at line %d)", line)
			continue
		}
		seen[name] = k.Line
		fn(name, p, kp, val)
	}
}

// stringMap decodes a mapping of strings (labels). A null value is "".
func (d *decoder) stringMap(n *yaml.Node, path string, at position, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.fail(at, path, "want a mapping of strings, got %s", describe(n))
		return
	}
	d.entries(n, path, func(name, p string, kp position, val *yaml.Node) {
		d.pos[p] = kp
		if val.Kind == yaml.AliasNode {
			d.fail(kp, p, "aliases (*name) are not supported; write the value out")
			return
		}
		s := ""
		if !(val.Kind == yaml.ScalarNode && val.ShortTag() == "!!null") {
			if !d.scalar(val, p, kp, "a string", "!!str") {
				return
			}
			s = val.Value
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		v.SetMapIndex(reflect.ValueOf(name), reflect.ValueOf(s))
	})
}

// sequence decodes a list. An empty list stays nil (but given).
func (d *decoder) sequence(n *yaml.Node, path string, at position, v reflect.Value) {
	if n.Kind != yaml.SequenceNode {
		d.fail(at, path, "want a list, got %s", describe(n))
		return
	}
	if len(n.Content) == 0 {
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		p := itemPath(path, i)
		ip := position{item.Line, item.Column}
		d.pos[p] = ip
		d.value(item, p, ip, s.Index(i))
	}
	v.Set(s)
}

// fieldIndex maps a struct's JSON field names to field indices.
func fieldIndex(t reflect.Type) map[string]int {
	m := map[string]int{}
	for i := range t.NumField() {
		m[jsonName(t.Field(i))] = i
	}
	return m
}

// fieldNames lists a struct's JSON field names in declaration order.
func fieldNames(t reflect.Type) []string {
	names := make([]string, t.NumField())
	for i := range names {
		names[i] = jsonName(t.Field(i))
	}
	return names
}

func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "" {
		return f.Name
	}
	return name
}

// didYouMean suggests the field that differs from name only in case, or
// in '-' and '_', the usual slips (chunk_steps for chunkSteps).
func didYouMean(name string, t reflect.Type) string {
	norm := func(s string) string { return strings.ToLower(strings.NewReplacer("-", "", "_", "").Replace(s)) }
	for _, f := range fieldNames(t) {
		if norm(f) == norm(name) {
			return fmt.Sprintf(" (did you mean %q?)", f)
		}
	}
	return ""
}

func of(path string) string {
	if path == "" {
		return " at the top level"
	}
	return " of " + path
}

// describe names what a node holds, for type errors.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	}
	switch n.ShortTag() {
	case "!!str":
		return "the string " + quote(n.Value)
	case "!!int":
		return "the integer " + n.Value
	case "!!float":
		return "the number " + n.Value
	case "!!bool":
		return "the boolean " + n.Value
	case "!!null":
		return "null"
	case "!!timestamp":
		return "the timestamp " + n.Value
	case "!!binary":
		return "binary data"
	}
	// Not the tag itself: it is user text that the secret scan does not see.
	return "a value with a custom tag"
}

// quote quotes a user's value, shortened so that errors stay one line.
func quote(s string) string {
	const limit = 60
	if utf8.RuneCountInString(s) > limit {
		s = string([]rune(s)[:limit]) + "..."
	}
	return fmt.Sprintf("%q", s)
}
