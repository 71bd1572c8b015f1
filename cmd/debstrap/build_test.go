package main

import (
	"archive/tar"
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/debstrap/debstrap/internal/testarchive"
)

// build runs an extract-mode build of the Minimal archive's suite "stable"
// into target, with extra flags, and checks it succeeded.
func (h *harness) build(t *testing.T, target string, flags ...string) result {
	t.Helper()
	args := append([]string{"--mode=extract"}, flags...)
	args = append(args, "stable", target, h.srv.URL)
	r := h.run(t.Context(), "build", args...)
	want(t, r, 0, nil, nil)
	return r
}

// checkImage checks what every extract-mode build of the Minimal archive
// must contain.
func checkImage(t *testing.T, h *harness, img *image, epoch time.Time, owners bool) {
	t.Helper()
	for _, p := range []string{
		"usr/bin/mawk", "etc/nanorc", "etc/debian_version", "usr/share/debconf/confmodule",
		"usr/share/doc/libc6/copyright", "var/lib/dpkg/status", "var/lib/dpkg/info/mawk.list",
		"etc/apt/sources.list",
	} {
		if _, ok := img.entries[p]; !ok {
			t.Errorf("image lacks %s", p)
		}
	}
	// libc6 ships /lib/…: in the root as is, or under /usr when merged.
	_, lib := img.entries["lib/x86_64-linux-gnu/libc.so.6"]
	_, usrlib := img.entries["usr/lib/x86_64-linux-gnu/libc.so.6"]
	if !lib && !usrlib {
		t.Errorf("image lacks libc6's libc.so.6")
	}
	if e := img.entries["usr/bin/mawk"]; string(e.body) != "#!/bin/sh\necho mawk\n" || e.hdr.Mode&0o777 != 0o755 {
		t.Errorf("usr/bin/mawk: mode %o, content %q", e.hdr.Mode, e.body)
	}
	if e, ok := img.entries["tmp"]; !ok || e.hdr.Typeflag != tar.TypeDir || e.hdr.Mode&0o7777 != 0o1777 {
		t.Errorf("tmp: %+v, want a directory with mode 1777", e.hdr)
	}
	if e := img.entries["etc/os-release"]; e.hdr.Typeflag != tar.TypeSymlink || e.hdr.Linkname != "../usr/lib/os-release" {
		t.Errorf("etc/os-release: %+v, want a symlink to ../usr/lib/os-release", e.hdr)
	}

	status := string(img.entries["var/lib/dpkg/status"].body)
	states := map[string]string{} // package → Status
	var inStatus []string
	for _, stanza := range strings.Split(strings.TrimSpace(status), "\n\n") {
		var pkg, st string
		for _, line := range strings.Split(stanza, "\n") {
			if v, ok := strings.CutPrefix(line, "Package: "); ok {
				pkg = v
			}
			if v, ok := strings.CutPrefix(line, "Status: "); ok {
				st = v
			}
		}
		states[pkg] = st
		inStatus = append(inStatus, pkg)
	}
	for _, p := range minimalImportant {
		if states[p] != "install ok unpacked" {
			t.Errorf("dpkg status: %s is %q, want \"install ok unpacked\"", p, states[p])
		}
	}
	if !slices.Equal(inStatus, minimalImportant) {
		t.Errorf("dpkg status lists %v, want %v", inStatus, minimalImportant)
	}
	if got, w := string(img.entries["etc/apt/sources.list"].body), "deb "+h.srv.URL+" stable main\n"; got != w {
		t.Errorf("etc/apt/sources.list = %q, want %q", got, w)
	}

	if !owners {
		return
	}
	for _, name := range img.order {
		hd := img.entries[name].hdr
		if hd.Uid != 0 || hd.Gid != 0 {
			t.Errorf("%s: owner %d:%d, want 0:0", name, hd.Uid, hd.Gid)
		}
		if (hd.Uname != "" && hd.Uname != "root") || (hd.Gname != "" && hd.Gname != "root") {
			t.Errorf("%s: owner names %q:%q", name, hd.Uname, hd.Gname)
		}
		if hd.ModTime.After(epoch) {
			t.Errorf("%s: mtime %s after the epoch %s", name, hd.ModTime, epoch)
		}
	}
	if !slices.IsSorted(img.order) {
		t.Errorf("entries not sorted: %v", img.order)
	}
	if img.config != nil {
		c := img.config
		if c.Architecture != "amd64" || c.OS != "linux" {
			t.Errorf("image config platform %s/%s, want linux/amd64", c.OS, c.Architecture)
		}
		if !c.Created.Time.Equal(epoch) {
			t.Errorf("image config created %s, want %s", c.Created.Time, epoch)
		}
	}
}

// TestBuildFormats: each output format from TARGET's name.
func TestBuildFormats(t *testing.T) {
	h := newHarness(t, testarchive.Minimal())
	epoch := testarchive.DefaultTime // the Release's Date
	for _, tt := range []struct {
		target string
		format string // in stdout
	}{
		{"rootfs.tar", "tar"},
		{"rootfs.tar.gz", "tar.gz"},
		{"rootfs.tar.xz", "tar.xz"},
		{"rootfs.tar.zst", "tar.zst"},
		{"rootfs.oci", "oci"},
		{"rootfs.oci.tar", "oci-archive"},
		{"rootfs.docker.tar", "docker-archive"},
		{"rootfs/", "dir"},
	} {
		t.Run(tt.target, func(t *testing.T) {
			dir := t.TempDir()
			target := filepath.Join(dir, tt.target)
			if strings.HasSuffix(tt.target, "/") {
				target += "/"
			}
			r := h.build(t, target, "--quiet=false")
			if !strings.HasPrefix(r.stdout, target+": bookworm "+tt.format+", 7 packages") {
				t.Errorf("stdout %q, want %q…", r.stdout, target+": bookworm "+tt.format+", 7 packages")
			}
			if _, err := os.Stat(target); err != nil {
				t.Fatalf("no output: %v", err)
			}
			// Nothing but the target beside it.
			if names, _ := os.ReadDir(dir); len(names) != 1 {
				t.Errorf("target directory holds %v", names)
			}
			var img *image
			if strings.HasSuffix(tt.target, "/") {
				img = readDirImage(t, target)
				checkImage(t, h, img, epoch, false)
				if strings.Contains(r.stdout, ",  in") {
					t.Errorf("stdout has an empty digest: %q", r.stdout)
				}
				return
			}
			img = readImage(t, target)
			checkImage(t, h, img, epoch, true)
		})
	}
}

// TestBuildFormatFlag: --format wins over TARGET's name.
func TestBuildFormatFlag(t *testing.T) {
	h := newHarness(t, testarchive.Minimal())
	target := filepath.Join(t.TempDir(), "image.bin")
	r := h.build(t, target, "--format=tar", "--quiet=false")
	if !strings.Contains(r.stdout, "bookworm tar,") {
		t.Errorf("stdout %q", r.stdout)
	}
	f := open(t, target)
	img := &image{entries: map[string]imageEntry{}}
	readTarInto(t, img, f)
	checkImage(t, h, img, testarchive.DefaultTime, true)

	r = h.run(t.Context(), "build", "--mode=extract", "--format=zip", "stable", filepath.Join(t.TempDir(), "x"), h.srv.URL)
	want(t, r, 1, nil, []string{`"zip"`, "tar"})
}

// TestBuildReproducible: two builds of the same archive state are
// byte-identical, with SOURCE_DATE_EPOCH and without it (the epoch is
// then the Release's Date), from a cold cache and a warm one.
func TestBuildReproducible(t *testing.T) {
	for _, sde := range []string{"1700000000", ""} {
		t.Run("SOURCE_DATE_EPOCH="+sde, func(t *testing.T) {
			h := newHarness(t, testarchive.Minimal())
			t.Setenv("SOURCE_DATE_EPOCH", sde)
			epoch := testarchive.DefaultTime
			if sde != "" {
				epoch = time.Unix(1700000000, 0).UTC()
			}
			for _, name := range []string{"rootfs.tar", "rootfs.oci.tar"} {
				var outs [][]byte
				var digests []string
				for i := range 2 {
					if i == 1 {
						h.cache = t.TempDir() // cold again: download order must not matter
					}
					target := filepath.Join(t.TempDir(), name)
					r := h.build(t, target, "--quiet=false")
					b, err := os.ReadFile(target)
					if err != nil {
						t.Fatal(err)
					}
					outs = append(outs, b)
					for _, f := range strings.Fields(r.stdout) {
						if strings.HasPrefix(f, "sha256:") {
							digests = append(digests, strings.TrimSuffix(f, ","))
						}
					}
					checkImage(t, h, readImage(t, target), epoch, true)
				}
				if !bytes.Equal(outs[0], outs[1]) {
					t.Errorf("%s: two builds differ (%d and %d bytes)", name, len(outs[0]), len(outs[1]))
				}
				if len(digests) != 2 || digests[0] != digests[1] {
					t.Errorf("%s: digests %v", name, digests)
				}
			}
		})
	}
}

// TestBuildEpochChanges: a different SOURCE_DATE_EPOCH gives a different
// image (the epoch is really used), and a bad one is refused.
func TestBuildEpoch(t *testing.T) {
	h := newHarness(t, testarchive.Minimal())
	var outs [][]byte
	for _, sde := range []string{"1600000000", "1700000000"} {
		t.Setenv("SOURCE_DATE_EPOCH", sde)
		target := filepath.Join(t.TempDir(), "rootfs.tar")
		h.build(t, target)
		b, err := os.ReadFile(target)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, b)
	}
	if bytes.Equal(outs[0], outs[1]) {
		t.Error("builds with different SOURCE_DATE_EPOCH are identical")
	}

	t.Setenv("SOURCE_DATE_EPOCH", "yesterday")
	dir := t.TempDir()
	r := h.run(t.Context(), "build", "--mode=extract", "stable", filepath.Join(dir, "x.tar"), h.srv.URL)
	want(t, r, 1, nil, []string{`SOURCE_DATE_EPOCH="yesterday"`})
	if names := listDir(t, dir); len(names) != 0 {
		t.Errorf("left %v", names)
	}
}

// TestBuildFailureLeavesNothing: a build that fails leaves no TARGET, no
// temporary file beside it and no staging directory under $TMPDIR.
func TestBuildFailureLeavesNothing(t *testing.T) {
	// clash ships mawk's file without Replaces: dpkg refuses to unpack it.
	clash := testarchive.Minimal()
	clash.Suites[0].Packages["main"] = append(clash.Suites[0].Packages["main"], testarchive.Deb{
		Name: "clash", Version: "1.0",
		Files: []testarchive.File{{Path: "./usr/bin/mawk", Mode: 0o755, Body: []byte("clash\n")}},
	})
	// broken is not a .deb at all, though its index vouches for its bytes.
	broken := testarchive.Minimal()
	broken.Suites[0].Packages["main"] = append(broken.Suites[0].Packages["main"], testarchive.Deb{
		Name: "broken", Version: "1.0", Raw: []byte("this is not an ar archive\n"),
	})

	tests := []struct {
		name    string
		archive testarchive.Archive
		fault   testarchive.Fault
		flags   []string
		stderr  []string
		// target relative to the output directory; "FILE/" is under a
		// regular file, so only export can fail.
		targets []string
	}{
		{
			name:    "corrupt .deb",
			archive: testarchive.Minimal(),
			fault:   testarchive.Corrupt("*.deb"),
			stderr:  []string{"sha256 mismatch", "expected", "got", "/pool/main/"},
		},
		{
			name:    "file conflict",
			archive: clash,
			flags:   []string{"--include=clash"},
			// Unpacked by name: clash comes first, mawk is refused.
			stderr: []string{"unpacking mawk", "trying to overwrite '/usr/bin/mawk', which is also in package clash"},
		},
		{
			name:    "not a .deb",
			archive: broken,
			flags:   []string{"--include=broken"},
			stderr:  []string{"broken"},
		},
		{
			name:    "unwritable target",
			archive: testarchive.Minimal(),
			stderr:  []string{"FILE"},
			targets: []string{"FILE/rootfs.tar", "FILE/rootfs.oci.tar", "FILE/rootfs.oci", "FILE/rootfs/"},
		},
	}
	for _, tt := range tests {
		targets := tt.targets
		if targets == nil {
			targets = []string{"rootfs.tar", "rootfs.tar.zst", "rootfs.oci.tar", "rootfs.oci", "rootfs/"}
		}
		for _, target := range targets {
			t.Run(tt.name+"/"+target, func(t *testing.T) {
				h := newHarness(t, tt.archive)
				if tt.fault != nil {
					h.srv.Inject(tt.fault)
				}
				out := t.TempDir()
				if err := os.WriteFile(filepath.Join(out, "FILE"), nil, 0o644); err != nil {
					t.Fatal(err)
				}
				tmp := t.TempDir()
				t.Setenv("TMPDIR", tmp)
				target := filepath.Join(out, target)
				args := append(append([]string{"--mode=extract"}, tt.flags...), "stable", target, h.srv.URL)
				r := h.run(t.Context(), "build", args...)
				t.Log(r.stderr)
				want(t, r, 1, nil, tt.stderr)
				if names := listDir(t, out); !slices.Equal(names, []string{"FILE"}) {
					t.Errorf("output directory holds %v after a failed build", names)
				}
				if names := listDir(t, tmp); len(names) != 0 {
					t.Errorf("$TMPDIR holds %v after a failed build", names)
				}
				if names := listDir(t, filepath.Join(h.cache, "tmp")); len(names) != 0 {
					t.Errorf("cache tmp holds %v", names)
				}
			})
		}
	}
}

// TestBuildExistingTarget: a build replaces an existing TARGET file
// whole; a failed one leaves it as it was.
func TestBuildExistingTarget(t *testing.T) {
	h := newHarness(t, testarchive.Minimal())
	dir := t.TempDir()
	target := filepath.Join(dir, "rootfs.tar")
	if err := os.WriteFile(target, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	h.srv.Inject(testarchive.Corrupt("*.deb"))
	r := h.run(t.Context(), "build", "--mode=extract", "stable", target, h.srv.URL)
	want(t, r, 1, nil, nil)
	if b, _ := os.ReadFile(target); string(b) != "old" {
		t.Errorf("a failed build changed the existing target")
	}
	h.srv.ClearFaults()
	h.build(t, target)
	checkImage(t, h, readImage(t, target), testarchive.DefaultTime, true)
	if names := listDir(t, dir); !slices.Equal(names, []string{"rootfs.tar"}) {
		t.Errorf("directory holds %v", names)
	}
}

// TestBuildCancelled: an interrupted build (the context cancelled while
// the .debs download) exits 130 and leaves nothing behind.
func TestBuildCancelled(t *testing.T) {
	for _, target := range []string{"rootfs.tar", "rootfs.oci", "rootfs/"} {
		t.Run(target, func(t *testing.T) {
			h := newHarness(t, testarchive.Minimal())
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			// The first .deb request interrupts the build, then hangs
			// until the client gives up.
			h.srv.Inject(func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
				if !testarchive.Matches(r, "*.deb") {
					return false
				}
				cancel()
				<-r.Context().Done()
				return true
			})
			out := t.TempDir()
			tmp := t.TempDir()
			t.Setenv("TMPDIR", tmp)
			done := make(chan result)
			go func() {
				done <- h.run(ctx, "build", "--mode=extract", "stable", filepath.Join(out, target), h.srv.URL)
			}()
			var r result
			select {
			case r = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("a cancelled build did not return")
			}
			want(t, r, 130, nil, []string{"debstrap build: interrupted"})
			if names := listDir(t, out); len(names) != 0 {
				t.Errorf("output directory holds %v after an interrupted build", names)
			}
			if names := listDir(t, tmp); len(names) != 0 {
				t.Errorf("$TMPDIR holds %v after an interrupted build", names)
			}
			if names := listDir(t, filepath.Join(h.cache, "tmp")); len(names) != 0 {
				t.Errorf("cache tmp holds %v", names)
			}
		})
	}
}

// A target whose directory is missing fails before anything is fetched.
func TestBuildTargetDirCheckedFirst(t *testing.T) {
	h := newHarness(t, testarchive.Minimal())
	target := filepath.Join(t.TempDir(), "missing", "out.tar")
	r := h.run(context.Background(), "build", "--mode=extract", "bookworm", target)
	want(t, r, 1, nil, []string{"target " + target, "no such file or directory"})
	if n := len(h.srv.Requests()); n != 0 {
		t.Errorf("%d requests before the target was refused: %v", n, h.srv.Requests())
	}
}

func TestXZCommandChoice(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	if got := xzCommand("go", log); got != "" {
		t.Errorf(`DEBSTRAP_XZ=go: %q, want ""`, got)
	}
	if got := xzCommand("/opt/xz", log); got != "/opt/xz" {
		t.Errorf("DEBSTRAP_XZ=/opt/xz: %q", got)
	}
	want, _ := exec.LookPath("xz")
	if got := xzCommand("", log); got != want {
		t.Errorf("default: %q, want %q (xz on PATH)", got, want)
	}
}

// A target named through a link (as /dev/stdout leads to the file the
// shell opened) is written, never kept: a kept output read back through
// the link was once empty, and written again as an empty image.
func TestLinkTargetNotKept(t *testing.T) {
	h := newHarness(t, testarchive.Minimal())
	dir := t.TempDir()
	real := filepath.Join(dir, "real.tar")
	if err := os.WriteFile(real, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.tar")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		r := h.build(t, link)
		if strings.Contains(r.stdout, "the cache's output") {
			t.Errorf("build %d through the link reused a kept output", i+1)
		}
		if fi, err := os.Stat(real); err != nil || fi.Size() == 0 {
			t.Fatalf("build %d: %s is empty (%v)", i+1, real, err)
		}
	}
}
