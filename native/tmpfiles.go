package native

import (
	"archive/tar"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/debstrap/debstrap/rootfs"
)

// systemd-tmpfiles --create for the configuration files packages name in
// their postinst (dh_installtmpfiles): directories, files and symlinks
// created, modes and owners adjusted, as in a chroot. Boot-only lines
// (!) are left for boot, as --create without --boot does. ACLs and file
// attributes (a, A, h, H) are reported as skipped: the root's staging
// table does not hold ACLs, and attributes like +C only matter on some
// file systems.

func init() {
	register(tmpfilesCmd, "systemd-tmpfiles")
}

var tmpfilesDirs = []string{"/etc/tmpfiles.d", "/run/tmpfiles.d", "/usr/local/lib/tmpfiles.d", "/usr/lib/tmpfiles.d", "/lib/tmpfiles.d"}

type tmpfilesLine struct {
	typ, mods          string
	path, mode         string
	user, group, arg   string
	plus, minus, caret bool
}

func parseTmpfilesLine(l string) (*tmpfilesLine, error) {
	// Six unquoted fields; the argument is the raw rest of the line, its C
	// escapes resolved where it is used.
	f, rest := splitFieldsN(l, 6)
	if len(f) < 2 {
		return nil, fmt.Errorf("line %q: too few fields", l)
	}
	for len(f) < 6 {
		f = append(f, "-")
	}
	if rest == "" {
		rest = "-"
	}
	t := &tmpfilesLine{typ: f[0][:1], mods: f[0][1:], path: f[1], mode: f[2], user: f[3], group: f[4], arg: rest}
	t.plus = strings.Contains(t.mods, "+")
	t.minus = strings.Contains(t.mods, "-")
	t.caret = strings.Contains(t.mods, "^")
	return t, nil
}

// splitQuotedFields splits on white space, honouring double and single
// quotes and backslash escapes as systemd's extract_first_word does for
// these files.
func splitQuotedFields(l string) []string {
	f, _ := splitFieldsN(l, -1)
	return f
}

// splitFieldsN splits off at most n fields (all for n < 0) and returns the
// rest of the line with leading white space removed.
func splitFieldsN(l string, n int) ([]string, string) {
	var out []string
	var cur strings.Builder
	in := false
	var q byte
	i := 0
	for ; i < len(l); i++ {
		ch := l[i]
		switch {
		case q != 0:
			if ch == q {
				q = 0
			} else {
				cur.WriteByte(ch)
			}
		case ch == '"' || ch == '\'':
			q, in = ch, true
		case ch == ' ' || ch == '\t':
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
				if len(out) == n {
					return out, strings.TrimLeft(l[i:], " \t")
				}
			}
		case ch == '\\' && i+1 < len(l):
			i++
			cur.WriteByte(l[i])
			in = true
		default:
			cur.WriteByte(ch)
			in = true
		}
	}
	if in {
		out = append(out, cur.String())
	}
	return out, ""
}

// tmpfilesSpecifiers expands the % specifiers the system instance knows
// without a running system.
func tmpfilesSpecifiers(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case '%':
			b.WriteByte('%')
		case 't':
			b.WriteString("/run")
		case 'S':
			b.WriteString("/var/lib")
		case 'C':
			b.WriteString("/var/cache")
		case 'L':
			b.WriteString("/var/log")
		case 'T':
			b.WriteString("/tmp")
		case 'V':
			b.WriteString("/var/tmp")
		case 'h':
			b.WriteString("/root")
		default:
			return "", fmt.Errorf("specifier %%%c", s[i])
		}
	}
	return b.String(), nil
}

func tmpfilesCmd(c *cmd) error {
	o, err := c.parse(optSpec{"create", "boot", "remove", "clean", "root=", "prefix=", "exclude-prefix=", "E"}, false)
	if err != nil {
		return err
	}
	if !o.has("create") || o.has("remove") || o.has("clean") || o.has("boot") || o.has("prefix") || o.has("exclude-prefix") || o.has("E") {
		return c.unsupported("only --create of named files is implemented")
	}
	if r := o.get("root"); r != "" && r != "/" {
		return c.unsupported("--root=%s", r)
	}
	s := c.s
	if len(o.operands) == 0 {
		// Every configuration file, by name across the directories,
		// the first directory's winning, in name order.
		seen := map[string]bool{}
		var names []string
		for _, d := range tmpfilesDirs {
			for _, f := range s.glob(d + "/*.conf") {
				if b := path.Base(f); !seen[b] {
					seen[b] = true
					names = append(names, b)
				}
			}
		}
		sort.Strings(names)
		o.operands = names
	}
	st := 0
	seen := map[string]bool{}
	for _, name := range o.operands {
		file := ""
		if strings.Contains(name, "/") {
			file = c.abs(name)
		} else {
			for _, d := range tmpfilesDirs {
				if e, ok := s.lookup(d + "/" + name); ok && e.Type != tar.TypeDir {
					file = d + "/" + name
					break
				}
			}
		}
		if file == "" {
			fmt.Fprintf(c.stderr, "Failed to find configuration file %s\n", name)
			st = 1
			continue
		}
		data, err := s.readFile(file)
		if err != nil {
			return c.failf("%s: %v", file, err)
		}
		for _, l := range lines(data) {
			l = strings.TrimSpace(l)
			if l == "" || strings.HasPrefix(l, "#") {
				continue
			}
			t, err := parseTmpfilesLine(l)
			if err != nil {
				return c.unsupported("%s: %v", file, err)
			}
			if strings.Contains(t.mods, "!") {
				continue // boot only
			}
			if t.path, err = tmpfilesSpecifiers(t.path); err != nil {
				// systemd-tmpfiles reports the line and goes on.
				fmt.Fprintf(c.stderr, "%s: failed to substitute specifiers: %v\n", file, err)
				st = 1
				continue
			}
			if (strings.HasPrefix(t.path, "/run/") && t.path != "/run/lock" && !strings.HasPrefix(t.path, "/run/lock/")) ||
				strings.HasPrefix(t.path, "/tmp/") || t.path == "/run" || t.path == "/tmp" {
				// Scratch space the build empties (but /run/lock, which
				// /var/lock points to), and the running system mounts over.
				continue
			}
			// The first line for a path wins, in the order the files are
			// given; a, A, x, X and co. may add to it.
			key := t.path
			if strings.Contains("aAhHxXrRtT", t.typ) {
				key = t.typ + " " + t.path
			}
			if seen[key] {
				continue
			}
			seen[key] = true
			if err := s.tmpfilesApply(c, t); err != nil {
				if _, ok := err.(*tmpfilesFailure); ok {
					st = 1
					continue
				}
				return err
			}
		}
	}
	return status(st)
}

// tmpfilesFailure is a line systemd-tmpfiles reports as failed and skips.
type tmpfilesFailure struct{ msg string }

func (e *tmpfilesFailure) Error() string { return e.msg }

// owner resolves the user and group columns ("-": root, or keep for
// adjustments of an existing path).
func (s *sys) tmpfilesOwner(t *tmpfilesLine) (uid, gid int, err error) {
	uid, gid = -1, -1
	if t.user != "-" && t.user != "" {
		id, ok := s.userID(t.user)
		if !ok {
			return 0, 0, &tmpfilesFailure{"Failed to resolve user '" + t.user + "'"}
		}
		uid = id
	}
	if t.group != "-" && t.group != "" {
		id, ok := s.groupID(t.group)
		if !ok {
			return 0, 0, &tmpfilesFailure{"Failed to resolve group '" + t.group + "'"}
		}
		gid = id
	}
	return uid, gid, nil
}

// tmpfilesMode parses the mode column: "-" is def, a leading "~" masks
// it by the existing mode, ":" (keep on existing) is treated as plain.
func tmpfilesMode(m string, def int64) (int64, bool, error) {
	if m == "-" || m == "" {
		return def, false, nil
	}
	mask := false
	m = strings.TrimPrefix(m, ":")
	if strings.HasPrefix(m, "~") {
		mask, m = true, m[1:]
	}
	n, err := strconv.ParseInt(m, 8, 64)
	if err != nil || n > 0o7777 {
		return 0, false, fmt.Errorf("invalid mode %q", m)
	}
	return n, mask, nil
}

func (s *sys) tmpfilesAdjust(real string, e rootfs.Entry, t *tmpfilesLine, def int64) error {
	mode, mask, err := tmpfilesMode(t.mode, def)
	if err != nil {
		return &tmpfilesFailure{err.Error()}
	}
	uid, gid, err := s.tmpfilesOwner(t)
	if err != nil {
		return err
	}
	if e.Type == tar.TypeSymlink {
		return nil
	}
	if mask {
		mode &= e.Mode
	}
	if t.mode == "-" && uid < 0 && gid < 0 {
		return nil
	}
	if err := s.st.Update(real, func(x *rootfs.Entry) {
		if t.mode != "-" {
			x.Mode = mode
		}
		if uid >= 0 {
			x.Uid = uid
		}
		if gid >= 0 {
			x.Gid = gid
		}
	}); err != nil {
		return &stageError{err}
	}
	return nil
}

func (s *sys) tmpfilesApply(c *cmd, t *tmpfilesLine) error {
	if t.caret {
		// Content from a credential: there is none while building.
		return nil
	}
	real, e, exists, err := s.resolve("/", t.path, false)
	if err != nil && !strings.Contains("fFLCdDvqQpcb", t.typ) {
		// Adjusting, writing or removing under a missing directory.
		return nil
	}
	if err != nil {
		// A missing parent: systemd creates it for d/f/L and co.
		if err := s.st.MkdirAll(path.Dir(t.path), rootfs.Entry{Mode: 0o755}); err != nil {
			return &tmpfilesFailure{err.Error()}
		}
		if real, e, exists, err = s.resolve("/", t.path, false); err != nil {
			return &tmpfilesFailure{err.Error()}
		}
	}
	skip := func(what string) error {
		s.skipped(c, fmt.Sprintf("%s: %s on %s (systemd-tmpfiles %s)", c.run.pkgName(), what, t.path, t.typ))
		return nil
	}
	switch t.typ {
	case "d", "D", "v", "q", "Q", "e":
		if !exists {
			if t.typ == "e" {
				return nil
			}
			if err := s.st.MkdirAll(path.Dir(real), rootfs.Entry{Mode: 0o755}); err != nil {
				return &stageError{err}
			}
			mode, _, _ := tmpfilesMode(t.mode, 0o755)
			if err := s.st.Mkdir(real, rootfs.Entry{Mode: mode}); err != nil {
				return &stageError{err}
			}
			e, _ = s.st.Lookup(real)
		} else if e.Type != tar.TypeDir {
			return &tmpfilesFailure{t.path + " exists and is not a directory"}
		}
		return s.tmpfilesAdjust(real, e, t, 0o755)
	case "f", "F", "w":
		arg := ""
		if t.arg != "-" {
			arg = unescapeC(t.arg)
		}
		switch {
		case t.typ == "w":
			if !exists {
				return nil
			}
			if t.arg == "-" {
				return nil
			}
			data := []byte(arg)
			if t.plus {
				old, err := s.st.ReadFile(real)
				if err != nil {
					return &stageError{err}
				}
				data = append(old, data...)
			}
			if err := s.st.WriteFile(real, data, rootfs.Entry{Mode: e.Mode, Uid: e.Uid, Gid: e.Gid}); err != nil {
				return &stageError{err}
			}
			return nil
		case !exists || t.typ == "F" || t.plus:
			mode, _, _ := tmpfilesMode(t.mode, 0o644)
			if err := s.st.WriteFile(real, []byte(arg), rootfs.Entry{Mode: mode}); err != nil {
				return &stageError{err}
			}
			e, _ = s.st.Lookup(real)
		}
		return s.tmpfilesAdjust(real, e, t, 0o644)
	case "L":
		target := t.arg
		if target == "-" {
			target = "/usr/share/factory" + t.path
		}
		if exists && !t.plus {
			return nil
		}
		if exists && e.Type == tar.TypeDir {
			if err := s.st.RemoveAll(real); err != nil {
				return &stageError{err}
			}
		}
		if err := s.st.Symlink(target, real, rootfs.Entry{Mode: 0o777}); err != nil {
			return &stageError{err}
		}
		return nil
	case "C":
		if exists {
			return nil
		}
		src := t.arg
		if src == "-" {
			src = "/usr/share/factory" + t.path
		}
		sreal, se, ok, err := s.resolve("/", src, true)
		if err != nil || !ok {
			return &tmpfilesFailure{"source " + src + " does not exist"}
		}
		se.Path = sreal
		if err := s.copyEntry(se, real, true, true, 0o022); err != nil {
			return err
		}
		return nil
	case "z", "Z":
		if !exists {
			return nil
		}
		return s.tmpfilesAdjust(real, e, t, e.Mode)
	case "x", "X", "r", "R":
		return nil // cleaning and removal: not part of --create
	case "a", "A":
		return skip("ACLs")
	case "h", "H":
		return skip("file attributes")
	case "t", "T":
		return skip("extended attributes")
	}
	return c.unsupported("tmpfiles.d type %s for %s", t.typ, t.path)
}

// unescapeC resolves C escapes in a tmpfiles argument.
func unescapeC(s string) string {
	r := strings.NewReplacer(`\n`, "\n", `\t`, "\t", `\\`, `\`, `\"`, `"`, `\'`, `'`)
	return r.Replace(s)
}

// pkgName is the package whose script runs, "?" for none.
func (r *shellRun) pkgName() string {
	if r.pkg == nil {
		return "?"
	}
	return r.pkg.name
}
