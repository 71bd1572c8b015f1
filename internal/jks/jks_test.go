package jks

import (
	"bytes"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// testdata/bookworm-cacerts is /etc/ssl/certs/java/cacerts as
// ca-certificates-java's updater (openjdk-17) wrote it in a bookworm
// image, from "+/etc/ssl/certs/NAME.pem" lines in the order of
// testdata/bookworm-pems (the postinst's `find | sort`).

// bookworm reads testdata/bookworm-cacerts: the file and its store.
func bookworm(t *testing.T) ([]byte, *Store) {
	t.Helper()
	data, err := os.ReadFile("testdata/bookworm-cacerts")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Read(data, "changeit")
	if err != nil {
		t.Fatal(err)
	}
	return data, s
}

func TestRoundTrip(t *testing.T) {
	data, s := bookworm(t)
	if n := len(s.Entries()); n != 148 {
		t.Fatalf("%d entries", n)
	}
	// Read back and written, the same entries (in Hashtable order after
	// a load, as Java's load and store would give them).
	var out bytes.Buffer
	if err := s.Write(&out, "changeit"); err != nil {
		t.Fatal(err)
	}
	again, err := Read(out.Bytes(), "changeit")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := slices.Sorted(slices.Values(fileOrder(out.Bytes()))), slices.Sorted(slices.Values(fileOrder(data))); !slices.Equal(got, want) {
		t.Errorf("aliases after a round trip: %v", got)
	}
	for _, e := range s.Entries() {
		if a := again.Get(e.Alias); a == nil || !bytes.Equal(a.Cert, e.Cert) || !a.Date.Equal(e.Date) || a.Type != "X.509" {
			t.Errorf("%s after a round trip: %+v", e.Alias, a)
		}
	}
	if _, err := Read(data, "changeme"); !errors.Is(err, ErrPassword) {
		t.Errorf("wrong password: %v", err)
	}
	bad := bytes.Clone(data)
	bad[100] ^= 1
	if _, err := Read(bad, "changeit"); !errors.Is(err, ErrPassword) {
		t.Errorf("a flipped byte: %v", err)
	}
	for _, cut := range []int{0, 3, 12, 40, 1000, len(data) - 21} {
		if _, err := Read(data[:cut], "changeit"); err == nil {
			t.Errorf("truncated to %d: read", cut)
		}
	}
	if _, err := Read(append([]byte{0x30, 0x82}, data[2:]...), "changeit"); !errors.Is(err, ErrNotJKS) {
		t.Errorf("PKCS12-like: %v", err)
	}
}

// TestJavaOrder: adding the certificates one by one, as the updater
// does, gives the entries in the order Java's Hashtable wrote them.
func TestJavaOrder(t *testing.T) {
	data, real := bookworm(t)
	pems, err := os.ReadFile("testdata/bookworm-pems")
	if err != nil {
		t.Fatal(err)
	}
	s := New()
	for _, name := range strings.Fields(string(pems)) {
		alias := Lower("debian:" + name)
		e := real.Get(alias)
		if e == nil {
			t.Fatalf("%s not in the keystore", alias)
		}
		s.Put(e)
	}
	alias := func(es []*Entry) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.Alias)
		}
		return out
	}
	if got, want := alias(s.Entries()), fileOrder(data); !slices.Equal(got, want) {
		t.Errorf("order:\n%v\nwant:\n%v", got, want)
	}
	var out bytes.Buffer
	if err := s.Write(&out, "changeit"); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), data) {
		t.Error("the keystore differs from Java's")
	}
	// Deleting and adding again moves an entry, as in Java.
	first := s.Entries()[0]
	s.Delete(first.Alias)
	s.Put(&Entry{Alias: first.Alias, Date: time.Unix(0, 0), Type: "X.509", Cert: first.Cert})
	if len(s.Entries()) != 148 || s.Get(first.Alias).Date.Unix() != 0 {
		t.Error("replace")
	}
}

// fileOrder lists a keystore's aliases in the order of its file.
func fileOrder(data []byte) []string {
	es, err := FileOrder(data, "changeit")
	if err != nil {
		panic(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Alias)
	}
	return out
}
