package dpkg

import (
	"bytes"
	"testing"
)

// FuzzParseStatus: a hostile status (or available) file gives stanzas or
// an error naming the stanza, never a panic; every stanza has a field.
func FuzzParseStatus(f *testing.F) {
	f.Add([]byte("Package: a\nStatus: install ok installed\nVersion: 1\n\nPackage: b\nStatus: install ok unpacked\nConffiles:\n /etc/x 0123 obsolete\n\n\n"))
	f.Add([]byte("\n\n Package: a\n"))
	f.Add([]byte("Package: a\r\nVersion: 1\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := ParseStatus(bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, s := range st {
			if len(s.Fields) == 0 {
				t.Fatal("accepted an empty stanza")
			}
		}
	})
}
