package rootfs

import (
	"io"
	"testing"
)

// TestReader: the Reader opens what Open opens — through symlinks, in
// any order of directories — and refuses what Open refuses.
func TestReader(t *testing.T) {
	e := newEnv(t, Options{Epoch: testTime})
	e.unpack(t, "base", pkg(dir("etc/"), file("etc/a", "A"), file("etc/b", "B"), dir("usr/"), dir("usr/lib/"),
		file("usr/lib/x", "X"), symlink("lib", "usr/lib"), symlink("etc/l", "../usr/lib/x"), dir("var/")))
	r := e.s.Reader()
	defer r.Close()
	for _, c := range []struct{ path, want string }{
		{"/etc/a", "A"}, {"/etc/b", "B"}, {"/usr/lib/x", "X"}, {"/etc/a", "A"}, {"/lib/x", "X"}, {"/etc/l", "X"}, {"/etc/b", "B"},
	} {
		f, err := r.Open(c.path)
		if err != nil {
			t.Fatalf("%s: %v", c.path, err)
		}
		b, _ := io.ReadAll(f)
		f.Close()
		if string(b) != c.want {
			t.Errorf("%s: %q, want %q", c.path, b, c.want)
		}
	}
	for _, p := range []string{"/var", "/etc/none", "/../etc/a/..", "relative"} {
		f, err := r.Open(p)
		if err == nil {
			f.Close()
			t.Errorf("%s opened", p)
		} else if _, err2 := e.s.Open(p); err2 == nil || err.Error() != err2.Error() {
			t.Errorf("%s: %v, Open says %v", p, err, err2)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
}
