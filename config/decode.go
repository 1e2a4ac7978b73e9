package config

import (
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// decoder decodes a yaml.Node tree into a Config by walking both at once, so
// that each problem is reported at its key path (environments[0].clientId)
// and line, ${VAR}s are expanded per scalar after the YAML is parsed (a value
// can never change the document's structure), and nothing stops at the
// first problem.
type decoder struct {
	getenv   func(string) string
	problems []Problem
	lines    map[string]int
}

var (
	durationType    = reflect.TypeFor[Duration]()
	environmentType = reflect.TypeFor[Environment]()
	authType        = reflect.TypeFor[Auth]()
)

func (d *decoder) problem(key string, line int, msg string) {
	d.problems = append(d.problems, Problem{Key: key, Line: line, Message: msg})
}

// decodeDocument decodes the document in root into c.
func (d *decoder) decodeDocument(root *yaml.Node, c *Config) {
	n := root
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return
		}
		n = n.Content[0]
	}
	if n.Kind == 0 {
		return
	}
	d.decode(n, reflect.ValueOf(c).Elem(), "")
}

// newValue returns a fresh value of t holding its defaults: every entry of
// environments starts from DefaultEnvironment, an auth section from
// DefaultAuth.
func newValue(t reflect.Type) reflect.Value {
	v := reflect.New(t).Elem()
	switch t {
	case environmentType:
		v.Set(reflect.ValueOf(DefaultEnvironment()))
	case authType:
		v.Set(reflect.ValueOf(DefaultAuth()))
	}
	return v
}

// decode decodes n into v, which is addressable, reporting problems at path.
// A null node leaves v as it is (its default).
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(newValue(v.Type().Elem()).Addr())
		}
		d.decode(n, v.Elem(), path)
		return
	}
	isNull := n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
	switch {
	case v.Type() == durationType || v.Kind() != reflect.Struct && v.Kind() != reflect.Slice:
		d.leaf(n, v, path)
	case isNull:
		return
	case v.Kind() == reflect.Struct:
		d.mapping(n, v, path)
	default:
		d.sequence(n, v, path)
	}
}

// mapping decodes a mapping node into the struct v. Merge keys (<<) are
// applied first so that the mapping's own keys win, as YAML specifies.
func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.problem(keyOrTop(path), n.Line, "expected a mapping")
		return
	}
	fields := yamlFields(v.Type())
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].ShortTag() == "!!merge" {
			d.merge(n.Content[i+1], v, path)
		}
	}
	seen := make(map[string]int)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.ShortTag() == "!!merge" {
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.problem(keyOrTop(path), k.Line, "keys must be plain strings")
			continue
		}
		key := joinKey(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			d.problem(key, k.Line, "duplicate key (first at line "+strconv.Itoa(first)+")")
			continue
		}
		seen[k.Value] = k.Line
		index, ok := fields[k.Value]
		if !ok {
			d.problem(key, k.Line, "unknown key"+suggest(k.Value, fields))
			continue
		}
		d.lines[key] = k.Line
		d.decode(val, v.Field(index), key)
	}
}

// merge applies the value of a merge key: a mapping, or a list of them in
// which earlier entries win.
func (d *decoder) merge(n *yaml.Node, v reflect.Value, path string) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.MappingNode:
		d.mapping(n, v, path)
	case yaml.SequenceNode:
		for i := len(n.Content) - 1; i >= 0; i-- {
			d.merge(n.Content[i], v, path)
		}
	default:
		d.problem(keyOrTop(path), n.Line, "a merge key (<<) needs a mapping")
	}
}

// sequence decodes a sequence node into the slice v, replacing its contents.
func (d *decoder) sequence(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.problem(path, n.Line, "expected a list")
		return
	}
	s := reflect.MakeSlice(v.Type(), 0, len(n.Content))
	for i, item := range n.Content {
		key := path + "[" + strconv.Itoa(i) + "]"
		d.lines[key] = item.Line
		elem := newValue(v.Type().Elem())
		d.decode(item, elem, key)
		s = reflect.Append(s, elem)
	}
	v.Set(s)
}

// leaf decodes a scalar into v after expanding its ${VAR}s. Strings
// (including Secret and PathStyle) take the expanded text as it is, so that a
// secret such as "true" or "123" stays a string; other types are resolved
// from the expanded text as if it had been written in the file.
func (d *decoder) leaf(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.problem(path, n.Line, expectation(v.Type()))
		return
	}
	if n.ShortTag() == "!!null" {
		return
	}
	value, problems := expand(n.Value, d.getenv)
	for _, p := range problems {
		d.problem(path, n.Line, p)
	}
	if v.Kind() == reflect.String {
		v.SetString(value)
		return
	}
	if len(problems) > 0 {
		return // the value is known to be wrong, and the key has its problem
	}
	scalar := *n
	scalar.Value = value
	if value != n.Value && n.Style&yaml.TaggedStyle == 0 {
		scalar.Tag = "" // resolve the expanded text afresh
	}
	tag := scalar.ShortTag()
	switch {
	case tag == "!!null":
		return
	case tag == "!!float" && v.CanInt():
		d.problem(path, n.Line, expectation(v.Type()))
		return
	}
	// The decoder's own messages quote the value; ours never do.
	if err := scalar.Decode(v.Addr().Interface()); err != nil {
		d.problem(path, n.Line, expectation(v.Type()))
	}
}

// expectation says what a value of t must look like.
func expectation(t reflect.Type) string {
	switch {
	case t == durationType:
		return errDuration.Error()
	case t.Kind() == reflect.Bool:
		return "expected true or false"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		return "expected a whole number"
	case t.Kind() == reflect.String:
		return "expected a string"
	case t.Kind() == reflect.Slice:
		return "expected a list"
	default:
		return "expected a mapping"
	}
}

// yamlFields maps the YAML keys of struct type t to field indexes.
func yamlFields(t reflect.Type) map[string]int {
	fields := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "-" || name == "" {
			continue
		}
		fields[name] = i
	}
	return fields
}

// suggest proposes the known key closest to an unknown one, when one is
// close enough to be a likely typo.
func suggest(unknown string, fields map[string]int) string {
	best, bestDist := "", 3
	for name := range fields {
		dist := editDistance(strings.ToLower(unknown), strings.ToLower(name))
		if dist < bestDist || dist == bestDist && best != "" && name < best {
			best, bestDist = name, dist
		}
	}
	if best == "" {
		return ""
	}
	return " (did you mean " + best + "?)"
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// joinKey appends a mapping key to a key path.
func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// topKey names the document itself in a problem.
const topKey = "(top level)"

func keyOrTop(path string) string {
	if path == "" {
		return topKey
	}
	return path
}
