package deb

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// Field is one field of a stanza. Value is as dpkg stores it: leading
// and trailing white space removed, continuation lines kept verbatim
// (with their leading space) after a "\n".
type Field struct {
	Name  string
	Value string
}

// Stanza is a deb822 paragraph whose fields keep the order they were
// written in.
type Stanza struct {
	Fields []Field
}

// Lookup returns the value of the named field (names are case-insensitive
// in deb822) and whether it is present.
func (s *Stanza) Lookup(name string) (string, bool) {
	for _, f := range s.Fields {
		if strings.EqualFold(f.Name, name) {
			return f.Value, true
		}
	}
	return "", false
}

// Get returns the value of the named field, or "" when absent.
func (s *Stanza) Get(name string) string {
	v, _ := s.Lookup(name)
	return v
}

// ParseStanza parses one deb822 paragraph, the shape of a control file.
// Blank lines around it are allowed; a second paragraph, a duplicate field,
// a line that is neither a field nor a continuation are errors naming the
// line.
func ParseStanza(b []byte) (Stanza, error) {
	var s Stanza
	var val []byte // value of the last field, built up over continuations
	flush := func() {
		if len(s.Fields) > 0 && val != nil {
			s.Fields[len(s.Fields)-1].Value = string(bytes.TrimRight(val, " \t\r\n"))
			val = nil
		}
	}
	ended := false // a blank line after the paragraph was seen
	for lno := 1; len(b) > 0; lno++ {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		switch {
		case len(bytes.TrimSpace(line)) == 0:
			if len(s.Fields) > 0 {
				ended = true
			}
		case ended:
			return Stanza{}, fmt.Errorf("line %d: more than one paragraph", lno)
		case line[0] == ' ' || line[0] == '\t':
			if len(s.Fields) == 0 {
				return Stanza{}, fmt.Errorf("line %d: continuation line before any field", lno)
			}
			val = append(append(val, '\n'), line...)
		default:
			i := bytes.IndexByte(line, ':')
			if i <= 0 {
				return Stanza{}, fmt.Errorf("line %d: not a field: %q", lno, line)
			}
			name := string(line[:i])
			if strings.ContainsAny(name, " \t") || name[0] == '-' || name[0] == '#' {
				return Stanza{}, fmt.Errorf("line %d: bad field name %q", lno, name)
			}
			if _, dup := s.Lookup(name); dup {
				return Stanza{}, fmt.Errorf("line %d: duplicate field %q", lno, name)
			}
			flush()
			s.Fields = append(s.Fields, Field{Name: name})
			val = append([]byte{}, bytes.TrimLeft(line[i+1:], " \t")...)
		}
	}
	flush()
	if len(s.Fields) == 0 {
		return Stanza{}, errors.New("no fields")
	}
	return s, nil
}

// File is one file of the control archive.
type File struct {
	Name string // base name: "control", "md5sums", "postinst", …
	Mode int64  // permission bits from the tar header
	Data []byte
}

// Control is the parsed control archive of a package.
type Control struct {
	// Stanza holds the control file's fields in their order.
	Stanza
	// Raw is the control file as shipped.
	Raw []byte
	// Files holds every file of the control archive by base name,
	// "control" included: md5sums, conffiles, maintainer scripts, config,
	// templates, triggers, shlibs, symbols, …
	Files map[string]File
	// Conffiles lists the conffiles to install, absolute paths in file
	// order; RemoveOnUpgrade those flagged remove-on-upgrade.
	Conffiles       []string
	RemoveOnUpgrade []string
	// MD5Sums maps a path as written in md5sums (relative, normally
	// without a leading "/") to its hex digest.
	MD5Sums map[string]string
}

// maxControl bounds the decompressed control archive held in memory. The
// largest real ones (md5sums of packages with 100,000 files) are about
// 12 MB; several packages are read at once.
const maxControl = 64 << 20

// readControl reads a control tar stream fully. Errors name the entry;
// the caller adds the package and member.
// ParseControlArchive reads a control archive already decompressed (as
// TeeControl saw it), with the checks Control makes.
func ParseControlArchive(r io.Reader) (*Control, error) {
	c, err := readControl(r)
	if err == nil {
		err = drainTail(r)
	}
	if err != nil {
		return nil, fmt.Errorf("control archive: %w", err)
	}
	return c, nil
}

func readControl(r io.Reader) (*Control, error) {
	c := &Control{Files: map[string]File{}}
	tr := tar.NewReader(r)
	var total int64
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "./"))
		switch h.Typeflag {
		case tar.TypeDir:
			if name == "." || name == "/" {
				continue
			}
			return nil, fmt.Errorf("entry %q: unexpected directory in control archive", h.Name)
		case tar.TypeReg:
		default:
			return nil, fmt.Errorf("entry %q: unexpected type %q in control archive", h.Name, h.Typeflag)
		}
		if strings.Contains(name, "/") || name == "." || name == ".." {
			return nil, fmt.Errorf("entry %q: control archive entries must be top-level files", h.Name)
		}
		if _, dup := c.Files[name]; dup {
			return nil, fmt.Errorf("entry %q: duplicate in control archive", h.Name)
		}
		if total += h.Size; h.Size < 0 || total > maxControl {
			return nil, fmt.Errorf("entry %q: control archive larger than %d bytes", h.Name, maxControl)
		}
		// Not make([]byte, h.Size): the header's claim is not trusted
		// with a large allocation before the bytes are there.
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("entry %q: %w", h.Name, noEOF(err))
		}
		c.Files[name] = File{Name: name, Mode: h.Mode & 0o7777, Data: data}
	}
	f, ok := c.Files["control"]
	if !ok {
		return nil, errors.New("no control file in control archive")
	}
	c.Raw = f.Data
	var err error
	if c.Stanza, err = ParseStanza(c.Raw); err != nil {
		return nil, fmt.Errorf("control file: %w", err)
	}
	if c.Get("Package") == "" {
		return nil, errors.New("control file: no Package field")
	}
	if f, ok := c.Files["conffiles"]; ok {
		if c.Conffiles, c.RemoveOnUpgrade, err = parseConffiles(f.Data); err != nil {
			return nil, fmt.Errorf("conffiles: %w", err)
		}
	}
	if f, ok := c.Files["md5sums"]; ok {
		if c.MD5Sums, err = parseMD5Sums(f.Data); err != nil {
			return nil, fmt.Errorf("md5sums: %w", err)
		}
	}
	return c, nil
}

// parseConffiles reads deb-conffiles(5): one absolute path a line,
// optionally preceded by a flag; trailing white space is trimmed, blank
// lines are rejected as dpkg does.
func parseConffiles(b []byte) (keep, remove []string, err error) {
	b = bytes.TrimSuffix(b, []byte("\n"))
	if len(b) == 0 {
		return nil, nil, nil
	}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimRight(line, " \t\r")
		if line == "" {
			return nil, nil, fmt.Errorf("line %d: empty line", i+1)
		}
		flag, p := "", line
		if !strings.HasPrefix(line, "/") {
			// A path may contain spaces; a flag precedes it only when the
			// line does not start with one.
			var found bool
			if flag, p, found = strings.Cut(line, " "); !found {
				return nil, nil, fmt.Errorf("line %d: %q is not an absolute path", i+1, line)
			}
			p = strings.TrimLeft(p, " \t")
		}
		if !strings.HasPrefix(p, "/") {
			return nil, nil, fmt.Errorf("line %d: %q is not an absolute path", i+1, p)
		}
		switch flag {
		case "":
			keep = append(keep, p)
		case "remove-on-upgrade":
			remove = append(remove, p)
		default:
			return nil, nil, fmt.Errorf("line %d: unknown flag %q", i+1, flag)
		}
	}
	return keep, remove, nil
}

// parseMD5Sums reads "DIGEST  PATH" lines (md5sum(1) output; a "*" binary
// marker is accepted).
func parseMD5Sums(b []byte) (map[string]string, error) {
	m := make(map[string]string, bytes.Count(b, []byte("\n")))
	for i, line := range strings.Split(string(b), "\n") {
		if line == "" {
			continue
		}
		if len(line) < 35 || line[32] != ' ' || (line[33] != ' ' && line[33] != '*') || !isHex(line[:32]) {
			return nil, fmt.Errorf("line %d: malformed: %q", i+1, line)
		}
		m[line[34:]] = line[:32]
	}
	return m, nil
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}
