package apt

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/debstrap/debstrap/internal/testarchive"
)

const fuzzRelease = "Origin: Debian\nSuite: stable\nCodename: bookworm\nDate: Sat, 01 Jun 2024 12:00:00 UTC\nArchitectures: amd64\nComponents: main\nSHA256:\n" +
	" 0e2b3ae6f1e54ed2b4bc4e8ab8c7c6e06ba1e3c5b7b9b9e3e9e0cb4bb3b6d3d1 10 main/binary-amd64/Packages\n"

// checkParsedRelease: what a parse accepts is what Archive relies on.
func checkParsedRelease(t *testing.T, r *Release) {
	t.Helper()
	if len(r.SHA256) == 0 {
		t.Fatal("accepted a Release without SHA256 entries")
	}
	for p, fh := range r.SHA256 {
		if b, err := hex.DecodeString(fh.SHA256); err != nil || len(b) != 32 || strings.ToLower(fh.SHA256) != fh.SHA256 {
			t.Fatalf("%s: bad hash %q accepted", p, fh.SHA256)
		}
		if fh.Size < 0 || checkReleasePath(p) != nil {
			t.Fatalf("accepted entry %q %+v", p, fh)
		}
	}
}

// FuzzParseRelease: any text gives a Release or an error, never a panic.
func FuzzParseRelease(f *testing.F) {
	f.Add([]byte(fuzzRelease))
	f.Add([]byte(strings.ReplaceAll(fuzzRelease, "\n", "\r\n")))
	f.Add([]byte("Valid-Until: Sat, 1 Jun 2024 12:00:00 +0100\nSHA256:\n 00 1 x\n\nSHA256:\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseRelease(data)
		if err == nil {
			checkParsedRelease(t, r)
		}
	})
}

// FuzzVerifyInRelease: the clearsign envelope, the signature packets and
// the signed text, all hostile. Nothing but a good signature by the
// keyring's key over a valid Release is accepted, and never a panic.
func FuzzVerifyInRelease(f *testing.F) {
	key, err := testarchive.DefaultKey()
	if err != nil {
		f.Fatal(err)
	}
	signed, err := key.ClearSign([]byte(fuzzRelease))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(signed)
	f.Add(bytes.Replace(signed, []byte("bookworm"), []byte("trixie!!"), 1))
	f.Add([]byte("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nx\n-----BEGIN PGP SIGNATURE-----\n\n=AAAA\n-----END PGP SIGNATURE-----\n"))
	keys := key.KeyRing()
	now := time.Now()
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := VerifyInRelease(data, keys, now)
		if err != nil {
			return
		}
		checkParsedRelease(t, r)
		if r.Signer != key.Fingerprint() {
			t.Fatalf("trusted, signer %q", r.Signer)
		}
	})
}

// FuzzVerifyRelease: a Release and its detached signature (armored or
// binary), both hostile.
func FuzzVerifyRelease(f *testing.F) {
	key, err := testarchive.DefaultKey()
	if err != nil {
		f.Fatal(err)
	}
	sig, err := key.DetachSign([]byte(fuzzRelease))
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(fuzzRelease), sig)
	f.Add([]byte(fuzzRelease), []byte("-----BEGIN PGP SIGNATURE-----\n\n=AAAA\n-----END PGP SIGNATURE-----\n"))
	f.Add([]byte(fuzzRelease), []byte{0x88, 0xff})
	keys := key.KeyRing()
	now := time.Now()
	f.Fuzz(func(t *testing.T, release, sig []byte) {
		r, err := VerifyRelease(release, sig, keys, now)
		if err == nil {
			checkParsedRelease(t, r)
		}
	})
}

// FuzzSources: one-line entries, sources.list files and deb822 .sources
// files give entries or errors, never a panic.
func FuzzSources(f *testing.F) {
	f.Add("deb [arch=amd64 signed-by=/k.gpg] http://mirror.invalid/debian bookworm main contrib\n# comment\ndeb-src http://x.invalid/ ./\n")
	f.Add("Types: deb\nURIs: http://mirror.invalid/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n x\n\nEnabled: no\n")
	f.Add("deb [ http://x.invalid")
	f.Fuzz(func(t *testing.T, text string) {
		ParseOneLine(text)
		ParseMirror(text, "bookworm", []string{"main"})
		ParseSourcesList(strings.NewReader(text))
		ParseDeb822(strings.NewReader(text))
	})
}
