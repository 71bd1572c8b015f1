package native

import (
	"archive/tar"
	"path"
	"sort"
	"strings"

	"github.com/debstrap/debstrap/rootfs"
)

// The usrmerge package's converters (Perl programs): convert-usrmerge
// turns the root into merged /usr, convert-etc-shells adds the /usr
// paths of the shells /etc/shells lists.

func init() {
	register(convertUsrmergeCmd, "/usr/lib/usrmerge/convert-usrmerge")
	register(convertEtcShellsCmd, "/usr/lib/usrmerge/convert-etc-shells")
}

var usrmergeDirs = []string{"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libo32", "/libx32"}

// convertUsrmergeCmd resolves the pairs convert-usrmerge knows how to
// resolve (a path present both in / and /usr where one is a symlink to
// the other, or the ignored /lib/udev/hwdb.bin), then moves everything
// into /usr and links the top-level directories, as its convert_file and
// convert_directory end up doing.
func convertUsrmergeCmd(c *cmd) error {
	if len(c.args) > 1 {
		return c.unsupported("arguments")
	}
	s := c.s
	for _, d := range usrmergeDirs {
		e, ok := s.st.Lookup(d)
		if !ok || e.Type != tar.TypeDir {
			continue
		}
		if err := s.usrmergeResolve(c, d); err != nil {
			return err
		}
	}
	linked := s.hardLinkedUnder(usrmergeDirs)
	if err := s.st.MergeUsr(); err != nil {
		return c.failf("%v", err)
	}
	// convert_file copies each file into /usr on its own (cp
	// --preserve=all, one file a call): a file of / that was a hard link
	// comes out a file of its own (bookworm's gunzip and uncompress).
	for _, p := range linked {
		if err := s.unlinkCopy("/usr" + p); err != nil {
			return &stageError{err}
		}
	}
	// A directory only under /usr gets its link too.
	for _, d := range usrmergeDirs {
		if _, ok := s.st.Lookup(d); ok {
			continue
		}
		if e, ok := s.st.Lookup("/usr" + d); ok && e.Type == tar.TypeDir {
			if err := s.st.Symlink("usr"+d, d, rootfs.Entry{Mode: 0o777}); err != nil {
				return &stageError{err}
			}
		}
	}
	return nil
}

// hardLinkedUnder lists the regular files under dirs (top-level
// directories, not links) that share their inode with another path.
func (s *sys) hardLinkedUnder(dirs []string) []string {
	var groups = map[string][]string{} // head → the paths linking to it
	for _, e := range s.st.Entries() {
		if e.Type == tar.TypeLink {
			groups[e.Linkname] = append(groups[e.Linkname], e.Path)
		}
	}
	under := func(p string) bool {
		for _, d := range dirs {
			if e, ok := s.st.Lookup(d); ok && e.Type == tar.TypeDir && strings.HasPrefix(p, d+"/") {
				return true
			}
		}
		return false
	}
	var out []string
	for head, links := range groups {
		for _, p := range append(links, head) {
			if under(p) {
				out = append(out, p)
			}
		}
	}
	sort.Strings(out)
	return out
}

// unlinkCopy makes the file at p, a hard link, a file of its own with the
// same content and metadata.
func (s *sys) unlinkCopy(p string) error {
	e, ok := s.st.Lookup(p)
	if !ok {
		return nil
	}
	data, err := s.st.ReadFile(p)
	if err != nil {
		return err
	}
	e.Type, e.Linkname = tar.TypeReg, ""
	return s.st.WriteFile(p, data, e)
}

// usrmergeResolve walks dir (under /) and settles each path that also
// exists under /usr as convert_file does.
func (s *sys) usrmergeResolve(c *cmd, dir string) error {
	kids, err := s.list(dir)
	if err != nil {
		return &stageError{err}
	}
	for _, k := range kids {
		n := k.Path
		u, uok := s.st.Lookup("/usr" + n)
		if !uok {
			continue
		}
		switch {
		case k.Type == tar.TypeDir && u.Type == tar.TypeDir:
			if err := s.usrmergeResolve(c, n); err != nil {
				return err
			}
		case k.Type == tar.TypeSymlink && u.Type == tar.TypeSymlink:
			base := path.Dir(n)
			l1, l2 := k.Linkname, u.Linkname
			if l1 == l2 || base+"/"+l1 == l2 || l1 == "/usr"+base+"/"+l2 || l1 == "/usr"+n {
				if err := s.st.Remove(n); err != nil {
					return &stageError{err}
				}
				continue
			}
			return c.failf("Both %s and /usr%s exist", n, n)
		case k.Type == tar.TypeSymlink:
			if k.Linkname == "/usr"+n {
				if err := s.st.Remove(n); err != nil {
					return &stageError{err}
				}
				continue
			}
			return c.failf("Both %s and /usr%s exist", n, n)
		case u.Type == tar.TypeSymlink:
			if u.Linkname == n {
				// The /usr one points back: the file itself goes there.
				if err := s.st.Remove("/usr" + n); err != nil {
					return &stageError{err}
				}
				continue
			}
			return c.failf("Both %s and /usr%s exist", n, n)
		case n == "/lib/udev/hwdb.bin":
			if err := s.st.Remove(n); err != nil {
				return &stageError{err}
			}
		default:
			return c.failf("Both %s and /usr%s exist", n, n)
		}
	}
	return nil
}

func convertEtcShellsCmd(c *cmd) error {
	file := "/etc/shells"
	if len(c.args) > 1 {
		file = c.abs(c.args[1])
	}
	data, err := c.s.readFile(file)
	if err != nil {
		return c.failf("%s: %v", file, errText(err))
	}
	var shells, nonUsr []string
	inUsr := map[string]bool{}
	for _, l := range lines(data) {
		shells = append(shells, l)
		if strings.HasPrefix(l, "/usr/bin/") || strings.HasPrefix(l, "/usr/sbin/") {
			inUsr[strings.TrimPrefix(l, "/usr")] = true
		}
		if strings.HasPrefix(l, "/bin/") || strings.HasPrefix(l, "/sbin/") {
			nonUsr = append(nonUsr, l)
		}
	}
	var added []string
	for _, l := range nonUsr {
		if !inUsr[l] {
			added = append(added, "/usr"+l)
		}
	}
	if len(added) == 0 {
		return nil
	}
	out := strings.Join(append(shells, added...), "\n") + "\n"
	real, _, ok, err := c.s.resolve("/", file, true)
	if err != nil || !ok {
		return c.failf("%s: %v", file, err)
	}
	// A new file renamed over the old one: root's, 0644.
	if err := c.s.st.WriteFile(real, []byte(out), rootfs.Entry{Mode: 0o644}); err != nil {
		return &stageError{err}
	}
	return nil
}
