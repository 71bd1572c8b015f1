package sbom

import (
	"io"
	"os"
	"testing"
	"testing/fstest"
)

// FuzzStatus: no status file makes Collect or the writers panic.
func FuzzStatus(f *testing.F) {
	if b, err := os.ReadFile("testdata/status"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("Package: a\nStatus: install ok installed\nArchitecture: all\nVersion: 1\nDepends: a:any (>= 1) | b, c:native\nProvides: c (= 2)\nSource: x (1)\nMaintainer: <x@y>\n"))
	f.Fuzz(func(t *testing.T, status []byte) {
		d, err := Collect(fstest.MapFS{
			"var/lib/dpkg/status":       {Data: status},
			"usr/share/doc/a/copyright": {Data: []byte("Format: copyright-format/1.0\n\nFiles: *\nLicense: GPL-2+ or Artistic, and x y\n")},
			"etc/os-release":            {Data: []byte("ID=debian\nVERSION_ID=12\n")},
		})
		if err != nil {
			return
		}
		if err := WriteSPDX(io.Discard, d, Options{}); err != nil {
			t.Error(err)
		}
		if err := WriteCycloneDX(io.Discard, d, Options{}); err != nil {
			t.Error(err)
		}
	})
}

// FuzzCopyright: no copyright file makes the license reading panic, and
// every result is an expression of balanced parentheses.
func FuzzCopyright(f *testing.F) {
	f.Add([]byte(libc6Copyright))
	f.Add([]byte(gccCopyright))
	f.Add([]byte("Format: copyright-format/1.0\nLicense: (a or b), and c with d exception or e and f, or g\n"))
	f.Fuzz(func(t *testing.T, text []byte) {
		for _, l := range copyrightLicenses(text, map[string]string{}) {
			if l == "" || !balanced(l) {
				t.Errorf("expression %q", l)
			}
		}
	})
}
