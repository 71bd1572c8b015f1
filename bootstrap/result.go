package bootstrap

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/debstrap/debstrap/cache"
	"github.com/debstrap/debstrap/export"
	"github.com/debstrap/debstrap/lock"
)

// A build whose inputs equal an earlier one's writes the earlier output
// again instead of building: it is kept in the cache as a derived file
// (cache/derived.go: written from what the build wrote, proved by its
// digest as it is read back). The key covers everything that shapes the
// bytes: debstrap itself (BuildConfig.ToolID), how scripts are run
// (ModeKey), the format, the epoch, the sources written into the image,
// the keyring embedded, the request apt's marks follow (variant,
// include), every package by name, version, architecture, priority
// and the SHA-256 of its .deb, an image's name (from --tag, or the
// target's name) and config (imageConfig: every flag and default), and
// the host tools that write a squashfs or ext4 image, with their versions.
// A null build writes nothing, so keeps nothing.
const (
	resultKind     = "result"
	resultMetaKind = "result-meta"
	// maxStoredResult: larger outputs are not kept (a big image would
	// double its disk use for a rare rebuild).
	maxStoredResult = 1 << 30
	// keptResults is how many stored outputs the cache keeps, the newest.
	keptResults = 8
)

type resultInputs struct {
	Version       int
	Tool, Mode    string
	Format        export.Format
	Epoch         int64
	Variant       string
	Include       []string
	Architectures []string
	Sources       []string
	Keyring       string
	Packages      []string
	// An image format's name and its whole config, defaults included:
	// a new ImageConfig field is in the key without more code.
	ImageName   string             `json:",omitempty"`
	Image       export.ImageConfig `json:",omitzero"`
	ImageMirror string             `json:",omitempty"`
	AptConf     string             `json:",omitempty"`
	MergedUsr   bool               `json:",omitempty"`
	DpkgConf    string             `json:",omitempty"`
	Skip        []string           `json:",omitempty"`
	Profile     string             `json:",omitempty"`
	HostTools   string             `json:",omitempty"`
}

// resultMeta is what the summary of a reused build needs.
type resultMeta struct {
	Codename string `json:"codename"`
	Packages int    `json:"packages"`
	Digest   string `json:"digest"`
}

// resultKey is the key of a build of the set l fixes (a lock file's, or
// the resolved plan's written as one), or "" when the build's output is
// not kept (no ToolID, a directory, stdout, null, a registry).
func resultKey(cfg BuildConfig, format export.Format, epoch time.Time, l *lock.Lock) (string, error) {
	// With an SBOM the build runs: the SBOM is made from the root.
	// Hooks are commands whose effects no key can name; a registry image
	// is no file to keep: the registry keeps it.
	if cfg.ToolID == nil || cfg.SBOM != "" || len(cfg.Hooks) > 0 || cfg.Target == export.Stdout || format == export.FormatDir || format == export.FormatOCI || format == export.FormatNull || format == export.FormatRegistry {
		return "", nil
	}
	// Only a new or regular file, named as itself: a FIFO, a device or a
	// link (/dev/stdout to a file the shell opened) gets what a build
	// writes into it, and is no file to keep or to write again.
	if fi, err := os.Lstat(cfg.Target); err == nil && !fi.Mode().IsRegular() {
		return "", nil
	}
	tool := cfg.ToolID()
	if tool == "" {
		return "", nil
	}
	in := resultInputs{Version: 2, Tool: tool, Mode: cfg.ModeKey, Format: format, Epoch: epoch.Unix(),
		Variant: cfg.Variant, Include: slices.Clone(cfg.Include), Architectures: cfg.Architectures, ImageMirror: cfg.ImageMirror,
		AptConf: cfg.AptConf, DpkgConf: cfg.DpkgConf}
	if cfg.Profile != nil {
		in.Profile = cfg.Profile.Name
	}
	for k := range cfg.Skip {
		in.Skip = append(in.Skip, k)
	}
	sort.Strings(in.Skip)
	sort.Strings(in.Include)
	in.MergedUsr = l.MergedUsr
	for _, src := range l.Sources {
		in.Sources = append(in.Sources, src.URI+" "+src.Suite+" "+fmt.Sprint(src.Components))
	}
	if cfg.Keyring != "" {
		fi, err := os.Stat(cfg.Keyring)
		if err != nil {
			return "", err
		}
		if !fi.IsDir() {
			data, err := os.ReadFile(cfg.Keyring)
			if err != nil {
				return "", err
			}
			in.Keyring = sha256Hex(data)
		}
	}
	for _, p := range l.Packages {
		in.Packages = append(in.Packages, p.Name+" "+p.Version+" "+p.Architecture+" "+p.Priority+" "+p.SHA256)
	}
	sort.Strings(in.Packages)
	host, err := export.ToolVersion(format)
	if err != nil {
		return "", err
	}
	in.HostTools = host
	if format.HoldsConfig() {
		name, err := export.ImageName(cfg.Target, format, cfg.Image.Tag)
		if err != nil {
			return "", err
		}
		in.ImageName = name
		in.Image = imageConfig(cfg.Image, format, l)
		in.Image.Tag = "" // in ImageName, as it takes effect
	}
	b, err := json.Marshal(in)
	if err != nil {
		return "", err
	}
	return sha256Hex(b), nil
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// reuse writes the stored output of key to the target, if there is one
// that proves whole. A damaged one is removed, and false returned (the
// build then runs).
func reuse(ctx context.Context, c *cache.Cache, key string, cfg BuildConfig, log *slog.Logger) (*resultMeta, bool) {
	var meta resultMeta
	mr, err := c.OpenDerived(resultMetaKind, key)
	if err != nil {
		return nil, false
	}
	b, err := io.ReadAll(mr)
	mr.Close()
	if err != nil || json.Unmarshal(b, &meta) != nil {
		c.RemoveDerived(resultMetaKind, key)
		return nil, false
	}
	r, err := c.OpenDerived(resultKind, key)
	if err != nil {
		return nil, false
	}
	defer r.Close()
	if err := export.Copy(ctx, r, cfg.Target, cfg.Stdout); err != nil {
		var de *cache.DerivedError
		if errors.As(err, &de) {
			log.Warn("the stored output of this build is damaged; building", "file", r.Name(), "err", err)
			c.RemoveDerived(resultKind, key)
		} else {
			log.Warn("could not write the stored output of this build; building", "err", err)
		}
		return nil, false
	}
	// Used: newest for the pruning.
	now := time.Now()
	os.Chtimes(r.Name(), now, now)
	return &meta, true
}

// keep stores the output just written at target under key, with meta,
// and prunes the oldest stored outputs. Failures only cost the reuse.
func keep(c *cache.Cache, key, target string, meta resultMeta, log *slog.Logger) {
	fi, err := os.Stat(target)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() > maxStoredResult {
		return
	}
	store := func(kind string, r io.Reader, size int64) error {
		w, err := c.CreateDerived(kind, key)
		if err != nil {
			return err
		}
		n, err := io.Copy(w, r)
		if err == nil && n != size {
			err = fmt.Errorf("read %d bytes of %s, which has %d", n, target, size)
		}
		if err != nil {
			w.Abort()
			return err
		}
		return w.Commit()
	}
	f, err := os.Open(target)
	if err != nil {
		return
	}
	defer f.Close()
	b, _ := json.Marshal(meta)
	if err := store(resultKind, f, fi.Size()); err != nil {
		log.Debug("not keeping the output for rebuilds", "err", err)
		return
	}
	if err := store(resultMetaKind, bytes.NewReader(b), int64(len(b))); err != nil {
		log.Debug("not keeping the output for rebuilds", "err", err)
		c.RemoveDerived(resultKind, key)
		return
	}
	prune(c, log)
}

// prune removes all but the keptResults newest stored outputs.
func prune(c *cache.Cache, log *slog.Logger) {
	dir := filepath.Join(c.Dir(), "derived", resultKind)
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) <= keptResults {
		return
	}
	type stored struct {
		name string
		mod  time.Time
	}
	var all []stored
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() {
			all = append(all, stored{e.Name(), fi.ModTime()})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].mod.After(all[j].mod) })
	for _, s := range all[min(keptResults, len(all)):] {
		if err := c.RemoveDerived(resultKind, s.name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			log.Debug("pruning stored outputs", "err", err)
		}
		c.RemoveDerived(resultMetaKind, s.name)
	}
}
