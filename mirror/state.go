// Package mirror writes partial mirrors: for the package sets that were
// asked for (selections), the suites' signed Release files and indexes as
// the archive published them and the .debs they need at their pool paths,
// so that debstrap and apt use the mirror with no network and the
// archive's own signature still vouches for it.
//
// A mirror directory holds one tree per archive, named by the last path
// element of its URL (DIR/debian, DIR/debian-security, DIR/ubuntu), so
// that "file:///DIR/debian" as a MIRROR finds its security archive beside
// it as on the real mirrors; and DIR/.debstrap with the recorded
// selections, the files placed, a lock and a temp directory.
package mirror

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/debstrap/debstrap/lock"
)

const (
	metaDir     = ".debstrap"
	stateName   = "mirror.json"
	stateFormat = 1
)

// Selection is one recorded request: what a mirror run was asked to carry.
// Its sources are frozen as the entries the first run resolved (the
// default mirror and the pockets it added), so that a later run asks for
// the same suites.
type Selection struct {
	Suite             string   `json:"suite"`
	Sources           []string `json:"sources"` // one-line "deb [opts] URI SUITE COMPONENT…"
	Architectures     []string `json:"architectures"`
	Keyring           string   `json:"keyring,omitempty"` // "" = the embedded keys
	Variant           string   `json:"variant,omitempty"`
	Include           []string `json:"include,omitempty"`
	Recommends        bool     `json:"include-recommends,omitempty"`
	MergedUsr         bool     `json:"merged-usr,omitempty"`
	NoCheckValidUntil bool     `json:"no-check-valid-until,omitempty"`
	WithSources       bool     `json:"with-sources,omitempty"`
	// Lock, when set, is the set itself: its packages, not a resolution.
	Lock *lock.Lock `json:"lock,omitempty"`
}

func (s Selection) key() string {
	b, _ := json.Marshal(s)
	return string(b)
}

// PoolFile is one file placed in the mirror, relative to DIR.
type PoolFile struct {
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// state is DIR/.debstrap/mirror.json.
type state struct {
	Format     int                 `json:"debstrap-mirror"`
	Selections []Selection         `json:"selections"`
	Pool       map[string]PoolFile `json:"pool"`
	// Dists are the suites written, as NAME/dists/SUITE.
	Dists []string `json:"dists,omitempty"`
	// SignedBy is the fingerprint of the --sign-with key of a reindexed
	// mirror: its clients trust that key, not the archive's.
	SignedBy string `json:"signed-by,omitempty"`
}

func readState(dir string) (*state, error) {
	p := filepath.Join(dir, metaDir, stateName)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return &state{Format: stateFormat, Pool: map[string]PoolFile{}}, nil
	}
	if err != nil {
		return nil, err
	}
	var st state
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if st.Format != stateFormat {
		return nil, fmt.Errorf("%s: format %d, this debstrap reads %d", p, st.Format, stateFormat)
	}
	if st.Pool == nil {
		st.Pool = map[string]PoolFile{}
	}
	for rel := range st.Pool {
		if !localPath(rel) {
			return nil, fmt.Errorf("%s: bad pool path %q", p, rel)
		}
	}
	return &st, nil
}

func writeState(dir string, st *state) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, metaDir, stateName), append(b, '\n'))
}

// writeFileAtomic writes data to p through a temp name in the same
// directory, synced, so that p is the old or the new file, never half.
func writeFileAtomic(p string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", p, err)
	}
	return nil
}

// localPath reports whether p is a clean relative path that stays inside
// the directory it is relative to.
func localPath(p string) bool {
	return p != "" && filepath.IsLocal(p) && path.Clean(p) == p && !strings.Contains(p, "\\")
}

var snapshotID = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}Z$`)

// ArchiveName is the directory of DIR that holds the archive at uri: the
// URL's last path element ("debian", "debian-security", "ubuntu-ports"),
// the one before it for a snapshot service's SERVICE/ARCHIVE/TIME, and
// "archive" for a mirror at a host's root.
func ArchiveName(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return "archive"
	}
	parts := slices.DeleteFunc(strings.Split(u.Path, "/"), func(s string) bool { return s == "" })
	if n := len(parts); n > 1 && snapshotID.MatchString(parts[n-1]) {
		parts = parts[:n-1]
	}
	if n := len(parts); n > 0 && parts[n-1] != "." && parts[n-1] != ".." && !strings.HasPrefix(parts[n-1], ".") {
		return parts[n-1]
	}
	return "archive"
}
