package export

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/debstrap/debstrap/internal/tmplock"
	"golang.org/x/sys/unix"
)

// TestFileTargets: what each kind of existing path becomes when a
// tarball is written to it. Only a regular file is replaced; a symlink,
// FIFO or character device is written through and stays what it was.
func TestFileTargets(t *testing.T) {
	want := plainTar(t)
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) (target string, check func(t *testing.T))
		err   string
	}{
		{"new file", func(t *testing.T, dir string) (string, func(*testing.T)) {
			p := filepath.Join(dir, "new.tar")
			return p, func(t *testing.T) { same(t, readFile(t, p), want) }
		}, ""},
		{"existing file", func(t *testing.T, dir string) (string, func(*testing.T)) {
			p := filepath.Join(dir, "old.tar")
			mustWrite(t, p, "old")
			return p, func(t *testing.T) { same(t, readFile(t, p), want) }
		}, ""},
		{"symlink to a file", func(t *testing.T, dir string) (string, func(*testing.T)) {
			real := filepath.Join(dir, "real.tar")
			mustWrite(t, real, "old")
			link := filepath.Join(dir, "link.tar")
			mustSymlink(t, "real.tar", link)
			return link, func(t *testing.T) {
				isSymlink(t, link)
				same(t, readFile(t, real), want)
			}
		}, ""},
		{"FIFO", func(t *testing.T, dir string) (string, func(*testing.T)) {
			p := filepath.Join(dir, "fifo")
			got := readFIFO(t, p)
			return p, func(t *testing.T) {
				same(t, <-got, want)
				isType(t, p, fs.ModeNamedPipe)
			}
		}, ""},
		{"symlink to a FIFO", func(t *testing.T, dir string) (string, func(*testing.T)) {
			p := filepath.Join(dir, "fifo")
			got := readFIFO(t, p)
			link := filepath.Join(dir, "stdout")
			mustSymlink(t, p, link)
			return link, func(t *testing.T) {
				same(t, <-got, want)
				isSymlink(t, link)
				isType(t, p, fs.ModeNamedPipe)
			}
		}, ""},
		{"/dev/null", func(t *testing.T, dir string) (string, func(*testing.T)) {
			return os.DevNull, func(t *testing.T) { isType(t, os.DevNull, fs.ModeDevice|fs.ModeCharDevice) }
		}, ""},
		{"symlink to /dev/null", func(t *testing.T, dir string) (string, func(*testing.T)) {
			link := filepath.Join(dir, "null")
			mustSymlink(t, os.DevNull, link)
			return link, func(t *testing.T) {
				isSymlink(t, link)
				isType(t, os.DevNull, fs.ModeDevice|fs.ModeCharDevice)
			}
		}, ""},
		{"dangling symlink", func(t *testing.T, dir string) (string, func(*testing.T)) {
			link := filepath.Join(dir, "x.tar")
			mustSymlink(t, "nowhere", link)
			return link, nil
		}, "leads nowhere"},
		{"directory", func(t *testing.T, dir string) (string, func(*testing.T)) {
			p := filepath.Join(dir, "d")
			mustMkdir(t, p)
			return p, nil
		}, "existing directory"},
		{"missing parent", func(t *testing.T, dir string) (string, func(*testing.T)) {
			return filepath.Join(dir, "no/such/x.tar"), nil
		}, "no such file"},
		{"parent is a file", func(t *testing.T, dir string) (string, func(*testing.T)) {
			mustWrite(t, filepath.Join(dir, "f"), "")
			return filepath.Join(dir, "f/x.tar"), nil
		}, "not a directory"},
	}
	if bd := blockDevice(); bd != "" {
		tests = append(tests, struct {
			name  string
			setup func(t *testing.T, dir string) (string, func(*testing.T))
			err   string
		}{"block device", func(t *testing.T, dir string) (string, func(*testing.T)) { return bd, nil }, "block device"})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			target, check := tt.setup(t, dir)
			cerr := CheckTarget(target, FormatTar)
			_, err := Write(context.Background(), fixture(), target, Options{Format: FormatTar, Epoch: epoch})
			if tt.err != "" {
				for _, e := range []error{cerr, err} {
					if e == nil || !strings.Contains(e.Error(), tt.err) {
						t.Errorf("got %v, want an error containing %q", e, tt.err)
					}
				}
				return
			}
			if cerr != nil || err != nil {
				t.Fatalf("CheckTarget: %v; Write: %v", cerr, err)
			}
			check(t)
			assertNoTemp(t, dir)
		})
	}
}

// TestStdout: "-" is a tarball on standard output, as mmdebstrap's is
// (debstrap build SUITE - | docker import -); directories cannot go there.
func TestStdout(t *testing.T) {
	for _, f := range []Format{FormatTar, FormatTarGz, FormatOCIArchive, FormatDockerArchive} {
		var buf bytes.Buffer
		file := filepath.Join(t.TempDir(), "x")
		// The tag would otherwise come from the target's name.
		opts := Options{Format: f}
		if f.HoldsConfig() {
			opts.Image.Tag = "x:latest"
		}
		fd := write(t, fixture(), file, opts)
		opts.Stdout = &buf
		d := write(t, fixture(), "-", opts)
		if d != fd || !bytes.Equal(buf.Bytes(), readFile(t, file)) {
			t.Errorf("%s: standard output differs from the file (%s, %s)", f, d, fd)
		}
	}
	if f, err := FormatFor("-", ""); err != nil || f != FormatTar {
		t.Errorf(`FormatFor("-") = %v, %v`, f, err)
	}
	for _, f := range []Format{FormatDir, FormatOCI} {
		_, err := Write(context.Background(), fixture(), "-", Options{Format: f, Epoch: epoch, Architecture: "amd64"})
		if err == nil || !strings.Contains(err.Error(), "standard output") {
			t.Errorf("%s to -: %v", f, err)
		}
		if err := CheckTarget("-", f); err == nil {
			t.Errorf("CheckTarget(-, %s) passed", f)
		}
	}
}

// TestDirTargets: a directory format takes a new name or an existing
// empty directory, which it fills and keeps (its parent need not be
// writable); nothing else.
func TestDirTargets(t *testing.T) {
	for _, f := range []Format{FormatDir, FormatOCI} {
		dir := t.TempDir()
		empty := filepath.Join(dir, "empty")
		mustMkdir(t, empty)
		before, _ := os.Stat(empty)
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		write(t, fixture(), empty, Options{Format: f})
		os.Chmod(dir, 0o755)
		after, err := os.Stat(empty)
		if err != nil || !os.SameFile(before, after) {
			t.Errorf("%s: the empty directory was replaced (%v)", f, err)
		}
		if f == FormatDir && after.Mode().Perm() != 0o755 {
			t.Errorf("%s: mode %v, want the root's 0755", f, after.Mode())
		}
		names, _ := os.ReadDir(empty)
		for _, n := range names {
			if strings.Contains(n.Name(), ".tmp-") {
				t.Errorf("%s: temporary %s left inside", f, n.Name())
			}
		}
		if len(names) < 2 {
			t.Errorf("%s: nothing written into the directory: %v", f, names)
		}

		full := filepath.Join(dir, "full")
		mustMkdir(t, full)
		mustWrite(t, filepath.Join(full, "x"), "")
		link := filepath.Join(dir, "link")
		mustSymlink(t, "empty", link)
		file := filepath.Join(dir, "file")
		mustWrite(t, file, "")
		for target, msg := range map[string]string{
			full: "not empty", link: "symlink", file: "not a directory",
			filepath.Join(dir, "no/such"): "no such file",
		} {
			cerr := CheckTarget(target, f)
			_, err := Write(context.Background(), fixture(), target, Options{Format: f, Epoch: epoch, Architecture: "amd64"})
			for _, e := range []error{cerr, err} {
				if e == nil || !strings.Contains(e.Error(), msg) {
					t.Errorf("%s to %s: %v, want an error containing %q", f, target, e, msg)
				}
			}
		}
		assertNoTemp(t, dir)
	}
}

// TestUnwritableTarget: found by CheckTarget, before any work.
func TestUnwritableTarget(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root may write anywhere")
	}
	dir := t.TempDir()
	ro := filepath.Join(dir, "ro")
	mustMkdir(t, ro)
	os.Chmod(ro, 0o555)
	defer os.Chmod(ro, 0o755)
	for _, f := range []Format{FormatTar, FormatDir, FormatOCI} {
		if err := CheckTarget(filepath.Join(ro, "x"), f); err == nil || !strings.Contains(err.Error(), "cannot create files") {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// TestOutputModes: what export writes besides the image's tree (the
// tarball, every file and directory of an OCI layout) is readable by all
// unless the umask says otherwise.
func TestOutputModes(t *testing.T) {
	for _, mask := range []int{0o022, 0o077} {
		old := syscall.Umask(mask)
		dir := t.TempDir()
		wantF, wantD := fs.FileMode(0o666&^mask), fs.FileMode(0o777&^mask)
		for _, name := range []string{"x.tar", "x.oci.tar", "x.docker.tar"} {
			p := filepath.Join(dir, name)
			write(t, fixture(), p, Options{})
			if fi, _ := os.Stat(p); fi.Mode().Perm() != wantF {
				t.Errorf("umask %03o: %s mode %v, want %v", mask, name, fi.Mode(), wantF)
			}
		}
		oci := filepath.Join(dir, "x.oci")
		write(t, fixture(), oci, Options{})
		filepath.WalkDir(oci, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				t.Fatal(err)
			}
			fi, _ := d.Info()
			w := wantF
			if d.IsDir() {
				w = wantD
			}
			if fi.Mode().Perm() != w {
				t.Errorf("umask %03o: %s mode %v, want %v", mask, p, fi.Mode(), w)
			}
			return nil
		})
		syscall.Umask(old)
	}
}

// TestSweep: what a killed build left at a target (temporaries whose
// lock is free) goes; a live build's temporaries and other files stay.
func TestSweep(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "x.tar")
	deadFile := filepath.Join(dir, ".x.tar.tmp-123")
	mustWrite(t, deadFile, "partial")
	deadDir := filepath.Join(dir, ".x.tar.tmp-456")
	mustMkdir(t, deadDir)
	mustMkdir(t, filepath.Join(deadDir, "ro"))
	mustWrite(t, filepath.Join(deadDir, "ro/f"), "")
	os.Chmod(filepath.Join(deadDir, "ro"), 0o555)
	live, l, err := tmplock.CreateTemp(dir, ".x.tar.tmp-*")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	other := filepath.Join(dir, ".y.tar.tmp-789")
	mustWrite(t, other, "")
	emptyTarget := filepath.Join(dir, "root")
	mustMkdir(t, emptyTarget)
	inner := filepath.Join(emptyTarget, ".debstrap.tmp-1")
	mustMkdir(t, inner)

	got := Sweep(target, nil)
	got = append(got, Sweep(emptyTarget, nil)...)
	for _, p := range []string{deadFile, deadDir, inner} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s not removed (swept %v)", p, got)
		}
	}
	for _, p := range []string{live.Name(), other} {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s removed", p)
		}
	}
	if err := CheckTarget(emptyTarget, FormatDir); err != nil {
		t.Errorf("after the sweep the directory target is usable again: %v", err)
	}
}

func same(t *testing.T, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Errorf("got %d bytes, want the %d of the plain tarball", len(got), len(want))
	}
}

func mustWrite(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustMkdir(t *testing.T, p string) {
	t.Helper()
	if err := os.Mkdir(p, 0o755); err != nil {
		t.Fatal(err)
	}
}

func mustSymlink(t *testing.T, old, p string) {
	t.Helper()
	if err := os.Symlink(old, p); err != nil {
		t.Fatal(err)
	}
}

func isSymlink(t *testing.T, p string) {
	t.Helper()
	if fi, err := os.Lstat(p); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("%s is no longer a symlink (%v)", p, err)
	}
}

func isType(t *testing.T, p string, typ fs.FileMode) {
	t.Helper()
	if fi, err := os.Lstat(p); err != nil || fi.Mode().Type() != typ {
		t.Errorf("%s: %v %v, want type %v", p, fi.Mode(), err, typ)
	}
}

// readFIFO makes a FIFO at p and reads it whole in the background.
func readFIFO(t *testing.T, p string) <-chan []byte {
	t.Helper()
	if err := unix.Mkfifo(p, 0o600); err != nil {
		t.Fatal(err)
	}
	ch := make(chan []byte, 1)
	go func() {
		f, err := os.Open(p)
		if err != nil {
			ch <- nil
			return
		}
		defer f.Close()
		b, _ := io.ReadAll(f)
		ch <- b
	}()
	return ch
}

// blockDevice is some block device of the host, or "".
func blockDevice() string {
	names, _ := filepath.Glob("/dev/*")
	for _, n := range names {
		if fi, err := os.Lstat(n); err == nil && fi.Mode()&fs.ModeDevice != 0 && fi.Mode()&fs.ModeCharDevice == 0 {
			return n
		}
	}
	return ""
}
