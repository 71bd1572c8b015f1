package bootstrap

import (
	"slices"
	"strings"

	"github.com/debstrap/debstrap/apt"
	"github.com/debstrap/debstrap/deb"
	"github.com/debstrap/debstrap/distro"
	"github.com/debstrap/debstrap/native"
)

// indexClass is c with the Priority and Section the archive's index gives
// p, where they differ from the control file's, for a package of the
// release itself (not of its updates or security suites): debootstrap,
// which installs the release, has dpkg read the index (its available
// file) before unpacking, and dpkg keeps that classification over the
// one a .deb brings; what apt upgrades afterwards from the pockets takes
// its .deb's. So the official images' status files have them.
func indexClass(c *deb.Control, p *apt.Package, plan *Plan) *deb.Control {
	if p == nil || p.Index == nil || len(plan.Entries) == 0 || p.Index.Suite != plan.Entries[0].Suite {
		return c
	}
	cp := *c
	cp.Fields = slices.Clone(c.Fields)
	for i, f := range cp.Fields {
		switch {
		case strings.EqualFold(f.Name, "Priority") && p.Priority != "":
			cp.Fields[i].Value = p.Priority
		case strings.EqualFold(f.Name, "Section") && p.Section != "":
			cp.Fields[i].Value = p.Section
		}
	}
	return &cp
}

// installedPackages are the plan's packages as apt's marks name them.
func installedPackages(plan *Plan) []native.Installed {
	out := make([]native.Installed, len(plan.Packages))
	for i, p := range plan.Packages {
		out[i] = native.Installed{Name: p.Name, Architecture: p.Architecture}
	}
	return out
}

// manualPackages are the packages asked for by name (--include, or the lock's),
// which the official images leave marked manually installed.
func manualPackages(cfg BuildConfig) []string {
	include := cfg.Include
	if cfg.Lock != nil {
		include = cfg.Lock.Include
	}
	var out []string
	for _, i := range include {
		if IsDebPath(i) || strings.ContainsAny(i, "?~!(") {
			continue // a file or a pattern names no package
		}
		name, _, _ := strings.Cut(i, "=")
		name, _, _ = strings.Cut(name, "/")
		out = append(out, name)
	}
	return out
}

// baseFilesMergesUsr reports whether rel's base-files ships the /bin →
// usr/bin (…) links itself: Debian from trixie on, Ubuntu from lunar on
// (and any release newer than the table knows).
func baseFilesMergesUsr(rel distro.Release) bool {
	switch rel.Distribution {
	case distro.Debian:
		return rel.AtLeast("trixie")
	case distro.Ubuntu:
		return rel.AtLeast("lunar")
	}
	return false
}
