package rootfs

import (
	"archive/tar"
	"bytes"
	"testing"
)

// FuzzUnpack: a hostile data.tar (any names, types, links, modes, PAX
// records, over a root that already holds a package and, maybe, the
// merged-/usr links) is unpacked or refused with an error, never a panic,
// and nothing is written outside the root (newEnv checks at cleanup).
func FuzzUnpack(f *testing.F) {
	base := tarBytes(f, pkg(dir("etc/"), file("etc/passwd", "root:x:0:0::/root:/bin/sh\n"), symlink("etc/up", "../.."), dir("usr/bin/")))
	f.Add(false, tarBytes(f, pkg(file("usr/bin/hello", "hi"), hardlink("usr/bin/hi", "./usr/bin/hello"))))
	f.Add(true, tarBytes(f, []tf{dir("./"), file("./bin/sh", "x"), symlink("./lib/evil", "/../../outside"), file("./lib/evil/sentinel", "gotcha")}))
	f.Add(false, tarBytes(f, []tf{file("../outside/sentinel", "x"), file("/abs", "x"), file("./etc/up/outside/sentinel", "x"),
		hardlink("./h", "../outside/sentinel"), {name: "./dev/null", typ: tar.TypeChar, major: 1, minor: 3}}))
	f.Add(true, tarBytes(f, pkg(tf{name: "etc/cap", body: "x", pax: map[string]string{"SCHILY.xattr.security.capability": "\x01\x00\x00\x02"}},
		tf{name: "etc/passwd", typ: tar.TypeDir}, symlink("usr/bin", "/"))))
	f.Fuzz(func(t *testing.T, merged bool, data []byte) {
		e := newEnv(t, Options{MergedUsr: merged, Arch: "amd64"})
		if _, err := e.s.Unpack("base", tar.NewReader(bytes.NewReader(base))); err != nil {
			t.Fatalf("base package: %v", err)
		}
		e.s.Unpack("evil", tar.NewReader(bytes.NewReader(data)))
	})
}
