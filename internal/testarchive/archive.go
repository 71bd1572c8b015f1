package testarchive

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// A Suite is one dists/<suite> of an archive.
type Suite struct {
	// Name and Codename are the Suite and Codename fields of Release
	// ("stable", "bookworm"); either may be empty (field absent).
	Name, Codename string
	// Dir is the directory under dists/ (default Codename, else Name).
	// Name and Codename, when different from Dir and not the Dir of another
	// suite, become symlinks to it, as on real mirrors. A Dir that differs
	// from both makes a Release that does not match what was asked.
	Dir string
	// Origin and Label default to "Debian"; Version and Description are
	// optional (Description defaults to a generated one).
	Origin, Label, Version, Description string
	// Components default to ["main"]; Architectures to ["amd64"].
	Components    []string
	Architectures []string
	// Packages maps a component to its packages. Each .deb is written to
	// PoolPath(component, deb) and listed in the Packages index of its
	// architecture (of every architecture for "all").
	Packages map[string][]Deb
	// Date defaults to DefaultTime; a zero ValidUntil leaves the field out.
	Date, ValidUntil time.Time
	// NoByHash drops "Acquire-By-Hash: yes" and the by-hash/SHA256 files.
	NoByHash bool
	// IndexCompressions are the Packages files written: default
	// ["xz", "gz"]; "" writes the uncompressed Packages too; "bz2", "zst"
	// and "lzma" are also known. Release always lists the uncompressed
	// Packages, present or not, as Debian's does.
	IndexCompressions []string
	// Unsigned writes neither InRelease nor Release.gpg; NoInRelease and
	// NoReleaseGPG leave out one of them.
	Unsigned, NoInRelease, NoReleaseGPG bool
	// Sources writes source/Sources indexes and, in the pool, a .dsc and
	// a .tar.xz for each source package the suite's .debs name.
	Sources bool
	// ReleaseFields are extra Release fields (NotAutomatic, Changelogs, …),
	// written after Acquire-By-Hash.
	ReleaseFields []Field
}

func (s Suite) dir() string {
	switch {
	case s.Dir != "":
		return s.Dir
	case s.Codename != "":
		return s.Codename
	}
	return s.Name
}

// An Archive is a mirror: suites signed by Key.
type Archive struct {
	Suites []Suite
	// Key signs InRelease and Release.gpg; nil means DefaultKey().
	Key *Key
	// ExtraKeys add further signatures (as Debian signs with two keys).
	ExtraKeys []*Key
}

// PoolPath is where the .deb of d is stored, relative to the mirror root,
// as dak names it: pool/<component>/<prefix>/<source>/<name>_<version
// without epoch>_<arch>.deb, prefix being "libx" for lib* sources.
func PoolPath(component string, d Deb) string {
	src := d.Name
	if s := strings.Fields(d.Field("Source")); len(s) > 0 {
		src = s[0]
	}
	prefix := src
	if strings.HasPrefix(src, "lib") && len(src) > 3 {
		prefix = src[:4]
	} else if len(src) > 0 {
		prefix = src[:1]
	}
	ver := d.Version
	if _, v, ok := strings.Cut(ver, ":"); ok {
		ver = v
	}
	return path.Join("pool", component, prefix, src, d.Name+"_"+ver+"_"+d.arch()+".deb")
}

// Write writes the archive tree into dir (the mirror root) and returns the
// key that signed it. Writing into a tree written before updates it the
// way a mirror pushes: files are replaced atomically and old by-hash files
// stay.
func Write(dir string, a Archive) (*Key, error) {
	key, _, err := write(dir, a)
	return key, err
}

// write returns, besides the key, the by-hash aliases it wrote: by-hash
// path -> the index path it is a copy of (both relative to dir).
func write(dir string, a Archive) (*Key, map[string]string, error) {
	key := a.Key
	if key == nil {
		var err error
		if key, err = DefaultKey(); err != nil {
			return nil, nil, err
		}
	}
	w := &writer{root: dir, pool: map[string][]byte{}, aliases: map[string]string{}}
	dirs := map[string]bool{}
	for _, s := range a.Suites {
		d := s.dir()
		if d == "" {
			return nil, nil, errors.New("testarchive: suite with neither Dir, Codename nor Name")
		}
		if dirs[d] {
			return nil, nil, fmt.Errorf("testarchive: two suites in dists/%s", d)
		}
		dirs[d] = true
	}
	for _, s := range a.Suites {
		if err := w.suite(s, key, a.ExtraKeys); err != nil {
			return nil, nil, fmt.Errorf("testarchive: suite %s: %w", s.dir(), err)
		}
	}
	// Suite and codename symlinks, once all real directories exist.
	for _, s := range a.Suites {
		for _, n := range []string{s.Name, s.Codename} {
			if n == "" || dirs[n] || strings.Contains(n, "/") {
				continue
			}
			link := filepath.Join(dir, "dists", n)
			os.Remove(link) // a stale link from an earlier Write
			if err := os.Symlink(s.dir(), link); err != nil {
				return nil, nil, fmt.Errorf("testarchive: %w", err)
			}
		}
	}
	return key, w.aliases, nil
}

type writer struct {
	root    string
	pool    map[string][]byte // pool path -> bytes written by this Write
	aliases map[string]string
}

// A hashed is one file listed in Release.
type hashed struct {
	path string // relative to dists/<suite>/
	size int64
	md5  string
	sha  string
}

func hashOf(p string, data []byte) hashed {
	m := md5.Sum(data)
	s := sha256.Sum256(data)
	return hashed{p, int64(len(data)), hex.EncodeToString(m[:]), hex.EncodeToString(s[:])}
}

func (w *writer) suite(s Suite, key *Key, extra []*Key) error {
	distDir := path.Join("dists", s.dir())
	if fi, err := os.Lstat(filepath.Join(w.root, filepath.FromSlash(distDir))); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		// Was a symlink in an earlier Write, is a suite of its own now.
		if err := os.Remove(filepath.Join(w.root, filepath.FromSlash(distDir))); err != nil {
			return err
		}
	}
	comps := s.Components
	if len(comps) == 0 {
		comps = []string{"main"}
	}
	archs := s.Architectures
	if len(archs) == 0 {
		archs = []string{"amd64"}
	}
	comprs := s.IndexCompressions
	if comprs == nil {
		comprs = []string{"xz", "gz"}
	}
	for c := range s.Packages {
		if !slices.Contains(comps, c) {
			return fmt.Errorf("component %q has packages but is not in Components %v", c, comps)
		}
	}
	archive := s.Name
	if archive == "" {
		archive = s.Codename
	}
	origin, label := s.Origin, s.Label
	if origin == "" {
		origin = "Debian"
	}
	if label == "" {
		label = "Debian"
	}

	var files []hashed
	for _, comp := range comps {
		debs := slices.Clone(s.Packages[comp])
		sort.SliceStable(debs, func(i, j int) bool { return debs[i].Name < debs[j].Name })
		paras := map[string][][]Field{} // arch -> stanzas
		for _, d := range debs {
			b, isize, err := buildForIndex(d)
			if err != nil {
				return err
			}
			pp := PoolPath(comp, d)
			if prev, ok := w.pool[pp]; ok && !bytes.Equal(prev, b) {
				return fmt.Errorf("%s: two different packages at the same pool path", pp)
			}
			if err := w.file(pp, b); err != nil {
				return err
			}
			w.pool[pp] = b
			targets := []string{d.arch()}
			if d.arch() == "all" {
				targets = archs
			} else if !slices.Contains(archs, d.arch()) {
				return fmt.Errorf("package %s_%s: architecture %s not in Architectures %v", d.Name, d.Version, d.arch(), archs)
			}
			st := packagesStanza(d, isize, pp, b)
			for _, a := range targets {
				paras[a] = append(paras[a], st)
			}
		}
		for _, arch := range archs {
			var idx bytes.Buffer
			for i, st := range paras[arch] {
				if i > 0 {
					idx.WriteByte('\n')
				}
				writeFields(&idx, st)
			}
			sub := path.Join(comp, "binary-"+arch)
			files = append(files, hashOf(path.Join(sub, "Packages"), idx.Bytes()))
			for _, c := range comprs {
				data, ext, err := compress(c, idx.Bytes())
				if err != nil {
					return fmt.Errorf("%s/Packages: %w", sub, err)
				}
				if ext != "" { // the uncompressed one is listed already
					files = append(files, hashOf(path.Join(sub, "Packages"+ext), data))
				}
				rel := path.Join(distDir, sub, "Packages"+ext)
				if err := w.file(rel, data); err != nil {
					return err
				}
				if !s.NoByHash {
					h := sha256.Sum256(data)
					bh := path.Join(distDir, sub, "by-hash", "SHA256", hex.EncodeToString(h[:]))
					if err := w.file(bh, data); err != nil {
						return err
					}
					w.aliases[bh] = rel
				}
			}
			var rel bytes.Buffer
			rf := []Field{{"Archive", archive}, {"Origin", origin}, {"Label", label}, {"Version", s.Version}}
			if !s.NoByHash {
				rf = append(rf, Field{"Acquire-By-Hash", "yes"})
			}
			rf = append(rf, Field{"Component", comp}, Field{"Architecture", arch})
			writeFields(&rel, dropEmpty(rf))
			files = append(files, hashOf(path.Join(sub, "Release"), rel.Bytes()))
			if err := w.file(path.Join(distDir, sub, "Release"), rel.Bytes()); err != nil {
				return err
			}
		}
	}

	if s.Sources {
		for _, comp := range comps {
			f, err := w.sources(s, distDir, comp, comprs)
			if err != nil {
				return err
			}
			files = append(files, f...)
		}
	}
	release := releaseFile(s, origin, label, comps, archs, files)
	if err := w.file(path.Join(distDir, "Release"), release); err != nil {
		return err
	}
	// Drop signatures an earlier Write left that this one does not make.
	// (Not the others: replacing them in place keeps their mtimes rising.)
	for n, drop := range map[string]bool{"InRelease": s.Unsigned || s.NoInRelease, "Release.gpg": s.Unsigned || s.NoReleaseGPG} {
		if drop {
			os.Remove(filepath.Join(w.root, filepath.FromSlash(path.Join(distDir, n))))
		}
	}
	if s.Unsigned {
		return nil
	}
	if !s.NoInRelease {
		in, err := key.ClearSign(release, extra...)
		if err != nil {
			return err
		}
		if err := w.file(path.Join(distDir, "InRelease"), in); err != nil {
			return err
		}
	}
	if !s.NoReleaseGPG {
		sig, err := key.DetachSign(release, extra...)
		if err != nil {
			return err
		}
		if err := w.file(path.Join(distDir, "Release.gpg"), sig); err != nil {
			return err
		}
	}
	return nil
}

// sources writes comp's source/Sources and the source packages' files.
func (w *writer) sources(s Suite, distDir, comp string, comprs []string) ([]hashed, error) {
	debs := slices.Clone(s.Packages[comp])
	sort.SliceStable(debs, func(i, j int) bool { return debs[i].Name < debs[j].Name })
	var idx bytes.Buffer
	seen := map[string]bool{}
	for _, d := range debs {
		name, version := d.Name, d.Version
		if f := strings.Fields(d.Field("Source")); len(f) > 0 {
			name = f[0]
			if len(f) > 1 {
				version = strings.Trim(f[1], "()")
			}
		}
		if seen[name+" "+version] {
			continue
		}
		seen[name+" "+version] = true
		dir := path.Dir(PoolPath(comp, d))
		upstream := version
		if _, v, ok := strings.Cut(upstream, ":"); ok {
			upstream = v
		}
		var sums strings.Builder
		for _, f := range []struct{ name, body string }{
			{name + "_" + upstream + ".dsc", "Format: 3.0 (native)\nSource: " + name + "\nVersion: " + version + "\n"},
			{name + "_" + upstream + ".tar.xz", "source of " + name + " " + version + "\n"},
		} {
			if err := w.file(path.Join(dir, f.name), []byte(f.body)); err != nil {
				return nil, err
			}
			h := sha256.Sum256([]byte(f.body))
			fmt.Fprintf(&sums, "\n %s %d %s", hex.EncodeToString(h[:]), len(f.body), f.name)
		}
		if idx.Len() > 0 {
			idx.WriteByte('\n')
		}
		writeFields(&idx, []Field{{"Package", name}, {"Version", version}, {"Directory", dir}, {"Checksums-Sha256", sums.String()}})
	}
	var files []hashed
	sub := path.Join(comp, "source")
	files = append(files, hashOf(path.Join(sub, "Sources"), idx.Bytes()))
	for _, c := range comprs {
		data, ext, err := compress(c, idx.Bytes())
		if err != nil {
			return nil, err
		}
		if ext != "" {
			files = append(files, hashOf(path.Join(sub, "Sources"+ext), data))
		}
		if err := w.file(path.Join(distDir, sub, "Sources"+ext), data); err != nil {
			return nil, err
		}
	}
	return files, nil
}

func dropEmpty(fs []Field) []Field {
	return slices.DeleteFunc(fs, func(f Field) bool { return f.Value == "" })
}

// releaseFile renders dists/<suite>/Release as dak does.
func releaseFile(s Suite, origin, label string, comps, archs []string, files []hashed) []byte {
	date := s.Date
	if date.IsZero() {
		date = DefaultTime
	}
	const rfc1123 = "Mon, 02 Jan 2006 15:04:05 UTC"
	desc := s.Description
	if desc == "" {
		desc = "Test archive " + s.dir()
	}
	fs := []Field{
		{"Origin", origin},
		{"Label", label},
		{"Suite", s.Name},
		{"Version", s.Version},
		{"Codename", s.Codename},
		{"Date", date.UTC().Format(rfc1123)},
	}
	if !s.ValidUntil.IsZero() {
		fs = append(fs, Field{"Valid-Until", s.ValidUntil.UTC().Format(rfc1123)})
	}
	if !s.NoByHash {
		fs = append(fs, Field{"Acquire-By-Hash", "yes"})
	}
	fs = append(fs, s.ReleaseFields...)
	fs = append(fs,
		Field{"Architectures", strings.Join(archs, " ")},
		Field{"Components", strings.Join(comps, " ")},
		Field{"Description", desc},
	)
	var b bytes.Buffer
	writeFields(&b, dropEmpty(fs))

	sort.Slice(files, func(i, j int) bool { return files[i].path < files[j].path })
	width := 0
	for _, f := range files {
		width = max(width, len(strconv.FormatInt(f.size, 10)))
	}
	b.WriteString("MD5Sum:\n")
	for _, f := range files {
		fmt.Fprintf(&b, " %s %*d %s\n", f.md5, width, f.size, f.path)
	}
	b.WriteString("SHA256:\n")
	for _, f := range files {
		fmt.Fprintf(&b, " %s %*d %s\n", f.sha, width, f.size, f.path)
	}
	return b.Bytes()
}

// Packages stanza field order, as dak writes it.
var packagesOrder = []string{
	"Package", "Source", "Version", "Essential", "Protected",
	"Build-Essential", "Installed-Size", "Maintainer", "Architecture",
	"Replaces", "Provides", "Depends", "Pre-Depends", "Recommends",
	"Suggests", "Enhances", "Conflicts", "Breaks", "Built-Using",
	"Static-Built-Using", "Description", "Multi-Arch", "Homepage",
	"Description-md5", "Tag", "Section", "Priority", "Filename", "Size",
	"MD5sum", "SHA256",
}

// buildForIndex returns the .deb bytes and Installed-Size of d.
func buildForIndex(d Deb) ([]byte, int64, error) {
	if d.Raw != nil {
		return d.Raw, 0, nil
	}
	m, info, err := debMembers(d)
	if err != nil {
		return nil, 0, err
	}
	return Ar(m...), info.installedSize, nil
}

// packagesStanza returns the Packages stanza of d: its control fields with
// the short description, as dak writes them, then the pool fields.
func packagesStanza(d Deb, installedSize int64, poolPath string, deb []byte) []Field {
	fs := controlFields(d, installedSize)
	var out []Field
	for _, f := range fs {
		switch strings.ToLower(f.Name) {
		case "package":
			f.Value = d.Name
		case "version":
			f.Value = d.Version
		case "architecture":
			f.Value = d.arch()
		case "description":
			// dak: synopsis only, the long text goes to Translation-en.
			var full bytes.Buffer
			writeFields(&full, []Field{f})
			text := strings.TrimPrefix(full.String(), f.Name+":")
			text = strings.TrimPrefix(text, " ")
			sum := md5.Sum([]byte(text))
			synopsis, _, _ := strings.Cut(f.Value, "\n")
			out = append(out, Field{"Description", synopsis}, Field{"Description-md5", hex.EncodeToString(sum[:])})
			continue
		}
		out = append(out, f)
	}
	h := hashOf(poolPath, deb)
	out = append(out,
		Field{"Filename", poolPath},
		Field{"Size", strconv.FormatInt(h.size, 10)},
		Field{"MD5sum", h.md5},
		Field{"SHA256", h.sha},
	)
	for _, o := range d.Stanza {
		i := slices.IndexFunc(out, func(f Field) bool { return strings.EqualFold(f.Name, o.Name) })
		switch {
		case i >= 0 && o.Value == "":
			out = slices.Delete(out, i, i+1)
		case i >= 0:
			out[i].Value = o.Value
		case o.Value != "":
			out = append(out, o)
		}
	}
	return order(out, packagesOrder, "Homepage")
}

// file writes rel (slash-separated, under the root) atomically. Unchanged
// content is left alone; changed content gets an mtime later than the old
// one, so conditional GETs see the change even within the same second.
func (w *writer) file(rel string, data []byte) error {
	p := filepath.Join(w.root, filepath.FromSlash(rel))
	mtime := time.Now().Truncate(time.Second)
	if fi, err := os.Stat(p); err == nil {
		if old, err := os.ReadFile(p); err == nil && bytes.Equal(old, data) {
			return nil
		}
		if !mtime.After(fi.ModTime()) {
			mtime = fi.ModTime().Truncate(time.Second).Add(time.Second)
		}
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("testarchive: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return fmt.Errorf("testarchive: %w", err)
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Chtimes(tmp.Name(), mtime, mtime)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), p)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("testarchive: writing %s: %w", rel, err)
	}
	return nil
}
