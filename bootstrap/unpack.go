package bootstrap

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/debstrap/debstrap/apt"
	"github.com/debstrap/debstrap/cache"
	"github.com/debstrap/debstrap/deb"
	"github.com/debstrap/debstrap/dpkg"
	"github.com/debstrap/debstrap/resolve"
	"github.com/debstrap/debstrap/rootfs"
)

// unpacked is one package in the root, as the dpkg database needs it.
type unpacked struct {
	pkg     *apt.Package
	control *deb.Control
	files   []dpkg.File
}

// UnpackOrder is the order packages are unpacked in: base-files first
// (from trixie and noble on it ships the merged-/usr symlinks, which must
// exist before any package puts files under /bin), then each package after
// what it Pre-Depends on, otherwise by name. Deterministic.
func UnpackOrder(pkgs []*apt.Package) []*apt.Package {
	// By name, then architecture, so that the input's order does not
	// matter even with several architectures of one package.
	sorted := append([]*apt.Package(nil), pkgs...)
	sortPackages(sorted)
	// A name may stand for several instances (Multi-Arch: same); a
	// Pre-Depends on it waits for all of them.
	byName := map[string][]*apt.Package{}
	for _, p := range sorted {
		byName[p.Name] = append(byName[p.Name], p)
	}
	var out []*apt.Package
	state := map[*apt.Package]int{} // 1 visiting, 2 done
	var visit func(p *apt.Package)
	visit = func(p *apt.Package) {
		if state[p] != 0 {
			return // done, or a Pre-Depends cycle: break it here
		}
		state[p] = 1
		for _, name := range relationNames(p.PreDepends) {
			for _, q := range byName[name] {
				visit(q)
			}
		}
		state[p] = 2
		out = append(out, p)
	}
	for _, bf := range byName["base-files"] {
		visit(bf)
	}
	for _, p := range sorted {
		visit(p)
	}
	return out
}

// relationNames are the package names a relation field mentions, every
// alternative included, arch qualifiers dropped.
func relationNames(field string) []string {
	var names []string
	for _, clause := range strings.Split(field, ",") {
		for _, alt := range strings.Split(clause, "|") {
			f := strings.Fields(alt)
			if len(f) == 0 {
				continue
			}
			name, _, _ := strings.Cut(f[0], ":")
			name, _, _ = strings.Cut(name, "(")
			names = append(names, name)
		}
	}
	return names
}

// unpackAll reads every .deb and unpacks it into st: several packages are
// decompressed at once (Prepare), and applied to the root one at a time in
// order (Commit), so the result does not depend on timing.
func unpackAll(ctx context.Context, st *rootfs.Stage, pkgs []*apt.Package, debs map[*apt.Package]string, ro readOptions, workers int, log *slog.Logger, tick func()) ([]unpacked, error) {
	type job struct {
		prep    *rootfs.Prepared
		control *deb.Control
		types   map[string]byte
		order   []string
		err     error
		done    chan struct{}
	}
	jobs := make([]*job, len(pkgs))
	for i := range jobs {
		jobs[i] = &job{done: make(chan struct{})}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// sem bounds the packages being read at once; window bounds those read
	// but not yet committed, whose small files wait in memory. Slots of
	// window are taken in unpack order, so the package to commit next
	// always has one.
	sem := make(chan struct{}, workers)
	window := make(chan struct{}, 2*workers)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i, p := range pkgs {
			j := jobs[i]
			select {
			case window <- struct{}{}:
			case <-ctx.Done():
				for _, j := range jobs[i:] {
					j.err = ctx.Err()
					close(j.done)
				}
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer close(j.done)
				select {
				case sem <- struct{}{}:
				case <-ctx.Done():
					j.err = ctx.Err()
					return
				}
				defer func() { <-sem }()
				j.control, j.types, j.order, j.prep, j.err = prepare(ctx, st, p, debs[p], ro)
			}()
		}
	}()
	defer func() {
		cancel()
		wg.Wait()
		for _, j := range jobs {
			if j.prep != nil {
				j.prep.Discard()
			}
		}
	}()

	out := make([]unpacked, 0, len(pkgs))
	for i, p := range pkgs {
		j := jobs[i]
		select {
		case <-j.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if j.err != nil {
			return nil, j.err
		}
		res, err := j.prep.Commit()
		j.prep = nil
		<-window
		if err != nil {
			return nil, fmt.Errorf("unpacking %s: %w", p.Name, err)
		}
		u := unpacked{pkg: p, control: j.control}
		for _, name := range j.order {
			// The stage keys MD5s by clean path, the tar by "./path".
			md5 := res.MD5["/"+strings.TrimPrefix(strings.TrimPrefix(name, "./"), "/")]
			u.files = append(u.files, dpkg.File{Name: name, Type: j.types[name], MD5: md5})
		}
		out = append(out, u)
		log.Debug("unpacked", "package", p.Name, "paths", len(res.Paths))
		if tick != nil {
			tick()
		}
	}
	return out, nil
}

// prepare stages one package's data and returns its control: from what an
// earlier build stored decompressed when both its members are there and
// prove intact, else from the .deb. It records each entry's name and type
// as it passes, for dpkg's lists.
func prepare(ctx context.Context, st *rootfs.Stage, p *apt.Package, path string, ro readOptions) (*deb.Control, map[string]byte, []string, *rootfs.Prepared, error) {
	pl := ro.payloads
	if ctrl := pl.control(p.SHA256, p.Name); ctrl != nil {
		if pr := pl.open(p.SHA256); pr != nil {
			rec := &recorder{r: pr, types: map[string]byte{}}
			prep, err := st.PrepareSums(stageName(p, ro.native), rec, ctrl.MD5Sums)
			if err != nil {
				pr.verify()
			}
			pr.close()
			switch {
			case err == nil:
				return ctrl, rec.types, rec.order, prep, nil
			case pr.err == nil:
				return nil, nil, nil, nil, err
			}
			// Start over from the .deb, which stores both again.
			pl.drop(payloadKind, p.SHA256, pr.err)
		}
	}
	ctrl, types, order, prep, err := prepareDeb(st, p, path, ro)
	var dd *damagedDeb
	if !errors.As(err, &dd) || ro.cache == nil {
		return ctrl, types, order, prep, err
	}
	// The cached .deb is not the verified blob any more (disk damage, a
	// hand edit): fetch it again, once, rather than fail every build.
	ro.log.Warn("cached .deb is damaged; fetching it again", "package", p.Name, "err", err)
	path, ferr := refetch(ctx, ro.cache, p)
	if ferr != nil {
		return nil, nil, nil, nil, fmt.Errorf("%w; fetching it again: %w", err, ferr)
	}
	return prepareDeb(st, p, path, ro)
}

// readOptions say how .debs are read.
type readOptions struct {
	payloads  *payloads    // stored decompressed data members; nil: none
	xzCommand string       // see deb.Reader.UseXZCommand
	cache     *cache.Cache // fetches a damaged cached .deb again; nil: no second try
	log       *slog.Logger // with cache
	native    string       // the root's architecture; see stageName
}

// stageName is the name a package is unpacked under: its own, or
// "name:arch" for a foreign architecture's, so that libc6:i386 (Multi-Arch:
// same) beside the native libc6 is a package of its own, as for dpkg.
func stageName(p *apt.Package, native string) string {
	if native == "" || p.Architecture == "all" || p.Architecture == native || p.Architecture == "" {
		return p.Name
	}
	return p.Name + ":" + p.Architecture
}

// prepareDeb stages the package from its .deb, storing both members
// decompressed for later builds. Every byte of the .deb is hashed on the
// way: nothing unpacked or stored from it is kept unless the whole file is
// the blob the index names (a *damagedDeb error if not).
func prepareDeb(st *rootfs.Stage, p *apt.Package, path string, ro readOptions) (*deb.Control, map[string]byte, []string, *rootfs.Prepared, error) {
	pl := ro.payloads
	f, err := openDeb(path)
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("%s: %w", p.Name, err)
	}
	defer f.close()
	var d *deb.Reader
	var finishes []func(bool)
	// fail blames the cached file rather than the package if it is not
	// the blob any more: damage shows first as a decoder or format error.
	fail := func(err error) (*deb.Control, map[string]byte, []string, *rootfs.Prepared, error) {
		for _, fin := range finishes {
			fin(false)
		}
		if d != nil {
			d.Close() // stops an xz command, so nothing else reads f
		}
		if cerr := f.check(p); cerr != nil {
			var dd *damagedDeb
			if errors.As(cerr, &dd) {
				dd.cause = err
			}
			return nil, nil, nil, nil, cerr
		}
		return nil, nil, nil, nil, err
	}
	if d, err = deb.NewReader(f, path); err != nil {
		return fail(fmt.Errorf("%s: %w", p.Name, err))
	}
	defer d.Close()
	finishes = append(finishes, pl.storeControl(d, p.SHA256))
	c, err := d.Control()
	if err != nil {
		return fail(err)
	}
	if got := c.Get("Package"); got != p.Name {
		return fail(fmt.Errorf("%s: the .deb's control file says Package %q, the index %q", path, got, p.Name))
	}
	finishes = append(finishes, pl.store(d, p.SHA256))
	d.UseXZCommand(ro.xzCommand)
	data, err := d.Data()
	if err != nil {
		return fail(err)
	}
	rec := &recorder{r: data, types: map[string]byte{}}
	prep, err := st.PrepareSums(stageName(p, ro.native), rec, c.MD5Sums)
	if err != nil {
		return fail(err)
	}
	if err := f.check(p); err != nil {
		prep.Discard()
		return fail(err)
	}
	for _, fin := range finishes {
		fin(true)
	}
	return c, rec.types, rec.order, prep, nil
}

// recorder passes a tar stream through, noting entry names and types.
type recorder struct {
	r     rootfs.TarReader
	types map[string]byte
	order []string
}

func (t *recorder) Next() (*tar.Header, error) {
	h, err := t.r.Next()
	if err == nil {
		if _, seen := t.types[h.Name]; !seen {
			t.order = append(t.order, h.Name)
		}
		t.types[h.Name] = h.Typeflag
	}
	return h, err
}

func (t *recorder) Read(p []byte) (int, error) { return t.r.Read(p) }

// conflictPolicy answers a file conflict as dpkg does: the new package may
// take a path over from the old one only if it Replaces it (at the
// installed version), or if both are instances of one Multi-Arch: same
// package, which ship identical shared files.
func conflictPolicy(byName map[string]*apt.Package) func(rootfs.Conflict) (rootfs.Resolution, error) {
	return func(c rootfs.Conflict) (rootfs.Resolution, error) {
		oldName, _, _ := strings.Cut(c.Old, ":")
		newName, _, _ := strings.Cut(c.New, ":")
		if oldName == newName {
			return rootfs.Replace, nil
		}
		np, op := byName[newName], byName[oldName]
		if np != nil && op != nil && replaces(np, op) {
			return rootfs.Replace, nil
		}
		if np != nil && op != nil && replaces(op, np) {
			return rootfs.KeepExisting, nil
		}
		return 0, fmt.Errorf("trying to overwrite '%s', which is also in package %s (%s ships it too and does not Replace it)", c.Path, c.Old, c.New)
	}
}

// replaces reports whether a's Replaces field covers b at b's version.
func replaces(a, b *apt.Package) bool {
	groups, err := resolve.ParseRelations(a.Replaces)
	if err != nil {
		return false
	}
	for _, g := range groups {
		for _, atom := range g {
			if atom.Name == b.Name && atom.Op.Satisfied(b.Version, atom.Version) {
				return true
			}
		}
	}
	return false
}
