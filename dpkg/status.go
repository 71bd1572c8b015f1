package dpkg

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/debstrap/debstrap/deb"
)

// The fields dpkg knows, in the order it writes them to the status file
// (its fieldinfos table, dpkg 1.21/1.22). Fields of the control file not
// listed here are kept as they are, after these, in the control file's
// order.
var knownFields = []string{
	"Package",
	"Essential",
	"Protected",
	"Status",
	"Priority",
	"Section",
	"Installed-Size",
	"Origin",
	"Maintainer",
	"Bugs",
	"Architecture",
	"Multi-Arch",
	"Source",
	"Version",
	"Config-Version",
	"Replaces",
	"Provides",
	"Depends",
	"Pre-Depends",
	"Recommends",
	"Suggests",
	"Breaks",
	"Conflicts",
	"Enhances",
	"Conffiles",
	"Description",
	"Triggers-Pending",
	"Triggers-Awaited",
}

// Fields dpkg parses from a control file but never writes to the status
// file: archive data of the available file, and state dpkg owns.
var droppedFields = []string{
	"Status", "Config-Version", "Conffiles", "Triggers-Pending", "Triggers-Awaited",
	"Filename", "Size", "MD5sum", "MSDOS-Filename", "Revision",
}

// nicknames are old field names dpkg reads as their modern ones.
var nicknames = map[string]string{
	"recommended": "Recommends",
	"optional":    "Suggests",
	"class":       "Priority",
}

var relationFields = map[string]bool{
	"Replaces": true, "Provides": true, "Depends": true, "Pre-Depends": true,
	"Recommends": true, "Suggests": true, "Breaks": true, "Conflicts": true,
	"Enhances": true,
}

// canonicalField returns the spelling dpkg writes for a known field and
// true, or the name unchanged and false for a field dpkg does not know.
func canonicalField(name string) (string, bool) {
	if n, ok := nicknames[strings.ToLower(name)]; ok {
		return n, true
	}
	for _, f := range knownFields {
		if strings.EqualFold(f, name) {
			return f, true
		}
	}
	for _, f := range droppedFields {
		if strings.EqualFold(f, name) {
			return f, true
		}
	}
	return name, false
}

// controlInfo is what the status stanza needs from a control file,
// normalised as dpkg normalises it.
type controlInfo struct {
	name, arch    string
	multiArchSame bool
	known         map[string]string // canonical name → value as written
	arbitrary     []deb.Field       // unknown fields in control order
}

// parseControl reads a package's control stanza the way dpkg does when it
// unpacks it, and checks what dpkg would reject.
func parseControl(s deb.Stanza) (*controlInfo, error) {
	ci := &controlInfo{known: map[string]string{}}
	for _, f := range s.Fields {
		name, known := canonicalField(f.Name)
		if !known {
			for _, a := range ci.arbitrary {
				if strings.EqualFold(a.Name, f.Name) {
					return nil, fmt.Errorf("duplicate field %q", f.Name)
				}
			}
			ci.arbitrary = append(ci.arbitrary, f)
			continue
		}
		if _, dup := ci.known[name]; dup {
			return nil, fmt.Errorf("duplicate field %q", name)
		}
		v, err := normField(name, f.Value)
		if err != nil {
			return nil, err
		}
		ci.known[name] = v
	}
	ci.name = ci.known["Package"]
	if ci.name == "" {
		return nil, fmt.Errorf("no Package field")
	}
	if _, ok := ci.known["Version"]; !ok {
		return nil, fmt.Errorf("package %s: no Version field", ci.name)
	}
	ci.arch = ci.known["Architecture"]
	if ci.arch == "" {
		return nil, fmt.Errorf("package %s: no Architecture field", ci.name)
	}
	ci.multiArchSame = ci.known["Multi-Arch"] == "same"
	if ci.multiArchSame && ci.arch == "all" {
		return nil, fmt.Errorf("package %s: Multi-Arch: same with Architecture: all", ci.name)
	}
	for _, f := range droppedFields {
		delete(ci.known, f)
	}
	return ci, nil
}

// normField returns a known field's value as dpkg writes it back.
func normField(name, v string) (string, error) {
	switch {
	case name == "Package":
		v = strings.ToLower(strings.TrimSpace(v))
		return v, checkName(v)
	case name == "Version":
		return normVersion(v)
	case name == "Architecture":
		v = strings.TrimSpace(v)
		if v == "" || strings.ContainsAny(v, " \t\n") {
			return "", fmt.Errorf("invalid Architecture %q", v)
		}
		return v, nil
	case name == "Essential" || name == "Protected":
		switch strings.ToLower(v) {
		case "yes":
			return "yes", nil
		case "no":
			return "", nil // dpkg writes only "yes"
		}
		return "", fmt.Errorf("%s field: %q is not yes or no", name, v)
	case name == "Multi-Arch":
		switch l := strings.ToLower(v); l {
		case "no":
			return "", nil // the default, never written
		case "same", "foreign", "allowed":
			return l, nil
		}
		return "", fmt.Errorf("Multi-Arch field: unknown value %q", v)
	case name == "Priority":
		for _, p := range []string{"required", "important", "standard", "optional", "extra"} {
			if strings.EqualFold(v, p) {
				return p, nil
			}
		}
		return v, nil
	case relationFields[name]:
		return normRelations(name, v)
	}
	return v, nil
}

// conffile is one line of the Conffiles field.
type conffile struct {
	path            string
	removeOnUpgrade bool
}

// parseConffiles reads deb-conffiles(5), keeping the file's order (the
// status file lists conffiles in it, flagged ones included).
func parseConffiles(b []byte) ([]conffile, error) {
	var cs []conffile
	seen := map[string]bool{}
	for i, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		line = strings.TrimRight(line, " \t\r")
		if line == "" {
			if len(b) == 0 {
				break
			}
			return nil, fmt.Errorf("conffiles line %d: empty line", i+1)
		}
		c := conffile{path: line}
		if !strings.HasPrefix(line, "/") {
			flag, p, _ := strings.Cut(line, " ")
			if flag != "remove-on-upgrade" {
				return nil, fmt.Errorf("conffiles line %d: unknown flag %q", i+1, flag)
			}
			c = conffile{path: strings.TrimLeft(p, " \t"), removeOnUpgrade: true}
		}
		if !strings.HasPrefix(c.path, "/") {
			return nil, fmt.Errorf("conffiles line %d: %q is not an absolute path", i+1, c.path)
		}
		if seen[c.path] {
			return nil, fmt.Errorf("conffiles line %d: %s listed twice", i+1, c.path)
		}
		seen[c.path] = true
		cs = append(cs, c)
	}
	return cs, nil
}

// writeStanza appends the status stanza of p, dpkg's field order.
func (p *pkg) writeStanza(w *bytes.Buffer) error {
	ci := p.ci
	field := func(name, value string) {
		if value == "" {
			return
		}
		w.WriteString(name)
		w.WriteString(": ")
		w.WriteString(value)
		w.WriteByte('\n')
	}
	for _, name := range knownFields {
		switch name {
		case "Status":
			field(name, "install ok "+string(p.state))
		case "Conffiles":
			if len(p.conffiles) == 0 {
				continue
			}
			w.WriteString("Conffiles:\n")
			for _, c := range p.conffiles {
				hash := newConffile
				if p.state != Unpacked && !c.removeOnUpgrade {
					hash = p.md5[c.path]
					if hash == "" {
						return fmt.Errorf("package %s: no MD5 digest for conffile %s", p.id(), c.path)
					}
				}
				w.WriteString(" " + c.path + " " + hash)
				if c.removeOnUpgrade {
					w.WriteString(" remove-on-upgrade")
				}
				w.WriteByte('\n')
			}
		default:
			field(name, ci.known[name])
		}
	}
	for _, f := range ci.arbitrary {
		w.WriteString(f.Name + ": " + f.Value + "\n")
	}
	w.WriteByte('\n')
	return nil
}

// newConffile is the digest dpkg records for a conffile unpacked but not
// yet configured.
const newConffile = "newconffile"

// ParseStatus reads a dpkg status (or available) file: stanzas separated
// by blank lines, fields in file order.
func ParseStatus(r io.Reader) ([]deb.Stanza, error) {
	var out []deb.Stanza
	var cur bytes.Buffer
	start, lno := 1, 0
	flush := func() error {
		if cur.Len() == 0 {
			return nil
		}
		s, err := deb.ParseStanza(cur.Bytes())
		if err != nil {
			return fmt.Errorf("stanza at line %d: %w", start, err)
		}
		out = append(out, s)
		cur.Reset()
		return nil
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		lno++
		line := sc.Bytes()
		if len(bytes.TrimRight(line, "\r")) == 0 {
			if err := flush(); err != nil {
				return nil, err
			}
			start = lno + 1
			continue
		}
		cur.Write(line)
		cur.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", lno+1, err)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}
