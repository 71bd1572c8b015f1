package mirror

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/klauspost/compress/gzip"
	"github.com/ulikunitz/xz"

	"github.com/debstrap/debstrap/apt"
	"github.com/debstrap/debstrap/cache"
)

// stageDists writes each suite's new dists/SUITE under the temp directory
// and returns where, by suite.
func (m *run) stageDists(ctx context.Context) (map[string]string, error) {
	staged := map[string]string{}
	for i, s := range m.sortedSuites() {
		d := filepath.Join(m.tmp, fmt.Sprintf("dists-%d", i))
		if err := os.Mkdir(d, 0o755); err != nil {
			return nil, err
		}
		m.status("index " + s.rel())
		var err error
		if m.o.SignWith != nil {
			err = m.reindex(ctx, s, d)
		} else {
			err = m.published(ctx, s, d)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.rel(), err)
		}
		staged[s.rel()] = d
	}
	return staged, nil
}

// wanted reports whether a file the Release lists belongs to the suite's
// mirror: the indexes of its components and architectures (and binary-all
// when apt reads it), English translations, the DEP-11 and
// command-not-found metadata of its architectures (apt fetches them when
// appstream or command-not-found is installed), and the Sources indexes
// with --with-sources.
func (s *suite) wanted(name string) bool {
	comp, rest, ok := strings.Cut(name, "/")
	if !ok || !slices.Contains(s.components, comp) {
		// Components with a slash ("updates/main") are matched whole.
		for _, c := range s.components {
			if strings.HasPrefix(name, c+"/") && strings.Contains(c, "/") {
				comp, rest, ok = c, name[len(c)+1:], true
			}
		}
		if !ok || !slices.Contains(s.components, comp) {
			return false
		}
	}
	d, file := path.Split(rest)
	switch {
	case strings.HasPrefix(d, "binary-"):
		arch := strings.TrimSuffix(strings.TrimPrefix(d, "binary-"), "/")
		return (arch == "all" && s.readsAll() || slices.Contains(s.archs, arch)) && (strings.HasPrefix(file, "Packages") || file == "Release")
	case d == "i18n/":
		return strings.HasPrefix(file, "Translation-en")
	case d == "dep11/" || d == "cnf/":
		// What apt asks for when appstream or command-not-found is
		// installed: the metadata of the architectures, not the icons.
		for _, arch := range s.archs {
			if strings.HasPrefix(file, "Components-"+arch+".yml") || strings.HasPrefix(file, "Commands-"+arch) {
				return true
			}
		}
		return false
	case d == "source/":
		return s.sources && (strings.HasPrefix(file, "Sources") || file == "Release")
	}
	return false
}

// readsAll reports whether apt reads the suite's binary-all indexes: not
// when the Release says its per-architecture indexes hold the arch:all
// stanzas too (No-Support-for-Architecture-all: Packages), as Debian's
// do; a mirror's binary-all index may then lag its Release.
func (s *suite) readsAll() bool {
	rel := s.archive.Release()
	return slices.Contains(rel.Architectures, "all") && !slices.Contains(rel.NoSupportForArchitectureAll, "Packages")
}

// published stages the suite as the archive published it: its signed
// Release file(s) byte for byte, and every index it needs that the
// mirror has, with its by-hash copy.
func (m *run) published(ctx context.Context, s *suite, d string) error {
	a := s.archive
	rel := a.Release()
	signed, err := a.Signed()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(d, path.Base(a.ReleaseURL())), signed, 0o644); err != nil {
		return err
	}
	if err := m.detached(ctx, s, d); err != nil {
		return err
	}
	var names []string
	for name := range rel.SHA256 {
		if s.wanted(name) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	have := map[string]bool{}
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		file, err := a.Fetch(ctx, name)
		var off *cache.OfflineError
		if apt.IsNotFound(err) || errors.As(err, &off) {
			// Debian lists the plain Packages it does not serve; offline,
			// the variants the cache lacks are left out.
			m.log.Debug("index not mirrored", "file", name, "err", err)
			continue
		}
		if err != nil {
			return err
		}
		fh := rel.SHA256[name]
		if err := placeIndex(file, d, name, fh, rel.AcquireByHash, m.tmp); err != nil {
			return err
		}
		have[strings.TrimSuffix(name, path.Ext(name))] = true
		have[name] = true
	}
	// Every index the suite needs must be there in some compression.
	for _, c := range s.components {
		for _, arch := range s.archs {
			if !have[c+"/binary-"+arch+"/Packages"] {
				return fmt.Errorf("no variant of %s/binary-%s/Packages could be mirrored", c, arch)
			}
		}
		if s.sources && !have[c+"/source/Sources"] {
			return fmt.Errorf("no variant of %s/source/Sources could be mirrored", c)
		}
	}
	return nil
}

// placeIndex copies the verified file to d/name and, when the archive
// serves by-hash, links it as by-hash/SHA256/<hash> beside it.
func placeIndex(file, d, name string, fh apt.FileHash, byHash bool, tmp string) error {
	dst := filepath.Join(d, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if err := copyVerified(file, dst, tmp, fh.SHA256, fh.Size); err != nil {
		return err
	}
	if !byHash {
		return nil
	}
	bh := filepath.Join(filepath.Dir(dst), "by-hash", "SHA256")
	if err := os.MkdirAll(bh, 0o755); err != nil {
		return err
	}
	if err := os.Link(dst, filepath.Join(bh, fh.SHA256)); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return nil
}

// detached adds Release and Release.gpg beside an InRelease (or
// Release.gpg beside a Release), when the archive has them, checked like
// the file Open verified: signed by the same keys, saying the same.
func (m *run) detached(ctx context.Context, s *suite, d string) error {
	a := s.archive
	base := strings.TrimSuffix(a.ReleaseURL(), path.Base(a.ReleaseURL()))
	var release []byte
	if path.Base(a.ReleaseURL()) == "Release" {
		release, _ = a.Signed()
	} else {
		b, err := m.o.Cache.FetchBytes(ctx, base+"Release")
		if err != nil {
			m.log.Debug("no Release beside the InRelease", "url", base+"Release", "err", err)
			return nil
		}
		release = b
	}
	sig, err := m.o.Cache.FetchBytes(ctx, base+"Release.gpg")
	if err != nil {
		m.log.Debug("no Release.gpg", "url", base+"Release.gpg", "err", err)
		return nil
	}
	r, err := apt.VerifyRelease(release, sig, a.Source().Keyring, time.Now())
	if err != nil {
		m.log.Warn("Release.gpg does not verify; the mirror carries the InRelease alone", "url", base+"Release.gpg", "err", err)
		return nil
	}
	if !sameRelease(r, a.Release()) {
		m.log.Warn("Release differs from InRelease (the archive is being updated?); the mirror carries the InRelease alone", "url", base+"Release")
		return nil
	}
	if path.Base(a.ReleaseURL()) != "Release" {
		if err := os.WriteFile(filepath.Join(d, "Release"), release, 0o644); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(d, "Release.gpg"), sig, 0o644)
}

func sameRelease(a, b *apt.Release) bool {
	if !a.Date.Equal(b.Date) || a.Suite != b.Suite || a.Codename != b.Codename || len(a.SHA256) != len(b.SHA256) {
		return false
	}
	for k, v := range a.SHA256 {
		if b.SHA256[k] != v {
			return false
		}
	}
	return true
}

// reindex stages the suite with new indexes that list only what the pool
// holds, in a Release signed with the user's key.
func (m *run) reindex(ctx context.Context, s *suite, d string) error {
	a := s.archive
	rel := a.Release()
	files := map[string][]byte{}
	archs := append([]string(nil), s.archs...)
	if s.readsAll() {
		archs = append(archs, "all")
	}
	for _, c := range s.components {
		for _, arch := range archs {
			base := c + "/binary-" + arch + "/Packages"
			if !listed(rel, base) {
				if arch == "all" {
					continue
				}
				return fmt.Errorf("%s lists no %s", a.ReleaseURL(), base)
			}
			b, err := m.filter(ctx, a, base, func(st []byte) bool {
				return m.pool[s.name+"/"+field(st, "Filename")] != nil
			})
			if err != nil {
				return err
			}
			files[base] = b
		}
		if s.sources {
			base := c + "/source/Sources"
			b, err := m.filter(ctx, a, base, func(st []byte) bool {
				dir := field(st, "Directory")
				fs := sourceFiles(st)
				for _, f := range fs {
					if m.pool[s.name+"/"+dir+"/"+f.name] == nil {
						return false
					}
				}
				return len(fs) > 0
			})
			if err != nil {
				return err
			}
			files[base] = b
		}
	}
	hashes := map[string]apt.FileHash{}
	for base, b := range files {
		for _, v := range []struct{ ext string }{{""}, {".gz"}, {".xz"}} {
			data, err := compress(b, v.ext)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(data)
			fh := apt.FileHash{Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}
			if err := writeIndex(d, base+v.ext, data, fh); err != nil {
				return err
			}
			hashes[base+v.ext] = fh
		}
	}
	release := releaseText(rel, s, archs, hashes)
	inRelease, sig, err := sign(release, m.o.SignWith)
	if err != nil {
		return fmt.Errorf("signing with --sign-with's key: %w", err)
	}
	for name, data := range map[string][]byte{"Release": release, "InRelease": inRelease, "Release.gpg": sig} {
		if err := os.WriteFile(filepath.Join(d, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func listed(rel *apt.Release, base string) bool {
	for _, ext := range []string{"", ".gz", ".xz", ".zst", ".bz2"} {
		if _, ok := rel.SHA256[base+ext]; ok {
			return true
		}
	}
	return false
}

// filter reads the verified index base and keeps the stanzas keep says.
func (m *run) filter(ctx context.Context, a *apt.Archive, base string, keep func([]byte) bool) ([]byte, error) {
	rc, err := a.OpenIndex(ctx, base)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var out bytes.Buffer
	err = stanzas(rc, func(st []byte) error {
		if keep(st) {
			if out.Len() > 0 {
				out.WriteByte('\n')
			}
			out.Write(st)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", base, err)
	}
	return out.Bytes(), nil
}

func writeIndex(d, name string, data []byte, fh apt.FileHash) error {
	dst := filepath.Join(d, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Join(filepath.Dir(dst), "by-hash", "SHA256"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		return err
	}
	return os.Link(dst, filepath.Join(filepath.Dir(dst), "by-hash", "SHA256", fh.SHA256))
}

func compress(b []byte, ext string) ([]byte, error) {
	var out bytes.Buffer
	var w io.WriteCloser
	var err error
	switch ext {
	case "":
		return b, nil
	case ".gz":
		w, err = gzip.NewWriterLevel(&out, gzip.BestCompression)
	case ".xz":
		w, err = xz.NewWriter(&out)
	}
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(b); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// releaseText is the Release of a reindexed suite: the archive's names
// and Date (so apt sees no step back in time), the indexes written.
func releaseText(rel *apt.Release, s *suite, archs []string, files map[string]apt.FileHash) []byte {
	var b bytes.Buffer
	put := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%s: %s\n", k, v)
		}
	}
	put("Origin", rel.Origin)
	put("Label", rel.Label)
	put("Suite", rel.Suite)
	put("Codename", rel.Codename)
	put("Version", rel.Version)
	put("Date", rel.Date.UTC().Format("Mon, 02 Jan 2006 15:04:05 UTC"))
	if rel.NotAutomatic {
		put("NotAutomatic", "yes")
	}
	if rel.ButAutomaticUpgrades {
		put("ButAutomaticUpgrades", "yes")
	}
	put("Acquire-By-Hash", "yes")
	put("Architectures", strings.Join(archs, " "))
	put("Components", strings.Join(s.components, " "))
	put("Description", "the part of "+s.suite+" that debstrap mirror carries, reindexed")
	names := make([]string, 0, len(files))
	width := 0
	for n, fh := range files {
		names = append(names, n)
		width = max(width, len(strconv.FormatInt(fh.Size, 10)))
	}
	sort.Strings(names)
	b.WriteString("SHA256:\n")
	for _, n := range names {
		fmt.Fprintf(&b, " %s %*d %s\n", files[n].SHA256, width, files[n].Size, n)
	}
	return b.Bytes()
}

// sign returns release clearsigned (InRelease) and an armored detached
// signature of it (Release.gpg) by key.
func sign(release []byte, key *openpgp.Entity) (inRelease, sig []byte, err error) {
	cfg := &packet.Config{DefaultHash: crypto.SHA256}
	var ib bytes.Buffer
	w, err := clearsign.Encode(&ib, key.PrivateKey, cfg)
	if err != nil {
		return nil, nil, err
	}
	// The final newline belongs to the armor, as gpg --clearsign writes it.
	if _, err := w.Write(bytes.TrimSuffix(release, []byte("\n"))); err != nil {
		return nil, nil, err
	}
	if err := w.Close(); err != nil {
		return nil, nil, err
	}
	ib.WriteByte('\n')
	var sb bytes.Buffer
	if err := openpgp.ArmoredDetachSign(&sb, key, bytes.NewReader(release), cfg); err != nil {
		return nil, nil, err
	}
	sb.WriteByte('\n')
	return ib.Bytes(), sb.Bytes(), nil
}

func armoredPublic(e *openpgp.Entity) []byte {
	var b bytes.Buffer
	w, err := armor.Encode(&b, openpgp.PublicKeyType, nil)
	if err != nil {
		return nil
	}
	e.Serialize(w)
	w.Close()
	b.WriteByte('\n')
	return b.Bytes()
}

// ReadSigningKey reads the private key of --sign-with (armored or
// binary); a key protected by a passphrase is refused by name.
func ReadSigningKey(file string) (*openpgp.Entity, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--sign-with: %w", err)
	}
	var el openpgp.EntityList
	if bytes.Contains(data, []byte("-----BEGIN PGP")) {
		el, err = openpgp.ReadArmoredKeyRing(bytes.NewReader(data))
	} else {
		el, err = openpgp.ReadKeyRing(bytes.NewReader(data))
	}
	if err != nil {
		return nil, fmt.Errorf("--sign-with %s: %w", file, err)
	}
	for _, e := range el {
		if e.PrivateKey == nil {
			continue
		}
		if e.PrivateKey.Encrypted {
			return nil, fmt.Errorf("--sign-with %s: the key %X is protected by a passphrase; export it without one for signing (gpg --export-secret-keys with an empty passphrase) or use a dedicated mirror key", file, e.PrimaryKey.Fingerprint)
		}
		return e, nil
	}
	return nil, fmt.Errorf("--sign-with %s: no private key in the file (gpg --export-secret-keys gives one)", file)
}

// srcFile is one file of a source package as a Sources stanza lists it.
type srcFile struct {
	name, sha256 string
	size         int64
}

// sourceFiles reads the Checksums-Sha256 field of a Sources stanza.
func sourceFiles(stanza []byte) []srcFile {
	var out []srcFile
	in := false
	for _, line := range strings.Split(string(stanza), "\n") {
		if strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t") {
			if in {
				f := strings.Fields(line)
				if len(f) == 3 {
					if n, err := strconv.ParseInt(f[1], 10, 64); err == nil {
						out = append(out, srcFile{name: f[2], sha256: f[0], size: n})
					}
				}
			}
			continue
		}
		k, _, _ := strings.Cut(line, ":")
		in = strings.EqualFold(k, "Checksums-Sha256")
	}
	return out
}

// sourceFiles adds to the pool the files of every source package the
// selections with --with-sources need, as the suites' verified Sources
// indexes list them.
func (m *run) sourceFiles(ctx context.Context) error {
	if len(m.sourcePkgs) == 0 {
		return nil
	}
	type found struct {
		s     *suite
		dir   string
		files []srcFile
	}
	// name, version → files, per archive directory (a binary of
	// SUITE-updates may come from a source of SUITE).
	index := map[string]map[string]found{}
	for _, s := range m.sortedSuites() {
		if !s.sources {
			continue
		}
		for _, c := range s.components {
			rc, err := s.archive.OpenIndex(ctx, c+"/source/Sources")
			if err != nil {
				return fmt.Errorf("%s: %w", s.rel(), err)
			}
			err = stanzas(rc, func(st []byte) error {
				key := field(st, "Package") + " " + field(st, "Version")
				if index[s.name] == nil {
					index[s.name] = map[string]found{}
				}
				if _, ok := index[s.name][key]; !ok {
					index[s.name][key] = found{s: s, dir: field(st, "Directory"), files: sourceFiles(st)}
				}
				return nil
			})
			rc.Close()
			if err != nil {
				return fmt.Errorf("%s %s/source/Sources: %w", s.rel(), c, err)
			}
		}
	}
	rels := make([]string, 0, len(m.sourcePkgs))
	for rel := range m.sourcePkgs {
		rels = append(rels, rel)
	}
	sort.Strings(rels)
	var missing []string
	for _, rel := range rels {
		s := m.suites[rel]
		for _, w := range m.sourcePkgs[rel] {
			f, ok := index[s.name][w.name+" "+w.version]
			if !ok || len(f.files) == 0 {
				missing = append(missing, w.name+" "+w.version)
				continue
			}
			for _, sf := range f.files {
				p := f.dir + "/" + sf.name
				if err := m.want(s.name, p, sf.sha256, sf.size, f.s.archive.Source().Mirror+"/"+p, false); err != nil {
					return err
				}
			}
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("--with-sources: %d source packages are in no Sources index of the mirrored suites: %s", len(missing), strings.Join(missing, ", "))
	}
	return nil
}
