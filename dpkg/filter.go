package dpkg

import (
	"bufio"
	"strings"
)

// Filters are dpkg's path filters (--path-exclude, --path-include, or
// path-exclude=GLOB lines of dpkg.cfg.d): paths they exclude are not
// unpacked, yet stay in the package's file list and md5sums, as dpkg
// keeps them (and as dpkg --verify then reports them missing).
type Filters struct {
	list []filter
}

type filter struct {
	glob    string
	include bool
}

// Add adds a filter, after the others: the last match wins.
func (f *Filters) Add(glob string, include bool) { f.list = append(f.list, filter{glob, include}) }

// Empty reports whether there is no filter.
func (f *Filters) Empty() bool { return f == nil || len(f.list) == 0 }

// AddConfig adds the path-exclude and path-include options of a dpkg
// configuration file's text ("option=value" or "option value" lines, #
// comments), in order. It returns how many it added.
func (f *Filters) AddConfig(text string) int {
	n := 0
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		if !ok {
			name, value, _ = strings.Cut(line, " ")
		}
		name, value = strings.TrimSpace(strings.TrimPrefix(name, "--")), strings.TrimSpace(value)
		switch name {
		case "path-exclude":
			f.Add(value, false)
			n++
		case "path-include":
			f.Add(value, true)
			n++
		}
	}
	return n
}

// Skip reports whether dpkg skips the path ("/usr/share/man/man1/x.1.gz")
// of an archive entry; dirLike says it is a directory or a symlink, which
// dpkg keeps when an include pattern may bring back something below it.
func (f *Filters) Skip(path string, dirLike bool) bool {
	if f.Empty() {
		return false
	}
	skip := false
	for _, x := range f.list {
		if Match(x.glob, path) {
			skip = !x.include
		}
	}
	if !skip || !dirLike {
		return skip
	}
	for _, x := range f.list {
		if !x.include {
			continue
		}
		n := strings.IndexAny(x.glob, `*?[\`)
		if n < 0 {
			n = len(x.glob)
		}
		for n > 0 && x.glob[n-1] == '/' {
			n--
		}
		// strncmp(path, glob, n) == 0
		if len(path) >= n && path[:n] == x.glob[:n] {
			return false
		}
	}
	return true
}

// Match is fnmatch(3) without flags, as dpkg calls it for path filters
// and dpkg -S: '*' and '?' match '/' too, [...] classes (! or ^ negates),
// '\' quotes.
func Match(pattern, name string) bool {
	for len(pattern) > 0 {
		switch c := pattern[0]; c {
		case '*':
			for len(pattern) > 0 && pattern[0] == '*' {
				pattern = pattern[1:]
			}
			if pattern == "" {
				return true
			}
			for i := 0; i <= len(name); i++ {
				if Match(pattern, name[i:]) {
					return true
				}
			}
			return false
		case '?':
			if name == "" {
				return false
			}
			pattern, name = pattern[1:], name[1:]
		case '[':
			if name == "" {
				return false
			}
			ok, rest, valid := matchClass(pattern, name[0])
			if !valid {
				// An unclosed '[' is itself.
				if name[0] != '[' {
					return false
				}
				pattern, name = pattern[1:], name[1:]
				continue
			}
			if !ok {
				return false
			}
			pattern, name = rest, name[1:]
		case '\\':
			if len(pattern) > 1 {
				pattern = pattern[1:]
			}
			fallthrough
		default:
			if name == "" || name[0] != pattern[0] {
				return false
			}
			pattern, name = pattern[1:], name[1:]
		}
	}
	return name == ""
}

// matchClass matches c against the class at the start of pattern ("[...]")
// and returns the pattern after it; valid is false for an unclosed class.
func matchClass(pattern string, c byte) (ok bool, rest string, valid bool) {
	i := 1
	negate := false
	if i < len(pattern) && (pattern[i] == '!' || pattern[i] == '^') {
		negate = true
		i++
	}
	matched := false
	first := true
	for i < len(pattern) && (first || pattern[i] != ']') {
		first = false
		lo := pattern[i]
		if lo == '\\' && i+1 < len(pattern) {
			i++
			lo = pattern[i]
		}
		hi := lo
		if i+2 < len(pattern) && pattern[i+1] == '-' && pattern[i+2] != ']' {
			hi = pattern[i+2]
			if hi == '\\' && i+3 < len(pattern) {
				i++
				hi = pattern[i+2]
			}
			i += 2
		}
		if lo <= c && c <= hi {
			matched = true
		}
		i++
	}
	if i >= len(pattern) {
		return false, "", false
	}
	return matched != negate, pattern[i+1:], true
}
