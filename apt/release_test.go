package apt

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseRelease(t *testing.T) {
	text, err := os.ReadFile("testdata/Release")
	if err != nil {
		t.Fatal(err)
	}
	r, err := ParseRelease(text)
	if err != nil {
		t.Fatal(err)
	}
	want := Release{
		Origin: "Debian", Label: "Debian", Suite: "stable", Version: "12.5", Codename: "bookworm",
		Date:                        time.Date(2024, 2, 10, 9, 27, 11, 0, time.UTC),
		ValidUntil:                  time.Date(2024, 2, 17, 9, 27, 11, 0, time.UTC),
		Architectures:               []string{"all", "amd64", "arm64"},
		Components:                  []string{"main", "contrib", "non-free-firmware"},
		AcquireByHash:               true,
		NoSupportForArchitectureAll: []string{"Packages"},
	}
	if r.Origin != want.Origin || r.Label != want.Label || r.Suite != want.Suite || r.Version != want.Version || r.Codename != want.Codename {
		t.Errorf("names: got %+v", r)
	}
	if !r.Date.Equal(want.Date) || !r.ValidUntil.Equal(want.ValidUntil) {
		t.Errorf("dates: got Date=%v Valid-Until=%v", r.Date, r.ValidUntil)
	}
	if !slices.Equal(r.Architectures, want.Architectures) || !slices.Equal(r.Components, want.Components) {
		t.Errorf("lists: got %q %q", r.Architectures, r.Components)
	}
	if !r.AcquireByHash || !slices.Equal(r.NoSupportForArchitectureAll, want.NoSupportForArchitectureAll) || r.NotAutomatic {
		t.Errorf("flags: got by-hash=%v no-all=%q notauto=%v", r.AcquireByHash, r.NoSupportForArchitectureAll, r.NotAutomatic)
	}
	if len(r.SHA256) != 6 {
		t.Errorf("got %d SHA256 entries, want 6 (MD5Sum must be ignored)", len(r.SHA256))
	}
	got := r.SHA256["main/binary-amd64/Packages.xz"]
	if got != (FileHash{Size: 9677956, SHA256: "1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d0c1b2a3f4e5d6c7b8a9f0e1d2c"}) {
		t.Errorf("Packages.xz: got %+v", got)
	}
	if !r.HasComponent("main") || r.HasComponent("non-free") || !r.HasArchitecture("arm64") || r.HasArchitecture("riscv64") {
		t.Error("HasComponent/HasArchitecture wrong")
	}
}

func TestParseReleaseSpecialCases(t *testing.T) {
	const sha = " 0e2b3ae6f1e54ed2b4bc4e8ab8c7c6e06ba1e3c5b7b9b9e3e9e0cb4bb3b6d3d1 10 main/binary-amd64/Packages\n"
	// Field names are case-insensitive; CRLF is tolerated; nothing after the
	// first empty line belongs to the Release.
	text := "suite: stable\r\nCODENAME: bookworm\r\nComponents: updates/main\r\nsha256:\r\n" + sha +
		"\nSHA256:\n 1111111111111111111111111111111111111111111111111111111111111111 5 evil\n"
	r, err := ParseRelease([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if r.Suite != "stable" || r.Codename != "bookworm" {
		t.Errorf("got Suite=%q Codename=%q", r.Suite, r.Codename)
	}
	if len(r.SHA256) != 1 {
		t.Errorf("text after the stanza was parsed: %v", r.SHA256)
	}
	if !r.HasComponent("main") {
		t.Error(`"updates/main" should provide component main`)
	}
	if !(&Release{}).HasArchitecture("amd64") {
		t.Error("a Release without Architectures should allow any")
	}
}

func TestParseReleaseErrors(t *testing.T) {
	const ok = " 0e2b3ae6f1e54ed2b4bc4e8ab8c7c6e06ba1e3c5b7b9b9e3e9e0cb4bb3b6d3d1 10 main/binary-amd64/Packages\n"
	for _, tc := range []struct {
		name, text, want string
	}{
		{"empty", "\n\n", "empty"},
		{"no sha256", "Suite: stable\nMD5Sum:\n 0ed6d4c8891eb86358b94bb35d9e4da4 1 x\n", "no SHA256"},
		{"bad hash", "Suite: s\nSHA256:\n 0e2b 10 main/binary-amd64/Packages\n", "bad hash"},
		{"bad size", "Suite: s\nSHA256:\n" + strings.Replace(ok, " 10 ", " -1 ", 1), "bad size"},
		{"two fields", "Suite: s\nSHA256:\n 0e2b3ae6f1e54ed2b4bc4e8ab8c7c6e06ba1e3c5b7b9b9e3e9e0cb4bb3b6d3d1 10\n", "HASH SIZE PATH"},
		{"dotdot", "Suite: s\nSHA256:\n" + strings.Replace(ok, "main/", "../", 1), "unsafe path"},
		{"absolute", "Suite: s\nSHA256:\n" + strings.Replace(ok, "main/", "/main/", 1), "unsafe path"},
		{"conflicting duplicate", "Suite: s\nSHA256:\n" + ok + strings.Replace(ok, " 10 ", " 11 ", 1), "listed twice"},
		{"duplicate field", "Suite: a\nsuite: b\nSHA256:\n" + ok, "appears twice"},
		{"malformed field", "Suite stable\nSHA256:\n" + ok, "malformed field"},
		{"continuation first", " x\nSHA256:\n" + ok, "continuation line"},
		{"bad date", "Date: yesterday\nSHA256:\n" + ok, "bad date"},
		{"non-UTC zone", "Date: Sat, 10 Feb 2024 09:27:11 CET\nSHA256:\n" + ok, "not UTC"},
		{"value on SHA256 line", "Suite: s\nSHA256: x\n" + ok, "next line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRelease([]byte(tc.text))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestParseReleaseDate(t *testing.T) {
	want := time.Date(2024, 2, 3, 9, 7, 1, 0, time.UTC)
	for _, s := range []string{
		"Sat, 03 Feb 2024 09:07:01 UTC",
		"Sat, 3 Feb 2024 09:07:01 UTC",
		"Sat, 03 Feb 2024 09:07:01 GMT",
		"Sat, 03 Feb 2024 09:07:01 +0000",
		"Sat, 03 Feb 2024 10:07:01 +0100",
	} {
		got, err := parseReleaseDate(s)
		if err != nil || !got.Equal(want) {
			t.Errorf("%q: got %v, %v", s, got, err)
		}
	}
}
