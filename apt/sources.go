package apt

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/debstrap/debstrap/distro"
)

// Entry is one apt source: what a "deb URI SUITE COMPONENT…" line says.
type Entry struct {
	URI        string
	Suite      string
	Components []string
	// Options are the [key=value …] of a one-line entry or the extra
	// fields of a deb822 stanza, with lower-case keys (arch, signed-by).
	Options map[string]string
	// Optional marks a source debstrap added by itself (a stable suite's
	// -updates or security suite): when the archive has no such suite it
	// is left out with a warning instead of failing the build.
	Optional bool
}

// String renders e as a one-line sources.list entry.
func (e Entry) String() string {
	var opts []string
	for k, v := range e.Options {
		opts = append(opts, k+"="+v)
	}
	sort.Strings(opts)
	s := "deb "
	if len(opts) > 0 {
		s += "[" + strings.Join(opts, " ") + "] "
	}
	return s + e.URI + " " + e.Suite + " " + strings.Join(e.Components, " ")
}

// ParseMirror turns one MIRROR argument into entries, as mmdebstrap does:
// a URI gives "deb URI SUITE COMPONENTS"; a string starting with "deb " is
// a one-line entry; the path of an existing file is read as sources.list, or
// as deb822 when it ends in ".sources".
func ParseMirror(arg, suite string, components []string) ([]Entry, error) {
	arg = strings.TrimSpace(arg)
	switch {
	case strings.HasPrefix(arg, "deb ") || strings.HasPrefix(arg, "deb\t"):
		e, err := ParseOneLine(arg)
		if err != nil {
			return nil, err
		}
		return []Entry{e}, nil
	case strings.Contains(arg, "://"):
		if err := checkURI(arg); err != nil {
			return nil, err
		}
		return []Entry{{URI: strings.TrimRight(arg, "/"), Suite: suite, Components: components}}, nil
	}
	f, err := os.Open(arg)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("mirror %q: not a URL, a \"deb URL SUITE COMPONENT…\" line, or an existing sources file", arg)
		}
		return nil, fmt.Errorf("mirror %q: %w", arg, err)
	}
	defer f.Close()
	var entries []Entry
	if strings.HasSuffix(arg, ".sources") {
		entries, err = ParseDeb822(f)
	} else {
		entries, err = ParseSourcesList(f)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", arg, err)
	}
	return entries, nil
}

// IsBareURL reports whether a MIRROR argument is a plain URL, whose suite
// and components come from the command line, rather than a full entry.
func IsBareURL(arg string) bool {
	arg = strings.TrimSpace(arg)
	return strings.Contains(arg, "://") && !strings.HasPrefix(arg, "deb ") && !strings.HasPrefix(arg, "deb\t")
}

// Pockets are the sources that carry a stable suite's fixes, to go after
// its main entry, as mmdebstrap adds them: SUITE-updates from updatesURI
// and the security suite from securityURI ("" for either: derived from
// main's URI, see SecurityURI). None for rolling or unknown suites.
func Pockets(main Entry, updatesURI, securityURI string) []Entry {
	updates, security, ok := distro.Pockets(main.Suite)
	if !ok {
		return nil
	}
	r, _ := distro.Lookup(main.Suite)
	if updatesURI == "" {
		updatesURI = main.URI
	}
	if securityURI == "" {
		securityURI = SecurityURI(main.URI, r.Distribution)
	}
	comps := append([]string(nil), main.Components...)
	return []Entry{
		{URI: strings.TrimRight(updatesURI, "/"), Suite: updates, Components: comps, Optional: true},
		{URI: strings.TrimRight(securityURI, "/"), Suite: security, Components: append([]string(nil), comps...), Optional: true},
	}
}

// SecurityURI guesses the security archive that goes with a mirror when no
// source names it. Ubuntu mirrors carry the -security pocket themselves.
// Debian's lives in a separate tree, "debian-security", which Debian's own
// mirrors keep beside "debian": so the sibling of the mirror's last path
// element (a mirror at a host's root gets "/debian-security").
func SecurityURI(mirror string, d distro.Distribution) string {
	mirror = strings.TrimRight(mirror, "/")
	if d == distro.Ubuntu {
		return mirror
	}
	u, err := url.Parse(mirror)
	if err != nil {
		return mirror + "-security"
	}
	p := strings.TrimRight(u.Path, "/")
	if i := strings.LastIndex(p, "/"); i >= 0 && p[i+1:] != "" {
		u.Path = p[:i+1] + "debian-security"
	} else {
		u.Path = "/debian-security"
	}
	return u.String()
}

// CheckURI accepts the URL of a mirror: http, https or file.
func CheckURI(s string) error { return checkURI(s) }

func checkURI(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("mirror %q: %w", s, err)
	}
	switch u.Scheme {
	case "http", "https", "file":
		return nil
	}
	return fmt.Errorf("mirror %q: unsupported scheme %q (want http, https or file)", s, u.Scheme)
}

// ParseOneLine parses "deb [opt=val …] URI SUITE COMPONENT…".
func ParseOneLine(line string) (Entry, error) {
	fields := strings.Fields(line)
	if len(fields) == 0 || fields[0] != "deb" {
		return Entry{}, fmt.Errorf("sources line %q: must start with \"deb\"", line)
	}
	fields = fields[1:]
	e := Entry{}
	if len(fields) > 0 && strings.HasPrefix(fields[0], "[") {
		// Options run until the field that ends with "]".
		var opts []string
		for len(fields) > 0 {
			f := fields[0]
			fields = fields[1:]
			opts = append(opts, f)
			if strings.HasSuffix(f, "]") {
				break
			}
		}
		inner := strings.TrimSuffix(strings.TrimPrefix(strings.Join(opts, " "), "["), "]")
		e.Options = map[string]string{}
		for _, kv := range strings.Fields(inner) {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return Entry{}, fmt.Errorf("sources line %q: option %q is not key=value", line, kv)
			}
			e.Options[strings.ToLower(k)] = v
		}
	}
	if len(fields) < 2 {
		return Entry{}, fmt.Errorf("sources line %q: want \"deb URI SUITE [COMPONENT…]\"", line)
	}
	if err := checkURI(fields[0]); err != nil {
		return Entry{}, err
	}
	e.URI, e.Suite, e.Components = strings.TrimRight(fields[0], "/"), fields[1], fields[2:]
	return e, nil
}

// ParseSourcesList reads the one-line format; deb-src lines and comments
// are skipped.
func ParseSourcesList(r io.Reader) ([]Entry, error) {
	var entries []Entry
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "deb-src") {
			continue
		}
		e, err := ParseOneLine(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		entries = append(entries, e)
	}
	return entries, sc.Err()
}

// ParseDeb822 reads the deb822 ".sources" format: stanzas with Types, URIs,
// Suites and Components; "Enabled: no" and non-deb types are skipped.
func ParseDeb822(r io.Reader) ([]Entry, error) {
	var entries []Entry
	stanza := map[string]string{}
	var last string
	flush := func() {
		defer func() { stanza = map[string]string{} }()
		if len(stanza) == 0 || strings.EqualFold(stanza["enabled"], "no") {
			return
		}
		if !contains(strings.Fields(stanza["types"]), "deb") {
			return
		}
		opts := map[string]string{}
		for k, v := range stanza {
			switch k {
			case "types", "uris", "suites", "components", "enabled":
			default:
				opts[k] = v
			}
		}
		for _, uri := range strings.Fields(stanza["uris"]) {
			for _, suite := range strings.Fields(stanza["suites"]) {
				entries = append(entries, Entry{
					URI: strings.TrimRight(uri, "/"), Suite: suite,
					Components: strings.Fields(stanza["components"]), Options: opts,
				})
			}
		}
	}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "#"):
		case strings.TrimSpace(line) == "":
			flush()
		case line[0] == ' ' || line[0] == '\t':
			if last != "" {
				stanza[last] += "\n" + strings.TrimSpace(line)
			}
		default:
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				return nil, fmt.Errorf("deb822 sources: malformed line %q", line)
			}
			last = strings.ToLower(strings.TrimSpace(k))
			stanza[last] = strings.TrimSpace(v)
		}
	}
	flush()
	return entries, sc.Err()
}

// HostEntries reads the apt sources of the system rooted at root ("/"):
// etc/apt/sources.list and etc/apt/sources.list.d/*.list and *.sources.
func HostEntries(root string) ([]Entry, error) {
	files := []string{filepath.Join(root, "etc/apt/sources.list")}
	for _, pat := range []string{"*.list", "*.sources"} {
		m, _ := filepath.Glob(filepath.Join(root, "etc/apt/sources.list.d", pat))
		sort.Strings(m)
		files = append(files, m...)
	}
	var all []Entry
	for _, name := range files {
		f, err := os.Open(name)
		if errors.Is(err, os.ErrNotExist) {
			continue
		} else if err != nil {
			return nil, err
		}
		var entries []Entry
		if strings.HasSuffix(name, ".sources") {
			entries, err = ParseDeb822(f)
		} else {
			entries, err = ParseSourcesList(f)
		}
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		all = append(all, entries...)
	}
	return all, nil
}

// ErrNoMirror says that no mirror is configured for a suite.
var ErrNoMirror = errors.New("no mirror known")

// DefaultMirror picks the sources for suite when the command line names
// none: $DEBSTRAP_MIRROR (passed in as env), else the host's own apt source
// for the same distribution (its main archive). With pockets, a stable
// suite also gets its -updates and security suites (see Pockets), from the
// host's sources when they name them (the security archive lives at a
// URL of its own), else derived from the main mirror. hostRoot is "/"
// except in tests.
func DefaultMirror(suite string, components []string, env, hostRoot string, pockets bool) ([]Entry, error) {
	if env != "" {
		entries, err := ParseMirror(env, suite, components)
		if err != nil {
			return nil, fmt.Errorf("DEBSTRAP_MIRROR: %w", err)
		}
		if pockets && IsBareURL(env) {
			entries = append(entries, Pockets(entries[0], "", "")...)
		}
		return entries, nil
	}
	want, known := distro.Lookup(suite)
	entries, err := HostEntries(hostRoot)
	if err != nil {
		return nil, err
	}
	if known {
		var main *Entry
		var updatesURI, securityURI string
		for _, e := range entries {
			r, ok := distro.Lookup(e.Suite)
			if !ok || r.Distribution != want.Distribution {
				continue
			}
			switch {
			case distro.Base(e.Suite) == e.Suite && !strings.Contains(e.Suite, "/"):
				if main == nil {
					main = &Entry{URI: e.URI, Suite: suite, Components: components}
				}
			case distro.IsSecurity(e.Suite):
				if securityURI == "" {
					securityURI = e.URI
				}
			case strings.HasSuffix(e.Suite, "-updates"):
				if updatesURI == "" {
					updatesURI = e.URI
				}
			}
		}
		if main != nil {
			out := []Entry{*main}
			if pockets {
				out = append(out, Pockets(*main, updatesURI, securityURI)...)
			}
			return out, nil
		}
	}
	what := "suite " + suite
	if known {
		what = fmt.Sprintf("%s suite %s", want.Distribution, suite)
	}
	return nil, fmt.Errorf("%w for %s: the host's apt sources have no %s archive; pass one as MIRROR "+
		"(e.g. `debstrap build %s out.tar http://MIRROR/PATH`) or set DEBSTRAP_MIRROR", ErrNoMirror, what, nameOr(want.Distribution, "matching"), suite)
}

func nameOr(d distro.Distribution, def string) string {
	if d == "" {
		return def
	}
	return string(d)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// CheckValidUntil is the source's check-valid-until option, as apt reads
// it ([check-valid-until=no] on a one-line entry, Check-Valid-Until: no in
// deb822): false for a snapshot archive, whose Release expired long ago.
// Absent means true.
func (e Entry) CheckValidUntil() (bool, error) {
	v, ok := e.Options["check-valid-until"]
	if !ok {
		return true, nil
	}
	switch strings.ToLower(v) {
	case "yes", "true", "with", "on", "enable", "1":
		return true, nil
	case "no", "false", "without", "off", "disable", "0":
		return false, nil
	}
	return false, fmt.Errorf("source %s: check-valid-until=%q: want yes or no", e, v)
}

// snapshotLayouts are the timestamps --snapshot takes: the snapshot
// services' own form first.
var snapshotLayouts = []string{"20060102T150405Z", time.RFC3339, "2006-01-02T15:04:05", "2006-01-02", "20060102"}

// SnapshotID turns a timestamp into the form snapshot services put in
// their URLs (20240131T091500Z, UTC).
func SnapshotID(s string) (string, error) {
	for _, l := range snapshotLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC().Format(snapshotLayouts[0]), nil
		}
	}
	return "", fmt.Errorf("snapshot time %q: want YYYYMMDDTHHMMSSZ (as snapshot services write it), an RFC 3339 time or a date YYYY-MM-DD", s)
}

// Snapshot is e as the snapshot service at service keeps it at id: the
// service has one tree per archive, named as the mirror's last path
// element (debian, debian-security, ubuntu), and in it one copy per time,
// service/ARCHIVE/ID. Its Release expired long ago, so the Valid-Until
// check is off (check-valid-until=no), as for any snapshot archive.
func (e Entry) Snapshot(service, id string) (Entry, error) {
	u, err := url.Parse(e.URI)
	if err != nil {
		return Entry{}, fmt.Errorf("source %s: %w", e, err)
	}
	archive := path.Base(strings.TrimRight(u.Path, "/"))
	if archive == "." || archive == "/" || archive == "" {
		return Entry{}, fmt.Errorf("source %s: --snapshot needs the archive's name as the last element of the mirror's path (…/debian, …/ubuntu)", e)
	}
	if err := checkURI(service); err != nil {
		return Entry{}, fmt.Errorf("snapshot service: %w", err)
	}
	s := e
	s.URI = strings.TrimRight(service, "/") + "/" + archive + "/" + id
	s.Options = map[string]string{}
	for k, v := range e.Options {
		s.Options[k] = v
	}
	s.Options["check-valid-until"] = "no"
	s.Components = append([]string(nil), e.Components...)
	return s, nil
}
