package bootstrap

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/debstrap/debstrap/apt"
	"github.com/debstrap/debstrap/deb"
)

// IsDebPath reports whether an --include item names a local .deb file
// rather than a package: like apt (and mmdebstrap), a path, that is
// something with a "/" ending in ".deb".
func IsDebPath(s string) bool {
	return strings.Contains(s, "/") && strings.HasSuffix(s, ".deb")
}

// localDebs turns the .deb paths among includes into candidates, and the
// includes into what the resolver takes: each .deb becomes
// "name:arch=version", so that exactly that file is installed, as
// "apt-get install ./pkg.deb" does, its dependencies from the archives.
func localDebs(includes []string, archs []string) (pkgs []*apt.Package, rest []string, err error) {
	for _, inc := range includes {
		if !IsDebPath(inc) {
			rest = append(rest, inc)
			continue
		}
		p, err := localDeb(inc)
		if err != nil {
			return nil, nil, fmt.Errorf("--include %s: %w", inc, err)
		}
		if p.Architecture != "all" && !slices.Contains(archs, p.Architecture) {
			return nil, nil, fmt.Errorf("--include %s: architecture %s is not one of the build's (%s; see --architectures)", inc, p.Architecture, strings.Join(archs, ","))
		}
		pkgs = append(pkgs, p)
		spec := p.Name
		if p.Architecture != "all" && p.Architecture != archs[0] {
			spec += ":" + p.Architecture
		}
		rest = append(rest, spec+"="+p.Version)
	}
	return pkgs, rest, nil
}

// localDeb reads a .deb's control file and hashes it; the package is then
// downloaded, like any other, from its file:// URL and checked against
// that hash.
func localDeb(path string) (*apt.Package, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(abs)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	size, err := io.Copy(h, f)
	if err != nil {
		return nil, fmt.Errorf("reading: %w", err)
	}
	p, err := debPackage(abs)
	if err != nil {
		return nil, err
	}
	p.Filename, p.Size, p.SHA256 = url.PathEscape(filepath.Base(abs)), size, hex.EncodeToString(h.Sum(nil))
	p.Index = &apt.Index{
		Mirror:       (&url.URL{Scheme: "file", Path: filepath.Dir(abs)}).String(),
		Suite:        "local",
		Component:    "local",
		Architecture: p.Architecture,
		Order:        -1,
	}
	return p, nil
}

// debPackage is the package the .deb at path describes (controlPackage).
func debPackage(path string) (*apt.Package, error) {
	d, err := deb.Open(path)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	c, err := d.Control()
	if err != nil {
		return nil, err
	}
	return controlPackage(c)
}

// controlPackage is the package a .deb's control file describes, as an
// index stanza would (without the pool path, size and hash).
func controlPackage(c *deb.Control) (*apt.Package, error) {
	var err error
	p := &apt.Package{
		Name:         c.Get("Package"),
		Version:      c.Get("Version"),
		Architecture: c.Get("Architecture"),
		MultiArch:    c.Get("Multi-Arch"),
		Essential:    c.Get("Essential") == "yes",
		Protected:    c.Get("Protected") == "yes",
		Priority:     c.Get("Priority"),
		Section:      c.Get("Section"),
		Source:       c.Get("Source"),
		Depends:      c.Get("Depends"),
		PreDepends:   c.Get("Pre-Depends"),
		Recommends:   c.Get("Recommends"),
		Suggests:     c.Get("Suggests"),
		Conflicts:    c.Get("Conflicts"),
		Breaks:       c.Get("Breaks"),
		Provides:     c.Get("Provides"),
		Replaces:     c.Get("Replaces"),
	}
	switch {
	case p.Name == "" || p.Version == "" || p.Architecture == "":
		return nil, fmt.Errorf("control file lacks Package, Version or Architecture")
	case strings.ContainsAny(p.Name+p.Version+p.Architecture, " \t/"):
		return nil, fmt.Errorf("control file: bad Package %q, Version %q or Architecture %q", p.Name, p.Version, p.Architecture)
	}
	if s := c.Get("Installed-Size"); s != "" {
		if p.InstalledSize, err = strconv.ParseInt(s, 10, 64); err != nil || p.InstalledSize < 0 {
			return nil, fmt.Errorf("control file: bad Installed-Size %q", s)
		}
	}
	return p, nil
}
