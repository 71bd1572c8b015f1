package lock

import (
	"bytes"
	"strings"
	"testing"
)

func sample() *Lock {
	return &Lock{
		Suite: "bookworm", Variant: "minbase", Architectures: []string{"amd64"}, Epoch: 1700000000,
		Sources: []Source{{URI: "http://mirror.invalid/debian", Suite: "bookworm", Components: []string{"main"},
			Date: "Sat, 11 Nov 2023 09:00:00 UTC", Release: "InRelease", SHA256: strings.Repeat("a", 64)}},
		Packages: []Package{
			{Name: "zlib1g", Version: "1:1.2.13.dfsg-1", Architecture: "amd64", Source: "zlib", SourceVersion: "1.2.13.dfsg-1", Suite: "bookworm",
				Filename: "pool/main/z/zlib/zlib1g_1.2.13.dfsg-1_amd64.deb", Size: 10, SHA256: strings.Repeat("b", 64)},
			{Name: "base-files", Version: "12.4+deb12u5", Architecture: "amd64", Suite: "bookworm",
				Filename: "pool/main/b/base-files/base-files_12.4+deb12u5_amd64.deb", Size: 20, SHA256: strings.Repeat("c", 64)},
		},
	}
}

func TestRoundTrip(t *testing.T) {
	var a bytes.Buffer
	if err := sample().Write(&a); err != nil {
		t.Fatal(err)
	}
	l, err := Read(bytes.NewReader(a.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if l.Packages[0].Name != "base-files" {
		t.Errorf("packages not sorted: %s first", l.Packages[0].Name)
	}
	var b bytes.Buffer
	if err := l.Write(&b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Errorf("written again, the lock changed:\n%s\n%s", a.Bytes(), b.Bytes())
	}
	if !strings.HasPrefix(a.String(), "{\n  \"debstrap-lock\": 1,\n  \"suite\": \"bookworm\",") {
		t.Errorf("key order:\n%s", a.String())
	}
}

func TestReadErrors(t *testing.T) {
	var good bytes.Buffer
	if err := sample().Write(&good); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, old, new, want string }{
		{"unknown key", `"variant"`, `"varaint"`, `unknown field "varaint"`},
		{"wrong type", `"epoch": 1700000000`, `"epoch": "soon"`, `line 8: epoch: want int64, got string`},
		{"syntax", `"suite": "bookworm",`, `"suite": "bookworm"`, `line 4:`},
		{"version", `"debstrap-lock": 1`, `"debstrap-lock": 7`, `debstrap-lock 7: this debstrap reads version 1`},
		{"hash", strings.Repeat("b", 64), "bb", `package zlib1g 1:1.2.13.dfsg-1: sha256 "bb" is not a SHA-256 digest`},
		{"escape", `"pool/main/z/`, `"/etc/`, `package zlib1g: filename "/etc/zlib/zlib1g_1.2.13.dfsg-1_amd64.deb" is not a relative pool path`},
		{"name", `"name": "zlib1g"`, `"name": "Zlib 1g"`, `package "Zlib 1g": not a Debian package name`},
		{"twice", `"name": "zlib1g"`, `"name": "base-files"`, `package base-files:amd64 is listed twice`},
		{"source URL", `http://mirror.invalid`, `ftp://mirror.invalid`, `source 1: mirror "ftp://mirror.invalid/debian": unsupported scheme "ftp"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := strings.Replace(good.String(), tc.old, tc.new, 1)
			if in == good.String() {
				t.Fatalf("%q not in the lock", tc.old)
			}
			_, err := Read(strings.NewReader(in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestDiff(t *testing.T) {
	a, b := sample(), sample()
	b.Packages[0].Version, b.Packages[0].SHA256 = "1:1.2.13.dfsg-1+deb12u1", strings.Repeat("d", 64)
	b.Packages = append(b.Packages[:1], Package{Name: "curl", Version: "7.88.1-10", Architecture: "amd64", Suite: "bookworm",
		Filename: "pool/main/c/curl/curl_7.88.1-10_amd64.deb", Size: 1, SHA256: strings.Repeat("e", 64)})
	var got []string
	for _, c := range Diff(a, b) {
		got = append(got, c.String())
	}
	want := []string{"base-files:amd64 12.4+deb12u5 removed", "curl:amd64 new 7.88.1-10", "zlib1g:amd64 1:1.2.13.dfsg-1 → 1:1.2.13.dfsg-1+deb12u1"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Diff:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
