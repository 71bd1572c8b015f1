package sbom

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"time"

	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx"
	"github.com/spdx/tools-golang/spdx/v2/common"
)

const noAssertion = "NOASSERTION"

// namespaceBase starts every SPDX document namespace, as the SPDX
// specification suggests for documents not published anywhere.
const namespaceBase = "https://spdx.org/spdxdocs/debstrap/"

// WriteSPDX writes d as an SPDX 2.3 JSON document: a root package for the
// distribution (purpose OPERATING-SYSTEM), which the document DESCRIBES
// and which CONTAINS every package, and PKG DEPENDS_ON relationships.
// Each package has its version, supplier (the Maintainer), purl, source
// package (sourceInfo), declared license (NOASSERTION when unknown) and,
// when known, the .deb's SHA-256. The namespace ends in a UUID derived
// from the document's content.
func WriteSPDX(w io.Writer, d *Doc, opts Options) error {
	name := opts.name(d)
	uuid, err := docUUID(d, SPDX, opts)
	if err != nil {
		return err
	}
	doc := &spdx.Document{
		SPDXVersion:       spdx.Version,
		DataLicense:       spdx.DataLicense,
		SPDXIdentifier:    "DOCUMENT",
		DocumentName:      name,
		DocumentNamespace: namespaceBase + url.PathEscape(name) + "-" + uuid,
		CreationInfo: &spdx.CreationInfo{
			Creators: []common.Creator{{CreatorType: "Tool", Creator: opts.tool()}},
			Created:  opts.created().Format(time.RFC3339),
		},
	}
	const rootID = "OperatingSystem"
	root := &spdx.Package{
		PackageName:             cmpOr(d.OS.ID, name),
		PackageSPDXIdentifier:   rootID,
		PackageVersion:          cmpOr(d.OS.VersionID, d.OS.Codename),
		PackageDownloadLocation: noAssertion,
		PackageLicenseConcluded: noAssertion,
		PackageLicenseDeclared:  noAssertion,
		PackageCopyrightText:    noAssertion,
		PackageDescription:      d.OS.PrettyName,
		PrimaryPackagePurpose:   "OPERATING-SYSTEM",
	}
	doc.Packages = append(doc.Packages, root)
	rel := func(a, typ, b string) {
		doc.Relationships = append(doc.Relationships, &spdx.Relationship{
			RefA:         common.DocElementID{ElementRefID: common.ElementID(a)},
			RefB:         common.DocElementID{ElementRefID: common.ElementID(b)},
			Relationship: typ,
		})
	}
	rel("DOCUMENT", common.TypeRelationshipDescribe, rootID)

	ids := packageIDs(d.Packages)
	byKey := map[string]string{}
	for i := range d.Packages {
		byKey[d.Packages[i].Key()] = ids[i]
	}
	for i := range d.Packages {
		p := &d.Packages[i]
		sp := &spdx.Package{
			PackageName:             p.Name,
			PackageSPDXIdentifier:   common.ElementID(ids[i]),
			PackageVersion:          p.Version,
			PackageSupplier:         supplier(p.Maintainer),
			PackageDownloadLocation: noAssertion,
			PackageSourceInfo:       sourceInfo(p),
			PackageLicenseConcluded: noAssertion,
			PackageLicenseDeclared:  declared(p.Licenses),
			PackageCopyrightText:    noAssertion,
			PackageSummary:          p.Summary,
			PackageExternalReferences: []*spdx.PackageExternalReference{{
				Category: common.CategoryPackageManager,
				RefType:  common.TypePackageManagerPURL,
				Locator:  p.PURL,
			}},
		}
		if strings.HasPrefix(p.Homepage, "https://") || strings.HasPrefix(p.Homepage, "http://") {
			sp.PackageHomePage = p.Homepage
		}
		if p.SHA256 != "" {
			sp.PackageChecksums = []common.Checksum{{Algorithm: common.SHA256, Value: p.SHA256}}
		}
		if p.Status != "installed" {
			sp.PackageComment = "dpkg status: " + p.Status
		}
		doc.Packages = append(doc.Packages, sp)
		rel(rootID, common.TypeRelationshipContains, ids[i])
	}
	for i := range d.Packages {
		for _, k := range d.Packages[i].Depends {
			if id, ok := byKey[k]; ok {
				rel(ids[i], common.TypeRelationshipDependsOn, id)
			}
		}
	}
	for _, id := range usedRefs(d) {
		doc.OtherLicenses = append(doc.OtherLicenses, &spdx.OtherLicense{
			LicenseIdentifier: id,
			LicenseName:       cmpOr(d.LicenseRefs[id], strings.TrimPrefix(id, "LicenseRef-")),
			ExtractedText:     cmpOr(d.LicenseRefs[id], strings.TrimPrefix(id, "LicenseRef-")),
			LicenseComment:    "A license name of Debian machine-readable copyright files (usr/share/doc/PACKAGE/copyright) that has no SPDX identifier.",
		})
	}
	if err := spdxjson.Write(doc, w, spdxjson.Indent("  "), spdxjson.EscapeHTML(false)); err != nil {
		return fmt.Errorf("write SPDX document: %w", err)
	}
	return nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// packageIDs gives each package an SPDX id (without the SPDXRef- prefix):
// "Package-deb-NAME-ARCH", characters SPDX ids cannot hold written "-",
// and "-2", "-3"… after an id taken before.
func packageIDs(pkgs []Package) []string {
	clean := func(s string) string {
		return strings.Map(func(r rune) rune {
			if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '.' || r == '-' {
				return r
			}
			return '-'
		}, s)
	}
	ids := make([]string, len(pkgs))
	taken := map[string]bool{}
	for i := range pkgs {
		base := "Package-deb-" + clean(pkgs[i].Name) + "-" + clean(pkgs[i].Architecture)
		id := base
		for n := 2; taken[id]; n++ {
			id = fmt.Sprintf("%s-%d", base, n)
		}
		taken[id] = true
		ids[i] = id
	}
	return ids
}

// supplier is a Maintainer field as an SPDX supplier: "Organization: NAME
// (EMAIL)" for a team, "Person: …" otherwise.
func supplier(maintainer string) *common.Supplier {
	name, email := splitMaintainer(maintainer)
	if name == "" && email == "" {
		return &common.Supplier{Supplier: noAssertion}
	}
	s := name
	if email != "" {
		s = strings.TrimSpace(name + " (" + email + ")")
	}
	return &common.Supplier{Supplier: s, SupplierType: maintainerKind(name)}
}

// splitMaintainer splits "Name <email>" (RFC 822 style, as Debian writes
// the Maintainer field).
func splitMaintainer(m string) (name, email string) {
	m = strings.TrimSpace(m)
	if i := strings.LastIndexByte(m, '<'); i >= 0 && strings.HasSuffix(m, ">") {
		return strings.TrimSpace(m[:i]), m[i+1 : len(m)-1]
	}
	return m, ""
}

// maintainerKind says whether a maintainer's name is a team's
// ("Organization": "Debian Perl Group", "GNU Libc Maintainers", "Ubuntu
// Developers") or a person's.
func maintainerKind(name string) string {
	for _, w := range strings.Fields(strings.ToLower(name)) {
		switch strings.Trim(w, ".,()") {
		case "maintainers", "team", "developers", "group", "project", "packagers":
			return "Organization"
		}
	}
	return "Person"
}

// sourceInfo names the source package a package was built from.
func sourceInfo(p *Package) string {
	if p.Source == "" {
		return ""
	}
	return "built from source package " + p.Source + " (" + cmpOr(p.SourceVersion, p.Version) + ")"
}

// declared is a package's licenses as one SPDX expression: all of them
// ANDed (each covers some of the package's files), NOASSERTION if none is
// known.
func declared(licenses []string) string {
	switch len(licenses) {
	case 0:
		return noAssertion
	case 1:
		return licenses[0]
	}
	parts := make([]string, len(licenses))
	for i, l := range licenses {
		parts[i] = paren(l)
	}
	return strings.Join(parts, " AND ")
}

// usedRefs lists the LicenseRef- ids the packages' licenses use, sorted.
func usedRefs(d *Doc) []string {
	var out []string
	for i := range d.Packages {
		for _, l := range d.Packages[i].Licenses {
			for _, f := range strings.FieldsFunc(l, func(r rune) bool { return r == ' ' || r == '(' || r == ')' }) {
				if strings.HasPrefix(f, "LicenseRef-") && !slices.Contains(out, f) {
					out = append(out, f)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// docUUID is a name-based UUID (RFC 9562 version 8, from SHA-256) of all
// a document says: the same root, format and options give the same id,
// and any change another.
func docUUID(d *Doc, f Format, opts Options) (string, error) {
	h := sha256.New()
	err := json.NewEncoder(h).Encode(struct {
		Format     Format
		Name, Tool string
		Created    time.Time
		Doc        *Doc
	}{f, opts.name(d), opts.tool(), opts.created(), d})
	if err != nil {
		return "", err
	}
	b := h.Sum(nil)[:16]
	b[6] = b[6]&0x0f | 0x80 // version 8
	b[8] = b[8]&0x3f | 0x80 // variant 10
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}
