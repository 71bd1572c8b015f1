package sbom

import packageurl "github.com/package-url/packageurl-go"

// purl is a package's package URL as syft writes it: the distribution's
// ID as namespace ("debian" when os-release names none), qualifiers arch,
// distro and, for a package built from another source package or
// version, upstream=SOURCE[@VERSION]; packageurl-go sorts them and
// escapes the version ("+" is "%2B").
func purl(p *Package, o OSRelease) string {
	ns := o.ID
	if ns == "" {
		ns = "debian"
	}
	q := map[string]string{"arch": p.Architecture}
	if d := o.Distro(); d != "" {
		q["distro"] = d
	}
	if p.Source != "" {
		q["upstream"] = p.Source
		if p.SourceVersion != "" {
			q["upstream"] += "@" + p.SourceVersion
		}
	}
	return packageurl.NewPackageURL(packageurl.TypeDebian, ns, p.Name, p.Version, packageurl.QualifiersFromMap(q), "").ToString()
}
