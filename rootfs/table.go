package rootfs

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"time"
)

// The table file (MetaPath) is JSON, one entry per line so that it can
// be read with grep and diff:
//
//	{"format":"debstrap-rootfs/1","arch":"amd64","epoch":"…",
//	"entries":[
//	{"path":"/","type":"dir","mode":"0755","uid":0,"gid":0,"mtime":"…"},
//	…],
//	"packages":[
//	{"name":"base-files","files":["/.","/bin",…],"md5":{…}},
//	…]}
//
// Entries are sorted by path; hard links are "link" entries naming the
// least path of their group. Xattr values are binary, so base64.

const tableFormat = "debstrap-rootfs/1"

type wireHeader struct {
	Format    string    `json:"format"`
	MergedUsr bool      `json:"mergedUsr,omitempty"`
	Arch      string    `json:"arch,omitempty"`
	Epoch     time.Time `json:"epoch"`
}

type wireEntry struct {
	Path     string            `json:"path"`
	Type     string            `json:"type"`
	Mode     string            `json:"mode"`
	Uid      int               `json:"uid"`
	Gid      int               `json:"gid"`
	Size     int64             `json:"size,omitempty"`
	Linkname string            `json:"linkname,omitempty"`
	Devmajor int64             `json:"devmajor,omitempty"`
	Devminor int64             `json:"devminor,omitempty"`
	Xattrs   map[string][]byte `json:"xattrs,omitempty"`
	ModTime  time.Time         `json:"mtime"`
	Package  string            `json:"package,omitempty"`
	Name     string            `json:"name,omitempty"` // path as shipped, when not Path
	MD5      string            `json:"md5,omitempty"`
}

type wirePackage struct {
	Name  string            `json:"name"`
	Files []string          `json:"files"`
	MD5   map[string]string `json:"md5,omitempty"`
}

var wireTypes = map[byte]string{
	tar.TypeReg: "file", tar.TypeDir: "dir", tar.TypeSymlink: "symlink", tar.TypeLink: "link",
	tar.TypeChar: "char", tar.TypeBlock: "block", tar.TypeFifo: "fifo",
}

// Save writes the table to MetaPath(Dir()) atomically (a temporary file
// renamed over it). It also removes the stage's scratch directory.
func (s *Stage) Save() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkOpen(); err != nil {
		return err
	}
	if err := s.dropTmp(); err != nil {
		return fmt.Errorf("rootfs: save: %w", err)
	}
	var b bytes.Buffer
	hdr, err := json.Marshal(wireHeader{Format: tableFormat, MergedUsr: s.opts.MergedUsr, Arch: s.opts.Arch, Epoch: s.opts.Epoch})
	if err != nil {
		return fmt.Errorf("rootfs: save: %w", err)
	}
	b.Write(hdr[:len(hdr)-1])
	b.WriteString(",\n\"entries\":[\n")
	paths := make([]string, 0, len(s.nodes))
	for p := range s.nodes {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for i, p := range paths {
		n := s.nodes[p]
		e := n.entry()
		w := wireEntry{
			Path: e.Path, Type: wireTypes[e.Type], Mode: fmt.Sprintf("%04o", e.Mode),
			Uid: e.Uid, Gid: e.Gid, Size: e.Size, Linkname: e.Linkname,
			Devmajor: e.Devmajor, Devminor: e.Devminor, ModTime: e.ModTime, Package: e.Package,
		}
		if n.name != "" && n.name != n.path {
			w.Name = n.name
		}
		if e.Type == tar.TypeReg {
			w.MD5 = n.m.md5
		}
		if len(e.Xattrs) > 0 {
			w.Xattrs = make(map[string][]byte, len(e.Xattrs))
			for k, v := range e.Xattrs {
				w.Xattrs[k] = []byte(v)
			}
		}
		line, err := json.Marshal(w)
		if err != nil {
			return fmt.Errorf("rootfs: save %s: %w", p, err)
		}
		if i > 0 {
			b.WriteString(",\n")
		}
		b.Write(line)
	}
	b.WriteString("\n],\n\"packages\":[\n")
	for i, name := range s.order {
		r := s.pkgs[name]
		w := wirePackage{Name: name, Files: r.files(), MD5: make(map[string]string)}
		for k, v := range r.md5 {
			if r.have[k] {
				w.MD5[k] = v
			}
		}
		line, err := json.Marshal(w)
		if err != nil {
			return fmt.Errorf("rootfs: save package %s: %w", name, err)
		}
		if i > 0 {
			b.WriteString(",\n")
		}
		b.Write(line)
	}
	b.WriteString("\n]}\n")

	dst := MetaPath(s.dir)
	f, err := os.CreateTemp(filepath.Dir(dst), filepath.Base(dst)+".tmp*")
	if err != nil {
		return fmt.Errorf("rootfs: save: %w", err)
	}
	_, err = f.Write(b.Bytes())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), dst)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("rootfs: save %s: %w", dst, err)
	}
	return nil
}

// Open reloads a staging root saved with Save. The layout options
// (MergedUsr, Arch, Epoch) come from the table; Logger and OnConflict
// from opts.
func Open(dir string, opts Options) (*Stage, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("rootfs: %w", err)
	}
	meta := MetaPath(abs)
	data, err := os.ReadFile(meta)
	if err != nil {
		return nil, fmt.Errorf("rootfs: open: %w", err)
	}
	var t struct {
		wireHeader
		Entries  []wireEntry   `json:"entries"`
		Packages []wirePackage `json:"packages"`
	}
	if err := json.Unmarshal(data, &t); err != nil {
		return nil, fmt.Errorf("rootfs: open %s: %w", meta, err)
	}
	if t.Format != tableFormat {
		return nil, fmt.Errorf("rootfs: open %s: format %q, want %q", meta, t.Format, tableFormat)
	}
	root, err := os.OpenRoot(abs)
	if err != nil {
		return nil, fmt.Errorf("rootfs: %w", err)
	}
	opts.MergedUsr, opts.Arch, opts.Epoch = t.MergedUsr, t.Arch, t.Epoch
	s := newStage(abs, root, opts)
	if err := s.load(t.Entries, t.Packages); err != nil {
		root.Close()
		return nil, fmt.Errorf("rootfs: open %s: %w", meta, err)
	}
	return s, nil
}

func (s *Stage) load(entries []wireEntry, pkgs []wirePackage) error {
	types := make(map[string]byte, len(wireTypes))
	for k, v := range wireTypes {
		types[v] = k
	}
	for i, w := range entries {
		typ, ok := types[w.Type]
		if !ok {
			return fmt.Errorf("entry %s: unknown type %q", w.Path, w.Type)
		}
		mode, err := strconv.ParseInt(w.Mode, 8, 64)
		if err != nil || mode&^0o7777 != 0 {
			return fmt.Errorf("entry %s: bad mode %q", w.Path, w.Mode)
		}
		m := &meta{mode: mode, uid: w.Uid, gid: w.Gid, size: w.Size, devmajor: w.Devmajor, devminor: w.Devminor, mtime: w.ModTime, md5: w.MD5}
		if len(w.Xattrs) > 0 {
			m.xattrs = make(map[string]string, len(w.Xattrs))
			for k, v := range w.Xattrs {
				m.xattrs[k] = string(v)
			}
		}
		n := &node{typ: typ, pkg: w.Package, name: w.Name, m: m}
		if n.name == "" && n.pkg != "" {
			n.name = w.Path
		}
		if i == 0 {
			if w.Path != "/" || typ != tar.TypeDir {
				return errors.New("the first entry is not the root directory")
			}
			n.path, n.kids = "/", make(map[string]*node)
			s.top = n
			s.nodes["/"] = n
			continue
		}
		if c, err := cleanName(w.Path); err != nil || "/"+c != w.Path {
			return fmt.Errorf("entry %q: not a clean absolute path", w.Path)
		}
		parent := s.nodes[path.Dir(w.Path)]
		if parent == nil || !parent.isDir() {
			return fmt.Errorf("entry %s: parent missing or not a directory", w.Path)
		}
		if s.nodes[w.Path] != nil {
			return fmt.Errorf("entry %s: duplicate", w.Path)
		}
		switch typ {
		case tar.TypeSymlink:
			m.linkname = w.Linkname
		case tar.TypeLink:
			p := s.nodes[w.Linkname]
			if p == nil || p.typ != tar.TypeReg {
				return fmt.Errorf("entry %s: hard link to %q, not an earlier regular file", w.Path, w.Linkname)
			}
			n.typ, n.m = tar.TypeReg, p.m
		}
		if n.typ == tar.TypeReg {
			n.m.links = append(n.m.links, n)
		}
		s.attach(parent, path.Base(w.Path), n)
	}
	if s.top == nil {
		return errors.New("no entries")
	}
	for _, w := range pkgs {
		if _, dup := s.pkgs[w.Name]; dup || w.Name == "" {
			return fmt.Errorf("package %q listed twice or unnamed", w.Name)
		}
		r := newPkgRec()
		for _, f := range w.Files {
			r.add(f)
			s.addOwner(f, w.Name)
		}
		for k, v := range w.MD5 {
			r.md5[k] = v
		}
		s.pkgs[w.Name] = r
		s.order = append(s.order, w.Name)
	}
	return nil
}
