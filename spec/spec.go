// Package spec reads a debstrap spec file (debstrap.yaml): a build's
// command line as a file to keep in version control. Every key is a
// flag's name (variant, include, mode, format, …) or one of the
// arguments (suite, target, sources) or epoch; flags given on the command
// line win over the file.
package spec

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Argument keys: what the command line gives as arguments, and epoch.
const (
	KeySuite   = "suite"
	KeyTarget  = "target"
	KeySources = "sources"
	KeyEpoch   = "epoch"
)

var argumentKeys = []string{KeySuite, KeyTarget, KeySources, KeyEpoch}

// File is a parsed spec file.
type File struct {
	Path    string
	entries []entry
}

type entry struct {
	key  string
	line int
	val  *yaml.Node
}

// maxSize bounds a spec file: it is a few lines.
const maxSize = 1 << 20

// Load reads and parses the spec file path.
func Load(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("spec: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSize+1))
	if err != nil {
		return nil, fmt.Errorf("spec %s: %w", path, err)
	}
	if len(data) > maxSize {
		return nil, fmt.Errorf("spec %s: larger than 1 MiB", path)
	}
	return Parse(path, data)
}

// Parse parses a spec file's content; name is for messages.
func Parse(name string, data []byte) (*File, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return &File{Path: name}, nil
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: more than one YAML document", name)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: want a mapping of keys (suite:, variant:, …), got %s", name, root.Line, kind(root))
	}
	f := &File{Path: name}
	seen := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("%s:%d: a key must be a name, got %s", name, k.Line, kind(k))
		}
		if l, ok := seen[k.Value]; ok {
			return nil, fmt.Errorf("%s:%d: %s given twice (first on line %d)", name, k.Line, k.Value, l)
		}
		seen[k.Value] = k.Line
		f.entries = append(f.entries, entry{key: k.Value, line: k.Line, val: v})
	}
	return f, nil
}

func kind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!bool":
			return "true/false"
		case "!!int", "!!float":
			return "a number"
		case "!!null":
			return "nothing"
		}
		return "a string"
	}
	return "a document"
}

func (f *File) errorf(e entry, format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s: %s", f.Path, e.line, e.key, fmt.Sprintf(format, args...))
}

func (f *File) lookup(key string) (entry, bool) {
	for _, e := range f.entries {
		if e.key == key {
			return e, true
		}
	}
	return entry{}, false
}

// Repeatable is implemented by flag values that take a list (given
// several times on the command line); a list in the file sets each item.
type Repeatable interface{ Repeatable() bool }

// KeyValues is implemented by repeatable flag values of KEY=VALUE items
// (--label, --env): a mapping in the file sets "KEY=VALUE" for each of
// its keys, in the file's order.
type KeyValues interface{ KeyValues() bool }

// JSONList is implemented by flag values that take a list in one value,
// written as a JSON array (--cmd '["bash","-l"]'): a list in the file is
// set as that array.
type JSONList interface{ JSONList() bool }

// Apply sets each key naming a flag of fs to the file's value, unless
// the command line set it (onCommandLine). A key that is an argument
// key, or that known says belongs to another command, is left; any
// other key is an error naming it and its line. It returns the keys set.
func (f *File) Apply(fs *flag.FlagSet, onCommandLine map[string]bool, known func(key string) bool) ([]string, error) {
	var set []string
	for _, e := range f.entries {
		fl := fs.Lookup(e.key)
		if fl == nil {
			if slices.Contains(argumentKeys, e.key) || known(e.key) {
				continue
			}
			return nil, f.errorf(e, "unknown key (keys are the flags' names, and %s)", strings.Join(argumentKeys, ", "))
		}
		if onCommandLine[e.key] {
			continue
		}
		values, err := f.flagValues(e, fl)
		if err != nil {
			return nil, err
		}
		for _, v := range values {
			if err := fs.Set(e.key, v); err != nil {
				return nil, f.errorf(e, "%q: %v", v, err)
			}
		}
		set = append(set, e.key)
	}
	return set, nil
}

// flagValues are the strings to Set for e: one for a scalar, each item
// of a list (or KEY=VALUE of a mapping, for KeyValues) for a repeatable
// flag, a list as one JSON array for a JSONList one, "true"/"false" for
// a boolean one.
func (f *File) flagValues(e entry, fl *flag.Flag) ([]string, error) {
	b, isBool := fl.Value.(interface{ IsBoolFlag() bool })
	r, isList := fl.Value.(Repeatable)
	kv, isKV := fl.Value.(KeyValues)
	j, isJSON := fl.Value.(JSONList)
	switch {
	case isKV && kv.KeyValues() && e.val.Kind == yaml.MappingNode:
		return f.keyValues(e)
	case isJSON && j.JSONList() && e.val.Kind == yaml.SequenceNode:
		items, err := f.strings(e)
		if err != nil {
			return nil, err
		}
		data, err := json.Marshal(append([]string{}, items...))
		if err != nil {
			return nil, f.errorf(e, "%v", err)
		}
		return []string{string(data)}, nil
	case isBool && b.IsBoolFlag():
		if e.val.Kind != yaml.ScalarNode || e.val.Tag != "!!bool" {
			return nil, f.errorf(e, "want true or false, got %s", kind(e.val))
		}
		v, err := strconv.ParseBool(e.val.Value)
		if err != nil {
			return nil, f.errorf(e, "want true or false, got %q", e.val.Value)
		}
		return []string{strconv.FormatBool(v)}, nil
	case isList && r.Repeatable():
		return f.strings(e)
	}
	s, err := f.scalar(e)
	if err != nil {
		return nil, err
	}
	return []string{s}, nil
}

// keyValues is the mapping e as KEY=VALUE items; a value is a string,
// a number or true/false as written, nothing an empty string.
func (f *File) keyValues(e entry) ([]string, error) {
	var out []string
	for i := 0; i+1 < len(e.val.Content); i += 2 {
		k, v := e.val.Content[i], e.val.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Tag == "!!null" || k.Value == "" {
			return nil, fmt.Errorf("%s:%d: %s: a key must be a name, got %s", f.Path, k.Line, e.key, kind(k))
		}
		if v.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("%s:%d: %s: %s: want a string, got %s", f.Path, v.Line, e.key, k.Value, kind(v))
		}
		val := v.Value
		if v.Tag == "!!null" {
			val = ""
		}
		out = append(out, k.Value+"="+val)
	}
	return out, nil
}

// scalar is e's value as a string: a string or a number, not true/false.
func (f *File) scalar(e entry) (string, error) {
	if e.val.Kind != yaml.ScalarNode || e.val.Tag == "!!bool" || e.val.Tag == "!!null" {
		return "", f.errorf(e, "want a string, got %s", kind(e.val))
	}
	return e.val.Value, nil
}

// strings is e's value as a list: a list of strings, or one string.
func (f *File) strings(e entry) ([]string, error) {
	if e.val.Kind == yaml.ScalarNode {
		s, err := f.scalar(e)
		if err != nil {
			return nil, f.errorf(e, "want a string or a list of strings, got %s", kind(e.val))
		}
		return []string{s}, nil
	}
	if e.val.Kind != yaml.SequenceNode {
		return nil, f.errorf(e, "want a string or a list of strings, got %s", kind(e.val))
	}
	var out []string
	for _, it := range e.val.Content {
		if it.Kind != yaml.ScalarNode || it.Tag == "!!bool" || it.Tag == "!!null" {
			return nil, fmt.Errorf("%s:%d: %s: want a list of strings, got %s in it", f.Path, it.Line, e.key, kind(it))
		}
		out = append(out, it.Value)
	}
	return out, nil
}

// String is the string value of an argument key ("" when absent).
func (f *File) String(key string) (string, error) {
	e, ok := f.lookup(key)
	if !ok {
		return "", nil
	}
	return f.scalar(e)
}

// Epoch is the epoch key (seconds since 1970; ok false when absent).
func (f *File) Epoch() (epoch int64, ok bool, err error) {
	e, ok := f.lookup(KeyEpoch)
	if !ok {
		return 0, false, nil
	}
	if e.val.Kind != yaml.ScalarNode || e.val.Tag != "!!int" {
		return 0, false, f.errorf(e, "want seconds since 1970, got %s", kind(e.val))
	}
	n, err := strconv.ParseInt(e.val.Value, 10, 64)
	if err != nil || n < 0 {
		return 0, false, f.errorf(e, "want seconds since 1970, got %q", e.val.Value)
	}
	return n, true, nil
}

// Sources are the sources key's entries as MIRROR arguments. An item is
// a string (a URL, a "deb …" line or a sources file, as on the command
// line) or a mapping:
//
//   - uri: http://MIRROR/debian
//     suites: [bookworm, bookworm-updates]   # default: the suite
//     components: [main, contrib]            # default: --components
//     check-valid-until: false               # any other key: a source option
//     signed-by: /usr/share/keyrings/x.gpg
func (f *File) Sources(suite string) ([]string, error) {
	e, ok := f.lookup(KeySources)
	if !ok {
		return nil, nil
	}
	if e.val.Kind == yaml.ScalarNode {
		return f.strings(e)
	}
	if e.val.Kind != yaml.SequenceNode {
		return nil, f.errorf(e, "want a list of sources, got %s", kind(e.val))
	}
	var out []string
	for _, it := range e.val.Content {
		switch it.Kind {
		case yaml.ScalarNode:
			if it.Tag != "!!str" {
				return nil, fmt.Errorf("%s:%d: sources: want a URL, a \"deb …\" line or a mapping, got %s", f.Path, it.Line, kind(it))
			}
			out = append(out, it.Value)
		case yaml.MappingNode:
			lines, err := f.source(it, suite)
			if err != nil {
				return nil, err
			}
			out = append(out, lines...)
		default:
			return nil, fmt.Errorf("%s:%d: sources: want a URL, a \"deb …\" line or a mapping, got %s", f.Path, it.Line, kind(it))
		}
	}
	return out, nil
}

// source turns one mapping of sources into "deb [options] URI SUITE
// COMPONENT…" lines, one per suite.
func (f *File) source(m *yaml.Node, suite string) ([]string, error) {
	var uri string
	var suites, comps, opts []string
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		e := entry{key: "sources: " + k.Value, line: k.Line, val: v}
		var err error
		switch k.Value {
		case "uri", "url", "uris":
			uri, err = f.scalar(e)
		case "suites", "suite":
			suites, err = f.strings(e)
		case "components":
			comps, err = f.strings(e)
		default:
			var val string
			if v.Kind == yaml.ScalarNode && v.Tag == "!!bool" {
				b, _ := strconv.ParseBool(v.Value)
				val = map[bool]string{true: "yes", false: "no"}[b]
			} else if val, err = f.scalar(e); err == nil {
				val = strings.Join(strings.Fields(val), ",")
			}
			if strings.ContainsAny(k.Value, " =[]") {
				return nil, f.errorf(e, "not a source option name")
			}
			opts = append(opts, strings.ToLower(k.Value)+"="+val)
		}
		if err != nil {
			return nil, err
		}
	}
	if uri == "" {
		return nil, fmt.Errorf("%s:%d: sources: a mapping needs uri:", f.Path, m.Line)
	}
	if len(suites) == 0 {
		if suite == "" {
			return nil, fmt.Errorf("%s:%d: sources: give suites: (there is no suite to default to)", f.Path, m.Line)
		}
		suites = []string{suite}
	}
	prefix := "deb "
	if len(opts) > 0 {
		slices.Sort(opts)
		prefix += "[" + strings.Join(opts, " ") + "] "
	}
	var out []string
	for _, s := range suites {
		out = append(out, strings.TrimSpace(prefix+uri+" "+s+" "+strings.Join(comps, " ")))
	}
	return out, nil
}

// Keys are the file's keys, in order.
func (f *File) Keys() []string {
	keys := make([]string, len(f.entries))
	for i, e := range f.entries {
		keys[i] = e.key
	}
	return keys
}
