package dpkg

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// normVersion returns a version as dpkg writes it back to its database:
// the epoch in decimal and only when it is needed ("0:1.0" becomes "1.0"),
// white space around it removed. Malformed versions are errors, as they
// are for dpkg.
func normVersion(v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", errors.New("version string is empty")
	}
	if strings.ContainsAny(v, " \t\n\r") {
		return "", fmt.Errorf("version %q has embedded spaces", v)
	}
	epoch := uint64(0)
	rest := v
	if e, r, ok := strings.Cut(v, ":"); ok {
		if e == "" {
			return "", fmt.Errorf("version %q: epoch is empty", v)
		}
		n, err := strconv.ParseUint(e, 10, 31)
		if err != nil {
			return "", fmt.Errorf("version %q: epoch is not a number", v)
		}
		if r == "" {
			return "", fmt.Errorf("version %q: nothing after colon", v)
		}
		epoch, rest = n, r
	}
	upstream, revision := rest, ""
	if i := strings.LastIndexByte(rest, '-'); i >= 0 {
		upstream, revision = rest[:i], rest[i+1:]
		if revision == "" {
			return "", fmt.Errorf("version %q: revision number is empty", v)
		}
	}
	if upstream == "" {
		return "", fmt.Errorf("version %q: upstream version is empty", v)
	}
	var b strings.Builder
	// dpkg writes versions "non-ambiguous": the epoch appears when it is
	// not zero or when a colon elsewhere would be misread without it.
	if epoch != 0 || strings.Contains(upstream, ":") || strings.Contains(revision, ":") {
		b.WriteString(strconv.FormatUint(epoch, 10))
		b.WriteByte(':')
	}
	b.WriteString(upstream)
	if revision != "" {
		b.WriteByte('-')
		b.WriteString(revision)
	}
	return b.String(), nil
}

// normRelations parses a relationship field (Depends, Provides, …) the way
// dpkg does and returns it as dpkg writes it: one line, "name[:arch]
// (op version)" joined by ", " and " | ", names in lower case, the
// obsolete "<" and ">" written "<=" and ">=". Architecture restrictions,
// build profiles and empty entries are errors in a binary package.
func normRelations(field, value string) (string, error) {
	var out strings.Builder
	for i, group := range strings.Split(value, ",") {
		if strings.TrimSpace(group) == "" {
			return "", fmt.Errorf("%s field: empty relation in %q", field, oneLine(value))
		}
		if i > 0 {
			out.WriteString(", ")
		}
		for j, alt := range strings.Split(group, "|") {
			r, err := normRelation(alt)
			if err != nil {
				return "", fmt.Errorf("%s field: %w", field, err)
			}
			if j > 0 {
				out.WriteString(" | ")
			}
			out.WriteString(r)
		}
	}
	return out.String(), nil
}

func normRelation(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("empty alternative")
	}
	end := strings.IndexAny(s, " \t\n(:[<")
	if end < 0 {
		end = len(s)
	}
	name := strings.ToLower(s[:end])
	if err := checkName(name); err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(name)
	rest := strings.TrimLeft(s[end:], " \t\n")
	if strings.HasPrefix(s[end:], ":") {
		rest = s[end+1:]
		e := strings.IndexAny(rest, " \t\n([<")
		if e < 0 {
			e = len(rest)
		}
		arch := rest[:e]
		if arch == "" {
			return "", fmt.Errorf("empty architecture qualifier after %q", name)
		}
		b.WriteString(":" + arch)
		rest = strings.TrimLeft(rest[e:], " \t\n")
	}
	if strings.HasPrefix(rest, "(") {
		closeAt := strings.IndexByte(rest, ')')
		if closeAt < 0 {
			return "", fmt.Errorf("missing ')' after reference to package %q", name)
		}
		inner := strings.TrimLeft(rest[1:closeAt], " \t\n")
		rest = strings.TrimLeft(rest[closeAt+1:], " \t\n")
		var op string
		for _, o := range []string{"<<", "<=", ">=", ">>", "=", "<", ">"} {
			if strings.HasPrefix(inner, o) {
				op = o
				break
			}
		}
		if op == "" {
			return "", fmt.Errorf("bad version relationship in reference to package %q", name)
		}
		ver := strings.TrimSpace(inner[len(op):])
		switch op {
		case "<": // obsolete forms, read as dpkg reads them
			op = "<="
		case ">":
			op = ">="
		}
		if strings.HasPrefix(ver, "<") || strings.HasPrefix(ver, ">") || strings.HasPrefix(ver, "=") {
			return "", fmt.Errorf("bad version relationship in reference to package %q", name)
		}
		v, err := normVersion(ver)
		if err != nil {
			return "", fmt.Errorf("reference to package %q: %w", name, err)
		}
		b.WriteString(" (" + op + " " + v + ")")
	}
	if rest != "" {
		return "", fmt.Errorf("syntax error after reference to package %q", name)
	}
	return b.String(), nil
}

// checkName applies dpkg's rule for package names: an alphanumeric first
// character, then alphanumerics and "-+._".
func checkName(name string) error {
	if name == "" {
		return errors.New("package name is empty")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || 'A' <= c && c <= 'Z'
		if i == 0 && !alnum || !alnum && !strings.ContainsRune("-+._", rune(c)) {
			return fmt.Errorf("invalid package name %q", name)
		}
	}
	return nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
