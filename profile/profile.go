// Package profile makes a root the way a well-known image is made, over
// the variant's package set: "docker" is the root of Docker's official
// debian:SUITE image (built by debuerreotype) or ubuntu:SUITE image (built
// by Canonical's livecd-rootfs), "docker-slim" that of debian:SUITE-slim.
//
// A profile works on the staging root at three points of a build (see
// bootstrap): the image's apt sources (Sources), what the image's tools
// leave after configuring (Configured: container configuration files,
// apt's marks, slim's path excludes), and what their tarball leaves out
// (Finish). Each step is the named tool's, reproduced on the metadata
// table; docs/fidelity.md lists what still differs, and why.
package profile

import (
	"fmt"
	"strings"

	"github.com/debstrap/debstrap/distro"
)

// Names are the profiles there are.
var Names = []string{"docker", "docker-slim"}

// Profile is one of Names.
type Profile struct {
	Name string
	Slim bool // debian:SUITE-slim's path excludes
}

// Parse returns the profile called name; nil for "".
func Parse(name string) (*Profile, error) {
	switch name {
	case "":
		return nil, nil
	case "docker":
		return &Profile{Name: name}, nil
	case "docker-slim":
		return &Profile{Name: name, Slim: true}, nil
	}
	return nil, fmt.Errorf("no profile %q: there are %s", name, strings.Join(Names, ", "))
}

// Variant is the package set the profile starts from: debootstrap's
// minbase, as debuerreotype and livecd-rootfs use.
func (p *Profile) Variant() string { return "minbase" }

// MergedUsr says the profile merges /usr the debootstrap way (the links
// made before unpacking, usr-is-merged rather than usrmerge), as
// debuerreotype does for bookworm and later.
func (p *Profile) MergedUsr() bool { return true }

// Check refuses what the profile does not know how to make: Debian
// before bookworm, Ubuntu before noble, and a slim Ubuntu (its image is
// minimized already).
func (p *Profile) Check(rel distro.Release) error {
	if p == nil {
		return nil
	}
	if p.Slim && rel.Distribution == distro.Ubuntu {
		return fmt.Errorf("--profile=%s: Docker has no slim Ubuntu image (ubuntu:%s is minimized already): use --profile=docker", p.Name, rel.Codename)
	}
	if rel.Distribution == distro.Ubuntu && rel.Codename != "" && !rel.AtLeast("noble") {
		return fmt.Errorf("--profile=%s: %s is older than noble; its official image has sources.list, no user ubuntu and usrmerge, which this profile does not reproduce", p.Name, rel.Codename)
	}
	if rel.Distribution == distro.Debian && rel.Codename != "" && !rel.AtLeast("bookworm") {
		return fmt.Errorf("--profile=%s: %s is older than bookworm; debuerreotype builds it without merged /usr and with sources.list, which this profile does not reproduce", p.Name, rel.Codename)
	}
	return nil
}
