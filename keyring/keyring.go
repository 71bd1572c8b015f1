// Package keyring provides the OpenPGP public keys that archives are
// verified with: the Debian and Ubuntu archive keys embedded at build time,
// and user keyrings given with --keyring (a file or a directory, as apt's
// Signed-By and trusted.gpg.d).
//
// The embedded keyrings are copies of the files installed by the
// debian-archive-keyring and ubuntu-keyring packages; data/SOURCES records
// the package versions and fingerprints. Refresh them with
// `go generate ./keyring/` on a host that has both packages installed.
package keyring

//go:generate go run gen.go

import (
	"bytes"
	"embed"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
)

//go:embed data/debian-archive-keyring.gpg data/ubuntu-archive-keyring.gpg
var data embed.FS

var (
	debianOnce = sync.OnceValues(func() (openpgp.EntityList, error) {
		return embedded("data/debian-archive-keyring.gpg")
	})
	ubuntuOnce = sync.OnceValues(func() (openpgp.EntityList, error) {
		return embedded("data/ubuntu-archive-keyring.gpg")
	})
)

func embedded(name string) (openpgp.EntityList, error) {
	b, err := data.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("embedded keyring %s: %w", name, err)
	}
	el, err := Parse(b, "embedded "+name)
	if err != nil {
		return nil, err
	}
	// Callers may append to the list they get; clip it so they cannot
	// write into the shared backing array.
	return slices.Clip(el), nil
}

// Debian returns the archive keys of debian-archive-keyring (archive,
// security and stable release keys of the supported releases).
func Debian() (openpgp.EntityList, error) { return debianOnce() }

// Ubuntu returns the archive keys of ubuntu-keyring.
func Ubuntu() (openpgp.EntityList, error) { return ubuntuOnce() }

// For returns the embedded keyring of a distribution: "debian" or "ubuntu"
// (case does not matter).
func For(distro string) (openpgp.EntityList, error) {
	switch strings.ToLower(distro) {
	case "debian":
		return Debian()
	case "ubuntu":
		return Ubuntu()
	}
	return nil, fmt.Errorf("no embedded keyring for distribution %q (known: debian, ubuntu); pass --keyring", distro)
}

// Load reads a keyring from path. A file may be a binary keyring (as in
// /usr/share/keyrings) or ASCII-armored. A directory is read like apt's
// trusted.gpg.d: every *.gpg, *.asc and *.pgp file directly in it, in name
// order; other files are ignored.
func Load(path string) (openpgp.EntityList, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	if !fi.IsDir() {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("keyring: %w", err)
		}
		return Parse(b, path)
	}
	ents, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	var all openpgp.EntityList
	for _, e := range ents { // ReadDir sorts by name
		switch filepath.Ext(e.Name()) {
		case ".gpg", ".asc", ".pgp":
		default:
			continue
		}
		name := filepath.Join(path, e.Name())
		fi, err := os.Stat(name) // follow symlinks, as apt does
		if err != nil {
			return nil, fmt.Errorf("keyring: %w", err)
		}
		if !fi.Mode().IsRegular() {
			continue
		}
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("keyring: %w", err)
		}
		el, err := Parse(b, name)
		if err != nil {
			return nil, err
		}
		all = append(all, el...)
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("keyring %s: directory holds no *.gpg, *.asc or *.pgp keyring", path)
	}
	return all, nil
}

// Parse reads the public keys in b, binary or ASCII-armored (several armored
// blocks may follow each other, as in a concatenated .asc). name is used in
// errors. Keys go-crypto cannot use are skipped, as gpgv skips them; a
// keyring with no usable key at all is an error.
func Parse(b []byte, name string) (openpgp.EntityList, error) {
	var el openpgp.EntityList
	trimmed := bytes.TrimSpace(b)
	if bytes.HasPrefix(trimmed, []byte("-----BEGIN PGP")) {
		// armor.Decode may read past the end of its block, so cut the
		// text into blocks first.
		for _, blk := range armoredBlocks(trimmed) {
			block, err := armor.Decode(bytes.NewReader(blk))
			if err != nil {
				return nil, fmt.Errorf("keyring %s: reading armor: %w", name, err)
			}
			if block.Type != openpgp.PublicKeyType {
				return nil, fmt.Errorf("keyring %s: armored block is %q, expected %q", name, block.Type, openpgp.PublicKeyType)
			}
			keys, err := openpgp.ReadKeyRing(block.Body)
			if err != nil {
				return nil, fmt.Errorf("keyring %s: %w", name, err)
			}
			el = append(el, keys...)
		}
	} else {
		keys, err := openpgp.ReadKeyRing(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("keyring %s: %w", name, err)
		}
		el = keys
	}
	if len(el) == 0 {
		return nil, fmt.Errorf("keyring %s: no usable public key", name)
	}
	for _, e := range el {
		if e.PrivateKey != nil {
			// Never keep secret material around: a keyring is for verifying.
			return nil, fmt.Errorf("keyring %s: holds a private key (key %X); give the public key only", name, e.PrimaryKey.Fingerprint)
		}
	}
	return el, nil
}

// armoredBlocks splits text at each "-----BEGIN PGP" line.
func armoredBlocks(text []byte) [][]byte {
	marker := []byte("-----BEGIN PGP")
	var out [][]byte
	for len(text) > 0 {
		next := bytes.Index(text[1:], marker)
		if next < 0 {
			out = append(out, text)
			break
		}
		out = append(out, text[:next+1])
		text = text[next+1:]
	}
	return out
}

// Fingerprints lists the primary-key fingerprints of el, upper-case hex,
// sorted: for messages and for recording which keys a build trusted.
func Fingerprints(el openpgp.EntityList) []string {
	out := make([]string, 0, len(el))
	for _, e := range el {
		out = append(out, fmt.Sprintf("%X", e.PrimaryKey.Fingerprint))
	}
	sort.Strings(out)
	return out
}
