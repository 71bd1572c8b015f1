package testarchive

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// stanzas parses deb822 text into field maps (continuation lines joined
// with "\n").
func stanzas(t *testing.T, text string) []map[string]string {
	t.Helper()
	var out []map[string]string
	cur := map[string]string{}
	last := ""
	for _, line := range strings.Split(text, "\n") {
		switch {
		case line == "":
			if len(cur) > 0 {
				out = append(out, cur)
				cur = map[string]string{}
			}
		case line[0] == ' ':
			cur[last] += "\n" + line[1:]
		default:
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				t.Fatalf("bad line %q", line)
			}
			last = k
			cur[k] = strings.TrimPrefix(v, " ")
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

func hexMD5(b []byte) string    { h := md5.Sum(b); return hex.EncodeToString(h[:]) }
func hexSHA256(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

// richArchive exercises most Suite options at once.
func richArchive(t *testing.T) Archive {
	a := Minimal()
	a.Suites = append(a.Suites, Suite{
		Name:              "stable-updates",
		Codename:          "bookworm-updates",
		Components:        []string{"main", "contrib"},
		Architectures:     []string{"amd64", "arm64"},
		IndexCompressions: []string{"", "gz", "xz", "zst"},
		ValidUntil:        DefaultTime.Add(7 * 24 * time.Hour),
		ReleaseFields:     []Field{{"NotAutomatic", "yes"}, {"ButAutomaticUpgrades", "yes"}},
		Packages: map[string][]Deb{
			"main": {
				NewDeb("tzdata", "2024a-0+deb12u1", "Architecture: all", "Priority: required"),
				NewDeb("libfoo1", "1.0-1", "Architecture: arm64", "Multi-Arch: same"),
				NewDeb("libfoo1", "1.0-1", "Multi-Arch: same"),
			},
		},
	})
	return a
}

// TestReleaseHashes checks every hash of the trust chain on disk: Release
// → indexes (and their by-hash copies) → .debs.
func TestReleaseHashes(t *testing.T) {
	dir := t.TempDir()
	if _, err := Write(dir, richArchive(t)); err != nil {
		t.Fatal(err)
	}
	for _, suite := range []string{"bookworm", "bookworm-updates"} {
		dist := filepath.Join(dir, "dists", suite)
		release, err := os.ReadFile(filepath.Join(dist, "Release"))
		if err != nil {
			t.Fatal(err)
		}
		rel := stanzas(t, string(release))[0]
		if rel["Acquire-By-Hash"] != "yes" {
			t.Errorf("%s: no Acquire-By-Hash", suite)
		}
		md5s := map[string]string{}
		for _, l := range strings.Split(strings.TrimPrefix(rel["MD5Sum"], "\n"), "\n") {
			f := strings.Fields(l)
			md5s[f[2]] = f[0]
		}
		n := 0
		for _, l := range strings.Split(strings.TrimPrefix(rel["SHA256"], "\n"), "\n") {
			f := strings.Fields(l)
			if len(f) != 3 {
				t.Fatalf("%s: bad SHA256 line %q", suite, l)
			}
			sum, size, name := f[0], f[1], f[2]
			data, err := os.ReadFile(filepath.Join(dist, filepath.FromSlash(name)))
			if os.IsNotExist(err) && strings.HasSuffix(name, "/Packages") && suite == "bookworm" {
				continue // listed but not shipped, as on Debian mirrors
			}
			if err != nil {
				t.Fatalf("%s: %v", suite, err)
			}
			n++
			if hexSHA256(data) != sum || strconv.Itoa(len(data)) != size || md5s[name] != hexMD5(data) {
				t.Errorf("%s: %s: Release says %s %s, file has %s %d", suite, name, sum, size, hexSHA256(data), len(data))
			}
			if strings.Contains(name, "/Packages.") {
				bh := filepath.Join(dist, filepath.Dir(filepath.FromSlash(name)), "by-hash", "SHA256", sum)
				if b, err := os.ReadFile(bh); err != nil || !bytes.Equal(b, data) {
					t.Errorf("%s: by-hash copy of %s: %v", suite, name, err)
				}
			}
			if strings.HasSuffix(name, "/Packages") {
				for _, st := range stanzas(t, string(data)) {
					deb, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(st["Filename"])))
					if err != nil {
						t.Fatalf("%s: %s: %v", suite, st["Package"], err)
					}
					if st["SHA256"] != hexSHA256(deb) || st["MD5sum"] != hexMD5(deb) || st["Size"] != strconv.Itoa(len(deb)) {
						t.Errorf("%s: %s: stanza hashes do not match %s", suite, st["Package"], st["Filename"])
					}
				}
			}
		}
		if n == 0 {
			t.Errorf("%s: no file checked", suite)
		}
	}

	upd := filepath.Join(dir, "dists", "bookworm-updates")
	release, _ := os.ReadFile(filepath.Join(upd, "Release"))
	rel := stanzas(t, string(release))[0]
	for k, want := range map[string]string{
		"Suite": "stable-updates", "Codename": "bookworm-updates", "Valid-Until": "Sat, 08 Jun 2024 12:00:00 UTC",
		"Architectures": "amd64 arm64", "Components": "main contrib", "NotAutomatic": "yes", "Date": "Sat, 01 Jun 2024 12:00:00 UTC",
	} {
		if rel[k] != want {
			t.Errorf("Release %s = %q, want %q", k, rel[k], want)
		}
	}
	// Architecture all lands in every architecture's index.
	for _, arch := range []string{"amd64", "arm64"} {
		idx, err := os.ReadFile(filepath.Join(upd, "main", "binary-"+arch, "Packages"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(idx, []byte("Package: tzdata\n")) || !bytes.Contains(idx, []byte("Architecture: "+arch+"\n")) {
			t.Errorf("binary-%s/Packages:\n%s", arch, idx)
		}
	}
	if _, err := os.Stat(filepath.Join(upd, "contrib", "binary-arm64", "Packages.zst")); err != nil {
		t.Errorf("empty component index: %v", err)
	}
	for link, target := range map[string]string{"stable": "bookworm", "stable-updates": "bookworm-updates"} {
		if got, err := os.Readlink(filepath.Join(dir, "dists", link)); err != nil || got != target {
			t.Errorf("dists/%s -> %q (%v), want %s", link, got, err, target)
		}
	}
}

func TestSuiteOptions(t *testing.T) {
	dir := t.TempDir()
	a := Archive{Suites: []Suite{
		{Name: "unsigned", Unsigned: true, NoByHash: true},
		{Name: "old", NoInRelease: true},
		{Name: "new", NoReleaseGPG: true, IndexCompressions: []string{}},
		{Name: "stable", Codename: "trixie", Dir: "bookworm", Origin: "Test", Label: "Lab"},
	}}
	if _, err := Write(dir, a); err != nil {
		t.Fatal(err)
	}
	exists := func(p string) bool { _, err := os.Lstat(filepath.Join(dir, "dists", p)); return err == nil }
	for p, want := range map[string]bool{
		"unsigned/Release": true, "unsigned/InRelease": false, "unsigned/Release.gpg": false,
		"unsigned/main/binary-amd64/by-hash": false, "unsigned/main/binary-amd64/Packages.xz": true,
		"old/InRelease": false, "old/Release.gpg": true,
		"new/InRelease": true, "new/Release.gpg": false, "new/main/binary-amd64/Packages.xz": false,
		"bookworm/InRelease": true, "stable": true, "trixie": true,
	} {
		if got := exists(p); got != want {
			t.Errorf("dists/%s exists = %v, want %v", p, got, want)
		}
	}
	release, _ := os.ReadFile(filepath.Join(dir, "dists", "unsigned", "Release"))
	if bytes.Contains(release, []byte("Acquire-By-Hash")) {
		t.Error("NoByHash Release has Acquire-By-Hash")
	}
	release, _ = os.ReadFile(filepath.Join(dir, "dists", "bookworm", "Release"))
	rel := stanzas(t, string(release))[0]
	if rel["Codename"] != "trixie" || rel["Origin"] != "Test" || rel["Label"] != "Lab" {
		t.Errorf("Release: %v", rel)
	}
}

func TestWriteErrors(t *testing.T) {
	tests := map[string]Archive{
		"arch not in suite":    {Suites: []Suite{{Name: "s", Packages: map[string][]Deb{"main": {NewDeb("a", "1", "Architecture: i386")}}}}},
		"component not listed": {Suites: []Suite{{Name: "s", Packages: map[string][]Deb{"contrib": {NewDeb("a", "1")}}}}},
		"same pool path": {Suites: []Suite{{Name: "s", Packages: map[string][]Deb{"main": {
			NewDeb("a", "1"), NewDeb("a", "1", "Depends: b"),
		}}}}},
		"no name":       {Suites: []Suite{{}}},
		"same dir":      {Suites: []Suite{{Name: "s"}, {Codename: "s"}}},
		"bad deb":       {Suites: []Suite{{Name: "s", Packages: map[string][]Deb{"main": {{Name: "x"}}}}}},
		"bad index cmp": {Suites: []Suite{{Name: "s", IndexCompressions: []string{"rar"}}}},
	}
	for name, a := range tests {
		if _, err := Write(t.TempDir(), a); err == nil {
			t.Errorf("%s: no error", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

func TestPoolPath(t *testing.T) {
	tests := []struct {
		d    Deb
		want string
	}{
		{NewDeb("bash", "5.2.15-2+b2"), "pool/main/b/bash/bash_5.2.15-2+b2_amd64.deb"},
		{NewDeb("libc6", "2.36-9", "Source: glibc"), "pool/main/g/glibc/libc6_2.36-9_amd64.deb"},
		{NewDeb("libzstd1", "1.5.4+dfsg2-5", "Source: libzstd"), "pool/main/libz/libzstd/libzstd1_1.5.4+dfsg2-5_amd64.deb"},
		{NewDeb("gawk", "1:5.2.1-2", "Source: gawk (1:5.2.1-2)", "Architecture: arm64"), "pool/main/g/gawk/gawk_5.2.1-2_arm64.deb"},
	}
	for _, tt := range tests {
		if got := PoolPath("main", tt.d); got != tt.want {
			t.Errorf("PoolPath(%s) = %s, want %s", tt.d.Name, got, tt.want)
		}
	}
}

func TestStanzaOverrides(t *testing.T) {
	d := NewDeb("liar", "1.0")
	d.Stanza = []Field{{"SHA256", strings.Repeat("0", 64)}, {"Filename", "../../etc/passwd"}, {"MD5sum", ""}, {"X-Extra", "1"}}
	dir := t.TempDir()
	if _, err := Write(dir, Archive{Suites: []Suite{{Name: "s", Packages: map[string][]Deb{"main": {d}}, IndexCompressions: []string{""}}}}); err != nil {
		t.Fatal(err)
	}
	idx, _ := os.ReadFile(filepath.Join(dir, "dists/s/main/binary-amd64/Packages"))
	st := stanzas(t, string(idx))[0]
	if st["SHA256"] != strings.Repeat("0", 64) || st["Filename"] != "../../etc/passwd" || st["MD5sum"] != "" || st["X-Extra"] != "1" {
		t.Errorf("stanza %v", st)
	}
	if _, err := os.Stat(filepath.Join(dir, PoolPath("main", d))); err != nil {
		t.Errorf("the .deb is still stored at its real pool path: %v", err)
	}
}

// TestMinimalGolden pins the Release and Packages of Minimal(); run with
// -update after a deliberate change.
func TestMinimalGolden(t *testing.T) {
	dir := t.TempDir()
	a := Minimal()
	a.Suites[0].IndexCompressions = []string{""}
	if _, err := Write(dir, a); err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct{ golden, path string }{
		{"minimal.Release", "dists/bookworm/Release"},
		{"minimal.Packages", "dists/bookworm/main/binary-amd64/Packages"},
	} {
		got, err := os.ReadFile(filepath.Join(dir, f.path))
		if err != nil {
			t.Fatal(err)
		}
		golden := filepath.Join("testdata", f.golden)
		if *update {
			if err := os.MkdirAll("testdata", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(golden, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test -update to create it)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from %s:\n%s", f.path, golden, got)
		}
	}
}

func TestSignatures(t *testing.T) {
	dir := t.TempDir()
	other, err := NewKey("second key")
	if err != nil {
		t.Fatal(err)
	}
	a := Minimal()
	a.ExtraKeys = []*Key{other}
	key, err := Write(dir, a)
	if err != nil {
		t.Fatal(err)
	}
	dist := filepath.Join(dir, "dists", "bookworm")
	release, _ := os.ReadFile(filepath.Join(dist, "Release"))
	inRelease, _ := os.ReadFile(filepath.Join(dist, "InRelease"))
	releaseGPG, _ := os.ReadFile(filepath.Join(dist, "Release.gpg"))

	block, rest := clearsign.Decode(inRelease)
	if block == nil || len(bytes.TrimSpace(rest)) != 0 {
		t.Fatalf("InRelease is not one clearsigned block")
	}
	if !bytes.Equal(append(block.Plaintext, '\n'), release) {
		t.Errorf("InRelease text differs from Release:\n%s", block.Plaintext)
	}
	for _, k := range []*Key{key, other} {
		if _, err := block.VerifySignature(k.KeyRing(), nil); err != nil {
			t.Errorf("InRelease does not verify with %s: %v", k.Fingerprint(), err)
		}
		if _, err := openpgp.CheckArmoredDetachedSignature(k.KeyRing(), bytes.NewReader(release), bytes.NewReader(releaseGPG), nil); err != nil {
			t.Errorf("Release.gpg does not verify with %s: %v", k.Fingerprint(), err)
		}
	}
	stranger, err := NewKey("stranger")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := block.VerifySignature(stranger.KeyRing(), nil); err == nil {
		t.Error("InRelease verifies with an unrelated key")
	}
	tampered := bytes.Replace(inRelease, []byte("Codename: bookworm"), []byte("Codename: bookwurm"), 1)
	if b, _ := clearsign.Decode(tampered); b == nil {
		t.Fatal("tampered InRelease does not decode")
	} else if _, err := b.VerifySignature(key.KeyRing(), nil); err == nil {
		t.Error("tampered InRelease verifies")
	}
	if key2, _ := DefaultKey(); key2 != key {
		t.Error("DefaultKey is not the key that signed")
	}
	if !bytes.HasPrefix(key.ArmoredPublic(), []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----")) {
		t.Errorf("ArmoredPublic: %s", key.ArmoredPublic())
	}
	if el, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(key.ArmoredPublic())); err != nil || len(el) != 1 || el[0].PrivateKey != nil {
		t.Errorf("ArmoredPublic does not read back as one public key: %v", err)
	}

	gpgv, err := exec.LookPath("gpgv")
	if err != nil {
		t.Skip("gpgv not installed")
	}
	kdir := t.TempDir()
	// gpgv fails unless it can check every signature: give it both keys.
	keyring := key.WriteKeyring(t, kdir) + " " + other.WriteKeyring(t, kdir)
	strangerRing := stranger.WriteKeyring(t, kdir)
	gpgvRun := func(rings string, args ...string) error {
		a := []string{"--homedir", t.TempDir()}
		for _, r := range strings.Fields(rings) {
			a = append(a, "--keyring", r)
		}
		cmd := exec.Command(gpgv, append(a, args...)...)
		out, err := cmd.CombinedOutput()
		t.Logf("gpgv %v: %v\n%s", args, err, out)
		return err
	}
	if err := gpgvRun(keyring, filepath.Join(dist, "InRelease")); err != nil {
		t.Errorf("gpgv rejects InRelease: %v", err)
	}
	if err := gpgvRun(keyring, filepath.Join(dist, "Release.gpg"), filepath.Join(dist, "Release")); err != nil {
		t.Errorf("gpgv rejects Release.gpg: %v", err)
	}
	if err := gpgvRun(strangerRing, filepath.Join(dist, "InRelease")); err == nil {
		t.Error("gpgv accepts InRelease with an unrelated keyring")
	}
}

func TestExpiredKey(t *testing.T) {
	k, err := NewKeyWith("expired", KeyOptions{Created: time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC), Lifetime: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := Write(dir, Archive{Key: k, Suites: []Suite{{Name: "s"}}}); err != nil {
		t.Fatal(err)
	}
	in, _ := os.ReadFile(filepath.Join(dir, "dists/s/InRelease"))
	b, _ := clearsign.Decode(in)
	if b == nil {
		t.Fatal("no clearsigned block")
	}
	if _, err := b.VerifySignature(k.KeyRing(), nil); err == nil {
		t.Error("a signature by an expired key verifies")
	}
}
