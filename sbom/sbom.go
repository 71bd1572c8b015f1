// Package sbom describes the Debian packages installed in a root
// filesystem as a software bill of materials, SPDX 2.3 or CycloneDX 1.6
// JSON.
//
// Collect reads what the root itself says: the dpkg database
// (var/lib/dpkg/status), each package's machine-readable copyright file
// (usr/share/doc/PACKAGE/copyright) and os-release. What the root does
// not hold, the SHA-256 of each .deb, a build adds with SetDebSHA256.
// WriteSPDX and WriteCycloneDX write the document with the SPDX and
// CycloneDX libraries; the same root and Options give the same bytes.
package sbom

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/debstrap/debstrap/manifest"
)

// Doc is what an SBOM says about a root.
type Doc struct {
	OS OSRelease
	// Packages are the packages dpkg has on the root (every status but
	// not-installed and config-files), sorted by name, then architecture.
	Packages []Package
	// LicenseRefs maps each LicenseRef-… in the packages' licenses to the
	// name the copyright files give that license ("public-domain").
	LicenseRefs map[string]string
}

// OSRelease is what the root's os-release says of its distribution.
type OSRelease struct {
	ID         string // "debian", "ubuntu"
	VersionID  string // "12", "24.04"; "" for Debian testing and unstable
	Codename   string // "bookworm", "noble"
	PrettyName string // "Debian GNU/Linux 12 (bookworm)"
}

// Distro is the purl "distro" qualifier: ID-VERSION_ID ("debian-12",
// "ubuntu-24.04"), ID-codename for a release without a VERSION_ID
// ("debian-trixie"), "" when os-release names no distribution.
func (o OSRelease) Distro() string {
	switch {
	case o.ID == "":
		return ""
	case o.VersionID != "":
		return o.ID + "-" + o.VersionID
	case o.Codename != "":
		return o.ID + "-" + o.Codename
	}
	return o.ID
}

// Package is one binary package of the root, as dpkg knows it.
type Package struct {
	Name         string
	Version      string
	Architecture string
	// Status is dpkg's state of the package: "installed", or in a root
	// not (fully) configured "unpacked", "half-configured", ….
	Status    string
	MultiArch string // "same", "foreign", "allowed" or ""
	// Source and SourceVersion are the Source field's: the source package
	// and, when it differs from Version, its version. Both are "" for a
	// package built from the source package of its own name and version.
	Source        string
	SourceVersion string
	Maintainer    string // "Name <email>"
	Homepage      string
	Summary       string // the Description's first line
	// Licenses are SPDX license expressions, one per distinct License of
	// the copyright file, sorted; nil when the file is missing or is not
	// machine-readable (the documents say NOASSERTION).
	Licenses []string
	// SHA256 is the hex digest of the .deb, when known (SetDebSHA256).
	SHA256 string
	// Depends lists, by Key, the packages of the root that satisfy an
	// alternative of the package's Depends or Pre-Depends, sorted.
	Depends []string
	// PURL is the package URL, as syft writes it:
	// pkg:deb/debian/NAME@VERSION?arch=ARCH&distro=debian-12[&upstream=SOURCE].
	PURL string
}

// Key is "NAME:ARCH", which names the package among the root's.
func (p *Package) Key() string { return p.Name + ":" + p.Architecture }

// SetDebSHA256 records the SHA-256 of the .deb each package was installed
// from: m maps a package's Key to the hex digest. Packages m does not
// name keep theirs.
func (d *Doc) SetDebSHA256(m map[string]string) {
	for i := range d.Packages {
		if s, ok := m[d.Packages[i].Key()]; ok {
			d.Packages[i].SHA256 = strings.ToLower(s)
		}
	}
}

// The files Collect reads, unrooted as io/fs names them.
const (
	statusFile    = "var/lib/dpkg/status"
	osRelease     = "etc/os-release"
	osReleaseUsr  = "usr/lib/os-release"
	docDir        = "usr/share/doc"
	copyrightName = "copyright"
)

// The most Collect reads of one file.
const (
	maxStatus    = 256 << 20
	maxCopyright = 16 << 20
	maxOSRelease = 64 << 10
)

// Wanted tells whether Collect may read the file at p, an absolute path
// in the root ("/etc/os-release"): for manifest.ReadFiles.
func Wanted(p string) bool {
	switch p {
	case "/" + statusFile, "/" + osRelease, "/" + osReleaseUsr:
		return true
	}
	dir, base := path.Split(p)
	return base == copyrightName && path.Dir(path.Clean(dir)) == "/"+docDir
}

// Read collects the SBOM of an image, any kind manifest.Read accepts: a
// directory, a tarball, an OCI layout or archive, a docker-archive.
func Read(ctx context.Context, image string) (*Doc, error) {
	files, err := manifest.ReadFiles(ctx, image, Wanted)
	if err != nil {
		return nil, err
	}
	d, err := Collect(files)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", image, err)
	}
	return d, nil
}

// Collect reads a root: fsys holds its files under unrooted names
// ("var/lib/dpkg/status"), as os.DirFS(dir) or manifest.Files do. When
// fsys is an fs.ReadLinkFS, Collect follows symbolic links itself, inside
// the root as chroot would (an absolute target starts at the root, ".."
// stops there): a doc directory that is a link to another package's, an
// os-release that is a link to usr/lib. It never follows one out of the
// root, nor opens what is not a regular file.
func Collect(fsys fs.FS) (*Doc, error) {
	status, err := readFile(fsys, statusFile, maxStatus)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: no dpkg database, so not a Debian or Ubuntu root", statusFile)
	}
	if err != nil {
		return nil, err
	}
	rel, err := readOSRelease(fsys)
	if err != nil {
		return nil, err
	}
	entries, err := parseStatus(status)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", statusFile, err)
	}
	d := &Doc{OS: rel, LicenseRefs: map[string]string{}}
	deps := dependencies(entries, nativeArch(entries))
	cache := map[string][]string{} // licenses by copyright file, links resolved
	for i, e := range entries {
		p := e.pkg
		p.Licenses, err = packageLicenses(fsys, p.Name, cache, d.LicenseRefs)
		if err != nil {
			return nil, fmt.Errorf("package %s: %w", p.Key(), err)
		}
		p.Depends = deps[i]
		p.PURL = purl(&p, rel)
		d.Packages = append(d.Packages, p)
	}
	return d, nil
}

// packageLicenses reads the licenses of a package's copyright file.
func packageLicenses(fsys fs.FS, name string, cache map[string][]string, refs map[string]string) ([]string, error) {
	p := path.Join(docDir, name, copyrightName)
	real, err := resolveRegular(fsys, p)
	if err != nil {
		if missing(err) {
			return nil, nil
		}
		return nil, err
	}
	if ls, ok := cache[real]; ok {
		return ls, nil
	}
	data, err := readResolved(fsys, p, real, maxCopyright)
	if err != nil {
		if missing(err) {
			return nil, nil
		}
		return nil, err
	}
	ls := copyrightLicenses(data, refs)
	cache[real] = ls
	return ls, nil
}

// missing tells whether err means a file the root does not have (or not
// as a regular file one may read), which the SBOM records as unknown.
func missing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, errNotRegular) || errors.Is(err, manifest.ErrNotRead)
}

func readOSRelease(fsys fs.FS) (OSRelease, error) {
	for _, name := range []string{osRelease, osReleaseUsr} {
		data, err := readFile(fsys, name, maxOSRelease)
		if missing(err) {
			continue
		}
		if err != nil {
			return OSRelease{}, err
		}
		return parseOSRelease(data), nil
	}
	return OSRelease{}, nil
}

// parseOSRelease reads os-release(5): KEY=VALUE lines, values quoted as in
// the shell.
func parseOSRelease(data []byte) OSRelease {
	var o OSRelease
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		v = unquote(strings.TrimSpace(v))
		switch k {
		case "ID":
			o.ID = v
		case "VERSION_ID":
			o.VersionID = v
		case "VERSION_CODENAME":
			o.Codename = v
		case "PRETTY_NAME":
			o.PrettyName = v
		}
	}
	return o
}

func unquote(v string) string {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		q := v[0]
		v = v[1 : len(v)-1]
		if q == '"' {
			var b strings.Builder
			for i := 0; i < len(v); i++ {
				if v[i] == '\\' && i+1 < len(v) && strings.IndexByte("\"\\$`", v[i+1]) >= 0 {
					i++
				}
				b.WriteByte(v[i])
			}
			v = b.String()
		}
	}
	return v
}

var errNotRegular = errors.New("not a regular file")

// maxLinks is how many symbolic links a path may go through, as for
// Linux's path resolution.
const maxLinks = 40

// resolve returns name with every symbolic link in it followed inside the
// root, when fsys can read links; name unchanged otherwise.
func resolve(fsys fs.FS, name string) (string, error) {
	lfs, ok := fsys.(fs.ReadLinkFS)
	if !ok {
		return name, nil
	}
	var done []string
	todo := strings.Split(name, "/")
	links := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(done) > 0 {
				done = done[:len(done)-1]
			}
			continue
		}
		p := path.Join(append(done, c)...)
		fi, err := lfs.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return "", &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		}
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			if len(todo) > 0 && !fi.IsDir() {
				return "", &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
			}
			done = append(done, c)
			continue
		}
		if links++; links > maxLinks {
			return "", &fs.PathError{Op: "open", Path: name, Err: errors.New("too many levels of symbolic links")}
		}
		target, err := lfs.ReadLink(p)
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(target, "/") {
			done = done[:0]
		}
		todo = append(strings.Split(target, "/"), todo...)
	}
	if len(done) == 0 {
		return ".", nil
	}
	return path.Join(done...), nil
}

// resolveRegular resolves name and checks that it ends at a regular file.
func resolveRegular(fsys fs.FS, name string) (string, error) {
	real, err := resolve(fsys, name)
	if err != nil {
		return "", err
	}
	var fi fs.FileInfo
	if lfs, ok := fsys.(fs.ReadLinkFS); ok {
		fi, err = lfs.Lstat(real)
	} else {
		fi, err = fs.Stat(fsys, real)
	}
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", &fs.PathError{Op: "open", Path: name, Err: errNotRegular}
	}
	return real, nil
}

// readFile reads the regular file name resolves to, at most limit bytes.
func readFile(fsys fs.FS, name string, limit int64) ([]byte, error) {
	real, err := resolveRegular(fsys, name)
	if err != nil {
		return nil, err
	}
	return readResolved(fsys, name, real, limit)
}

func readResolved(fsys fs.FS, name, real string, limit int64) ([]byte, error) {
	f, err := fsys.Open(real)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, limit)
	}
	return data, nil
}

// Options are what a document says besides the root's packages.
type Options struct {
	// Version is debstrap's: the creator is "Tool: debstrap-VERSION".
	Version string
	// Created is the document's creation time, meant to be
	// SOURCE_DATE_EPOCH; the zero Time means the Unix epoch, so that the
	// same root always gives the same document.
	Created time.Time
	// Name names the document and the root it describes; "" means the
	// distribution, e.g. "debian-12".
	Name string
}

func (o Options) created() time.Time {
	if o.Created.IsZero() {
		return time.Unix(0, 0).UTC()
	}
	return o.Created.UTC().Truncate(time.Second)
}

func (o Options) tool() string {
	v := o.Version
	if v == "" {
		v = "unknown"
	}
	return "debstrap-" + v
}

func (o Options) name(d *Doc) string {
	switch {
	case o.Name != "":
		return o.Name
	case d.OS.Distro() != "":
		return d.OS.Distro()
	}
	return "root"
}

// Format is a document format.
type Format string

const (
	SPDX      Format = "spdx"      // SPDX 2.3 JSON
	CycloneDX Format = "cyclonedx" // CycloneDX 1.6 JSON
)

// Formats lists every format in the order help texts show them.
var Formats = []Format{SPDX, CycloneDX}

// FormatFor returns explicit as a Format (spdx, spdx-json, cyclonedx,
// cyclonedx-json, cdx), or when it is "" the format file's name says:
// "*.cdx.json" or "*.cyclonedx.json" CycloneDX, anything else SPDX
// ("*.spdx.json", standard output).
func FormatFor(file, explicit string) (Format, error) {
	switch strings.ToLower(explicit) {
	case "spdx", "spdx-json":
		return SPDX, nil
	case "cyclonedx", "cyclonedx-json", "cdx", "cdx-json":
		return CycloneDX, nil
	case "":
	default:
		return "", fmt.Errorf("unknown SBOM format %q: known formats are spdx and cyclonedx", explicit)
	}
	base := strings.ToLower(path.Base(file))
	if strings.HasSuffix(base, ".cdx.json") || strings.HasSuffix(base, ".cyclonedx.json") {
		return CycloneDX, nil
	}
	return SPDX, nil
}

// MediaType is the format's media type, the artifactType of an SBOM
// attached to an OCI image.
func (f Format) MediaType() string {
	if f == CycloneDX {
		return "application/vnd.cyclonedx+json"
	}
	return "application/spdx+json"
}

// Write writes d in format f.
func Write(w io.Writer, d *Doc, f Format, opts Options) error {
	switch f {
	case SPDX:
		return WriteSPDX(w, d, opts)
	case CycloneDX:
		return WriteCycloneDX(w, d, opts)
	}
	return fmt.Errorf("unknown SBOM format %q", f)
}

// Bytes is Write to memory, for a file or an OCI artifact.
func Bytes(d *Doc, f Format, opts Options) ([]byte, error) {
	var buf bytes.Buffer
	if err := Write(&buf, d, f, opts); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
