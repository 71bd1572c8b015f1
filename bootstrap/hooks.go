package bootstrap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"strings"

	"github.com/debstrap/debstrap/apt"
	"github.com/debstrap/debstrap/export"
	"github.com/debstrap/debstrap/hooks"
	"github.com/debstrap/debstrap/rootfs"
)

// runHooks runs the hooks of point p, if any.
func runHooks(ctx context.Context, st *rootfs.Stage, cfg BuildConfig, p hooks.Point) error {
	if !hooks.Has(cfg.Hooks, p) {
		return nil
	}
	if cfg.HookRunner == nil {
		return errors.New("hooks: no way to run shell hooks in this build")
	}
	env := cfg.HookEnv
	if env.Format == "" {
		// The target's format (single and multi-platform builds alike).
		if f, err := export.FormatFor(cfg.Target, cfg.Format); err == nil {
			env.Format = string(f)
		}
	}
	return hooks.Run(ctx, st, p, cfg.Hooks, cfg.HookRunner, env)
}

// withAptLists runs the essential and customize hooks with apt's package
// lists in place, as they are while mmdebstrap runs its hooks (so that
// `chroot "$1" apt-get install …` works without apt-get update): the
// verified InRelease and Packages indexes the build read, under the names
// apt gives them for the image's sources. Afterwards the lists and apt's
// caches are removed again, as mmdebstrap's cleanup does.
func withAptLists(ctx context.Context, st *rootfs.Stage, cfg BuildConfig, plan *Plan, run func() error) error {
	if !hooks.Has(cfg.Hooks, hooks.Essential) && !hooks.Has(cfg.Hooks, hooks.Customize) {
		return run()
	}
	if e, ok := st.Lookup("/var/lib/apt/lists"); ok && e.Type == '5' && len(plan.Archives) > 0 {
		if err := writeAptLists(ctx, st, plan, ImageEntries(plan.Entries, cfg.ImageMirror)); err != nil {
			return fmt.Errorf("apt lists for the hooks: %w", err)
		}
	} else if len(plan.Archives) == 0 {
		cfg.Logger.Warn("a build from a lock has no package lists for apt in the hooks; run apt-get update in the hook first")
	}
	// The host's resolver, for the hooks' apt-get, as mmdebstrap lends
	// it while the hooks run; taken away after unless a hook changed it.
	var lent []byte
	if _, err := st.Lstat("/etc/resolv.conf"); err != nil {
		if data, err := os.ReadFile("/etc/resolv.conf"); err == nil {
			if err := st.WriteFile("/etc/resolv.conf", data, rootfs.Entry{Mode: 0o644}); err == nil {
				lent = data
			}
		}
	}
	if err := run(); err != nil {
		return err
	}
	if lent != nil {
		if now, err := st.ReadFile("/etc/resolv.conf"); err == nil && bytes.Equal(now, lent) {
			if err := st.Remove("/etc/resolv.conf"); err != nil {
				return err
			}
		}
	}
	return cleanApt(st, cfg.Skip)
}

// Skips are the names of mmdebstrap's --skip that debstrap knows.
var Skips = []string{"output/dev", "cleanup/apt", "cleanup/apt/lists", "cleanup/apt/cache"}

// writeOptions writes --aptopt's and --dpkgopt's files into the root, as
// mmdebstrap does before anything is unpacked.
func writeOptions(st *rootfs.Stage, cfg BuildConfig) error {
	for _, f := range []struct{ dir, text string }{
		{"/etc/apt/apt.conf.d", cfg.AptConf},
		{"/etc/dpkg/dpkg.cfg.d", cfg.DpkgConf},
	} {
		if f.text == "" {
			continue
		}
		if err := st.MkdirAll(f.dir, rootfs.Entry{Mode: 0o755}); err != nil {
			return err
		}
		if err := st.WriteFile(f.dir+"/99debstrap", []byte(f.text), rootfs.Entry{Mode: 0o644}); err != nil {
			return fmt.Errorf("writing %s/99debstrap: %w", f.dir, err)
		}
	}
	return nil
}

func writeAptLists(ctx context.Context, st *rootfs.Stage, plan *Plan, image []apt.Entry) error {
	for i, a := range plan.Archives {
		if path.Base(a.ReleaseURL()) != "InRelease" {
			continue // apt would not trust a Release without its .gpg
		}
		signed, err := a.Signed()
		if err != nil {
			return err
		}
		base := listName(image[i].URI + "/dists/" + a.Source().Suite + "/")
		if err := st.WriteFile("/var/lib/apt/lists/"+base+"InRelease", signed, rootfs.Entry{Mode: 0o644}); err != nil {
			return err
		}
		for _, comp := range plan.Entries[i].Components {
			for _, arch := range append([]string{plan.Architecture}, plan.Foreign...) {
				idx := comp + "/binary-" + arch + "/Packages"
				rc, err := a.OpenIndex(ctx, idx)
				if err != nil {
					return err
				}
				data, err := io.ReadAll(rc)
				rc.Close()
				if err != nil {
					return fmt.Errorf("%s: %w", idx, err)
				}
				if err := st.WriteFile("/var/lib/apt/lists/"+base+strings.ReplaceAll(idx, "/", "_"), data, rootfs.Entry{Mode: 0o644}); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// listName is apt's file name for a URI under /var/lib/apt/lists
// (URItoFileName): no scheme, user or password; some characters quoted;
// slashes as underscores.
func listName(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return strings.ReplaceAll(uri, "/", "_")
	}
	s := u.Host + u.Path
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= 0x20 || c >= 0x7f || strings.IndexByte(`\|{}[]<>"^~_=!@#$%^&*`, c) >= 0 {
			fmt.Fprintf(&b, "%%%02x", c)
			continue
		}
		b.WriteByte(c)
	}
	return strings.ReplaceAll(b.String(), "/", "_")
}

// cleanApt removes apt's package lists and caches, as mmdebstrap's
// cleanup does after the hooks: lists, *.bin caches and downloaded .debs.
func cleanApt(st *rootfs.Stage, skip map[string]bool) error {
	if skip["cleanup/apt"] {
		return nil
	}
	var dirs []string
	if !skip["cleanup/apt/lists"] {
		dirs = append(dirs, "/var/lib/apt/lists", "/var/lib/apt/lists/partial")
	}
	if !skip["cleanup/apt/cache"] {
		dirs = append(dirs, "/var/cache/apt", "/var/cache/apt/archives", "/var/cache/apt/archives/partial")
	}
	for _, dir := range dirs {
		kids, err := st.List(dir)
		if err != nil {
			continue
		}
		for _, k := range kids {
			name := path.Base(k.Path)
			if k.Type == '5' || name == "lock" || dir == "/var/cache/apt" && !strings.HasSuffix(name, ".bin") ||
				dir == "/var/cache/apt/archives" && !strings.HasSuffix(name, ".deb") {
				continue
			}
			if err := st.Remove(k.Path); err != nil {
				return err
			}
		}
	}
	return nil
}
