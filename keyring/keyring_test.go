package keyring

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

func TestEmbedded(t *testing.T) {
	// A date at which all these keys are valid.
	when := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		distro string
		n      int
		want   []string // signing keys of the releases we build
	}{
		{"debian", 9, []string{
			"B8B80B5B623EAB6AD8775C45B7C5D7D6350947F8", // archive, 12/bookworm
			"05AB90340C0C5E797F44A8C8254CF3B5AEC0A8F0", // security, 12/bookworm
			"04B54C3CDCA79751B16BC6B5225629DF75B188BD", // archive, 13/trixie
			"5E04A1E3223A19A20706E20F9904613D4CCE68C6", // security, 13/trixie
		}},
		{"Ubuntu", 3, []string{
			"F6ECB3762474EDA9D21B7022871920D1991BC93C", // archive, 2018
		}},
	} {
		t.Run(tc.distro, func(t *testing.T) {
			el, err := For(tc.distro)
			if err != nil {
				t.Fatal(err)
			}
			// go-crypto silently skips keys it cannot read: count them.
			if len(el) != tc.n {
				t.Errorf("read %d keys, want %d: %v", len(el), tc.n, Fingerprints(el))
			}
			fprs := Fingerprints(el)
			for _, w := range tc.want {
				if !slices.Contains(fprs, w) {
					t.Errorf("key %s missing", w)
				}
			}
			for _, e := range el {
				if _, ok := e.SigningKey(when); !ok {
					t.Errorf("key %X has no usable signing key at %v", e.PrimaryKey.Fingerprint, when)
				}
			}
		})
	}
	if _, err := For("arch"); err == nil || !strings.Contains(err.Error(), "--keyring") {
		t.Errorf("For(arch): %v", err)
	}
}

func newEntity(t *testing.T, name string) *openpgp.Entity {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", "", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func public(t *testing.T, e *openpgp.Entity, armored bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	if !armored {
		if err := e.Serialize(&buf); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	w, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Serialize(w); err != nil {
		t.Fatal(err)
	}
	w.Close()
	buf.WriteByte('\n')
	return buf.Bytes()
}

func write(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoad(t *testing.T) {
	a, b, c := newEntity(t, "A"), newEntity(t, "B"), newEntity(t, "C")
	dir := t.TempDir()
	bin := write(t, dir, "a.gpg", public(t, a, false))
	// Two armored blocks in one .asc, as `cat key1.asc key2.asc` makes.
	asc := write(t, dir, "bc.asc", append(public(t, b, true), public(t, c, true)...))
	write(t, dir, "notes.txt", []byte("not a key"))
	write(t, dir, "broken.gpg~", []byte("backup files are ignored"))

	for _, tc := range []struct {
		path string
		want []*openpgp.Entity
	}{
		{bin, []*openpgp.Entity{a}},
		{asc, []*openpgp.Entity{b, c}},
		{dir, []*openpgp.Entity{a, b, c}},
	} {
		el, err := Load(tc.path)
		if err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		got := Fingerprints(el)
		want := Fingerprints(tc.want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: got %v, want %v", tc.path, got, want)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	var priv bytes.Buffer
	if err := newEntity(t, "P").SerializePrivate(&priv, nil); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, empty, "README", []byte("no keys here"))
	for _, tc := range []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(dir, "nope.gpg"), "no such file"},
		{"garbage", write(t, dir, "garbage.gpg", []byte("garbage")), "garbage.gpg"},
		{"armored garbage", write(t, dir, "g.asc", []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n!!!\n-----END PGP PUBLIC KEY BLOCK-----\n")), "g.asc"},
		{"signature, not key", write(t, dir, "s.asc", []byte("-----BEGIN PGP SIGNATURE-----\n\nAAAA\n-----END PGP SIGNATURE-----\n")), "expected"},
		{"private key", write(t, dir, "p.gpg", priv.Bytes()), "private key"},
		{"empty dir", empty, "no *.gpg"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.path)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
