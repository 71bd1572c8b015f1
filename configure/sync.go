package configure

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/debstrap/debstrap/rootfs"
)

// wireEntry is an entry on its way to the helper (the table before) and
// back (the disk after), as JSON.
type wireEntry struct {
	Path     string            `json:"path"`
	Type     byte              `json:"type"` // archive/tar type
	Mode     int64             `json:"mode"`
	Uid      int               `json:"uid"`
	Gid      int               `json:"gid"`
	Size     int64             `json:"size,omitempty"`
	Linkname string            `json:"linkname,omitempty"`
	Devmajor int64             `json:"devmajor,omitempty"`
	Devminor int64             `json:"devminor,omitempty"`
	Xattrs   map[string][]byte `json:"xattrs,omitempty"`
	MTime    time.Time         `json:"mtime,omitzero"`
	// Scan only.
	Changed      bool `json:"changed,omitempty"`      // new inode, or content may differ
	MTimeChanged bool `json:"mtimeChanged,omitempty"` // mtime differs from before the run
}

func toWire(e rootfs.Entry) wireEntry {
	w := wireEntry{
		Path: e.Path, Type: e.Type, Mode: e.Mode, Uid: e.Uid, Gid: e.Gid, Size: e.Size,
		Linkname: e.Linkname, Devmajor: e.Devmajor, Devminor: e.Devminor, MTime: e.ModTime,
	}
	if len(e.Xattrs) > 0 {
		w.Xattrs = make(map[string][]byte, len(e.Xattrs))
		for k, v := range e.Xattrs {
			w.Xattrs[k] = []byte(v)
		}
	}
	return w
}

func xattrMap(x map[string][]byte) map[string]string {
	if len(x) == 0 {
		return nil
	}
	m := make(map[string]string, len(x))
	for k, v := range x {
		m[k] = string(v)
	}
	return m
}

// kind folds a hard link into a regular file: both are an inode with
// content, and which path of a group is "the file" is the table's choice.
func kind(t byte) byte {
	if t == tar.TypeLink || t == tar.TypeRegA {
		return tar.TypeReg
	}
	return t
}

// job is what the parent hands the helper.
type job struct {
	Root    string      `json:"root"`
	Entries []wireEntry `json:"entries"`
	Script  string      `json:"script"`
	// Hook, instead of Script: a host shell command run with the root's
	// path as $1 (mmdebstrap's hooks), mounts in place, the root not
	// entered; dpkg's state is not checked after it.
	Hook string   `json:"hook,omitempty"`
	Env  []string `json:"env"`
	// Uid and Gid own the disk again afterwards, as the helper sees them
	// (0 in a user namespace: the builder).
	Uid     int    `json:"uid"`
	Gid     int    `json:"gid"`
	Cleanup bool   `json:"cleanup"`
	Result  string `json:"result"`
}

// result is what the helper hands back.
type result struct {
	Error   string      `json:"error,omitempty"`
	Entries []wireEntry `json:"entries,omitempty"`
}

// statusPkg is what configure reads of a dpkg status stanza.
type statusPkg struct {
	name, state string
	arch        string
	essential   bool
	depends     []string // Pre-Depends and Depends, relation by relation
	provides    []string
	// newConffiles: a conffile is recorded as "newconffile", unpacked
	// but not yet put in place by dpkg --configure.
	newConffiles bool
}

// parseStatus reads the stanzas of a dpkg status file, continuation
// lines folded into their field.
func parseStatus(data []byte) []statusPkg {
	var out []statusPkg
	var cur statusPkg
	var field string
	flush := func() {
		if cur.name != "" || cur.state != "" {
			out = append(out, cur)
		}
		cur, field = statusPkg{}, ""
	}
	add := func(name, value string) {
		switch name {
		case "package":
			cur.name = value
		case "status":
			if f := strings.Fields(value); len(f) == 3 {
				cur.state = f[2]
			}
		case "architecture":
			cur.arch = value
		case "essential":
			cur.essential = value == "yes"
		case "depends", "pre-depends":
			for _, r := range strings.Split(value, ",") {
				if r = strings.TrimSpace(r); r != "" {
					cur.depends = append(cur.depends, r)
				}
			}
		case "provides":
			for _, r := range strings.Split(value, ",") {
				if n := relName(r); n != "" {
					cur.provides = append(cur.provides, n)
				}
			}
		}
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.TrimSpace(line) == "":
			flush()
		case line[0] == ' ' || line[0] == '\t':
			switch field {
			case "depends", "pre-depends", "provides":
				add(field, line)
			case "conffiles":
				if f := strings.Fields(line); len(f) >= 2 && f[1] == "newconffile" {
					cur.newConffiles = true
				}
			}
		default:
			k, v, _ := strings.Cut(line, ":")
			field = strings.ToLower(strings.TrimSpace(k))
			add(field, strings.TrimSpace(v))
		}
	}
	flush()
	return out
}

// relName is the package name of one alternative of a relation:
// "libc6:any (>= 2.36)" → "libc6".
func relName(alt string) string {
	f := strings.Fields(strings.TrimSpace(alt))
	if len(f) == 0 {
		return ""
	}
	n, _, _ := strings.Cut(f[0], "(")
	n, _, _ = strings.Cut(n, ":")
	return n
}

// configured: dpkg states that need no configuring.
func configured(state string) bool {
	switch state {
	case "", "installed", "not-installed", "config-files":
		return true
	}
	return false
}

// pendingInStatus lists the packages a dpkg status file says are not
// configured (unpacked, half-configured, triggers-awaited/pending).
func pendingInStatus(data []byte) []string {
	var out []string
	for _, p := range parseStatus(data) {
		if !configured(p.state) {
			name := p.name
			if name == "" {
				name = "?"
			}
			out = append(out, name+" ("+p.state+")")
		}
	}
	return out
}

// essentialSet is what mmdebstrap installs first: the Essential packages
// and what they depend on, among the packages present. Of a relation's
// alternatives the first present one counts (a package, else all its
// present providers).
func essentialSet(pkgs []statusPkg) []string {
	present := map[string]*statusPkg{}
	providers := map[string][]string{}
	for i := range pkgs {
		p := &pkgs[i]
		if p.state == "not-installed" || p.state == "config-files" || p.name == "" {
			continue
		}
		present[p.name] = p
		for _, v := range p.provides {
			providers[v] = append(providers[v], p.name)
		}
	}
	for _, l := range providers {
		sort.Strings(l)
	}
	in := map[string]bool{}
	var queue []string
	push := func(n string) {
		if !in[n] {
			in[n] = true
			queue = append(queue, n)
		}
	}
	for n, p := range present {
		if p.essential {
			push(n)
		}
	}
	for len(queue) > 0 {
		p := present[queue[0]]
		queue = queue[1:]
		for _, rel := range p.depends {
			for _, alt := range strings.Split(rel, "|") {
				n := relName(alt)
				if present[n] != nil {
					push(n)
					break
				}
				if l := providers[n]; len(l) > 0 {
					// Which one apt chose is not known here: all of them.
					for _, q := range l {
						push(q)
					}
					break
				}
			}
		}
	}
	out := make([]string, 0, len(in))
	for n := range in {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// readStatus reads the stage's dpkg status: the packages still to
// configure and the Essential set.
func readStatus(st *rootfs.Stage) (pending, essential, work []string, err error) {
	data, err := st.ReadFile("/var/lib/dpkg/status")
	if err != nil {
		return nil, nil, nil, fmt.Errorf("reading the dpkg status: %w", err)
	}
	pkgs := parseStatus(data)
	return pendingInStatus(data), essentialSet(pkgs), unpackWork(st, pkgs), nil
}

// unpackWork names the unpacked packages for which the second stage has
// something to do before dpkg --configure: conffiles to set aside as
// .dpkg-new, or a preinst to run. Knowing it here spares the script a
// few dpkg-query processes for each of the others.
func unpackWork(st *rootfs.Stage, pkgs []statusPkg) []string {
	work := []string{}
	for _, p := range pkgs {
		if p.state != "unpacked" || p.name == "" {
			continue
		}
		if p.newConffiles {
			work = append(work, p.name)
			continue
		}
		// Info files of a Multi-Arch: same package are named NAME:ARCH.
		for _, n := range []string{p.name, p.name + ":" + p.arch} {
			if _, ok := st.Lookup("/var/lib/dpkg/info/" + n + ".preinst"); ok {
				work = append(work, p.name)
				break
			}
		}
	}
	return work
}

// apply makes st's table describe the disk as the helper scanned it.
// before is the table the helper materialized; after is the scan, sorted
// by path. The disk already is in the builder's state (restored).
//
// The Stage's operations all act on disk and table together, so new
// objects are adopted by moving them aside and recreating them through
// the Stage: a new regular file's content is read and written again, a
// new directory is made empty and its contents moved back in.
// Limitations: a new hard link becomes a copy; a device node or fifo
// that the scripts made (not in the table before) cannot be recorded and
// is dropped with a warning.
func apply(st *rootfs.Stage, before []rootfs.Entry, after []wireEntry, log *slog.Logger) error {
	dir := st.Dir()
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()

	old := make(map[string]rootfs.Entry, len(before))
	for _, e := range before {
		old[e.Path] = e
	}
	now := make(map[string]*wireEntry, len(after))
	for i := range after {
		now[after[i].Path] = &after[i]
	}
	paths := make([]string, 0, len(old)+len(now))
	for p := range old {
		paths = append(paths, p)
	}
	for p := range now {
		if _, ok := old[p]; !ok {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)

	// gone: paths whose table subtree was dropped (removed or retyped).
	gone := make(map[string]bool)
	underGone := func(p string) bool {
		for d := path.Dir(p); ; d = path.Dir(d) {
			if gone[d] {
				return true
			}
			if d == "/" {
				return false
			}
		}
	}
	a := adopter{st: st, root: root, log: log}
	var counts struct{ added, removed, changed int }
	for _, p := range paths {
		o, inOld := old[p]
		n, inNow := now[p]
		if inOld && p != "/" && underGone(p) {
			inOld = false
		}
		switch {
		case !inOld && !inNow:
		case inOld && !inNow:
			if _, err := root.Lstat(rel(p)); !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("%s: gone from the scan but still on disk (%v)", p, err)
			}
			if err := st.RemoveAll(p); err != nil {
				return err
			}
			gone[p] = true
			counts.removed++
		case !inOld:
			if err := a.create(n, ""); err != nil {
				return err
			}
			counts.added++
		case kind(o.Type) != kind(n.Type):
			if err := a.retype(n, o); err != nil {
				return err
			}
			gone[p] = true
			counts.changed++
		default:
			changed, err := a.update(n, o)
			if err != nil {
				return err
			}
			if changed {
				counts.changed++
			}
		}
	}
	log.Debug("table updated from the configured root", "added", counts.added, "removed", counts.removed, "changed", counts.changed)
	return nil
}

// rel is a table path as a name inside the staging directory.
func rel(p string) string {
	if p == "/" {
		return "."
	}
	return strings.TrimPrefix(p, "/")
}

type adopter struct {
	st   *rootfs.Stage
	root *os.Root
	log  *slog.Logger
}

func (a adopter) entry(n *wireEntry, pkg string) rootfs.Entry {
	return rootfs.Entry{
		Path: n.Path, Type: n.Type, Mode: n.Mode, Uid: n.Uid, Gid: n.Gid,
		Devmajor: n.Devmajor, Devminor: n.Devminor, Xattrs: xattrMap(n.Xattrs),
		ModTime: n.MTime, Package: pkg,
	}
}

// aside moves the disk object at p to a fresh name beside it.
func (a adopter) aside(p string) (string, error) {
	var b [6]byte
	rand.Read(b[:])
	tmp := path.Join(path.Dir(p), ".debstrap-adopt-"+hex.EncodeToString(b[:]))
	if err := a.root.Rename(rel(p), rel(tmp)); err != nil {
		return "", fmt.Errorf("adopting %s: %w", p, err)
	}
	return tmp, nil
}

// create records the disk object at n.Path, which the table lacks.
func (a adopter) create(n *wireEntry, pkg string) error {
	e := a.entry(n, pkg)
	switch kind(n.Type) {
	case tar.TypeDir:
		tmp, err := a.aside(n.Path)
		if err != nil {
			return err
		}
		if err := a.st.Mkdir(n.Path, e); err != nil {
			a.root.Rename(rel(tmp), rel(n.Path))
			return err
		}
		kids, err := fs.ReadDir(a.root.FS(), rel(tmp))
		if err != nil {
			return fmt.Errorf("adopting %s: %w", n.Path, err)
		}
		for _, k := range kids {
			if err := a.root.Rename(rel(path.Join(tmp, k.Name())), rel(path.Join(n.Path, k.Name()))); err != nil {
				return fmt.Errorf("adopting %s: %w", n.Path, err)
			}
		}
		if err := a.root.Remove(rel(tmp)); err != nil {
			return fmt.Errorf("adopting %s: %w", n.Path, err)
		}
	case tar.TypeReg:
		data, err := a.root.ReadFile(rel(n.Path))
		if err != nil {
			return fmt.Errorf("adopting %s: %w", n.Path, err)
		}
		if n.Type == tar.TypeLink {
			a.log.Debug("new hard link recorded as a copy", "path", n.Path, "link", n.Linkname)
		}
		if err := a.st.WriteFile(n.Path, data, e); err != nil {
			return err
		}
	case tar.TypeSymlink:
		if err := a.st.Symlink(n.Linkname, n.Path, e); err != nil {
			return err
		}
	default:
		a.log.Warn("the maintainer scripts made a device node or fifo the table cannot record; dropped",
			"path", n.Path, "type", string(n.Type))
		if err := a.root.Remove(rel(n.Path)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("dropping %s: %w", n.Path, err)
		}
	}
	return nil
}

// retype replaces the table's entry o with the disk's n of another kind.
func (a adopter) retype(n *wireEntry, o rootfs.Entry) error {
	tmp, err := a.aside(n.Path)
	if err != nil {
		return err
	}
	if err := a.st.RemoveAll(n.Path); err != nil {
		return err
	}
	if err := a.root.Rename(rel(tmp), rel(n.Path)); err != nil {
		return fmt.Errorf("adopting %s: %w", n.Path, err)
	}
	return a.create(n, o.Package)
}

func sameXattrs(o map[string]string, n map[string][]byte) bool {
	return maps.Equal(o, xattrMap(n))
}

// update brings the table's entry o, of the same kind as the disk's n,
// up to date.
func (a adopter) update(n *wireEntry, o rootfs.Entry) (bool, error) {
	switch kind(n.Type) {
	case tar.TypeReg:
		if n.Changed {
			data, err := a.root.ReadFile(rel(n.Path))
			if err != nil {
				return false, fmt.Errorf("reading %s: %w", n.Path, err)
			}
			return true, a.st.WriteFile(n.Path, data, a.entry(n, o.Package))
		}
	case tar.TypeSymlink:
		if n.Linkname != o.Linkname {
			return true, a.st.Symlink(n.Linkname, n.Path, a.entry(n, o.Package))
		}
	}
	same := n.Mode == o.Mode && n.Uid == o.Uid && n.Gid == o.Gid && sameXattrs(o.Xattrs, n.Xattrs) &&
		n.Devmajor == o.Devmajor && n.Devminor == o.Devminor
	if same && !n.MTimeChanged {
		return false, nil
	}
	err := a.st.Update(n.Path, func(e *rootfs.Entry) {
		e.Mode, e.Uid, e.Gid = n.Mode, n.Uid, n.Gid
		e.Xattrs = xattrMap(n.Xattrs)
		e.Devmajor, e.Devminor = n.Devmajor, n.Devminor
		if n.MTimeChanged {
			e.ModTime = n.MTime
		}
	})
	return true, err
}
