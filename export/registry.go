package export

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/debstrap/debstrap/internal/tmplock"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// RegistryPrefix starts a TARGET that names an image in a registry, in
// skopeo's transport syntax: docker://REGISTRY/REPOSITORY[:TAG].
const RegistryPrefix = "docker://"

// IsRegistry says target names a registry image (docker://…), not a file.
func IsRegistry(target string) bool { return strings.HasPrefix(target, RegistryPrefix) }

// Registry says how an image is pushed to a registry (FormatRegistry).
// The zero value pushes as docker would: over HTTPS with verified
// certificates, with the user's docker credentials.
type Registry struct {
	// Insecure allows plain HTTP and TLS certificates that do not
	// verify, as docker's insecure-registries do. Without it only a
	// registry on the loopback (localhost, 127.0.0.0/8, ::1) may answer
	// over plain HTTP, as docker allows; go-containerregistry alone
	// would also use HTTP for private-range addresses and *.local.
	Insecure bool
	// Keychain finds credentials; nil means authn.DefaultKeychain: the
	// docker config ($DOCKER_CONFIG/config.json, ~/.docker/config.json),
	// its credential helpers, and podman's auth.json.
	Keychain authn.Keychain
	// Transport carries the requests (under auth and retries); nil is a
	// clone of http.DefaultTransport.
	Transport http.RoundTripper
	// Backoff spaces the retries of a request or an upload that failed
	// in a way that may pass (a dropped connection, 408, 429, 5xx);
	// zero means DefaultBackoff.
	Backoff remote.Backoff
	// Progress, if set, is told the bytes uploaded so far and the total
	// known so far, from another goroutine than Write's.
	Progress func(done, total int64)
	// UserAgent names the client to the registry ("": debstrap).
	UserAgent string
}

// DefaultBackoff is how a failed request or blob upload is retried: after
// 1s, 3s and 9s (with 10% jitter), then given up.
var DefaultBackoff = remote.Backoff{Duration: time.Second, Factor: 3, Jitter: 0.1, Steps: 4}

// ParseReference reads a registry TARGET: docker://REGISTRY/REPOSITORY
// with an optional :TAG (latest when none), or the same without the
// prefix. REGISTRY must be written out (a host name with a dot or a
// port, or localhost): a bare "debian" would go to whatever registry a
// tool defaults to, and debstrap pushes nowhere by default.
func ParseReference(target string) (name.Tag, error) {
	s := strings.TrimPrefix(target, RegistryPrefix)
	if strings.Contains(s, "@") {
		return name.Tag{}, fmt.Errorf("registry target %q: a digest (@sha256:…) names existing content; give REGISTRY/REPOSITORY[:TAG]", target)
	}
	host, _, ok := strings.Cut(s, "/")
	if !ok || !(strings.ContainsAny(host, ".:") || host == "localhost" || strings.HasPrefix(host, "[")) {
		return name.Tag{}, fmt.Errorf("registry target %q names no registry: give docker://REGISTRY/REPOSITORY[:TAG], REGISTRY a host name with a dot or a port (e.g. localhost:5000)", target)
	}
	t, err := name.NewTag(s)
	if err != nil {
		return name.Tag{}, fmt.Errorf("registry target %q: %w", target, err)
	}
	return t, nil
}

// isLoopback says a registry's host (host or host:port) is this machine.
func isLoopback(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// plainHTTPGuard refuses plain HTTP to a host not on the loopback unless
// the registry is insecure: go-containerregistry falls back to HTTP for
// private addresses too, which docker does not do unasked.
type plainHTTPGuard struct {
	base     http.RoundTripper
	insecure bool
}

func (g plainHTTPGuard) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme == "http" && !g.insecure && !isLoopback(r.URL.Host) {
		return nil, fmt.Errorf("refusing plain HTTP to %s: pass --insecure-registry to allow it (only localhost may use HTTP unasked)", r.URL.Host)
	}
	return g.base.RoundTrip(r)
}

// options are go-containerregistry's remote options for reg, reporting
// progress to updates (nil: none).
func (reg Registry) options(ctx context.Context, updates chan<- v1.Update) []remote.Option {
	base := reg.Transport
	if base == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		if reg.Insecure {
			// docker's insecure registries: a certificate that does not
			// verify (self-signed) is accepted.
			t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
		}
		base = t
	}
	kc := reg.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	backoff := reg.Backoff
	if backoff.Steps == 0 {
		backoff = DefaultBackoff
	}
	ua := reg.UserAgent
	if ua == "" {
		ua = "debstrap"
	}
	opts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(kc),
		remote.WithTransport(plainHTTPGuard{base: base, insecure: reg.Insecure}),
		remote.WithRetryBackoff(backoff),
		remote.WithUserAgent(ua),
	}
	if updates != nil {
		opts = append(opts, remote.WithProgress(updates))
	}
	return opts
}

// pushReference is ref made insecure (HTTP allowed) when reg is, or
// when the registry is on the loopback.
func pushReference(ref name.Tag, reg Registry) (name.Tag, error) {
	if !reg.Insecure && !isLoopback(ref.RegistryStr()) {
		return ref, nil
	}
	return name.NewTag(ref.Name(), name.Insecure)
}

// pusher pushes one image or index and its referrers, adding up the
// progress of each push.
type pusher struct {
	ctx       context.Context
	reg       Registry
	base      int64 // bytes of earlier pushes
	baseTotal int64
}

// push pushes t (a v1.Image or v1.ImageIndex) to ref.
func (p *pusher) push(ref name.Reference, t any) error {
	var updates chan v1.Update
	done := make(chan struct{})
	finished := make(chan struct{})
	var last v1.Update
	if p.reg.Progress != nil {
		updates = make(chan v1.Update)
		go func() {
			defer close(finished)
			for {
				select {
				case u, ok := <-updates:
					if !ok {
						return
					}
					if u.Error == nil {
						last = u
						p.reg.Progress(p.base+u.Complete, p.baseTotal+u.Total)
					}
				case <-done:
					return
				}
			}
		}()
	} else {
		close(finished)
	}
	var err error
	switch t := t.(type) {
	case v1.Image:
		err = remote.Write(ref, t, p.reg.options(p.ctx, updates)...)
	case v1.ImageIndex:
		err = remote.WriteIndex(ref, t, p.reg.options(p.ctx, updates)...)
	default:
		err = fmt.Errorf("cannot push a %T", t)
	}
	// remote closes updates when it is done; when it failed before it
	// began, done ends the reader. No send is pending once Write returns.
	close(done)
	<-finished
	p.base += last.Complete
	p.baseTotal += last.Total
	return err
}

// pushLayout pushes the one image or image index of the OCI layout in
// dir to ref, then the artifacts attached to it (referrers, such as an
// SBOM), each by its digest. It returns the digest of what ref now names.
func pushLayout(ctx context.Context, dir string, ref name.Tag, reg Registry) (string, error) {
	ii, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return "", fmt.Errorf("read OCI layout %s: %w", dir, err)
	}
	im, err := ii.IndexManifest()
	if err != nil {
		return "", fmt.Errorf("read OCI layout %s: index.json: %w", dir, err)
	}
	var tops, refs []v1.Descriptor
	for _, d := range im.Manifests {
		switch {
		case d.MediaType.IsIndex():
			tops = append(tops, d)
		case d.MediaType.IsImage():
			raw, err := layout.Path(dir).Bytes(d.Digest)
			if err != nil {
				return "", fmt.Errorf("read OCI layout %s: manifest %s: %w", dir, d.Digest, err)
			}
			m, err := v1.ParseManifest(bytes.NewReader(raw))
			if err != nil {
				return "", fmt.Errorf("read OCI layout %s: manifest %s: %w", dir, d.Digest, err)
			}
			if m.Subject != nil || m.Config.MediaType == types.OCIEmptyJSON {
				refs = append(refs, d)
			} else {
				tops = append(tops, d)
			}
		default:
			return "", fmt.Errorf("OCI layout %s: index.json lists %s of media type %q, neither image nor index", dir, d.Digest, d.MediaType)
		}
	}
	if len(tops) != 1 {
		var names []string
		for _, d := range tops {
			names = append(names, d.Digest.String()+" ("+d.Annotations[AnnotationRefName]+")")
		}
		return "", fmt.Errorf("OCI layout %s holds %d images or indexes (%s); it can push one", dir, len(tops), strings.Join(names, ", "))
	}
	top := tops[0]
	var t any
	if top.MediaType.IsIndex() {
		t, err = ii.ImageIndex(top.Digest)
	} else {
		t, err = ii.Image(top.Digest)
	}
	if err != nil {
		return "", fmt.Errorf("read OCI layout %s: %s: %w", dir, top.Digest, err)
	}
	ref, err = pushReference(ref, reg)
	if err != nil {
		return "", err
	}
	p := &pusher{ctx: ctx, reg: reg}
	if err := p.push(ref, t); err != nil {
		return "", pushError(ctx, ref, err)
	}
	for _, d := range refs {
		img, err := ii.Image(d.Digest)
		if err != nil {
			return "", fmt.Errorf("read OCI layout %s: %s: %w", dir, d.Digest, err)
		}
		if err := p.push(ref.Context().Digest(d.Digest.String()), img); err != nil {
			return "", pushError(ctx, ref, fmt.Errorf("artifact %s (%s): %w", d.Digest, d.ArtifactType, err))
		}
	}
	return top.Digest.String(), nil
}

// pushError names the registry and repository of a failed push.
func pushError(ctx context.Context, ref name.Tag, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("push to registry %s, repository %s: %w", ref.RegistryStr(), ref.RepositoryStr(), err)
}

// writeRegistry pushes img with opts.Referrers attached to the registry
// image target: through an OCI layout in scratchDir, the layer linked
// into it, so that a build and 'debstrap push' of its layout push alike.
func writeRegistry(ctx context.Context, img v1.Image, layer *fileLayer, target, scratchDir, scratchPat string, opts Options) error {
	ref, err := ParseReference(target)
	if err != nil {
		return err
	}
	tmp, lock, err := tmplock.MkdirTemp(scratchDir, scratchPat)
	if err != nil {
		return fmt.Errorf("create temporary directory: %w", err)
	}
	defer func() {
		removeAll(tmp)
		lock.Release()
	}()
	if err := linkBlob(tmp, layer); err != nil {
		return err
	}
	if err := writeLayout(img, ref, tmp); err != nil {
		return err
	}
	if err := attachAll(tmp, opts.Referrers); err != nil {
		return err
	}
	_, err = pushLayout(ctx, tmp, ref, opts.Registry)
	return err
}

// linkBlob puts the layer's file into the OCI layout dir as its blob
// without copying it (go-containerregistry leaves a blob that is there).
// Where a link cannot be made, the layout writer copies it.
func linkBlob(dir string, l *fileLayer) error {
	blobs := filepath.Join(dir, "blobs", l.digest.Algorithm)
	if err := os.MkdirAll(blobs, dirMode()); err != nil {
		return fmt.Errorf("create %s: %w", blobs, err)
	}
	_ = os.Link(l.path, filepath.Join(blobs, l.digest.Hex))
	return nil
}

// PushImage pushes the image at src to the registry image ref (with or
// without docker://): src an OCI layout directory (its one image or
// image index, and the artifacts attached to it), an OCI archive, or a
// docker-archive. It returns the digest of the manifest or index pushed.
func PushImage(ctx context.Context, src, ref string, reg Registry) (string, error) {
	tag, err := ParseReference(ref)
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(src)
	if err != nil {
		return "", fmt.Errorf("image %s: %w", src, err)
	}
	if fi.IsDir() {
		return pushLayout(ctx, src, tag, reg)
	}
	format, err := FormatFor(src, "")
	if err != nil {
		return "", fmt.Errorf("image %s: %w", src, err)
	}
	switch format {
	case FormatOCIArchive:
		tmp, lock, err := tmplock.MkdirTemp(os.TempDir(), scratchPattern)
		if err != nil {
			return "", fmt.Errorf("create temporary directory: %w", err)
		}
		defer func() {
			removeAll(tmp)
			lock.Release()
		}()
		if err := untarLayout(ctx, src, tmp); err != nil {
			return "", err
		}
		return pushLayout(ctx, tmp, tag, reg)
	case FormatDockerArchive:
		img, err := tarball.ImageFromPath(src, nil)
		if err != nil {
			return "", fmt.Errorf("read docker-archive %s: %w", src, err)
		}
		d, err := img.Digest()
		if err != nil {
			return "", fmt.Errorf("read docker-archive %s: %w", src, err)
		}
		if tag, err = pushReference(tag, reg); err != nil {
			return "", err
		}
		p := &pusher{ctx: ctx, reg: reg}
		if err := p.push(tag, img); err != nil {
			return "", pushError(ctx, tag, err)
		}
		return d.String(), nil
	}
	return "", fmt.Errorf("image %s is a %s; push takes an OCI layout (.oci), an OCI archive (.oci.tar) or a docker-archive (.docker.tar)", src, format)
}

// untarLayout unpacks the OCI archive src into the empty directory dir:
// oci-layout, index.json and blobs only (docker's manifest.json is not
// needed), each a regular file or directory at a clean relative name.
func untarLayout(ctx context.Context, src, dir string) error {
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("open OCI archive: %w", err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read OCI archive %s: %w", src, err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		n := strings.TrimPrefix(h.Name, "./")
		n = strings.TrimSuffix(n, "/")
		if n == "" || n == "." {
			continue
		}
		if path.Clean(n) != n || strings.HasPrefix(n, "../") || n == ".." || path.IsAbs(n) {
			return fmt.Errorf("read OCI archive %s: entry %q is not a clean relative name", src, h.Name)
		}
		top, _, _ := strings.Cut(n, "/")
		if top != "blobs" && n != "index.json" && n != "oci-layout" {
			continue
		}
		p := filepath.Join(dir, filepath.FromSlash(n))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			out, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
			if err != nil {
				return fmt.Errorf("read OCI archive %s: %s: %w", src, h.Name, err)
			}
			_, err = io.Copy(out, ctxReader{ctx, tr})
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("read OCI archive %s: %s: %w", src, h.Name, err)
			}
		default:
			return fmt.Errorf("read OCI archive %s: %s is of type %q, not a file or directory", src, h.Name, h.Typeflag)
		}
	}
}
