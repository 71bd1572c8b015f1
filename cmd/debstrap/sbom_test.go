package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/debstrap/debstrap/internal/testarchive"
)

// sbomRoot is a directory root with a dpkg status file and os-release.
func sbomRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	status, err := os.ReadFile("../../sbom/testdata/status")
	if err != nil {
		t.Fatal(err)
	}
	for p, data := range map[string]string{
		"var/lib/dpkg/status":          string(status),
		"usr/lib/os-release":           "ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n",
		"usr/share/doc/mawk/copyright": "Format: https://www.example.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nLicense: GPL-2\n",
	} {
		p = filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../usr/lib/os-release", filepath.Join(root, "etc/os-release")); err != nil {
		t.Fatal(err)
	}
	return root
}

// spdxDoc is what the tests look at in an SPDX document.
type spdxDoc struct {
	SPDXVersion  string `json:"spdxVersion"`
	CreationInfo struct {
		Created  string
		Creators []string
	}
	Packages []struct {
		Name            string
		VersionInfo     string
		LicenseDeclared string
		ExternalRefs    []struct{ ReferenceLocator string }
	}
}

type cdxDoc struct {
	BOMFormat   string
	SpecVersion string
	Components  []struct{ Name, Version, Purl string }
}

func TestSBOM(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "")
	root := sbomRoot(t)
	dir := t.TempDir()

	// Standard output: SPDX, dated the Unix epoch, the same each time.
	r := cli(t.Context(), "sbom", root)
	want(t, r, 0, []string{`"spdxVersion": "SPDX-2.3"`}, nil)
	if r.stderr != "" {
		t.Errorf("stderr: %s", r.stderr)
	}
	var s spdxDoc
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatal(err)
	}
	if s.CreationInfo.Created != "1970-01-01T00:00:00Z" || len(s.CreationInfo.Creators) != 1 || !strings.HasPrefix(s.CreationInfo.Creators[0], "Tool: debstrap-") {
		t.Errorf("creation info %+v", s.CreationInfo)
	}
	var names []string
	for _, p := range s.Packages[1:] {
		names = append(names, p.Name)
	}
	if w := []string{"base-files", "curl", "gcc-12-base", "libc6", "libgcc-s1", "mawk"}; !slices.Equal(names, w) {
		t.Errorf("packages %v, want %v", names, w)
	}
	if p := s.Packages[len(s.Packages)-1]; p.LicenseDeclared != "GPL-2.0-only" || p.ExternalRefs[0].ReferenceLocator != "pkg:deb/debian/mawk@1.3.4.20200120-3.1?arch=amd64&distro=debian-12" {
		t.Errorf("mawk: %+v", p)
	}
	if again := cli(t.Context(), "sbom", root); again.stdout != r.stdout {
		t.Error("two runs gave different documents")
	}

	// SOURCE_DATE_EPOCH dates it.
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	r = cli(t.Context(), "sbom", root)
	want(t, r, 0, []string{`"created": "2023-11-14T22:13:20Z"`}, nil)

	// The format from -o's name, or --format.
	for _, tc := range []struct {
		args []string
		file string
		cdx  bool
	}{
		{[]string{"-o", "a.cdx.json"}, "a.cdx.json", true},
		{[]string{"--output=b.spdx.json"}, "b.spdx.json", false},
		{[]string{"--format=cyclonedx", "-o", "c.json"}, "c.json", true},
		{[]string{"--format=spdx", "-o", "d.cdx.json"}, "d.cdx.json", false},
	} {
		args := append([]string{"sbom"}, tc.args...)
		for i, a := range args {
			if a == tc.file {
				args[i] = filepath.Join(dir, a)
			}
			if v, ok := strings.CutPrefix(a, "--output="); ok {
				args[i] = "--output=" + filepath.Join(dir, v)
			}
		}
		r := cli(t.Context(), append(args, root)...)
		want(t, r, 0, nil, nil)
		if r.stdout != "" {
			t.Errorf("%v: wrote to stdout too", tc.args)
		}
		data, err := os.ReadFile(filepath.Join(dir, tc.file))
		if err != nil {
			t.Fatal(err)
		}
		var c cdxDoc
		json.Unmarshal(data, &c)
		if got := c.BOMFormat == "CycloneDX" && c.SpecVersion == "1.6"; got != tc.cdx {
			t.Errorf("%v: CycloneDX 1.6 is %v, want %v:\n%.200s", tc.args, got, tc.cdx, data)
		}
	}
	if names, _ := filepath.Glob(filepath.Join(dir, ".*tmp*")); len(names) != 0 {
		t.Errorf("temporary files left: %v", names)
	}
}

func TestSBOMErrors(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "")
	root := sbomRoot(t)
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no image", []string{"sbom"}, 2, "debstrap sbom: missing IMAGE; see 'debstrap sbom --help'"},
		{"two images", []string{"sbom", root, root}, 2, "want 1 image, got 2"},
		{"bad format", []string{"sbom", "--format=xml", root}, 2, `unknown SBOM format "xml"`},
		{"not there", []string{"sbom", filepath.Join(root, "nope")}, 1, "no such file"},
		{"not a Debian root", []string{"sbom", t.TempDir()}, 1, "var/lib/dpkg/status: no dpkg database"},
		{"bad SOURCE_DATE_EPOCH", []string{"sbom", root}, 1, "SOURCE_DATE_EPOCH"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "bad SOURCE_DATE_EPOCH" {
				t.Setenv("SOURCE_DATE_EPOCH", "soon")
			}
			r := cli(t.Context(), tc.args...)
			want(t, r, tc.code, nil, []string{tc.stderr})
			if r.stdout != "" {
				t.Errorf("stdout: %s", r.stdout)
			}
		})
	}
	r := cli(t.Context(), "help", "sbom")
	want(t, r, 0, []string{"Usage: debstrap sbom [--format=spdx|cyclonedx] [-o FILE] IMAGE", "  -format", "  -o FILE"}, nil)
	want(t, cli(t.Context(), "--help"), 0, []string{"debstrap sbom     [flags] IMAGE"}, nil)
}

// The SBOM of a build lists what the build's dpkg status lists.
func TestSBOMOfBuild(t *testing.T) {
	h := newHarness(t, testarchive.Minimal())
	dir := t.TempDir()
	for _, target := range []string{"img.tar", "img.oci"} {
		h.build(t, filepath.Join(dir, target))
		r := cli(t.Context(), "sbom", "--format=cyclonedx", filepath.Join(dir, target))
		want(t, r, 0, nil, nil)
		var c cdxDoc
		if err := json.Unmarshal([]byte(r.stdout), &c); err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, p := range c.Components {
			names = append(names, p.Name)
			if !strings.HasPrefix(p.Purl, "pkg:deb/debian/"+p.Name+"@") || !strings.Contains(p.Purl, "arch=") {
				t.Errorf("%s: purl %s", target, p.Purl)
			}
		}
		if !slices.Equal(names, minimalImportant) {
			t.Errorf("%s: packages %v, want %v", target, names, minimalImportant)
		}
	}
}
