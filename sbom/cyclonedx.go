package sbom

import (
	"fmt"
	"io"
	"strings"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
)

// WriteCycloneDX writes d as a CycloneDX 1.6 JSON BOM: the distribution
// as metadata.component (type operating-system), one component (type
// library) per package with its purl as bom-ref, version, supplier (the
// Maintainer), declared licenses, the .deb's SHA-256 when known and the
// source package as properties, and a dependency entry per package. The
// serial number is a UUID derived from the document's content.
func WriteCycloneDX(w io.Writer, d *Doc, opts Options) error {
	name := opts.name(d)
	uuid, err := docUUID(d, CycloneDX, opts)
	if err != nil {
		return err
	}
	bom := cdx.NewBOM()
	bom.SerialNumber = "urn:uuid:" + uuid
	bom.Metadata = &cdx.Metadata{
		Timestamp: opts.created().Format(time.RFC3339),
		Tools: &cdx.ToolsChoice{Components: &[]cdx.Component{{
			Type:    cdx.ComponentTypeApplication,
			Name:    "debstrap",
			Version: cmpOr(opts.Version, "unknown"),
		}}},
		Component: &cdx.Component{
			BOMRef:      "os:" + name,
			Type:        cdx.ComponentTypeOS,
			Name:        cmpOr(d.OS.ID, name),
			Version:     cmpOr(d.OS.VersionID, d.OS.Codename),
			Description: d.OS.PrettyName,
		},
	}
	refs := map[string]string{}
	for i := range d.Packages {
		refs[d.Packages[i].Key()] = d.Packages[i].PURL
	}
	components := []cdx.Component{}
	deps := []cdx.Dependency{}
	for i := range d.Packages {
		p := &d.Packages[i]
		c := cdx.Component{
			BOMRef:      p.PURL,
			Type:        cdx.ComponentTypeLibrary,
			Supplier:    organization(p.Maintainer),
			Name:        p.Name,
			Version:     p.Version,
			Description: p.Summary,
			Licenses:    cdxLicenses(p.Licenses, d.LicenseRefs),
			PackageURL:  p.PURL,
		}
		if p.SHA256 != "" {
			c.Hashes = &[]cdx.Hash{{Algorithm: cdx.HashAlgoSHA256, Value: p.SHA256}}
		}
		if strings.HasPrefix(p.Homepage, "https://") || strings.HasPrefix(p.Homepage, "http://") {
			c.ExternalReferences = &[]cdx.ExternalReference{{Type: cdx.ERTypeWebsite, URL: p.Homepage}}
		}
		var props []cdx.Property
		if p.Source != "" {
			props = append(props, cdx.Property{Name: "debstrap:deb:source", Value: p.Source})
		}
		if p.SourceVersion != "" {
			props = append(props, cdx.Property{Name: "debstrap:deb:sourceVersion", Value: p.SourceVersion})
		}
		if p.Status != "installed" {
			props = append(props, cdx.Property{Name: "debstrap:deb:status", Value: p.Status})
		}
		if props != nil {
			c.Properties = &props
		}
		components = append(components, c)

		dep := cdx.Dependency{Ref: p.PURL}
		var on []string
		for _, k := range p.Depends {
			if r, ok := refs[k]; ok {
				on = append(on, r)
			}
		}
		if on != nil {
			dep.Dependencies = &on
		}
		deps = append(deps, dep)
	}
	bom.Components = &components
	bom.Dependencies = &deps
	enc := cdx.NewBOMEncoder(w, cdx.BOMFileFormatJSON).SetPretty(true).SetEscapeHTML(false)
	if err := enc.EncodeVersion(bom, cdx.SpecVersion1_6); err != nil {
		return fmt.Errorf("write CycloneDX document: %w", err)
	}
	return nil
}

// organization is a Maintainer field as a CycloneDX supplier.
func organization(maintainer string) *cdx.OrganizationalEntity {
	name, email := splitMaintainer(maintainer)
	if name == "" && email == "" {
		return nil
	}
	e := &cdx.OrganizationalEntity{Name: cmpOr(name, email)}
	if email != "" {
		e.Contact = &[]cdx.OrganizationalContact{{Name: name, Email: email}}
	}
	return e
}

// cdxLicenses are a package's licenses for CycloneDX, which has either a
// list of licenses or one expression: SPDX ids as ids, LicenseRefs by the
// name the copyright file gives; if any is compound, all ANDed as one
// expression.
func cdxLicenses(licenses []string, refs map[string]string) *cdx.Licenses {
	if len(licenses) == 0 {
		return nil
	}
	for _, l := range licenses {
		if strings.ContainsAny(l, " ()+") {
			ack := cdx.LicenseAcknowledgementDeclared
			return &cdx.Licenses{{Expression: declared(licenses), Acknowledgement: &ack}}
		}
	}
	var out cdx.Licenses
	for _, l := range licenses {
		lic := &cdx.License{ID: l, Acknowledgement: cdx.LicenseAcknowledgementDeclared}
		if strings.HasPrefix(l, "LicenseRef-") {
			lic = &cdx.License{Name: cmpOr(refs[l], strings.TrimPrefix(l, "LicenseRef-")), Acknowledgement: cdx.LicenseAcknowledgementDeclared}
		}
		out = append(out, cdx.LicenseChoice{License: lic})
	}
	return &out
}
