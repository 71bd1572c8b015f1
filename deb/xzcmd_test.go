package deb

import (
	"bytes"
	"errors"
	"os/exec"
	"reflect"
	"strings"
	"testing"
)

func needXZ(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("xz")
	if err != nil {
		t.Skip("no xz command")
	}
	return p
}

// readWithCommand reads a .deb's data with the xz command.
func readWithCommand(raw []byte, xz string) ([]entry, error) {
	d, err := NewReader(bytes.NewReader(raw), "x.deb")
	if err != nil {
		return nil, err
	}
	defer d.Close()
	d.UseXZCommand(xz)
	return readData(d)
}

func TestXZCommand(t *testing.T) {
	xz := needXZ(t)
	raw := tdeb{Data: sampleData, DComp: XZ}.build(t)
	es, err := readWithCommand(raw, xz)
	if err != nil {
		t.Fatal(err)
	}
	if want := wantEntries(sampleData); !reflect.DeepEqual(es, want) {
		t.Errorf("entries:\n got %+v\nwant %+v", es, want)
	}
	// Other compressions ignore the command.
	if _, err := readWithCommand(tdeb{Data: sampleData, DComp: Zstd}.build(t), "/nonexistent/xz"); err != nil {
		t.Errorf("zstd member with an xz command set: %v", err)
	}
}

func TestXZCommandErrors(t *testing.T) {
	xz := needXZ(t)
	c, d := tdeb{Data: sampleData, DComp: XZ}.members(t)
	deb := func(data []byte) []byte {
		return arFile(arMember{Name: "debian-binary", Data: []byte("2.0\n")}, c, arMember{Name: d.Name, Data: data})
	}
	corrupt := bytes.Clone(d.Data)
	corrupt[len(corrupt)/2] ^= 0xff
	for _, tc := range []struct {
		name string
		raw  []byte
		xz   string
		want string
	}{
		{"corrupt", deb(corrupt), xz, "corrupt xz data: " + xz},
		{"truncated", deb(d.Data[:len(d.Data)-20]), xz, "corrupt xz data: " + xz},
		{"garbage after", deb(append(bytes.Clone(d.Data), "junk"...)), xz, xz},
		{"no such command", deb(d.Data), "/nonexistent/xz", "starting the xz command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readWithCommand(tc.raw, tc.xz)
			var de *Error
			if err == nil || !errors.As(err, &de) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want a *deb.Error containing %q", err, tc.want)
			}
			t.Logf("%v", err)
		})
	}
}

// A reader closed halfway stops the command.
func TestXZCommandClose(t *testing.T) {
	xz := needXZ(t)
	raw := tdeb{Data: sampleData, DComp: XZ}.build(t)
	d, err := NewReader(bytes.NewReader(raw), "x.deb")
	if err != nil {
		t.Fatal(err)
	}
	d.UseXZCommand(xz)
	tr, err := d.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Next(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
}
