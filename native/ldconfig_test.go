package native

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
)

// cacheList decodes /etc/ld.so.cache's entries as ldconfig -p lists
// them: "soname flags => path", in the file's order.
func cacheList(t *testing.T, cache []byte) []string {
	t.Helper()
	le := binary.LittleEndian
	if len(cache) < 48 || string(cache[:20]) != "glibc-ld.so.cache1.1" {
		t.Fatalf("not a cache: % x", cache[:min(len(cache), 48)])
	}
	str := func(off uint32) string {
		end := strings.IndexByte(string(cache[off:]), 0)
		return string(cache[off : off+uint32(end)])
	}
	var out []string
	for i := range int(le.Uint32(cache[20:])) {
		e := cache[48+24*i:]
		out = append(out, fmt.Sprintf("%s %#x => %s", str(le.Uint32(e[4:])), le.Uint32(e), str(le.Uint32(e[8:]))))
	}
	return out
}

// ldconfig scans its built-in /lib and /usr/lib after the multiarch
// directories: the dynamic loader's link there (/lib/ld-linux.so.2 of
// libc6:i386, arm64's /lib/ld-linux-aarch64.so.1) is an entry of its
// own. On the amd64 layout the cache is what glibc 2.36's ldconfig -r
// wrote for the same tree with the host's real libraries, byte for byte
// (checked when this was written; here the libraries are minimal ELF
// objects and the entries compared as ldconfig -p lists them). The
// arm64 layout is the one bookworm's libc6:arm64 ships.
func TestLdconfigBuiltinDirs(t *testing.T) {
	conf := map[string]string{
		"/etc/ld.so.conf":             "include /etc/ld.so.conf.d/*.conf\n\n",
		"/etc/ld.so.conf.d/libc.conf": "# libc default configuration\n/usr/local/lib\n",
		"/usr/local/lib/":             "",
		"/sbin/ldconfig":              "x:\x7fELF..ldconfig (Debian GLIBC 2.36-9+deb12u14) stable release version 2.36\x00",
	}
	for _, tc := range []struct {
		arch, triplet, loader string
		machine               uint16
		want                  []string
	}{
		{"amd64", "x86_64-linux-gnu", "ld-linux-x86-64.so.2", 62, []string{
			"libz.so.1 0x303 => /lib/x86_64-linux-gnu/libz.so.1",
			"libm.so.6 0x303 => /lib/libm.so.6",
			"libc.so.6 0x303 => /lib/x86_64-linux-gnu/libc.so.6",
			"ld-linux-x86-64.so.2 0x303 => /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
			"ld-linux-x86-64.so.2 0x303 => /lib/ld-linux-x86-64.so.2",
		}},
		{"arm64", "aarch64-linux-gnu", "ld-linux-aarch64.so.1", 183, []string{
			"libz.so.1 0xa03 => /lib/aarch64-linux-gnu/libz.so.1",
			"libm.so.6 0xa03 => /lib/libm.so.6",
			"libc.so.6 0xa03 => /lib/aarch64-linux-gnu/libc.so.6",
			"ld-linux-aarch64.so.1 0xa03 => /lib/aarch64-linux-gnu/ld-linux-aarch64.so.1",
			"ld-linux-aarch64.so.1 0xa03 => /lib/ld-linux-aarch64.so.1",
		}},
	} {
		t.Run(tc.arch, func(t *testing.T) {
			lib := func(soname string) string {
				b := elfLib(soname)
				binary.LittleEndian.PutUint16(b[18:], tc.machine)
				return string(b)
			}
			st := newStage(t)
			s := testSys(t, st)
			s.opts.Arch = tc.arch
			files := map[string]string{
				"/etc/ld.so.conf.d/" + tc.triplet + ".conf":  "# Multiarch support\n/usr/local/lib/" + tc.triplet + "\n/lib/" + tc.triplet + "\n/usr/lib/" + tc.triplet + "\n",
				"/usr/lib/" + tc.triplet + "/libc.so.6":      lib("libc.so.6"),
				"/usr/lib/" + tc.triplet + "/" + tc.loader:   lib(tc.loader),
				"/usr/lib/" + tc.triplet + "/libz.so.1.2.13": lib("libz.so.1"),
				"/usr/lib/" + tc.loader:                      "-> " + tc.triplet + "/" + tc.loader,
				"/usr/lib/libm.so.6":                         lib("libm.so.6"),
			}
			for k, v := range conf {
				files[k] = v
			}
			put(t, st, files)
			mustSh(t, s, "ldconfig")
			got := cacheList(t, []byte(get(t, st, "/etc/ld.so.cache")))
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("cache:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			if e := entry(t, st, "/usr/lib/"+tc.triplet+"/libz.so.1"); e.Linkname != "libz.so.1.2.13" {
				t.Errorf("soname link %+v", e)
			}
		})
	}
}
