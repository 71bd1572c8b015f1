package deb

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseStanza(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []Field
		wantErr string
	}{
		{"order-kept", "Package: b\nVersion: 1\nArchitecture: all\nZ-Custom: z\nDepends: a\n",
			[]Field{{"Package", "b"}, {"Version", "1"}, {"Architecture", "all"}, {"Z-Custom", "z"}, {"Depends", "a"}}, ""},
		{"spaces-trimmed", "Package:   b  \nEmpty:\nTab:\tv\t\n",
			[]Field{{"Package", "b"}, {"Empty", ""}, {"Tab", "v"}}, ""},
		{"continuation", "Package: b\nDescription: short\n long line\n .\n\tafter tab  \n",
			[]Field{{"Package", "b"}, {"Description", "short\n long line\n .\n\tafter tab"}}, ""},
		{"empty-first-line", "Package: b\nConffiles:\n /etc/a 0123\n /etc/b 4567\n",
			[]Field{{"Package", "b"}, {"Conffiles", "\n /etc/a 0123\n /etc/b 4567"}}, ""},
		{"blank-lines-around", "\n\nPackage: b\n\n\n", []Field{{"Package", "b"}}, ""},
		{"no-final-newline", "Package: b\nVersion: 1", []Field{{"Package", "b"}, {"Version", "1"}}, ""},
		{"colon-in-value", "Package: b\nHomepage: http://x/y:z\n", []Field{{"Package", "b"}, {"Homepage", "http://x/y:z"}}, ""},
		{"empty", "\n\n", nil, "no fields"},
		{"two-paragraphs", "Package: a\n\nPackage: b\n", nil, "line 3: more than one paragraph"},
		{"duplicate", "Package: a\npackage: b\n", nil, `line 2: duplicate field "package"`},
		{"leading-continuation", " foo\nPackage: a\n", nil, "line 1: continuation line before any field"},
		{"no-colon", "Package: a\nfoo bar\n", nil, "line 2: not a field"},
		{"space-in-name", "Pack age: a\n", nil, "bad field name"},
		{"empty-name", ": a\n", nil, "line 1: not a field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseStanza([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(s.Fields, tt.want) {
				t.Errorf("got %q\nwant %q", s.Fields, tt.want)
			}
		})
	}
}

func TestStanzaGet(t *testing.T) {
	s := Stanza{Fields: []Field{{"Package", "a"}, {"Essential", ""}}}
	if s.Get("PACKAGE") != "a" || s.Get("Version") != "" {
		t.Error("Get")
	}
	if v, ok := s.Lookup("essential"); !ok || v != "" {
		t.Error("Lookup of an empty field")
	}
	if _, ok := s.Lookup("Version"); ok {
		t.Error("Lookup of a missing field")
	}
}

func TestParseConffiles(t *testing.T) {
	tests := []struct {
		name         string
		in           string
		keep, remove []string
		wantErr      string
	}{
		{"plain", "/etc/a\n/etc/b c\n", []string{"/etc/a", "/etc/b c"}, nil, ""},
		{"flags", "/etc/a  \nremove-on-upgrade /etc/old\n", []string{"/etc/a"}, []string{"/etc/old"}, ""},
		{"no-final-newline", "/etc/a", []string{"/etc/a"}, nil, ""},
		{"empty", "", nil, nil, ""},
		{"blank-line", "/etc/a\n\n/etc/b\n", nil, nil, "line 2: empty line"},
		{"relative", "etc/a\n", nil, nil, `"etc/a" is not an absolute path`},
		{"relative-flagged", "remove-on-upgrade etc/a\n", nil, nil, "not an absolute path"},
		{"bad-flag", "frobnicate /etc/a\n", nil, nil, `unknown flag "frobnicate"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keep, remove, err := parseConffiles([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(keep, tt.keep) || !reflect.DeepEqual(remove, tt.remove) {
				t.Errorf("got %q %q %v", keep, remove, err)
			}
		})
	}
}

func TestParseMD5Sums(t *testing.T) {
	m, err := parseMD5Sums([]byte("0123456789abcdef0123456789abcdef  usr/bin/a b\n0123456789ABCDEF0123456789abcdef *usr/c\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"usr/bin/a b": "0123456789abcdef0123456789abcdef", "usr/c": "0123456789ABCDEF0123456789abcdef"}; !reflect.DeepEqual(m, want) {
		t.Errorf("got %v", m)
	}
	for _, bad := range []string{"xyz  usr/a\n", "0123456789abcdef0123456789abcdef\n", "0123456789abcdef0123456789abcdeg  a\n"} {
		if _, err := parseMD5Sums([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
