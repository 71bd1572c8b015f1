package sbom

import (
	"regexp"
	"slices"
	"strings"
)

// formatMarker is what the Format field of a machine-readable copyright
// file (DEP-5) names: the URL of copyright-format/1.0.
const formatMarker = "copyright-format/1.0"

// copyrightLicenses reads a Debian copyright file. A machine-readable one
// (its first paragraph's Format names copyright-format/1.0) gives the
// License of its header and Files paragraphs, each as an SPDX license
// expression, distinct and sorted; a file that is not gives nil. New
// LicenseRef-… ids are added to refs with the names they stand for.
func copyrightLicenses(data []byte, refs map[string]string) []string {
	paras := paragraphs(string(data))
	if len(paras) == 0 || !strings.Contains(paras[0]["format"], formatMarker) {
		return nil
	}
	var out []string
	for i, p := range paras {
		_, files := p["files"]
		synopsis, ok := p["license"]
		if !ok || (i > 0 && !files) {
			continue // a stand-alone License paragraph: a license's text
		}
		if synopsis = oneLine(synopsis); synopsis == "" {
			continue
		}
		if e := licenseExpression(synopsis, refs); !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	slices.Sort(out)
	return out
}

// paragraphs splits a deb822 file into paragraphs of lower-cased field
// names and the first line of their values. It is lenient: a copyright
// file is the package's text, and a line it cannot read is skipped.
func paragraphs(text string) []map[string]string {
	var out []map[string]string
	var cur map[string]string
	for _, line := range strings.Split(text, "\n") {
		switch {
		case strings.TrimSpace(line) == "":
			cur = nil
		case line[0] == ' ' || line[0] == '\t' || line[0] == '#':
			// A continuation line (or a comment): never a synopsis.
		default:
			name, value, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			if cur == nil {
				cur = map[string]string{}
				out = append(out, cur)
			}
			cur[strings.ToLower(strings.TrimSpace(name))] = strings.TrimSpace(value)
		}
	}
	return out
}

var (
	// ", and" and ", or" bind loosest; then "or"; then "and" (DEP-5).
	commaRE = regexp.MustCompile(`(?i),\s*(and|or)\s+`)
	orRE    = regexp.MustCompile(`(?i)\s+or\s+`)
	andRE   = regexp.MustCompile(`(?i)\s+and\s+`)
	withRE  = regexp.MustCompile(`(?i)^(\S+?)[\s-]+with[\s-]+(.+?)[\s-]+exception$`)
)

// licenseExpression turns a License synopsis of a copyright file
// ("GPL-2+ or Artistic, and BSD-3-clause") into an SPDX license expression
// ("(GPL-2.0-or-later OR Artistic-1.0-Perl) AND BSD-3-Clause").
func licenseExpression(synopsis string, refs map[string]string) string {
	idx := commaRE.FindAllStringSubmatchIndex(synopsis, -1)
	if len(idx) == 0 {
		return orExpression(synopsis, refs)
	}
	var b strings.Builder
	prev := 0
	for i := 0; i <= len(idx); i++ {
		end := len(synopsis)
		if i < len(idx) {
			end = idx[i][0]
		}
		b.WriteString(paren(orExpression(synopsis[prev:end], refs)))
		if i < len(idx) {
			b.WriteString(" " + strings.ToUpper(synopsis[idx[i][2]:idx[i][3]]) + " ")
			prev = idx[i][1]
		}
	}
	return b.String()
}

func orExpression(s string, refs map[string]string) string {
	var alts []string
	for _, a := range orRE.Split(strings.TrimSpace(s), -1) {
		var all []string
		for _, n := range andRE.Split(a, -1) {
			all = append(all, paren(licenseID(n, refs)))
		}
		alts = append(alts, paren(strings.Join(all, " AND ")))
	}
	if len(alts) == 1 {
		return unparen(alts[0])
	}
	return strings.Join(alts, " OR ")
}

// unparen takes off the parentheses around a whole expression.
func unparen(e string) string {
	if strings.HasPrefix(e, "(") && strings.HasSuffix(e, ")") && balanced(e[1:len(e)-1]) {
		return e[1 : len(e)-1]
	}
	return e
}

// paren puts a compound expression in parentheses.
func paren(e string) string {
	if strings.Contains(e, " ") && !(strings.HasPrefix(e, "(") && strings.HasSuffix(e, ")") && balanced(e[1:len(e)-1])) {
		return "(" + e + ")"
	}
	return e
}

// balanced tells whether the parentheses of e pair up, never closing one
// not opened.
func balanced(e string) bool {
	depth := 0
	for _, c := range e {
		switch c {
		case '(':
			depth++
		case ')':
			if depth--; depth < 0 {
				return false
			}
		}
	}
	return depth == 0
}

// licenseID is the SPDX expression for one license name of a copyright
// file, or a LicenseRef- made from the name when SPDX has no id for it.
func licenseID(name string, refs map[string]string) string {
	name = strings.TrimSpace(name)
	if m := withRE.FindStringSubmatch(name); m != nil {
		base, exc := licenseID(m[1], map[string]string{}), strings.ToLower(m[2])
		if e := exception(base, exc); e != "" && !strings.HasPrefix(base, "LicenseRef-") && !strings.Contains(base, " ") {
			return base + " WITH " + e
		}
		return licenseRef(name, refs)
	}
	if id := spdxID(name); id != "" {
		return id
	}
	return licenseRef(name, refs)
}

// gnuRE matches the GNU licenses' names: GPL-2, LGPL-2.1+, GFDL-NIV-1.3,
// and the informal GPLv3+.
var gnuRE = regexp.MustCompile(`(?i)^(gpl|lgpl|agpl|gfdl|gfdl-niv)(?:-?v|-)?(\d+(?:\.\d+)?)(\+)?$`)

// gnuVersions are the versions SPDX has ids for.
var gnuVersions = map[string][]string{
	"GPL":      {"1.0", "2.0", "3.0"},
	"LGPL":     {"2.0", "2.1", "3.0"},
	"AGPL":     {"1.0", "3.0"},
	"GFDL":     {"1.1", "1.2", "1.3"},
	"GFDL-NIV": {"1.1", "1.2", "1.3"},
}

// licenseIDs maps the license names of copyright files (lower case) to SPDX
// ids: the names copyright-format/1.0 lists and others common in Debian.
var licenseIDs = map[string]string{
	"apache-1.0":        "Apache-1.0",
	"apache-1.1":        "Apache-1.1",
	"apache-2":          "Apache-2.0",
	"apache-2.0":        "Apache-2.0",
	"artistic":          "Artistic-1.0-Perl", // /usr/share/common-licenses/Artistic
	"artistic-1":        "Artistic-1.0",
	"artistic-1.0":      "Artistic-1.0",
	"artistic-1.0-perl": "Artistic-1.0-Perl",
	"artistic-2":        "Artistic-2.0",
	"artistic-2.0":      "Artistic-2.0",
	"perl":              "Artistic-1.0-Perl OR GPL-1.0-or-later",
	"bsd-2-clause":      "BSD-2-Clause",
	"bsd-3-clause":      "BSD-3-Clause",
	"bsd-4-clause":      "BSD-4-Clause",
	"0bsd":              "0BSD",
	"bsl-1.0":           "BSL-1.0",
	"boost-1.0":         "BSL-1.0",
	"cc0":               "CC0-1.0",
	"cc0-1.0":           "CC0-1.0",
	"cddl-1.0":          "CDDL-1.0",
	"cddl-1.1":          "CDDL-1.1",
	"curl":              "curl",
	"epl-1.0":           "EPL-1.0",
	"epl-2.0":           "EPL-2.0",
	"expat":             "MIT",
	"mit":               "MIT",
	"ftl":               "FTL",
	"ijg":               "IJG",
	"isc":               "ISC",
	"libpng":            "Libpng",
	"libpng-2.0":        "libpng-2.0",
	"lppl-1.3c":         "LPPL-1.3c",
	"mpl-1.0":           "MPL-1.0",
	"mpl-1.1":           "MPL-1.1",
	"mpl-2.0":           "MPL-2.0",
	"ntp":               "NTP",
	"openldap-2.8":      "OLDAP-2.8",
	"ofl-1.1":           "OFL-1.1",
	"sil-ofl-1.1":       "OFL-1.1",
	"openssl":           "OpenSSL",
	"psf-2":             "PSF-2.0",
	"psf-2.0":           "PSF-2.0",
	"python-2.0":        "Python-2.0",
	"sleepycat":         "Sleepycat",
	"tcl":               "TCL",
	"unicode-dfs-2016":  "Unicode-DFS-2016",
	"unlicense":         "Unlicense",
	"w3c":               "W3C",
	"wtfpl":             "WTFPL",
	"x11":               "X11",
	"zlib":              "Zlib",
	"zpl-2.1":           "ZPL-2.1",
	"zope-2.1":          "ZPL-2.1",
}

// listedIDs are more SPDX identifiers copyright files use as they are
// (in any case): the name is the id.
var listedIDs = []string{
	"AFL-2.1", "AFL-3.0", "Beerware", "BSD-1-Clause", "BSD-2-Clause-Patent",
	"BSD-3-Clause-Attribution", "BSD-4-Clause-UC", "bzip2-1.0.6", "EUPL-1.1",
	"EUPL-1.2", "FSFAP", "FSFUL", "FSFULLR", "GD", "HPND", "ICU", "Info-ZIP",
	"Latex2e", "libtiff", "MirOS", "MIT-0", "MIT-advertising", "MIT-CMU",
	"MS-PL", "NCSA", "OLDAP-2.8", "PHP-3.01", "PostgreSQL", "Ruby", "SMLNJ",
	"Spencer-86", "Spencer-94", "Spencer-99", "TU-Berlin-1.0", "TU-Berlin-2.0",
	"Unicode-DFS-2015", "Unicode-TOU", "Vim", "X11-distribute-modifications-variant",
	"ZPL-2.0",
}

func init() {
	for _, id := range listedIDs {
		if _, ok := licenseIDs[strings.ToLower(id)]; !ok {
			licenseIDs[strings.ToLower(id)] = id
		}
	}
}

// ccRE matches the Creative Commons licenses: CC-BY-4.0, CC-BY-SA-3.0, ….
var ccRE = regexp.MustCompile(`(?i)^cc-by((?:-nc)?(?:-sa|-nd)?)-(1\.0|2\.0|2\.5|3\.0|4\.0)$`)

// spdxID is the SPDX id (or expression, for "Perl") of a license name, ""
// if it has none. A "+" after a name means "or later".
func spdxID(name string) string {
	if m := gnuRE.FindStringSubmatch(name); m != nil {
		family, v := strings.ToUpper(m[1]), m[2]
		if !strings.Contains(v, ".") {
			v += ".0"
		}
		if !slices.Contains(gnuVersions[family], v) {
			return ""
		}
		suffix := "-only"
		if m[3] == "+" {
			suffix = "-or-later"
		}
		if family == "GFDL-NIV" {
			return "GFDL-" + v + "-no-invariants" + suffix
		}
		return family + "-" + v + suffix
	}
	if m := ccRE.FindStringSubmatch(name); m != nil {
		return "CC-BY" + strings.ToUpper(m[1]) + "-" + m[2]
	}
	lower := strings.ToLower(name)
	if id, ok := licenseIDs[lower]; ok {
		return id
	}
	if base, ok := strings.CutSuffix(lower, "+"); ok {
		if id, ok := licenseIDs[base]; ok && !strings.Contains(id, " ") {
			return id + "+"
		}
	}
	return ""
}

// exception is the SPDX id of the license exception a copyright file
// names ("with Autoconf exception") for the license base, "" if none.
func exception(base, name string) string {
	gpl3 := strings.HasPrefix(base, "GPL-3.0")
	switch strings.TrimSuffix(name, "-exception") {
	case "autoconf":
		if gpl3 {
			return "Autoconf-exception-3.0"
		}
		if strings.HasPrefix(base, "GPL-2.0") {
			return "Autoconf-exception-2.0"
		}
	case "autoconf-2.0":
		return "Autoconf-exception-2.0"
	case "autoconf-3.0":
		return "Autoconf-exception-3.0"
	case "bison", "bison-2.2":
		return "Bison-exception-2.2"
	case "classpath", "classpath-2.0":
		return "Classpath-exception-2.0"
	case "font", "font-2.0":
		return "Font-exception-2.0"
	case "gcc", "gcc-3.1", "gcc-runtime-library":
		if gpl3 {
			return "GCC-exception-3.1"
		}
	case "gcc-2.0":
		return "GCC-exception-2.0"
	case "libtool":
		return "Libtool-exception"
	case "linux-syscall-note":
		return "Linux-syscall-note"
	}
	return ""
}

// licenseRef makes a LicenseRef- id from a license name: letters, digits,
// "." and "-" kept, "+" spelt "plus", anything else "-".
func licenseRef(name string, refs map[string]string) string {
	var b strings.Builder
	b.WriteString("LicenseRef-")
	for _, c := range name {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '-':
			b.WriteRune(c)
		case c == '+':
			b.WriteString("plus")
		default:
			b.WriteByte('-')
		}
	}
	id := b.String()
	if _, ok := refs[id]; !ok {
		refs[id] = name
	}
	return id
}
