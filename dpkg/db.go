// Package dpkg writes the dpkg database (/var/lib/dpkg) of a root built
// without dpkg, byte for byte as dpkg itself leaves it after unpacking
// and configuring the same packages: the status file, info/ (file lists,
// md5sums, conffiles, maintainer scripts and the other control files),
// triggers/, diversions, statoverride, arch and the lock files.
//
//	db := dpkg.New("amd64")
//	for _, p := range unpacked { // in unpack order
//		err := db.Add(dpkg.Package{Control: ctrl, Files: files, State: dpkg.Installed})
//	}
//	err := db.Write(root)
//
// Reference: the tree mmdebstrap leaves (dpkg 1.21), checked file by file.
package dpkg

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/debstrap/debstrap/deb"
)

// Admin is dpkg's administrative directory inside the root.
const Admin = "/var/lib/dpkg"

// Root receives the files of the database. Paths are absolute inside the
// root; owner is root:root.
type Root interface {
	WriteFile(path string, data []byte, mode int64) error
	MkdirAll(path string, mode int64) error
}

// State is the installation state of a package, the last word of its
// Status field.
type State string

const (
	// Unpacked: files in place, maintainer scripts not run (dpkg --unpack).
	Unpacked State = "unpacked"
	// HalfConfigured: postinst configure was started and failed.
	HalfConfigured State = "half-configured"
	// Installed: configured.
	Installed State = "installed"
)

func (s State) valid() bool {
	return s == Unpacked || s == HalfConfigured || s == Installed
}

// File is one entry of a package's data archive.
type File struct {
	// Name as in the archive ("./usr/bin/", "./usr/bin/ls") or clean
	// ("/usr/bin/ls"). It is recorded as shipped: under merged /usr,
	// "./bin/ls" stays "/bin/ls" though it lands in /usr/bin.
	Name string
	// Type is the tar type flag (tar.TypeReg, TypeDir, TypeSymlink,
	// TypeLink, …).
	Type byte
	// MD5 is the hex MD5 digest of a regular file's (or hard link's)
	// content. It is needed for conffiles of configured packages, and for
	// every regular file of a package shipping no md5sums (dpkg then
	// writes one itself).
	MD5 string
}

// Package is one package to record.
type Package struct {
	Control *deb.Control
	// Files lists the data archive's entries in archive order.
	Files []File
	State State
}

// Diversion is one dpkg-divert entry: Path is diverted to Divert.
type Diversion struct {
	Path, Divert string
	Package      string // the package allowed to write Path; "" for a local diversion
}

// FormatDiversions is the diversions file dpkg writes for divs, in the
// order of its file name hash (arch, the native architecture, decides
// how it hashes).
func FormatDiversions(divs []Diversion, arch string) []byte {
	divs = append([]Diversion(nil), divs...)
	sortFsys(divs, func(d Diversion) string { return d.Path }, arch)
	var b bytes.Buffer
	for _, d := range divs {
		pk := d.Package
		if pk == "" {
			pk = ":"
		}
		b.WriteString(d.Path + "\n" + d.Divert + "\n" + pk + "\n")
	}
	return b.Bytes()
}

// ParseDiversions reads a diversions file: three lines an entry (the
// path, where it is diverted to, the package or ":" for local).
func ParseDiversions(data []byte) ([]Diversion, error) {
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(data) == 0 {
		return nil, nil
	}
	if len(lines)%3 != 0 {
		return nil, fmt.Errorf("dpkg: diversions: %d lines, not three an entry", len(lines))
	}
	var out []Diversion
	for i := 0; i < len(lines); i += 3 {
		d := Diversion{Path: lines[i], Divert: lines[i+1], Package: lines[i+2]}
		if d.Package == ":" {
			d.Package = ""
		}
		out = append(out, d)
	}
	return out, nil
}

// StatOverride is one dpkg-statoverride entry.
type StatOverride struct {
	User, Group string // names, or "#uid" / "#gid"
	Mode        int64  // permission bits, 07777
	Path        string
}

// DB collects packages and writes their database. It is not safe for
// concurrent use.
type DB struct {
	native    string
	foreign   []string
	pkgs      []*pkg // in Add (unpack) order
	owner     map[string]*pkg
	divs      []Diversion
	overrides []StatOverride
}

type pkg struct {
	ci        *controlInfo
	ctrl      *deb.Control
	state     State
	list      []string
	removed   map[string]bool // paths taken over by a later package
	md5       map[string]string
	md5sums   []byte // generated when the package ships none
	conffiles []conffile
	interests []interest
}

// id is the package's name as dpkg writes it in file names and triggers:
// architecture-qualified for Multi-Arch: same.
func (p *pkg) id() string {
	if p.ci.multiArchSame {
		return p.ci.name + ":" + p.ci.arch
	}
	return p.ci.name
}

// New returns an empty database for a root of the native architecture,
// with optional foreign architectures (dpkg --add-architecture).
func New(nativeArch string, foreignArches ...string) *DB {
	return &DB{native: nativeArch, foreign: foreignArches, owner: map[string]*pkg{}}
}

// Add records a package. Packages must be added in the order they were
// unpacked: a later package's file takes the path over from an earlier
// one, as dpkg does when Replaces allows it (deciding whether it may is
// the unpacker's job), and trigger interests are listed in this order.
func (db *DB) Add(p Package) error {
	if p.Control == nil {
		return errors.New("dpkg: Add: no control data")
	}
	ci, err := parseControl(p.Control.Stanza)
	if err != nil {
		return fmt.Errorf("dpkg: package %s: control file: %w", p.Control.Get("Package"), err)
	}
	np := &pkg{ci: ci, ctrl: p.Control, state: p.State, md5: map[string]string{}}
	if !p.State.valid() {
		return fmt.Errorf("dpkg: package %s: unknown state %q", np.id(), p.State)
	}
	if ci.arch != "all" && ci.arch != db.native && !contains(db.foreign, ci.arch) {
		return fmt.Errorf("dpkg: package %s: architecture %s is not %s nor a foreign architecture of the root", ci.name, ci.arch, db.native)
	}
	for _, o := range db.pkgs {
		if o.ci.name == ci.name && !(o.ci.multiArchSame && ci.multiArchSame && o.ci.arch != ci.arch) {
			return fmt.Errorf("dpkg: package %s added twice (%s and %s)", ci.name, o.ci.arch, ci.arch)
		}
	}
	for name := range p.Control.Files {
		if name == "" || name[0] == '.' || strings.ContainsAny(name, "/ \t\n") {
			return fmt.Errorf("dpkg: package %s: invalid control member name %q", np.id(), name)
		}
	}
	if f, ok := p.Control.Files["conffiles"]; ok {
		if np.conffiles, err = parseConffiles(f.Data); err != nil {
			return fmt.Errorf("dpkg: package %s: %w", np.id(), err)
		}
	}
	if f, ok := p.Control.Files["triggers"]; ok {
		if np.interests, err = parseTriggers(f.Data); err != nil {
			return fmt.Errorf("dpkg: package %s: %w", np.id(), err)
		}
	}
	if err := np.setFiles(p.Files); err != nil {
		return fmt.Errorf("dpkg: package %s: %w", np.id(), err)
	}
	if _, ok := p.Control.Files["md5sums"]; !ok {
		if np.md5sums, err = np.genMD5Sums(p.Files); err != nil {
			return fmt.Errorf("dpkg: package %s: %w", np.id(), err)
		}
	}
	for _, f := range p.Files {
		if f.Type == tar.TypeDir {
			continue
		}
		name := listName(f.Name)
		if o := db.owner[name]; o != nil {
			if o.removed == nil {
				o.removed = map[string]bool{}
			}
			o.removed[name] = true
		}
		db.owner[name] = np
	}
	db.pkgs = append(db.pkgs, np)
	return nil
}

// setFiles builds the file list in the order dpkg records it: the
// archive's order, except that symbolic links come last (dpkg extracts
// them after everything else so that they cannot redirect later entries).
func (p *pkg) setFiles(files []File) error {
	seen := make(map[string]bool, len(files))
	var links []string
	for _, f := range files {
		name := listName(f.Name)
		if seen[name] {
			return fmt.Errorf("data archive lists %s twice", name)
		}
		seen[name] = true
		switch f.Type {
		case tar.TypeSymlink:
			links = append(links, name)
			continue
		case tar.TypeReg, tar.TypeRegA, tar.TypeLink:
			if f.MD5 != "" {
				if len(f.MD5) != 32 || !isHex(f.MD5) {
					return fmt.Errorf("%s: MD5 %q is not a hex MD5 digest", name, f.MD5)
				}
				p.md5[name] = strings.ToLower(f.MD5)
			}
		}
		p.list = append(p.list, name)
	}
	p.list = append(p.list, links...)
	for _, c := range p.conffiles {
		if c.removeOnUpgrade || !seen[c.path] {
			continue // dpkg keeps "newconffile" for conffiles not shipped
		}
		if p.state != Unpacked && p.md5[c.path] == "" {
			return fmt.Errorf("conffile %s: no MD5 digest given", c.path)
		}
	}
	return nil
}

// genMD5Sums writes the md5sums dpkg makes for a package that ships none:
// every regular file, in archive order.
func (p *pkg) genMD5Sums(files []File) ([]byte, error) {
	var b bytes.Buffer
	for _, f := range files {
		switch f.Type {
		case tar.TypeReg, tar.TypeRegA, tar.TypeLink:
		default:
			continue
		}
		name := listName(f.Name)
		sum := p.md5[name]
		if sum == "" {
			return nil, fmt.Errorf("no md5sums in the package and no MD5 digest given for %s", name)
		}
		b.WriteString(sum + "  " + strings.TrimPrefix(name, "/") + "\n")
	}
	return b.Bytes(), nil
}

// listName turns an archive member name into the path dpkg records:
// leading "/" and "./" dropped, trailing "/" dropped, "/" put in front;
// the archive's root "./" is recorded as "/.".
func listName(name string) string {
	n := strings.TrimRight(name, "/")
	for {
		if strings.HasPrefix(n, "/") {
			n = n[1:]
		} else if strings.HasPrefix(n, "./") {
			n = n[2:]
		} else {
			break
		}
	}
	if n == "" {
		n = "."
	}
	return "/" + n
}

// SetState changes the state of a package already added (after
// configuring it, say). arch may be "" unless several architectures of
// the package are present.
func (db *DB) SetState(name, arch string, s State) error {
	if !s.valid() {
		return fmt.Errorf("dpkg: package %s: unknown state %q", name, s)
	}
	var found *pkg
	for _, p := range db.pkgs {
		if p.ci.name == name && (arch == "" || arch == p.ci.arch) {
			if found != nil {
				return fmt.Errorf("dpkg: package %s: several architectures, give one", name)
			}
			found = p
		}
	}
	if found == nil {
		return fmt.Errorf("dpkg: package %s: not in the database", name)
	}
	if s != Unpacked {
		for _, c := range found.conffiles {
			if !c.removeOnUpgrade && found.shipped(c.path) && found.md5[c.path] == "" {
				return fmt.Errorf("dpkg: package %s: conffile %s: no MD5 digest given", found.id(), c.path)
			}
		}
	}
	found.state = s
	return nil
}

func (p *pkg) shipped(name string) bool {
	for _, l := range p.list {
		if l == name {
			return true
		}
	}
	return false
}

// AddDiversion records a diversion, as dpkg-divert --add does.
func (db *DB) AddDiversion(d Diversion) error {
	if !path.IsAbs(d.Path) || !path.IsAbs(d.Divert) || d.Path == d.Divert {
		return fmt.Errorf("dpkg: diversion of %q to %q: need two different absolute paths", d.Path, d.Divert)
	}
	for _, o := range db.divs {
		if o.Path == d.Path || o.Divert == d.Divert || o.Path == d.Divert || o.Divert == d.Path {
			return fmt.Errorf("dpkg: diversion of %s to %s conflicts with diversion of %s to %s", d.Path, d.Divert, o.Path, o.Divert)
		}
	}
	db.divs = append(db.divs, d)
	return nil
}

// AddStatOverride records a stat override, as dpkg-statoverride --add does.
func (db *DB) AddStatOverride(o StatOverride) error {
	if !path.IsAbs(o.Path) || o.User == "" || o.Group == "" || o.Mode&^0o7777 != 0 ||
		strings.ContainsAny(o.User+o.Group, " \t\n") {
		return fmt.Errorf("dpkg: stat override %s %s %o %q: invalid", o.User, o.Group, o.Mode, o.Path)
	}
	for _, x := range db.overrides {
		if x.Path == o.Path {
			return fmt.Errorf("dpkg: stat override for %s given twice", o.Path)
		}
	}
	db.overrides = append(db.overrides, o)
	return nil
}

// Write writes the database into root. The output depends only on what
// was added, in what order.
func (db *DB) Write(root Root) error {
	for _, d := range []string{Admin, Admin + "/info", Admin + "/updates", Admin + "/triggers", Admin + "/alternatives"} {
		if err := root.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("dpkg: %w", err)
		}
	}
	write := func(name string, data []byte, mode int64) error {
		if err := root.WriteFile(Admin+"/"+name, data, mode); err != nil {
			return fmt.Errorf("dpkg: writing %s: %w", Admin+"/"+name, err)
		}
		return nil
	}

	// mmdebstrap always writes arch, native first; dpkg reads it the same
	// way when foreign architectures are added.
	arch := db.native + "\n"
	for _, a := range db.foreign {
		arch += a + "\n"
	}
	if err := write("arch", []byte(arch), 0o644); err != nil {
		return err
	}

	status, err := db.Status()
	if err != nil {
		return err
	}
	if err := write("status", status, 0o644); err != nil {
		return err
	}

	if err := write("info/format", []byte("1\n"), 0o644); err != nil {
		return err
	}
	for _, p := range db.pkgs {
		if err := p.writeInfo(write); err != nil {
			return err
		}
	}

	if err := db.writeTriggers(write); err != nil {
		return err
	}

	if len(db.divs) > 0 {
		if err := write("diversions", FormatDiversions(db.divs, db.native), 0o644); err != nil {
			return err
		}
	}
	if len(db.overrides) > 0 {
		ovs := append([]StatOverride(nil), db.overrides...)
		sortFsys(ovs, func(o StatOverride) string { return o.Path }, db.native)
		var b bytes.Buffer
		for _, o := range ovs {
			b.WriteString(o.User + " " + o.Group + " " + strconv.FormatInt(o.Mode, 8) + " " + o.Path + "\n")
		}
		if err := write("statoverride", b.Bytes(), 0o644); err != nil {
			return err
		}
	}

	// The lock files dpkg and apt leave behind, empty.
	if err := write("lock", nil, 0o640); err != nil {
		return err
	}
	return write("lock-frontend", nil, 0o640)
}

// Status returns the status file: one stanza per package, sorted by name
// then architecture as dpkg sorts it.
func (db *DB) Status() ([]byte, error) {
	sorted := append([]*pkg(nil), db.pkgs...)
	sort.Slice(sorted, func(i, j int) bool {
		a, b := sorted[i].ci, sorted[j].ci
		if a.name != b.name {
			return a.name < b.name
		}
		return a.arch < b.arch
	})
	var b bytes.Buffer
	for _, p := range sorted {
		if err := p.writeStanza(&b); err != nil {
			return nil, fmt.Errorf("dpkg: %w", err)
		}
	}
	return b.Bytes(), nil
}

// writeInfo writes info/PKG.*: every control member but control itself,
// with its mode from the archive, the file list and generated md5sums.
func (p *pkg) writeInfo(write func(string, []byte, int64) error) error {
	base := "info/" + p.id() + "."
	names := make([]string, 0, len(p.ctrl.Files))
	for n := range p.ctrl.Files {
		if n != "control" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		f := p.ctrl.Files[n]
		if err := write(base+n, f.Data, f.Mode&0o7777); err != nil {
			return err
		}
	}
	if p.md5sums != nil {
		if err := write(base+"md5sums", p.md5sums, 0o644); err != nil {
			return err
		}
	}
	var b bytes.Buffer
	for _, l := range p.list {
		if !p.removed[l] {
			b.WriteString(l + "\n")
		}
	}
	return write(base+"list", b.Bytes(), 0o644)
}

// writeTriggers writes triggers/: File (file trigger interests), one file
// per explicit trigger listing its interested packages, and the empty
// Unincorp and Lock dpkg keeps there.
func (db *DB) writeTriggers(write func(string, []byte, int64) error) error {
	var file bytes.Buffer
	explicit := map[string]*bytes.Buffer{}
	var names []string
	seen := map[string]bool{}
	for _, p := range db.pkgs {
		for _, in := range p.interests {
			who := p.id()
			if in.noawait {
				who += "/noawait"
			}
			if key := in.name + "\x00" + who; seen[key] {
				continue
			} else {
				seen[key] = true
			}
			if strings.HasPrefix(in.name, "/") {
				file.WriteString(in.name + " " + who + "\n")
				continue
			}
			b := explicit[in.name]
			if b == nil {
				b = &bytes.Buffer{}
				explicit[in.name] = b
				names = append(names, in.name)
			}
			b.WriteString(who + "\n")
		}
	}
	if file.Len() > 0 {
		if err := write("triggers/File", file.Bytes(), 0o644); err != nil {
			return err
		}
	}
	for _, n := range names {
		if err := write("triggers/"+n, explicit[n].Bytes(), 0o644); err != nil {
			return err
		}
	}
	if err := write("triggers/Unincorp", nil, 0o644); err != nil {
		return err
	}
	return write("triggers/Lock", nil, 0o600)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
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
