package config

import (
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// The strict decoder. yaml.v3 coerces: it truncates 0.9 into an int field
// (purchases_per_hour: 0.9 became 0 and switched the rule off), takes "yes"
// as true and reports its type errors by line only. Before anything is
// decoded, checkDocument walks the parsed document beside the Go type of
// Config, field by field, and reports every value whose YAML type is not
// the field's, named by its YAML path and line. It reads the struct tags, so
// a field added to Config later is checked with no code here:
//
//   - an integer field takes a plain integer that fits it, nothing else
//     (0.9, "5", true and 1e3 are errors);
//   - a bool takes true or false;
//   - a string takes any scalar (service_code: 10658008 keeps its digits);
//   - a time.Duration takes "60s" (or 0);
//   - a type with its own UnmarshalYAML or UnmarshalText (Yuan, Percent,
//     Duration...) is checked by calling it, and its error gets the path;
//   - a struct takes a mapping of its own keys (an unknown or repeated key is
//     an error), a map a mapping, a slice a list;
//   - null (an empty value, ~) leaves the field unset, to its default; an
//     empty list item is an error.
//
// yaml.v3 then decodes the document that passed.

// topLevel names the document itself in an error.
const topLevel = "(top level)"

var (
	unmarshalerType     = reflect.TypeFor[yaml.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	timeDurationType    = reflect.TypeFor[time.Duration]()
)

// docChecker walks one document.
type docChecker struct {
	errs  Errors
	lines map[string]int // the line of every path seen, for Validate's errors
	seen  map[checked]bool
}

// checked is a node already checked against a type: an alias repeats a
// node, and checking it once keeps the walk linear however aliases nest.
type checked struct {
	n *yaml.Node
	t reflect.Type
}

// checkDocument checks doc (a parsed YAML document) against the type of
// *out. It returns the problems and the line of every path it saw.
func checkDocument(doc *yaml.Node, t reflect.Type) (Errors, map[string]int) {
	w := &docChecker{lines: map[string]int{}, seen: map[checked]bool{}}
	root := doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return nil, w.lines
		}
		root = root.Content[0]
	}
	if isNull(root) {
		return nil, w.lines
	}
	if resolveAlias(root).Kind != yaml.MappingNode {
		w.bad(topLevel, root, "want a mapping of settings (key: value), got %s", describe(root))
		return w.errs, w.lines
	}
	w.check("", root, t)
	return w.errs, w.lines
}

func (w *docChecker) bad(path string, n *yaml.Node, format string, args ...any) {
	if path == "" {
		path = topLevel
	}
	w.errs = append(w.errs, FieldError{Field: path, Msg: fmt.Sprintf(format, args...), Line: n.Line})
}

// check checks node n, at path, against type t.
func (w *docChecker) check(path string, n *yaml.Node, t reflect.Type) {
	n = resolveAlias(n)
	if n == nil || isNull(n) {
		return
	}
	k := checked{n, t}
	if w.seen[k] {
		return
	}
	w.seen[k] = true
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case reflect.PointerTo(t).Implements(unmarshalerType):
		v := reflect.New(t).Interface().(yaml.Unmarshaler)
		if err := v.UnmarshalYAML(n); err != nil {
			w.bad(path, n, "%s", unmarshalMessage(err))
		}
		return
	case t == timeDurationType:
		w.checkDuration(path, n)
		return
	case reflect.PointerTo(t).Implements(textUnmarshalerType):
		if n.Kind != yaml.ScalarNode {
			w.bad(path, n, "want a single value, got %s", describe(n))
			return
		}
		v := reflect.New(t).Interface().(encoding.TextUnmarshaler)
		if err := v.UnmarshalText([]byte(n.Value)); err != nil {
			w.bad(path, n, "%s", err)
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		w.checkStruct(path, n, t)
	case reflect.Map:
		w.checkMap(path, n, t)
	case reflect.Slice, reflect.Array:
		w.checkList(path, n, t)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			w.bad(path, n, "want a single value, got %s", describe(n))
		}
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
			w.bad(path, n, "want true or false, got %s", describe(n))
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		w.checkInteger(path, n, t)
	case reflect.Float32, reflect.Float64:
		if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float") {
			w.bad(path, n, "want a number, got %s", describe(n))
		}
	}
}

// checkInteger checks that n is a plain integer that fits t.
func (w *docChecker) checkInteger(path string, n *yaml.Node, t reflect.Type) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		w.bad(path, n, "want an integer, got %s", describe(n))
		return
	}
	v := reflect.New(t)
	if err := n.Decode(v.Interface()); err != nil {
		if t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uintptr && strings.HasPrefix(strings.TrimSpace(n.Value), "-") {
			w.bad(path, n, "must not be negative, got %s", n.Value)
			return
		}
		w.bad(path, n, "%s is out of range for this field", n.Value)
	}
}

// checkDuration checks a time.Duration field: "60s", "10m", or 0.
func (w *docChecker) checkDuration(path string, n *yaml.Node) {
	if n.Kind == yaml.ScalarNode {
		s := strings.TrimSpace(n.Value)
		if n.ShortTag() == "!!str" {
			if _, err := time.ParseDuration(s); err == nil {
				return
			}
		} else if i, err := strconv.Atoi(s); err == nil && i == 0 {
			return
		}
	}
	w.bad(path, n, "want a duration like 60s or 10m, got %s", describe(n))
}

// checkList checks a sequence against a slice or array type.
func (w *docChecker) checkList(path string, n *yaml.Node, t reflect.Type) {
	if t.Elem().Kind() == reflect.Uint8 { // []byte: yaml.v3 takes a string (or !!binary)
		if n.Kind != yaml.ScalarNode {
			w.bad(path, n, "want a single value, got %s", describe(n))
		}
		return
	}
	if n.Kind != yaml.SequenceNode {
		w.bad(path, n, "want a list, got %s", describe(n))
		return
	}
	if t.Kind() == reflect.Array && len(n.Content) > t.Len() {
		w.bad(path, n, "want at most %d items, got %d", t.Len(), len(n.Content))
	}
	for i, item := range n.Content {
		p := fmt.Sprintf("%s[%d]", path, i)
		w.line(p, item)
		if r := resolveAlias(item); r == nil || isNull(r) {
			w.bad(p, item, "an empty item: give it a value or remove it")
			continue
		}
		w.check(p, item, t.Elem())
	}
}

// checkMap checks a mapping against a map type.
func (w *docChecker) checkMap(path string, n *yaml.Node, t reflect.Type) {
	if n.Kind != yaml.MappingNode {
		w.bad(path, n, "want a mapping (key: value), got %s", describe(n))
		return
	}
	w.eachPair(path, n, func(key string, kn, vn *yaml.Node) {
		p := joinPath(path, key)
		w.line(p, kn)
		w.check(p+"(key)", kn, t.Key())
		w.check(p, vn, t.Elem())
	})
}

// checkStruct checks a mapping against a struct type: every key must be one
// of its fields.
func (w *docChecker) checkStruct(path string, n *yaml.Node, t reflect.Type) {
	if n.Kind != yaml.MappingNode {
		w.bad(path, n, "want a mapping (key: value), got %s", describe(n))
		return
	}
	fields, inlineMap := yamlFields(t)
	w.eachPair(path, n, func(key string, kn, vn *yaml.Node) {
		p := joinPath(path, key)
		ft, ok := fields[key]
		switch {
		case ok:
			w.line(p, kn)
			w.check(p, vn, ft)
		case inlineMap != nil:
			w.line(p, kn)
			w.check(p, vn, inlineMap.Elem())
		default:
			w.bad(p, kn, "unknown setting%s", suggest(key, fields))
		}
	})
}

// eachPair calls f for every key and value of the mapping n, following
// merge keys (<<: *defaults), and reports keys that are not scalars and
// keys given twice.
func (w *docChecker) eachPair(path string, n *yaml.Node, f func(key string, kn, vn *yaml.Node)) {
	first := map[string]int{}
	done := map[*yaml.Node]bool{} // each merged mapping once, however often it is named
	var walk func(m *yaml.Node)
	walk = func(m *yaml.Node) {
		var merges []*yaml.Node
		own := map[string]int{}
		for i := 0; i+1 < len(m.Content); i += 2 {
			kn, vn := m.Content[i], m.Content[i+1]
			if isMergeKey(kn) {
				merges = append(merges, vn) // after the mapping's own keys, which win
				continue
			}
			if kn = resolveAlias(kn); kn == nil {
				continue
			}
			if kn.Kind != yaml.ScalarNode {
				w.bad(path, kn, "a key must be a single value, got %s", describe(kn))
				continue
			}
			if line, dup := own[kn.Value]; dup {
				w.bad(joinPath(path, kn.Value), kn, "set twice (first on line %d)", line)
				continue
			}
			own[kn.Value] = kn.Line
			if _, set := first[kn.Value]; set {
				continue // merged: the mapping's own key (or an earlier merge) wins
			}
			first[kn.Value] = kn.Line
			f(kn.Value, kn, vn)
		}
		for _, vn := range merges {
			w.merge(path, vn, done, walk)
		}
	}
	walk(n)
}

// merge walks the mapping (or list of mappings) of a merge key.
func (w *docChecker) merge(path string, vn *yaml.Node, done map[*yaml.Node]bool, walk func(*yaml.Node)) {
	vn = resolveAlias(vn)
	if vn == nil || done[vn] {
		return
	}
	done[vn] = true
	switch vn.Kind {
	case yaml.MappingNode:
		walk(vn)
	case yaml.SequenceNode:
		for _, m := range vn.Content {
			if m = resolveAlias(m); m != nil && m.Kind == yaml.MappingNode {
				if !done[m] {
					done[m] = true
					walk(m)
				}
			} else if m != nil {
				w.bad(path, m, "<< merges a mapping, got %s", describe(m))
			}
		}
	default:
		w.bad(path, vn, "<< merges a mapping, got %s", describe(vn))
	}
}

func (w *docChecker) line(path string, n *yaml.Node) {
	if _, ok := w.lines[path]; !ok && n.Line > 0 {
		w.lines[path] = n.Line
	}
}

// yamlFields lists the YAML keys of struct type t with their types, as
// yaml.v3 reads them (tag name, else the lower-cased field name; ",inline"
// structs flattened; "-" skipped), and the type of an inline map if any.
func yamlFields(t reflect.Type) (map[string]reflect.Type, reflect.Type) {
	fields := map[string]reflect.Type{}
	var inlineMap reflect.Type
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if sf.PkgPath != "" && !sf.Anonymous {
			continue // unexported
		}
		tag := sf.Tag.Get("yaml")
		if tag == "" && !strings.Contains(string(sf.Tag), ":") {
			tag = string(sf.Tag)
		}
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(","+opts+",", ",inline,") {
			ft := sf.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			switch ft.Kind() {
			case reflect.Struct:
				inner, im := yamlFields(ft)
				for k, v := range inner {
					fields[k] = v
				}
				if im != nil {
					inlineMap = im
				}
			case reflect.Map:
				inlineMap = ft
			}
			continue
		}
		if sf.PkgPath != "" {
			continue // an unexported embedded type without ",inline"
		}
		if name == "" {
			name = strings.ToLower(sf.Name)
		}
		fields[name] = sf.Type
	}
	return fields, inlineMap
}

// suggest names the known key closest to an unknown one, if any is close.
func suggest(key string, fields map[string]reflect.Type) string {
	best, bestD := "", 3
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if d := editDistance(strings.ToLower(key), k); d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %s?)", best)
}

// editDistance is the Levenshtein distance of two short strings.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
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

// joinPath appends a mapping key to a path: "limits" + "phone".
func joinPath(path, key string) string {
	if !plainKey(key) {
		key = fmt.Sprintf("%q", truncate(key, 40))
		if path == "" {
			return "[" + key + "]"
		}
		return path + "[" + key + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func plainKey(key string) bool {
	if key == "" {
		return false
	}
	for _, r := range key {
		if !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.AliasNode {
		return nil
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func isMergeKey(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Value == "<<" && (n.Tag == "" || n.Tag == "!" || n.ShortTag() == "!!merge")
}

// describe says what a node is, for "want X, got Y".
func describe(n *yaml.Node) string {
	n = resolveAlias(n)
	if n == nil {
		return "nothing"
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		v := truncate(n.Value, 40)
		switch n.ShortTag() {
		case "!!str":
			return fmt.Sprintf("the text %q", v)
		case "!!null":
			return "nothing"
		default:
			return v
		}
	}
	return "nothing"
}

func truncate(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max]) + "…"
}

// unmarshalMessage is the text of a value type's own error, without the
// "line N:" that yaml.v3's errors carry (FieldError adds the line).
func unmarshalMessage(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		return stripLine(te.Errors[0])
	}
	return stripLine(err.Error())
}

func stripLine(s string) string {
	s = strings.TrimPrefix(s, "yaml: ")
	if strings.HasPrefix(s, "line ") {
		if i := strings.Index(s, ": "); i > 0 {
			return s[i+2:]
		}
	}
	return s
}
