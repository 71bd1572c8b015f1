package testarchive

import (
	"archive/tar"
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// DefaultTime is the timestamp used wherever a test does not give one: tar
// and ar mtimes, and the Date of a Release. A fixed value keeps generated
// archives byte-for-byte reproducible.
var DefaultTime = time.Date(2024, time.June, 1, 12, 0, 0, 0, time.UTC)

// A File is one entry of a package's data.tar.
type File struct {
	// Path is the name as in the tar. A clean relative path ("usr/bin/foo"
	// or "./usr/bin/foo") is written the way dpkg-deb does ("./usr/bin/foo",
	// directories with a trailing slash). Anything else — "../../x",
	// "/etc/x", "a//b", "a/../b" — is written verbatim, for path-traversal
	// tests.
	Path string
	// Type is a tar type flag: tar.TypeReg (the default; a Path ending in
	// "/" defaults to tar.TypeDir), TypeDir, TypeSymlink, TypeLink,
	// TypeChar, TypeBlock, TypeFifo.
	Type byte
	// Mode holds permission and special bits (04755 for setuid). Default:
	// 0644 for files, devices and fifos, 0755 for directories, 0777 for
	// symlinks.
	Mode int64
	// Body is the content of a regular file.
	Body []byte
	// Linkname is the target of a symlink (verbatim) or a hardlink (a clean
	// relative target gets the "./" prefix, as dpkg-deb writes it).
	Linkname string
	// Uid and Gid default to 0; Uname and Gname default to "root" when the
	// id is 0, else empty.
	Uid, Gid     int
	Uname, Gname string
	// Devmajor and Devminor are used for TypeChar and TypeBlock.
	Devmajor, Devminor int64
	// ModTime defaults to the Deb's MTime.
	ModTime time.Time
	// PAXRecords, if set, are written in a PAX header, e.g.
	// "SCHILY.xattr.security.capability". Entries without them use the GNU
	// format, as dpkg-deb does.
	PAXRecords map[string]string
}

// A Field is one control field. Value may span lines ("line1\nline2"):
// continuation lines get the leading space the format needs when missing,
// and empty ones become " .".
type Field struct{ Name, Value string }

// A Deb describes one binary package. Only Name and Version are required.
type Deb struct {
	Name, Version string
	// Architecture defaults to "amd64". "all" packages are listed in the
	// Packages index of every architecture of a suite.
	Architecture string
	// Fields are further control fields: Source, Essential, Priority,
	// Section, Depends, Pre-Depends, Provides, Multi-Arch, Description, …
	// They are written in dpkg-gencontrol's order whatever order they are
	// given in; unknown fields follow Description. Maintainer, Description
	// and Installed-Size get defaults. A Package, Version or Architecture
	// field here overrides the struct's value in the control file only,
	// making a .deb that disagrees with its index stanza.
	Fields []Field
	// Files are the data.tar entries, in order. Missing parent directories
	// (and "./") are inserted before their first child as dpkg-deb would
	// have them, unless listed explicitly somewhere or ExactFiles is set.
	Files      []File
	ExactFiles bool
	// Scripts are extra control members by name: preinst, postinst, prerm,
	// postrm, config (written 0755), triggers, templates, shlibs, symbols,
	// … (0644). A "conffiles" or "md5sums" entry replaces the generated one.
	Scripts map[string]string
	// Conffiles are absolute paths ("/etc/foo.conf"), written to the
	// conffiles member and left out of md5sums (as dh_md5sums does).
	Conffiles []string
	// Control, if non-empty, is the control file verbatim (Fields and the
	// generated defaults are then ignored for the .deb, not for the index).
	Control string
	// DataCompression and ControlCompression: "gz" (default), "xz", "zst",
	// "lzma", "bz2" (needs the bzip2 program; see ErrNoBzip2) or "none".
	DataCompression, ControlCompression string
	// MTime is the mtime of the ar members and tar entries (DefaultTime).
	MTime time.Time
	// Stanza fields override or add fields of this package's Packages
	// stanza only (after Filename, Size and hashes are filled in); an empty
	// Value deletes the field. For tests of a lying index, e.g.
	// {"SHA256", "00…"} or {"Filename", "../../etc/passwd"}.
	Stanza []Field
	// Raw, if set, are the .deb bytes used as-is (for corrupt-member
	// tests); the index stanza is still made from the fields above, with
	// Installed-Size 0 unless Fields gives one.
	Raw []byte
}

// Field returns the value of the named field of d (case-insensitive) from
// the struct or Fields, "" if absent.
func (d Deb) Field(name string) string {
	switch strings.ToLower(name) {
	case "package":
		return d.Name
	case "version":
		return d.Version
	case "architecture":
		return d.arch()
	}
	for _, f := range d.Fields {
		if strings.EqualFold(f.Name, name) {
			return f.Value
		}
	}
	return ""
}

func (d Deb) arch() string {
	if d.Architecture == "" {
		return "amd64"
	}
	return d.Architecture
}

func (d Deb) mtime() time.Time {
	if d.MTime.IsZero() {
		return DefaultTime
	}
	return d.MTime.Truncate(time.Second)
}

// NewDeb is shorthand for a Deb with fields given as "Name: value" strings:
//
//	NewDeb("bash", "5.2-1", "Essential: yes", "Pre-Depends: libc6 (>= 2.36)")
//
// An "Architecture: …" string sets Deb.Architecture. Strings without a
// colon are ignored.
func NewDeb(name, version string, fields ...string) Deb {
	d := Deb{Name: name, Version: version}
	for _, f := range fields {
		k, v, ok := strings.Cut(f, ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if strings.EqualFold(k, "Architecture") {
			d.Architecture = v
			continue
		}
		d.Fields = append(d.Fields, Field{k, v})
	}
	return d
}

// A Member is one member of an ar archive.
type Member struct {
	Name string // at most 16 bytes; longer names are cut
	Data []byte
	// ModTime defaults to DefaultTime.
	ModTime time.Time
}

// Ar lays out members in an ar archive with the header format dpkg-deb
// uses: no trailing "/" after names, uid and gid 0, mode 100644, and a
// "\n" pad byte after odd-sized members.
func Ar(members ...Member) []byte {
	var b bytes.Buffer
	b.WriteString("!<arch>\n")
	for _, m := range members {
		mt := m.ModTime
		if mt.IsZero() {
			mt = DefaultTime
		}
		name := m.Name
		if len(name) > 16 {
			name = name[:16]
		}
		fmt.Fprintf(&b, "%-16s%-12d%-6d%-6d%-8o%-10d`\n", name, mt.Unix(), 0, 0, 0100644, len(m.Data))
		b.Write(m.Data)
		if len(m.Data)%2 == 1 {
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

// BuildDeb returns the .deb for d: an ar archive of debian-binary ("2.0\n"),
// control.tar.<c> and data.tar.<c>, in that order. If d.Raw is set it is
// returned as is.
func BuildDeb(d Deb) ([]byte, error) {
	if d.Raw != nil {
		return d.Raw, nil
	}
	members, err := DebMembers(d)
	if err != nil {
		return nil, err
	}
	return Ar(members...), nil
}

// DebMembers returns the three ar members BuildDeb would write, for tests
// that reorder, drop, duplicate or corrupt them before calling Ar.
func DebMembers(d Deb) ([]Member, error) {
	m, _, err := debMembers(d)
	return m, err
}

func debMembers(d Deb) ([]Member, dataInfo, error) {
	var info dataInfo
	if d.Name == "" || d.Version == "" {
		return nil, info, fmt.Errorf("testarchive: deb %q %q: Name and Version are required", d.Name, d.Version)
	}
	data, info, err := dataTar(d)
	if err != nil {
		return nil, info, fmt.Errorf("testarchive: deb %s: data.tar: %w", d.Name, err)
	}
	ctrl, err := controlTar(d, info)
	if err != nil {
		return nil, info, fmt.Errorf("testarchive: deb %s: control.tar: %w", d.Name, err)
	}
	dc := d.DataCompression
	if dc == "" {
		dc = "gz"
	}
	cc := d.ControlCompression
	if cc == "" {
		cc = "gz"
	}
	cdata, cext, err := compress(cc, ctrl)
	if err != nil {
		return nil, info, fmt.Errorf("testarchive: deb %s: control.tar: %w", d.Name, err)
	}
	ddata, dext, err := compress(dc, data)
	if err != nil {
		return nil, info, fmt.Errorf("testarchive: deb %s: data.tar: %w", d.Name, err)
	}
	mt := d.mtime()
	return []Member{
		{Name: "debian-binary", Data: []byte("2.0\n"), ModTime: mt},
		{Name: "control.tar" + cext, Data: cdata, ModTime: mt},
		{Name: "data.tar" + dext, Data: ddata, ModTime: mt},
	}, info, nil
}

// dataInfo is what the control member needs to know about the data member.
type dataInfo struct {
	installedSize int64  // KiB
	md5sums       []byte // md5sums file content
}

// cleanRel reports whether p is a clean relative path and returns it without
// a "./" prefix or trailing "/" ("" for the root "./").
func cleanRel(p string) (string, bool) {
	q := strings.TrimPrefix(p, "./")
	q = strings.TrimSuffix(q, "/")
	if q == "" || q == "." {
		return "", p == "./" || p == "." || p == ""
	}
	if strings.HasPrefix(q, "/") || path.Clean(q) != q || q == ".." || strings.HasPrefix(q, "../") {
		return "", false
	}
	return q, true
}

func fileType(f File) byte {
	switch f.Type {
	case 0: // also tar.TypeRegA
		if strings.HasSuffix(f.Path, "/") {
			return tar.TypeDir
		}
		return tar.TypeReg
	}
	return f.Type
}

func dataTar(d Deb) ([]byte, dataInfo, error) {
	mt := d.mtime()
	files := d.Files
	if !d.ExactFiles {
		files = withParents(files)
	}

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	var info dataInfo
	bodies := map[string][]byte{} // clean rel path -> body, for hardlinks
	modes := map[string]int64{}   // clean rel path -> mode, for hardlinks
	conf := map[string]bool{}
	for _, c := range d.Conffiles {
		conf[strings.TrimPrefix(c, "/")] = true
	}
	var sums bytes.Buffer
	for _, f := range files {
		typ := fileType(f)
		rel, clean := cleanRel(f.Path)
		name := f.Path
		if clean && !d.ExactFiles {
			name = "./" + rel
			if rel == "" {
				name = "./"
			} else if typ == tar.TypeDir {
				name += "/"
			}
		}
		mode := f.Mode
		if mode == 0 {
			switch typ {
			case tar.TypeLink:
				// A hardlink shares its target's inode, hence its mode.
				mode = 0644
				if lr, ok := cleanRel(f.Linkname); ok {
					if m, found := modes[lr]; found {
						mode = m
					}
				}
			case tar.TypeDir:
				mode = 0755
			case tar.TypeSymlink:
				mode = 0777
			default:
				mode = 0644
			}
		}
		link := f.Linkname
		if typ == tar.TypeLink && !d.ExactFiles {
			if lr, ok := cleanRel(link); ok && lr != "" {
				link = "./" + lr
			}
		}
		if len(f.Body) > 0 && typ != tar.TypeReg {
			return nil, info, fmt.Errorf("%s: Body is only for regular files (type %q)", f.Path, typ)
		}
		uname, gname := f.Uname, f.Gname
		if uname == "" && f.Uid == 0 {
			uname = "root"
		}
		if gname == "" && f.Gid == 0 {
			gname = "root"
		}
		ftime := f.ModTime
		if ftime.IsZero() {
			ftime = mt
		}
		hdr := &tar.Header{
			Typeflag: typ,
			Name:     name,
			Linkname: link,
			Mode:     mode,
			Uid:      f.Uid,
			Gid:      f.Gid,
			Uname:    uname,
			Gname:    gname,
			ModTime:  ftime.Truncate(time.Second),
		}
		if typ == tar.TypeReg {
			hdr.Size = int64(len(f.Body))
		}
		if typ == tar.TypeChar || typ == tar.TypeBlock {
			hdr.Devmajor, hdr.Devminor = f.Devmajor, f.Devminor
		}
		if len(f.PAXRecords) > 0 {
			hdr.PAXRecords = f.PAXRecords
			hdr.Format = tar.FormatPAX
		} else {
			hdr.Format = tar.FormatGNU
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, info, fmt.Errorf("%s: %w", f.Path, err)
		}
		if typ == tar.TypeReg {
			if _, err := tw.Write(f.Body); err != nil {
				return nil, info, fmt.Errorf("%s: %w", f.Path, err)
			}
		}

		// Installed-Size as dpkg-gencontrol counts it: file sizes rounded
		// up to KiB, one KiB for every other entry but the root and
		// hardlinks (counted with their target).
		switch {
		case typ == tar.TypeReg:
			info.installedSize += (int64(len(f.Body)) + 1023) / 1024
		case typ == tar.TypeLink, clean && rel == "":
		default:
			info.installedSize++
		}
		if !clean || rel == "" {
			continue
		}
		modes[rel] = mode
		var body []byte
		switch typ {
		case tar.TypeReg:
			body = f.Body
		case tar.TypeLink:
			lr, ok := cleanRel(f.Linkname)
			b, found := bodies[lr]
			if !ok || !found {
				continue
			}
			body = b
		default:
			continue
		}
		bodies[rel] = body
		if !conf[rel] {
			h := md5.Sum(body)
			fmt.Fprintf(&sums, "%s  %s\n", hex.EncodeToString(h[:]), rel)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, info, err
	}
	info.md5sums = sums.Bytes()
	return buf.Bytes(), info, nil
}

// withParents inserts "./" and the missing parent directories of clean
// paths before their first child, skipping paths listed explicitly.
func withParents(files []File) []File {
	explicit := map[string]bool{}
	for _, f := range files {
		// Any entry counts, not only directories: a test may put a symlink
		// where a parent directory would go.
		if rel, ok := cleanRel(f.Path); ok {
			explicit[rel] = true
		}
	}
	added := map[string]bool{}
	var out []File
	add := func(rel string) {
		if explicit[rel] || added[rel] {
			return
		}
		added[rel] = true
		p := "./"
		if rel != "" {
			p = "./" + rel + "/"
		}
		out = append(out, File{Path: p, Type: tar.TypeDir})
	}
	for _, f := range files {
		if rel, ok := cleanRel(f.Path); ok && rel != "" {
			add("")
			parts := strings.Split(rel, "/")
			for i := 1; i < len(parts); i++ {
				add(strings.Join(parts[:i], "/"))
			}
		}
		out = append(out, f)
	}
	return out
}

// Field orders: dpkg-gencontrol's for a .deb control file.
var controlOrder = []string{
	"Package", "Package-Type", "Source", "Version", "Built-For-Profiles",
	"Auto-Built-Package", "Architecture", "Subarchitecture",
	"Installer-Menu-Item", "Build-Essential", "Essential", "Protected",
	"Origin", "Bugs", "Maintainer", "Installed-Size",
	"Pre-Depends", "Depends", "Recommends", "Suggests", "Enhances",
	"Conflicts", "Breaks", "Replaces", "Provides", "Built-Using",
	"Static-Built-Using", "Section", "Priority", "Multi-Arch", "Homepage",
	"Description",
}

// controlFields returns the control fields of d, defaults filled in.
func controlFields(d Deb, installedSize int64) []Field {
	fs := []Field{
		{"Package", d.Name},
		{"Version", d.Version},
		{"Architecture", d.arch()},
		{"Maintainer", "Test Maintainer <maint@example.org>"},
		{"Installed-Size", strconv.FormatInt(installedSize, 10)},
		{"Description", d.Name + " test package\nGenerated by testarchive for tests."},
	}
	for _, f := range d.Fields {
		if i := slices.IndexFunc(fs, func(g Field) bool { return strings.EqualFold(g.Name, f.Name) }); i >= 0 {
			fs[i].Value = f.Value
			continue
		}
		fs = append(fs, f)
	}
	return fs
}

// order sorts fields by their position in order. Unknown fields keep
// their relative order and go right after the field named unknownAfter
// (at the end if that is "" or not in order).
func order(fs []Field, order []string, unknownAfter string) []Field {
	unknown := 2 * len(order)
	for i, o := range order {
		if o == unknownAfter {
			unknown = 2*i + 1
		}
	}
	rank := func(name string) int {
		for i, o := range order {
			if strings.EqualFold(o, name) {
				return 2 * i
			}
		}
		return unknown
	}
	out := slices.Clone(fs)
	sort.SliceStable(out, func(i, j int) bool { return rank(out[i].Name) < rank(out[j].Name) })
	return out
}

// writeFields writes a deb822 stanza (without the blank line after it).
func writeFields(b *bytes.Buffer, fs []Field) {
	for _, f := range fs {
		b.WriteString(f.Name)
		b.WriteByte(':')
		lines := strings.Split(f.Value, "\n")
		if lines[0] != "" {
			b.WriteByte(' ')
			b.WriteString(lines[0])
		}
		b.WriteByte('\n')
		for _, l := range lines[1:] {
			switch {
			case l == "" || l == " ":
				l = " ."
			case l[0] != ' ' && l[0] != '\t':
				l = " " + l
			}
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
}

// maintainer scripts are executable; the other control members are not.
var executableMember = map[string]bool{"preinst": true, "postinst": true, "prerm": true, "postrm": true, "config": true}

func controlTar(d Deb, info dataInfo) ([]byte, error) {
	members := map[string][]byte{}
	if d.Control != "" {
		members["control"] = []byte(d.Control)
	} else {
		var b bytes.Buffer
		writeFields(&b, order(controlFields(d, info.installedSize), controlOrder, ""))
		members["control"] = b.Bytes()
	}
	if len(info.md5sums) > 0 {
		members["md5sums"] = info.md5sums
	}
	if len(d.Conffiles) > 0 {
		members["conffiles"] = []byte(strings.Join(d.Conffiles, "\n") + "\n")
	}
	for name, body := range d.Scripts {
		members[name] = []byte(body)
	}
	names := make([]string, 0, len(members))
	for n := range members {
		names = append(names, n)
	}
	sort.Strings(names)

	mt := d.mtime()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr := func(name string, typ byte, mode, size int64) *tar.Header {
		return &tar.Header{Typeflag: typ, Name: name, Mode: mode, Size: size, Uname: "root", Gname: "root", ModTime: mt, Format: tar.FormatGNU}
	}
	if err := tw.WriteHeader(hdr("./", tar.TypeDir, 0755, 0)); err != nil {
		return nil, err
	}
	for _, n := range names {
		mode := int64(0644)
		if executableMember[n] {
			mode = 0755
		}
		if err := tw.WriteHeader(hdr("./"+n, tar.TypeReg, mode, int64(len(members[n])))); err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		if _, err := tw.Write(members[n]); err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
