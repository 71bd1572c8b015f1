// Package distro knows the suites of Debian and Ubuntu: which distribution a
// suite name belongs to, and in what order releases came. It picks defaults
// (keyring, components, merged /usr) before anything is fetched.
package distro

import "strings"

// Distribution is "debian" or "ubuntu".
type Distribution string

const (
	Debian Distribution = "debian"
	Ubuntu Distribution = "ubuntu"
)

// Release is one release of a distribution.
type Release struct {
	Distribution Distribution
	Codename     string
	// Order increases with each release of a distribution.
	Order int
}

// Debian releases, oldest first. The aliases below map onto these.
var debianCodenames = []string{
	"buzz", "rex", "bo", "hamm", "slink", "potato", "woody", "sarge", "etch",
	"lenny", "squeeze", "wheezy", "jessie", "stretch", "buster", "bullseye",
	"bookworm", "trixie", "forky", "duke", "sid",
}

// Ubuntu releases from 14.04 on, oldest first.
var ubuntuCodenames = []string{
	"trusty", "xenial", "yakkety", "zesty", "artful", "bionic", "cosmic",
	"disco", "eoan", "focal", "groovy", "hirsute", "impish", "jammy",
	"kinetic", "lunar", "mantic", "noble", "oracular", "plucky", "questing",
	"resolute",
}

// Suite aliases that always name Debian, whatever release they point at today.
var debianAliases = map[string]string{
	"unstable": "sid", "experimental": "sid",
	"stable": "", "testing": "", "oldstable": "", "oldoldstable": "",
}

// Lookup finds the release a suite belongs to. It accepts pocket suffixes
// (-updates, -security, -backports, -proposed). For aliases such as
// "stable" the codename is empty: only the archive's Release file says
// which release it is today.
func Lookup(suite string) (Release, bool) {
	base := Base(suite)
	for i, c := range debianCodenames {
		if c == base {
			return Release{Distribution: Debian, Codename: c, Order: i}, true
		}
	}
	for i, c := range ubuntuCodenames {
		if c == base {
			return Release{Distribution: Ubuntu, Codename: c, Order: i}, true
		}
	}
	if c, ok := debianAliases[base]; ok {
		r := Release{Distribution: Debian, Codename: c, Order: -1}
		if c != "" {
			r, _ = Lookup(c)
		}
		return r, true
	}
	return Release{}, false
}

// Base strips a pocket suffix: "bookworm-updates" → "bookworm" (and the
// old security suite "buster/updates" → "buster").
func Base(suite string) string {
	for _, p := range []string{"-proposed-updates", "-updates", "/updates", "-security", "-backports-sloppy", "-backports", "-proposed"} {
		if s, ok := strings.CutSuffix(suite, p); ok {
			return s
		}
	}
	return suite
}

// DefaultComponents are the components used when --components is not given.
// Ubuntu's minbase needs nothing outside main either; universe is opt-in as
// with debootstrap and mmdebstrap.
func (r Release) DefaultComponents() []string { return []string{"main"} }

// AtLeast reports whether r is codename or a later release of the same
// distribution. An alias with unknown codename counts as the newest.
func (r Release) AtLeast(codename string) bool {
	o, ok := Lookup(codename)
	if !ok || o.Distribution != r.Distribution {
		return false
	}
	if r.Codename == "" {
		return true
	}
	return r.Order >= o.Order
}

// Pockets are the suites that carry a release's fixes: its -updates suite
// (on the main archive) and its security suite (on the security archive),
// which mmdebstrap adds to a stable suite's sources. Rolling suites
// (unstable, sid, experimental, testing) and suites that are themselves
// pockets have none; ok is false then, and for suites outside the table.
func Pockets(suite string) (updates, security string, ok bool) {
	r, known := Lookup(suite)
	if !known || Base(suite) != suite || strings.Contains(suite, "/") {
		return "", "", false
	}
	switch suite {
	case "sid", "unstable", "experimental", "testing":
		return "", "", false
	}
	security = suite + "-security"
	// Before bullseye Debian's security suite was "CODENAME/updates".
	if r.Distribution == Debian && r.Codename != "" && !r.AtLeast("bullseye") {
		security = suite + "/updates"
	}
	return suite + "-updates", security, true
}

// IsSecurity reports whether a suite names a security pocket
// ("bookworm-security", or "buster/updates" of old).
func IsSecurity(suite string) bool {
	return strings.HasSuffix(suite, "-security") || strings.HasSuffix(suite, "/updates")
}
