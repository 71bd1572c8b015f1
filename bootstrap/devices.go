package bootstrap

import (
	"archive/tar"
	"fmt"

	"github.com/debstrap/debstrap/rootfs"
)

// devNodes is the /dev that mmdebstrap puts into every image it writes,
// so that a chroot or container works without mounting a devtmpfs first
// (apt-key, for one, writes to /dev/null).
var devNodes = []rootfs.Entry{
	{Path: "/dev/console", Type: tar.TypeChar, Mode: 0o666, Devmajor: 5, Devminor: 1},
	{Path: "/dev/fd", Type: tar.TypeSymlink, Mode: 0o777, Linkname: "/proc/self/fd"},
	{Path: "/dev/full", Type: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 7},
	{Path: "/dev/null", Type: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3},
	{Path: "/dev/ptmx", Type: tar.TypeChar, Mode: 0o666, Devmajor: 5, Devminor: 2},
	{Path: "/dev/pts", Type: tar.TypeDir, Mode: 0o755},
	{Path: "/dev/random", Type: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 8},
	{Path: "/dev/shm", Type: tar.TypeDir, Mode: 0o755},
	{Path: "/dev/stderr", Type: tar.TypeSymlink, Mode: 0o777, Linkname: "/proc/self/fd/2"},
	{Path: "/dev/stdin", Type: tar.TypeSymlink, Mode: 0o777, Linkname: "/proc/self/fd/0"},
	{Path: "/dev/stdout", Type: tar.TypeSymlink, Mode: 0o777, Linkname: "/proc/self/fd/1"},
	{Path: "/dev/tty", Type: tar.TypeChar, Mode: 0o666, Devmajor: 5, Devminor: 0},
	{Path: "/dev/urandom", Type: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 9},
	{Path: "/dev/zero", Type: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 5},
}

// addDevNodes records /dev's standard nodes in the table; what a package
// or a maintainer script already made there is left alone.
func addDevNodes(st *rootfs.Stage) error {
	if _, ok := st.Lookup("/dev"); !ok {
		if err := st.MkdirAll("/dev", rootfs.Entry{Mode: 0o755}); err != nil {
			return fmt.Errorf("creating /dev: %w", err)
		}
	}
	for _, e := range devNodes {
		if _, ok := st.Lookup(e.Path); ok {
			continue
		}
		var err error
		switch e.Type {
		case tar.TypeDir:
			err = st.Mkdir(e.Path, e)
		case tar.TypeSymlink:
			err = st.Symlink(e.Linkname, e.Path, e)
		default:
			err = st.Mknod(e.Path, e)
		}
		if err != nil {
			return fmt.Errorf("creating %s: %w", e.Path, err)
		}
	}
	return nil
}
