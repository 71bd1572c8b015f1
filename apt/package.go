package apt

// Package is the part of one Packages stanza that resolving and downloading
// need. Relation fields are kept as the archive wrote them and parsed only
// for the packages the resolver actually visits: a full main index has some
// 60,000 stanzas and most are never looked at.
type Package struct {
	Name          string
	Version       string
	Architecture  string
	MultiArch     string // "", "same", "foreign", "allowed"
	Essential     bool
	Protected     bool
	Priority      string
	Section       string
	Source        string
	InstalledSize int64

	Depends    string
	PreDepends string
	Recommends string
	Suggests   string
	Conflicts  string
	Breaks     string
	Provides   string
	Replaces   string

	Filename string // relative to the mirror root
	Size     int64
	SHA256   string

	// Index is the Packages index this stanza came from; it carries the
	// mirror and suite, hence where to download Filename from.
	Index *Index
}

// Index names one Packages index of one source.
type Index struct {
	Mirror       string // base URL, no trailing slash
	Suite        string // as asked (e.g. "bookworm-updates")
	Codename     string // from Release
	Component    string
	Architecture string
	// Order is the position of the source on the command line: apt gives
	// equal pin priority to all, so it only breaks ties between equal versions.
	Order int
}

// URL is where the .deb of p is downloaded from.
func (p *Package) URL() string { return p.Index.Mirror + "/" + p.Filename }
