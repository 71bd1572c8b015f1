package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/debstrap/debstrap/cache"
	"github.com/debstrap/debstrap/export"
)

// PlatformResult is one platform's part of a multi-platform build.
type PlatformResult struct {
	Architecture string // Debian's name
	Packages     int
	Digest       string // of the platform's image manifest
	Mode         string // how its packages were configured ("" with none)
}

// platformWorkers is how many platforms are built at once: two where
// there are two cores or more (each build already decompresses and
// compresses on several), else one.
func platformWorkers() int {
	return min(2, max(1, runtime.GOMAXPROCS(0)))
}

// CheckPlatforms checks a --platforms list: Debian architectures with a
// known OCI platform, no platform twice.
func CheckPlatforms(archs []string) error {
	seen := map[string]string{}
	for _, a := range archs {
		arch, variant, err := export.OCIPlatform(a)
		if err != nil {
			return err
		}
		key := arch + "/" + variant
		if prev, dup := seen[key]; dup {
			return fmt.Errorf("%s and %s are both the OCI platform linux/%s", prev, a, key)
		}
		seen[key] = a
	}
	return nil
}

// runPlatforms is Run for cfg.Platforms: the sources are opened once, for
// every platform, so every root comes from one archive state; each
// platform is resolved, built and configured as a single-architecture
// build is (two at a time at most, sharing the cache), its image made,
// and the images written as one image index.
func runPlatforms(ctx context.Context, c *cache.Cache, cfg BuildConfig) (*Result, error) {
	start := time.Now()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	log := cfg.Logger
	res := &Result{}
	var mu sync.Mutex
	phase := func(name string, steps int) func() {
		if cfg.Phase != nil {
			cfg.Phase(name, steps)
		}
		t := time.Now()
		return func() {
			mu.Lock()
			defer mu.Unlock()
			res.Phases = append(res.Phases, PhaseTime{name, time.Since(t)})
		}
	}
	format, err := export.FormatFor(cfg.Target, cfg.Format)
	if err != nil {
		return nil, err
	}
	res.Format = format
	switch {
	case !format.HoldsIndex():
		return nil, fmt.Errorf("--platforms: a %s holds one image, and the images of several platforms need an image index: write an OCI layout (NAME.oci), an OCI archive (NAME.oci.tar) or push to a registry (docker://REGISTRY/REPO[:TAG])", format)
	case cfg.Lock != nil:
		return nil, errors.New("--platforms with --lock: a lock file holds one architecture's package set; build each platform from its own lock")
	case cfg.SBOM != "":
		return nil, errors.New("--platforms with --sbom: one SBOM file cannot describe the roots of several platforms; run 'debstrap sbom' on each platform's image")
	case len(cfg.Architectures) > 0:
		return nil, errors.New("--platforms with --architectures: each platform is a root of its one architecture; give them all in --platforms")
	}
	if err := CheckPlatforms(cfg.Platforms); err != nil {
		return nil, fmt.Errorf("--platforms: %w", err)
	}
	remove, err := prepareBuild(ctx, cfg, format, log)
	if err != nil {
		return nil, err
	}

	done := phase("resolve", 0)
	oc := cfg.Config
	oc.Architectures = cfg.Platforms
	opened, err := Open(ctx, c, oc)
	if err != nil {
		return nil, err
	}
	epoch := cfg.Epoch
	if epoch.IsZero() {
		epoch = opened.Archives[0].Release().Date
	}
	epoch = epoch.UTC().Truncate(time.Second)
	plans := make([]*Plan, len(cfg.Platforms))
	configs := make([]Config, len(cfg.Platforms))
	for i, arch := range cfg.Platforms {
		pc := cfg.Config
		pc.Architectures = []string{arch}
		pc.opened = opened
		configs[i] = pc
		if plans[i], err = Resolve(ctx, c, pc); err != nil {
			return nil, fmt.Errorf("platform %s: %w", arch, err)
		}
	}
	done()
	res.Plan, res.Codename = plans[0], plans[0].Release.Codename

	// The index's name and annotations: the release's, the user's. Every
	// platform has the same sources, so the first one's lock tells them.
	x, err := export.NewIndex(cfg.Target, export.Options{
		Format: format, Epoch: epoch, Log: log, Registry: cfg.Registry, Stdout: cfg.Stdout,
		Image: imageConfig(cfg.Image, format, plans[0].Lock(configs[0], epoch)),
	})
	if err != nil {
		return nil, err
	}
	defer x.Abort()

	images := make([]*export.IndexImage, len(cfg.Platforms))
	res.Platforms = make([]PlatformResult, len(cfg.Platforms))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(platformWorkers())
	for i, arch := range cfg.Platforms {
		g.Go(func() error {
			pcfg := cfg
			pcfg.Config = configs[i]
			conf := cfg.Configure
			if cfg.ConfigureFor != nil {
				var err error
				if conf, err = cfg.ConfigureFor(arch); err != nil {
					return fmt.Errorf("platform %s: %w", arch, err)
				}
			}
			plog := log.With("platform", arch)
			aphase := func(name string, steps int) func() { return phase(name+" "+arch, steps) }
			st, closeRoot, err := makeRoot(gctx, c, pcfg, conf, plans[i], epoch, aphase, remove, plog)
			if err != nil {
				return fmt.Errorf("platform %s: %w", arch, err)
			}
			defer closeRoot()
			ociArch, variant, err := export.OCIPlatform(arch)
			if err != nil {
				return err
			}
			rd := st.Reader()
			defer rd.Close()
			end := aphase("export", 0)
			img, err := x.Add(gctx, export.FromFiles(rd), export.Options{
				Epoch: epoch, Architecture: ociArch, Variant: variant, Log: plog, Progress: cfg.ExportProgress,
				Image: imageConfig(cfg.Image, format, plans[i].Lock(configs[i], epoch)),
			})
			if err != nil {
				return fmt.Errorf("platform %s: %w", arch, err)
			}
			end()
			images[i] = img
			pr := PlatformResult{Architecture: arch, Packages: len(plans[i].Packages), Digest: img.Digest()}
			if conf != nil {
				pr.Mode = conf.Name()
			}
			res.Platforms[i] = pr
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	done = phase("index", 0)
	if res.Digest, err = x.Commit(ctx, images); err != nil {
		return nil, err
	}
	done()
	for _, p := range res.Platforms {
		res.Packages += p.Packages
	}
	if fi, err := os.Stat(cfg.Target); err == nil && !fi.IsDir() && format != export.FormatRegistry {
		res.Size = fi.Size()
	}
	res.Duration = time.Since(start)
	return res, nil
}
