package apt

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// checkStanza applies to one stanza of a Packages index the rules the
// rest of the program relies on, so that bad data is refused where it is
// read, naming the field, rather than after a download and unpack (or as
// a path that escapes the mirror). lines holds the line of each checked
// field, 0 when absent.
func checkStanza(p *Package, lines *[nChecked]int) error {
	for _, f := range []int{fPackage, fVersion, fArchitecture, fFilename, fSize, fSHA256} {
		if lines[f] == 0 {
			return fmt.Errorf("no %s field", checkedNames[f])
		}
	}
	bad := func(f int, err error) error {
		return fmt.Errorf("line %d: %s: %w", lines[f], checkedNames[f], err)
	}
	if err := checkPackageName(p.Name); err != nil {
		return bad(fPackage, err)
	}
	if err := checkVersion(p.Version); err != nil {
		return bad(fVersion, err)
	}
	if err := checkArchName(p.Architecture); err != nil {
		return bad(fArchitecture, err)
	}
	if err := checkFilename(p.Filename); err != nil {
		return bad(fFilename, err)
	}
	sum, err := checkSHA256(p.SHA256)
	if err != nil {
		return bad(fSHA256, err)
	}
	p.SHA256 = sum
	return nil
}

// checkPackageName is Debian Policy 5.6.1: at least two characters, lower
// case letters, digits, "+", "-" and ".", starting with a letter or digit.
func checkPackageName(s string) error {
	ok := len(s) >= 2
	for i := 0; ok && i < len(s); i++ {
		c := s[i]
		ok = 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || i > 0 && (c == '+' || c == '-' || c == '.')
	}
	if !ok {
		return fmt.Errorf("%q is not a valid package name (Policy 5.6.1: [a-z0-9][a-z0-9+.-]+)", shorten(s))
	}
	return nil
}

// checkVersion is dpkg's parseversion: [epoch:]upstream[-revision], the
// epoch a number, upstream of alphanumerics and ".+~-:", the revision of
// alphanumerics and ".+~". (dpkg only warns when upstream does not start
// with a digit, and so does not refuse it; neither do we.)
func checkVersion(v string) error {
	bad := func(why string) error { return fmt.Errorf("%q is not a valid version: %s", shorten(v), why) }
	if v == "" {
		return errors.New("empty version")
	}
	rest := v
	if e, r, ok := strings.Cut(v, ":"); ok {
		if n, err := strconv.ParseUint(e, 10, 31); err != nil || !isDigits(e) || n > 1<<31-1 {
			return bad("the epoch is not a number")
		}
		rest = r
	}
	upstream, revision := rest, ""
	if i := strings.LastIndexByte(rest, '-'); i >= 0 {
		upstream, revision = rest[:i], rest[i+1:]
		if revision == "" {
			return bad("the revision is empty")
		}
	}
	if upstream == "" {
		return bad("the upstream version is empty")
	}
	for i := 0; i < len(upstream); i++ {
		if c := upstream[i]; !isAlnum(c) && !strings.ContainsRune(".+~-:", rune(c)) {
			return bad(fmt.Sprintf("character %q in the upstream version", c))
		}
	}
	for i := 0; i < len(revision); i++ {
		if c := revision[i]; !isAlnum(c) && !strings.ContainsRune(".+~", rune(c)) {
			return bad(fmt.Sprintf("character %q in the revision", c))
		}
	}
	return nil
}

// checkArchName: an architecture name as dpkg-architecture prints them
// (lower-case letters, digits and "-", starting with a letter or digit),
// or "all". "any" and wildcards belong in source packages only.
func checkArchName(s string) error {
	ok := s != "" && s != "any" && len(s) <= 64
	for i := 0; ok && i < len(s); i++ {
		c := s[i]
		ok = 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || i > 0 && c == '-'
	}
	if !ok {
		return fmt.Errorf("%q is not a valid architecture name", shorten(s))
	}
	return nil
}

// checkFilename: a path relative to the mirror root that stays under it
// once joined to the mirror URL: no "..", ".", empty or absolute element,
// and nothing that changes what a URL means (query, fragment, white
// space, control characters, backslash).
func checkFilename(s string) error {
	if s == "" {
		return errors.New("empty path")
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f || c == '?' || c == '#' || c == '\\' {
			return fmt.Errorf("%q: character %q is not allowed in a pool path", shorten(s), c)
		}
	}
	for _, el := range strings.Split(s, "/") {
		if el == "" || el == "." || el == ".." {
			return fmt.Errorf("%q is not a relative path inside the mirror", shorten(s))
		}
	}
	return nil
}

// checkSHA256 wants 64 hex digits and returns them in lower case, as the
// cache names blobs.
func checkSHA256(s string) (string, error) {
	if len(s) != 64 {
		return "", fmt.Errorf("%q is not a SHA256: want 64 hex digits, got %d characters", shorten(s), len(s))
	}
	for i := 0; i < len(s); i++ {
		if !isHexDigit(s[i]) {
			return "", fmt.Errorf("%q is not a SHA256: character %q is not a hex digit", shorten(s), s[i])
		}
	}
	return strings.ToLower(s), nil
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
