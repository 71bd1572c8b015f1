package configure

import (
	"archive/tar"
	"bytes"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/debstrap/debstrap/rootfs"
)

// TestMain lets the test binary be the configure helper: root and
// unshare modes re-execute os.Executable() with HelperCommand.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == HelperCommand {
		os.Exit(Helper(os.Args[2:]))
	}
	if os.Getenv("DEBSTRAP_TEST_LIFELINE") == "1" {
		// TestLifeline's child: a helper that would outlive its parent.
		watchParent()
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

var epoch = time.Unix(1700000000, 0).UTC()

// tfile is one member of a synthetic data.tar.
type tfile struct {
	name     string
	typ      byte
	mode     int64
	uid, gid int
	data     string
	link     string
	major    int64
	minor    int64
	xattrs   map[string]string
}

func dir(name string, mode int64, uid, gid int) tfile {
	return tfile{name: name, typ: tar.TypeDir, mode: mode, uid: uid, gid: gid}
}

func reg(name string, mode int64, uid, gid int, data string) tfile {
	return tfile{name: name, typ: tar.TypeReg, mode: mode, uid: uid, gid: gid, data: data}
}

func dataTar(t *testing.T, files []tfile) *tar.Reader {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Typeflag: f.typ, Mode: f.mode, Uid: f.uid, Gid: f.gid,
			Linkname: f.link, Devmajor: f.major, Devminor: f.minor, ModTime: epoch, Format: tar.FormatPAX}
		if f.typ == tar.TypeReg {
			h.Size = int64(len(f.data))
		}
		if len(f.xattrs) > 0 {
			h.PAXRecords = map[string]string{}
			for k, v := range f.xattrs {
				h.PAXRecords["SCHILY.xattr."+k] = v
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if f.typ == tar.TypeReg {
			tw.Write([]byte(f.data))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return tar.NewReader(&b)
}

// newStage makes a stage in a fresh directory and unpacks pkgs into it.
func newStage(t *testing.T, opts rootfs.Options, pkgs ...[]tfile) *rootfs.Stage {
	t.Helper()
	opts.Epoch = epoch
	st, err := rootfs.Create(t.TempDir()+"/root", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for i, files := range pkgs {
		if _, err := st.Unpack("pkg"+string(rune('a'+i)), dataTar(t, files)); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

func byPath(es []rootfs.Entry) map[string]rootfs.Entry {
	m := make(map[string]rootfs.Entry, len(es))
	for _, e := range es {
		m[e.Path] = e
	}
	return m
}

func paths(m map[string]rootfs.Entry) []string {
	var out []string
	for p := range m {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}
