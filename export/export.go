// Package export writes a finished staging root as an image: a directory, a
// tarball (plain, gzip, xz or zstd), an OCI image layout directory, an OCI
// archive, a docker-archive, a squashfs or an ext4 file system image; or
// nothing at all (null: every check runs, nothing is written). Every
// format except the directory is reproducible byte for byte: the output
// depends only on the entries, the file contents and the Options (and, for
// squashfs and ext4, on the version of the host tool that writes them).
//
// Owners, modes, device numbers, xattrs and hardlinks come from the metadata
// table (rootfs.Entry), never from stat(2) of the staging directory.
package export

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/debstrap/debstrap/rootfs"
)

// Source is a finished staging root: its metadata table and the contents of
// its regular files. rootfs.Stage satisfies it.
type Source interface {
	// Entries returns every path of the root. Write sorts them itself, so
	// the order only matters for which hardlink is named "first".
	Entries() []rootfs.Entry
	// Open returns the content of the regular file at an entry's Path.
	Open(path string) (io.ReadCloser, error)
}

// FileSource is a staging root whose Open returns the *os.File itself, as
// rootfs.Stage's does. (Go has no covariant results, so it is not a Source
// as such; FromFiles adapts it.)
type FileSource interface {
	Entries() []rootfs.Entry
	Open(path string) (*os.File, error)
}

// FromFiles makes a FileSource a Source. Directory output then copies
// file to file with copy_file_range(2), which may share extents.
func FromFiles(s FileSource) Source { return fileSource{s} }

type fileSource struct{ s FileSource }

func (f fileSource) Entries() []rootfs.Entry { return f.s.Entries() }

func (f fileSource) Open(path string) (io.ReadCloser, error) {
	file, err := f.s.Open(path)
	if err != nil {
		return nil, err // not a nil *os.File in a non-nil interface
	}
	return file, nil
}

// Format is an output format.
type Format string

const (
	FormatDir           Format = "dir"            // a directory tree
	FormatTar           Format = "tar"            // an uncompressed tarball
	FormatTarGz         Format = "tar.gz"         // gzip-compressed tarball
	FormatTarXz         Format = "tar.xz"         // xz-compressed tarball
	FormatTarZst        Format = "tar.zst"        // zstd-compressed tarball
	FormatOCI           Format = "oci"            // an OCI image layout directory
	FormatOCIArchive    Format = "oci-archive"    // a tar of an OCI image layout
	FormatDockerArchive Format = "docker-archive" // what `docker save` writes and `docker load` reads
	FormatSquashfs      Format = "squashfs"       // a squashfs image (tar2sqfs, from squashfs-tools-ng)
	FormatExt4          Format = "ext4"           // an ext4 image sized to fit (mke2fs and debugfs, from e2fsprogs)
	FormatNull          Format = "null"           // nothing: the whole build and export checks run, nothing is written
	// FormatRegistry pushes the image to a registry: its TARGET is a
	// reference (docker://REGISTRY/REPOSITORY[:TAG]), not a file.
	FormatRegistry Format = "registry"
)

// Formats lists every format in the order help texts show them.
var Formats = []Format{FormatDir, FormatTar, FormatTarGz, FormatTarXz, FormatTarZst, FormatOCI, FormatOCIArchive, FormatDockerArchive, FormatSquashfs, FormatExt4, FormatNull, FormatRegistry}

// suffixes maps a TARGET name ending to its format. Longer endings are
// tried first, so "x.oci.tar" is an OCI archive and not a plain tarball.
var suffixes = []struct {
	suffix string
	format Format
}{
	{".docker.tar", FormatDockerArchive},
	{".oci.tar", FormatOCIArchive},
	{".tar.zstd", FormatTarZst},
	{".tar.zst", FormatTarZst},
	{".tar.gz", FormatTarGz},
	{".tar.xz", FormatTarXz},
	{".squashfs", FormatSquashfs},
	{".tzst", FormatTarZst},
	{".tgz", FormatTarGz},
	{".txz", FormatTarXz},
	{".tar", FormatTar},
	{".sqfs", FormatSquashfs},
	{".ext4", FormatExt4},
	{".oci", FormatOCI},
}

// aliases are extra spellings accepted for --format.
var aliases = map[string]Format{
	"directory": FormatDir,
	"tgz":       FormatTarGz,
	"txz":       FormatTarXz,
	"tzst":      FormatTarZst,
	"tar.zstd":  FormatTarZst,
	"oci-dir":   FormatOCI,
	"docker":    FormatDockerArchive,
	"push":      FormatRegistry,
	"sqfs":      FormatSquashfs,
}

func (f Format) known() bool {
	for _, k := range Formats {
		if f == k {
			return true
		}
	}
	return false
}

func (f Format) isTar() bool {
	return f == FormatTar || f == FormatTarGz || f == FormatTarXz || f == FormatTarZst
}

func knownList() string {
	var b strings.Builder
	for i, f := range Formats {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(string(f))
	}
	return b.String()
}

func suffixList() string {
	var b strings.Builder
	b.WriteString(`trailing "/" (directory)`)
	for _, s := range suffixes {
		fmt.Fprintf(&b, ", %s (%s)", s.suffix, s.format)
	}
	return b.String()
}

// DevNull is the TARGET that picks the null format by itself, as in
// mmdebstrap: a build for /dev/null is a build that writes nothing.
const DevNull = "/dev/null"

// FormatFor picks the output format: explicit (from --format) if given,
// else from TARGET's name as mmdebstrap does: /dev/null is null, a
// trailing "/" or an existing directory is a directory, a known ending
// names a tarball or image, and a name without any dot is a directory. An
// unknown ending is an error rather than a guess, so a typo does not
// silently produce a directory. A TARGET docker://… is an image in a
// registry, whatever --format says it is not.
func FormatFor(target, explicit string) (Format, error) {
	if IsRegistry(target) {
		if f := Format(strings.ToLower(explicit)); explicit != "" && explicit != "auto" && f != FormatRegistry && aliases[string(f)] != FormatRegistry {
			return "", fmt.Errorf("target %q names a registry image, not a %s file: leave out --format, or name a file", target, explicit)
		}
		return FormatRegistry, nil
	}
	if explicit != "" && explicit != "auto" {
		f := Format(strings.ToLower(explicit))
		if a, ok := aliases[string(f)]; ok {
			f = a
		}
		if !f.known() {
			return "", fmt.Errorf("unknown output format %q: known formats are %s", explicit, knownList())
		}
		return f, nil
	}
	if target == "" {
		return "", errors.New("no output target given")
	}
	if target == Stdout {
		// mmdebstrap's "-": a tarball on standard output.
		return FormatTar, nil
	}
	if filepath.Clean(target) == DevNull {
		return FormatNull, nil
	}
	trimmed := strings.TrimRight(target, "/")
	slash := trimmed != target
	base := strings.ToLower(filepath.Base(trimmed))
	for _, s := range suffixes {
		if strings.HasSuffix(base, s.suffix) && len(base) > len(s.suffix) {
			switch {
			case s.format == FormatOCI:
				return FormatOCI, nil
			case slash:
				return "", fmt.Errorf("target %q ends in %q, which names a %s file, and in \"/\", which names a directory: use --format to choose", target, s.suffix, s.format)
			}
			if fi, err := os.Stat(target); err == nil && fi.IsDir() {
				return "", fmt.Errorf("target %q ends in %q, which names a %s file, but is an existing directory: use --format to choose", target, s.suffix, s.format)
			}
			return s.format, nil
		}
	}
	if slash || trimmed == "" {
		return FormatDir, nil
	}
	if fi, err := os.Stat(target); err == nil && fi.IsDir() {
		return FormatDir, nil
	}
	if !strings.Contains(base, ".") {
		return FormatDir, nil
	}
	return "", fmt.Errorf("cannot tell the output format from target %q: known endings are %s; or pass --format (%s)", target, suffixList(), knownList())
}

// DefaultEnv is the environment of Debian's and Ubuntu's official
// container images.
var DefaultEnv = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}

// DefaultCmd is the command of Debian's official container images.
// (Ubuntu's is /bin/bash: bootstrap sets it for an Ubuntu suite.)
var DefaultCmd = []string{"bash"}

// DefaultTag names the image in an OCI or docker archive when neither
// ImageConfig.Tag nor the target's name gives one.
const DefaultTag = "debstrap:latest"

// Annotation keys of the OCI image spec that export and its callers set.
const (
	AnnotationCreated = "org.opencontainers.image.created"
	AnnotationVersion = "org.opencontainers.image.version"
	AnnotationRefName = "org.opencontainers.image.ref.name"
)

// ImageConfig is what an image format holds besides the root: its name,
// how a container of it runs, its labels and its manifest's annotations.
// The zero value makes an image like Debian's official ones.
type ImageConfig struct {
	// Tag is the image's repository:tag in an OCI or docker archive. Empty
	// means the target's base name without its ending ("bookworm.oci.tar"
	// → "bookworm:latest") when that is a valid name, else DefaultTag.
	Tag string
	// Env entries (KEY=VALUE) are added to DefaultEnv; one whose KEY the
	// defaults have replaces that entry in its place, as docker's ENV does.
	Env []string
	// Cmd of the image config. Nil means DefaultCmd, or none when
	// Entrypoint is set (docker too drops an inherited CMD when ENTRYPOINT
	// changes: the default command would become the entrypoint's
	// arguments); an empty non-nil slice means none.
	Cmd []string
	// Entrypoint of the image config; nil or empty means none.
	Entrypoint []string
	// WorkingDir and User of the image config; "" means unset (/ and root).
	WorkingDir, User string
	// Labels of the image config.
	Labels map[string]string
	// Annotations of the image manifest, over the defaults:
	// AnnotationCreated is the config's created time (RFC 3339). Only the
	// OCI formats have a manifest to hold them.
	Annotations map[string]string
}

// IsZero says c sets nothing, so that a format without image config
// (a directory, a tarball) can be written with it.
func (c ImageConfig) IsZero() bool {
	return c.Tag == "" && c.Env == nil && c.Cmd == nil && c.Entrypoint == nil &&
		c.WorkingDir == "" && c.User == "" && len(c.Labels) == 0 && len(c.Annotations) == 0
}

// HoldsConfig says the format is an image: it has an image config
// (environment, command, labels) and a name.
func (f Format) HoldsConfig() bool {
	return f == FormatOCI || f == FormatOCIArchive || f == FormatDockerArchive || f == FormatRegistry
}

// HoldsAnnotations says the format keeps an image manifest, the place of
// annotations; a docker-archive has none (docker load makes its own).
func (f Format) HoldsAnnotations() bool {
	return f == FormatOCI || f == FormatOCIArchive || f == FormatRegistry
}

// HoldsIndex says the format can hold an image index: images of several
// platforms under one name. A docker-archive cannot (docker save writes
// one image per name).
func (f Format) HoldsIndex() bool {
	return f == FormatOCI || f == FormatOCIArchive || f == FormatRegistry
}

// HoldsReferrers says the format can carry artifacts attached to the
// image (an SBOM).
func (f Format) HoldsReferrers() bool {
	return f == FormatOCI || f == FormatOCIArchive || f == FormatRegistry
}

// CheckTag checks an image name given as ImageConfig.Tag: NAME[:TAG],
// NAME as docker spells repositories ("debian", "reg.example:5000/a/b").
func CheckTag(tag string) error {
	_, err := parseTag(tag)
	return err
}

// ImageName is the name an image written to target in format gets: its
// full repository:tag, "" for a format that holds none. A build's output
// depends on it, so the kept-output key includes it.
func ImageName(target string, format Format, tag string) (string, error) {
	if !format.HoldsConfig() {
		return "", nil
	}
	if format == FormatRegistry {
		if tag != "" {
			return "", fmt.Errorf("image name %q: a registry target names the image itself (%s)", tag, target)
		}
		t, err := ParseReference(target)
		if err != nil {
			return "", err
		}
		return t.Name(), nil
	}
	t, err := imageTag(target, format, tag)
	if err != nil {
		return "", err
	}
	return t.Name(), nil
}

// MergeEnv is base with each KEY=VALUE of over set: an entry whose KEY
// base has replaces it in its place, others follow in their order; of
// two entries with one KEY in over the later wins.
func MergeEnv(base, over []string) []string {
	out := slices.Clone(base)
	for _, kv := range over {
		k, _, _ := strings.Cut(kv, "=")
		i := slices.IndexFunc(out, func(e string) bool {
			ek, _, _ := strings.Cut(e, "=")
			return ek == k
		})
		if i >= 0 {
			out[i] = kv
		} else {
			out = append(out, kv)
		}
	}
	return out
}

// Options control Write.
type Options struct {
	// Format of the output; empty means FormatFor(target, "").
	Format Format
	// Epoch is SOURCE_DATE_EPOCH: later mtimes are clamped to it and OCI
	// "created" is set to it. The zero value clamps nothing, and OCI
	// "created" is then the newest mtime of the root.
	Epoch time.Time
	// Architecture and Variant of an OCI or docker image in Go/OCI terms
	// (amd64; arm + v7). OCIPlatform converts a Debian architecture.
	Architecture, Variant string
	// Image is the name, config and annotations of an image format; a
	// format without them must get the zero value.
	Image ImageConfig
	// Progress, if set, is called with bytes of file content written so
	// far and the total, from the goroutine calling Write.
	Progress func(done, total int64)
	// Stdout receives the image when the target is "-" (nil: os.Stdout).
	Stdout io.Writer
	// Log receives warnings (e.g. owners that cannot be set in a directory
	// written as an ordinary user). Nil discards them.
	Log *slog.Logger
	// Referrers are attached to an OCI layout's, OCI archive's or
	// registry's image (see AttachReferrer); other formats cannot hold
	// them.
	Referrers []Referrer
	// Registry is how a registry target is pushed to.
	Registry Registry
}

// Write writes src to target in opts.Format. The output appears at target
// only when complete: it is written under a temporary name next to target
// and renamed; on error or cancellation the temporary is removed.
//
// A registry target gets the image pushed (only blobs the registry lacks
// are uploaded), its tag set last.
//
// The digest is "sha256:…" of the written file for tarball formats, of the
// image manifest for OCI formats and a registry, of the image config (the
// image ID docker reports) for a docker-archive, which holds no manifest,
// and "" for a directory.
func Write(ctx context.Context, src Source, target string, opts Options) (string, error) {
	if target == "" {
		return "", errors.New("export: no output target given")
	}
	format := opts.Format
	if format == "" {
		f, err := FormatFor(target, "")
		if err != nil {
			return "", fmt.Errorf("export: %w", err)
		}
		format = f
	} else if !format.known() {
		return "", fmt.Errorf("export: unknown output format %q: known formats are %s", format, knownList())
	}
	if !format.HoldsConfig() && !opts.Image.IsZero() {
		return "", fmt.Errorf("export: a %s holds no image name, config or annotations; only %s, %s and %s do", format, FormatOCI, FormatOCIArchive, FormatDockerArchive)
	}
	if !format.HoldsAnnotations() && len(opts.Image.Annotations) > 0 {
		return "", fmt.Errorf("export: a %s holds no image manifest, so no annotations; only %s and %s do", format, FormatOCI, FormatOCIArchive)
	}
	if format == FormatRegistry && opts.Image.Tag != "" {
		return "", fmt.Errorf("export: image name %q: a registry target names the image itself (%s)", opts.Image.Tag, target)
	}
	if len(opts.Referrers) > 0 && !format.HoldsReferrers() {
		return "", fmt.Errorf("export: a %s cannot hold artifacts attached to an image (%s); only %s, %s and %s can", format, opts.Referrers[0].ArtifactType, FormatOCI, FormatOCIArchive, FormatRegistry)
	}
	if format != FormatRegistry {
		// "out/" names the directory out: temporaries go next to it, not in it.
		target = filepath.Clean(target)
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("export %s: %w", target, err)
	}
	p, err := newPlan(src.Entries(), opts.Epoch)
	if err != nil {
		return "", fmt.Errorf("export %s: %w", target, err)
	}
	var digest string
	switch {
	case format == FormatDir:
		err = writeDir(ctx, src, p, target, opts)
	case format.isTar():
		digest, err = writeTarball(ctx, src, p, target, format, opts)
	case format == FormatNull:
		err = writeNull(ctx, src, p, opts)
	case format == FormatSquashfs:
		digest, err = writeSquashfs(ctx, src, p, target, opts)
	case format == FormatExt4:
		digest, err = writeExt4(ctx, src, p, target, opts)
	default:
		digest, err = writeImage(ctx, src, p, target, format, opts)
	}
	if err != nil {
		return "", fmt.Errorf("export %s as %s: %w", target, format, err)
	}
	return digest, nil
}

// OCIPlatform converts a Debian architecture name to the architecture and
// variant of an OCI image config, as Debian's official images use them.
func OCIPlatform(debArch string) (arch, variant string, err error) {
	switch debArch {
	case "amd64", "s390x", "riscv64", "loong64":
		return debArch, "", nil
	case "arm64":
		return "arm64", "v8", nil
	case "armhf":
		return "arm", "v7", nil
	case "armel":
		return "arm", "v5", nil
	case "i386":
		return "386", "", nil
	case "ppc64el":
		return "ppc64le", "", nil
	case "ppc64":
		return "ppc64", "", nil
	case "mips64el":
		return "mips64le", "", nil
	case "mipsel":
		return "mipsle", "", nil
	}
	return "", "", fmt.Errorf("no OCI platform known for Debian architecture %q", debArch)
}
