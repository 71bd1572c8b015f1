package native

import (
	"archive/tar"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/debstrap/debstrap/rootfs"
)

// File operations on the stage for the commands: what cp, ln, mv, rm,
// mkdir, chmod and chown do, on table entries.

// copyEntry copies the entry at src (a real path) to the path dst (real
// parent, missing or replaceable final component). preserve keeps mode,
// owner and mtime; otherwise a new file gets src's mode less umask and
// root as owner, and an existing file keeps its own. Directories are
// copied recursively when recursive is set.
func (s *sys) copyEntry(src rootfs.Entry, dst string, preserve, recursive bool, umask int64) error {
	old, exists := s.st.Lookup(dst)
	meta := rootfs.Entry{Mode: src.Mode &^ umask}
	if preserve {
		meta = rootfs.Entry{Mode: src.Mode, Uid: src.Uid, Gid: src.Gid, ModTime: src.ModTime, Xattrs: src.Xattrs}
	} else if exists && old.Type == tar.TypeReg {
		meta = rootfs.Entry{Mode: old.Mode, Uid: old.Uid, Gid: old.Gid}
	}
	switch src.Type {
	case tar.TypeReg, tar.TypeLink:
		if exists && old.Type == tar.TypeDir {
			return &fs.PathError{Op: "cp", Path: dst, Err: syscall.EISDIR}
		}
		data, err := s.st.ReadFile(src.Path)
		if err != nil {
			return &stageError{err}
		}
		if err := s.st.WriteFile(dst, data, meta); err != nil {
			return &stageError{err}
		}
	case tar.TypeSymlink:
		if exists && old.Type == tar.TypeDir {
			return &fs.PathError{Op: "cp", Path: dst, Err: syscall.EISDIR}
		}
		e := rootfs.Entry{Mode: 0o777}
		if preserve {
			e.Uid, e.Gid, e.ModTime = src.Uid, src.Gid, src.ModTime
		}
		if err := s.st.Symlink(src.Linkname, dst, e); err != nil {
			return &stageError{err}
		}
	case tar.TypeDir:
		if !recursive {
			return fmt.Errorf("-r not specified; omitting directory '%s'", src.Path)
		}
		if !exists {
			if err := s.st.Mkdir(dst, meta); err != nil {
				return &stageError{err}
			}
		} else if old.Type != tar.TypeDir {
			return &fs.PathError{Op: "cp", Path: dst, Err: syscall.ENOTDIR}
		}
		kids, err := s.list(src.Path)
		if err != nil {
			return &stageError{err}
		}
		for _, k := range kids {
			if err := s.copyEntry(k, path.Join(dst, path.Base(k.Path)), preserve, true, umask); err != nil {
				return err
			}
		}
		if preserve && exists {
			return s.st.Update(dst, func(e *rootfs.Entry) {
				e.Mode, e.Uid, e.Gid, e.ModTime = src.Mode, src.Uid, src.Gid, src.ModTime
			})
		}
	default:
		return fmt.Errorf("cannot copy special file %s", src.Path)
	}
	return nil
}

// removeEntry removes the entry at real path p; directories only when
// recursive (or empty).
func (s *sys) removeEntry(p string, recursive bool) error {
	e, ok := s.st.Lookup(p)
	if !ok {
		return &fs.PathError{Op: "rm", Path: p, Err: fs.ErrNotExist}
	}
	if e.Type == tar.TypeDir && recursive {
		if err := s.st.RemoveAll(p); err != nil {
			return &stageError{err}
		}
		return nil
	}
	if e.Type == tar.TypeDir {
		return &fs.PathError{Op: "rm", Path: p, Err: syscall.EISDIR}
	}
	if err := s.st.Remove(p); err != nil {
		return &stageError{err}
	}
	return nil
}

// parseMode applies a chmod mode (octal, or symbolic: "u+x,go-w", "a=r",
// "+X") to old. isDir matters for X.
func parseMode(spec string, old int64, isDir bool, umask int64) (int64, error) {
	if spec == "" {
		return 0, fmt.Errorf("invalid mode: ''")
	}
	if spec[0] >= '0' && spec[0] <= '7' {
		n, err := strconv.ParseInt(spec, 8, 64)
		if err != nil || n > 0o7777 {
			return 0, fmt.Errorf("invalid mode: '%s'", spec)
		}
		// GNU chmod keeps the setuid and setgid bits of a directory
		// unless the octal mode has five digits or more.
		if isDir && len(spec) < 5 {
			n |= old & 0o6000
		}
		return n, nil
	}
	mode := old
	for _, clause := range strings.Split(spec, ",") {
		i := 0
		var who int64
		for ; i < len(clause); i++ {
			switch clause[i] {
			case 'u':
				who |= 0o4700
			case 'g':
				who |= 0o2070
			case 'o':
				who |= 0o1007
			case 'a':
				who |= 0o7777
			default:
				goto ops
			}
		}
	ops:
		useUmask := false
		if who == 0 {
			who, useUmask = 0o7777, true
		}
		if i >= len(clause) {
			return 0, fmt.Errorf("invalid mode: '%s'", spec)
		}
		for i < len(clause) {
			op := clause[i]
			if op != '+' && op != '-' && op != '=' {
				return 0, fmt.Errorf("invalid mode: '%s'", spec)
			}
			i++
			var perm int64
			for ; i < len(clause) && strings.IndexByte("rwxXst", clause[i]) >= 0; i++ {
				switch clause[i] {
				case 'r':
					perm |= 0o444
				case 'w':
					perm |= 0o222
				case 'x':
					perm |= 0o111
				case 'X':
					if isDir || mode&0o111 != 0 {
						perm |= 0o111
					}
				case 's':
					perm |= 0o6000
				case 't':
					perm |= 0o1000
				}
			}
			mask := who
			if useUmask {
				mask &^= umask
			}
			switch op {
			case '+':
				mode |= perm & mask
			case '-':
				mode &^= perm & mask
			case '=':
				mode = mode&^(who&0o7777) | perm&mask
			}
		}
	}
	return mode & 0o7777, nil
}

// A passwd or group database line split in fields.
type dbLine []string

// readDB reads /etc/passwd, /etc/group, /etc/shadow or /etc/gshadow of
// the stage as lines of fields; a missing file is empty.
func (s *sys) readDB(p string) ([]dbLine, error) {
	data, err := s.readFile(p)
	if err != nil {
		if isNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	var out []dbLine
	for _, l := range strings.Split(string(data), "\n") {
		if l == "" {
			continue
		}
		out = append(out, strings.Split(l, ":"))
	}
	return out, nil
}

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// userID and groupID resolve a name (or a number) in the stage's
// account files.
func (s *sys) userID(name string) (int, bool) {
	if n, err := strconv.Atoi(name); err == nil && n >= 0 {
		return n, true
	}
	lines, _ := s.readDB("/etc/passwd")
	for _, l := range lines {
		if len(l) >= 4 && l[0] == name {
			n, err := strconv.Atoi(l[2])
			return n, err == nil
		}
	}
	s.orderMiss("it looks up user %s, which is not there", name)
	return 0, false
}

func (s *sys) groupID(name string) (int, bool) {
	if n, err := strconv.Atoi(name); err == nil && n >= 0 {
		return n, true
	}
	lines, _ := s.readDB("/etc/group")
	for _, l := range lines {
		if len(l) >= 3 && l[0] == name {
			n, err := strconv.Atoi(l[2])
			return n, err == nil
		}
	}
	s.orderMiss("it looks up group %s, which is not there", name)
	return 0, false
}

// userName and groupName are the reverse lookups ("" if unknown).
func (s *sys) userName(id int) string {
	lines, _ := s.readDB("/etc/passwd")
	for _, l := range lines {
		if len(l) >= 4 && l[2] == strconv.Itoa(id) {
			return l[0]
		}
	}
	s.orderMiss("it looks up uid %d, which is not there", id)
	return ""
}

func (s *sys) groupName(id int) string {
	lines, _ := s.readDB("/etc/group")
	for _, l := range lines {
		if len(l) >= 3 && l[2] == strconv.Itoa(id) {
			return l[0]
		}
	}
	s.orderMiss("it looks up gid %d, which is not there", id)
	return ""
}

// primaryGroup is the login group of a user.
func (s *sys) primaryGroup(user string) (int, bool) {
	lines, _ := s.readDB("/etc/passwd")
	for _, l := range lines {
		if len(l) >= 4 && l[0] == user {
			n, err := strconv.Atoi(l[3])
			return n, err == nil
		}
	}
	s.orderMiss("it looks up user %s, which is not there", user)
	return 0, false
}

// now is the time scripts see.
func (s *sys) now() time.Time { return s.opts.Epoch }

// sortedKeys returns the keys of m sorted.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
