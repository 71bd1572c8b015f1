package dpkg

import "testing"

func TestFnmatch(t *testing.T) {
	for _, c := range []struct {
		pattern, name string
		want          bool
	}{
		{"/usr/share/man/*", "/usr/share/man/man1/ls.1.gz", true},
		{"/usr/share/man/*", "/usr/share/man", false},
		{"/usr/share/doc/*/copyright", "/usr/share/doc/bash/copyright", true},
		{"/usr/share/locale/*", "/usr/share/locale/de/LC_MESSAGES/x.mo", true},
		{"/usr/share/locale/[a-c]*", "/usr/share/locale/de", false},
		{"/usr/share/locale/[!a-c]*", "/usr/share/locale/de", true},
		{"/a?c", "/abc", true},
		{"/a?c", "/a/c", true},
		{`/a\*`, "/a*", true},
		{`/a\*`, "/ab", false},
		{"/a[", "/a[", true},
		{"/x[]]y", "/x]y", true},
	} {
		if got := Match(c.pattern, c.name); got != c.want {
			t.Errorf("Match(%q, %q) = %v, want %v", c.pattern, c.name, got, c.want)
		}
	}
}

// The filters of Docker's slim images and of dpkg's documentation: the
// last match wins; directories stay when an include may need them.
func TestFilters(t *testing.T) {
	var f Filters
	n := f.AddConfig(`# slim
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-include=/usr/share/man/man1/*
other-option=1
`)
	if n != 4 {
		t.Fatalf("AddConfig added %d filters", n)
	}
	for _, c := range []struct {
		path    string
		dirLike bool
		skip    bool
	}{
		{"/usr/share/doc/bash/README", false, true},
		{"/usr/share/doc/bash/copyright", false, false},
		{"/usr/share/doc/bash", true, false}, // kept for its copyright
		{"/usr/share/man/man5", true, true},
		{"/usr/share/man/man5/x.5.gz", false, true},
		{"/usr/share/man/man1", true, false},
		{"/usr/share/man/man1/ls.1.gz", false, false},
		{"/usr/bin/ls", false, false},
	} {
		if got := f.Skip(c.path, c.dirLike); got != c.skip {
			t.Errorf("Skip(%q, %v) = %v, want %v", c.path, c.dirLike, got, c.skip)
		}
	}
}
