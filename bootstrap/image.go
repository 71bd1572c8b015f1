package bootstrap

import (
	"fmt"
	"maps"

	"github.com/debstrap/debstrap/distro"
	"github.com/debstrap/debstrap/export"
	"github.com/debstrap/debstrap/lock"
)

// ubuntuCmd is the command of Ubuntu's official container images
// (Debian's is export.DefaultCmd).
var ubuntuCmd = []string{"/bin/bash"}

// lockRelease is the release a lock was made for: its suite's, or for
// "stable" and friends what the Release said that day.
func lockRelease(l *lock.Lock) (distro.Release, bool) {
	rel, known := distro.Lookup(l.Suite)
	if (!known || rel.Codename == "") && len(l.Sources) > 0 {
		if r, ok := distro.Lookup(l.Sources[0].Codename); ok {
			return r, true
		}
	}
	return rel, known
}

// imageConfig is the image config of a build of the set l fixes in
// format: the user's over the defaults of Docker's official image of the
// distribution — Debian's are export's; Ubuntu's run /bin/bash and carry
// the labels org.opencontainers.image.ref.name=ubuntu and
// org.opencontainers.image.version=VERSION — and the manifest annotation
// org.opencontainers.image.version, VERSION being the Release's (12.8,
// 24.04; testing and unstable have none). It depends on the lock alone,
// not on archives opened, so a build from a lock equals the build that
// resolved, and the kept-output key can hold it before resolving.
func imageConfig(user export.ImageConfig, format export.Format, l *lock.Lock) export.ImageConfig {
	c := user
	if !format.HoldsConfig() {
		return c
	}
	var version string
	if len(l.Sources) > 0 {
		version = l.Sources[0].Version
	}
	if rel, _ := lockRelease(l); rel.Distribution == distro.Ubuntu {
		if c.Cmd == nil && c.Entrypoint == nil {
			c.Cmd = ubuntuCmd
		}
		labels := map[string]string{export.AnnotationRefName: "ubuntu"}
		if version != "" {
			labels[export.AnnotationVersion] = version
		}
		maps.Copy(labels, user.Labels)
		c.Labels = labels
	}
	if version != "" && format.HoldsAnnotations() {
		ann := map[string]string{export.AnnotationVersion: version}
		maps.Copy(ann, user.Annotations)
		c.Annotations = ann
	}
	return c
}

// checkImage finds, before any work, what of c format cannot hold or
// what is no valid image name.
func checkImage(c export.ImageConfig, format export.Format, target string) error {
	if !format.HoldsConfig() && !c.IsZero() {
		return fmt.Errorf("a %s holds no image name, config or annotations; only %s, %s and %s do", format, export.FormatOCI, export.FormatOCIArchive, export.FormatDockerArchive)
	}
	if !format.HoldsAnnotations() && len(c.Annotations) > 0 {
		return fmt.Errorf("a %s holds no image manifest, so no annotations; only %s and %s do", format, export.FormatOCI, export.FormatOCIArchive)
	}
	_, err := export.ImageName(target, format, c.Tag)
	return err
}
