package bootstrap

import (
	"fmt"
	"io/fs"
	"time"

	"github.com/debstrap/debstrap/export"
	"github.com/debstrap/debstrap/rootfs"
	"github.com/debstrap/debstrap/sbom"
)

// stageFS is the finished root as sbom.Collect reads it: the stage opens
// regular files, symlinks followed inside the root.
type stageFS struct{ st *rootfs.Stage }

func (s stageFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	return s.st.Open("/" + name)
}

// makeSBOM is the SBOM of the finished root in the format file's name
// says, each package with its .deb's SHA-256.
func makeSBOM(st *rootfs.Stage, plan *Plan, file, version string, epoch time.Time) ([]byte, sbom.Format, error) {
	f, err := sbom.FormatFor(file, "")
	if err != nil {
		return nil, "", err
	}
	doc, err := sbom.Collect(stageFS{st})
	if err != nil {
		return nil, "", fmt.Errorf("SBOM: %w", err)
	}
	shas := make(map[string]string, len(plan.Packages))
	for _, p := range plan.Packages {
		shas[p.Name+":"+p.Architecture] = p.SHA256
	}
	doc.SetDebSHA256(shas)
	data, err := sbom.Bytes(doc, f, sbom.Options{Version: version, Created: epoch})
	if err != nil {
		return nil, "", fmt.Errorf("SBOM: %w", err)
	}
	return data, f, nil
}

// attachable says whether the format holds an SBOM attached to the image.
func attachable(f export.Format) bool {
	return f.HoldsReferrers()
}
