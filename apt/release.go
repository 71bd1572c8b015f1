package apt

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Release is the parsed text of a Release (or the signed part of an
// InRelease) file: the root of trust for one suite of an archive.
type Release struct {
	Origin   string
	Label    string
	Suite    string
	Codename string
	Version  string

	Date       time.Time
	ValidUntil time.Time // zero when the archive sets no Valid-Until

	// FileSHA256 is the hex SHA-256 of the signed file as fetched
	// (InRelease, or Release when it has a detached signature): set by
	// Open, it names this exact state of the archive (a lock records it).
	FileSHA256 string

	Architectures []string
	Components    []string

	// AcquireByHash says index files may also be fetched from
	// by-hash/SHA256/<hex> next to them, which keeps working while a
	// mirror replaces the index.
	AcquireByHash bool
	// NoSupportForArchitectureAll names the index types ("Packages") whose
	// Architecture: all stanzas are also in the per-architecture indexes,
	// so binary-all need not be read for them.
	NoSupportForArchitectureAll []string
	// NotAutomatic and ButAutomaticUpgrades set apt's default pin of the
	// suite (1 or 100 instead of 500), as for backports and experimental.
	NotAutomatic         bool
	ButAutomaticUpgrades bool

	// SHA256 maps each file path, relative to dists/SUITE/, to its size
	// and SHA256 as the Release lists them.
	SHA256 map[string]FileHash

	// Signer is the fingerprint (upper-case hex) of the key whose good
	// signature made this Release trusted; empty for a Release that was
	// only parsed.
	Signer string
}

// FileHash is one entry of the SHA256 section of a Release file.
type FileHash struct {
	Size   int64
	SHA256 string // lower-case hex
}

// HasArchitecture reports whether the Release lists arch. A Release without
// an Architectures field makes no claim, so every architecture is allowed.
func (r *Release) HasArchitecture(arch string) bool {
	if len(r.Architectures) == 0 {
		return true
	}
	for _, a := range r.Architectures {
		if a == arch {
			return true
		}
	}
	return false
}

// HasComponent reports whether the Release lists comp. Old security
// archives list their components as "updates/main"; the index paths are
// then still "main/…", so the last path element is what counts. A Release
// without a Components field makes no claim.
func (r *Release) HasComponent(comp string) bool {
	if len(r.Components) == 0 {
		return true
	}
	for _, c := range r.Components {
		if c == comp || strings.HasSuffix(c, "/"+comp) {
			return true
		}
	}
	return false
}

// ParseRelease parses the text of a Release file. It checks the syntax and
// the SHA256 section (the only checksums debstrap trusts); it does not
// check any signature: use VerifyInRelease or VerifyRelease for that.
func ParseRelease(text []byte) (*Release, error) {
	r := &Release{SHA256: map[string]FileHash{}}
	var (
		inSHA256  bool // reading the continuation lines of SHA256
		seenField = map[string]bool{}
		sawSHA256 bool
		lineNo    int
	)
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		lineNo++
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" {
			// A Release is a single stanza; apt stops at the first empty
			// line, and so do we, so nothing after it can add checksums.
			if len(seenField) > 0 {
				break
			}
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if len(seenField) == 0 {
				return nil, fmt.Errorf("Release line %d: continuation line before any field", lineNo)
			}
			if !inSHA256 {
				continue // continuation of a field we do not keep (Description, MD5Sum, …)
			}
			f := strings.Fields(line)
			if len(f) != 3 {
				return nil, fmt.Errorf("Release line %d: SHA256 entry %q: want \"HASH SIZE PATH\"", lineNo, strings.TrimSpace(line))
			}
			sum, sizeText, path := strings.ToLower(f[0]), f[1], f[2]
			if b, err := hex.DecodeString(sum); err != nil || len(b) != 32 {
				return nil, fmt.Errorf("Release line %d: SHA256 entry for %s: bad hash %q", lineNo, path, f[0])
			}
			size, err := strconv.ParseInt(sizeText, 10, 64)
			if err != nil || size < 0 {
				return nil, fmt.Errorf("Release line %d: SHA256 entry for %s: bad size %q", lineNo, path, sizeText)
			}
			if err := checkReleasePath(path); err != nil {
				return nil, fmt.Errorf("Release line %d: SHA256 entry: %w", lineNo, err)
			}
			if old, dup := r.SHA256[path]; dup && old != (FileHash{size, sum}) {
				return nil, fmt.Errorf("Release line %d: %s listed twice in SHA256 with different checksums", lineNo, path)
			}
			r.SHA256[path] = FileHash{Size: size, SHA256: sum}
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return nil, fmt.Errorf("Release line %d: malformed field %q", lineNo, shorten(line))
		}
		key := strings.ToLower(name) // field names are case-insensitive (deb822)
		if seenField[key] {
			return nil, fmt.Errorf("Release line %d: field %s appears twice", lineNo, name)
		}
		seenField[key] = true
		value = strings.TrimSpace(value)
		inSHA256 = false
		var err error
		switch key {
		case "origin":
			r.Origin = value
		case "label":
			r.Label = value
		case "suite":
			r.Suite = value
		case "codename":
			r.Codename = value
		case "version":
			r.Version = value
		case "date":
			r.Date, err = parseReleaseDate(value)
		case "valid-until":
			r.ValidUntil, err = parseReleaseDate(value)
		case "architectures":
			r.Architectures = strings.Fields(value)
		case "components":
			r.Components = strings.Fields(value)
		case "acquire-by-hash":
			r.AcquireByHash = value == "yes"
		case "no-support-for-architecture-all":
			r.NoSupportForArchitectureAll = strings.Fields(value)
		case "notautomatic":
			r.NotAutomatic = value == "yes"
		case "butautomaticupgrades":
			r.ButAutomaticUpgrades = value == "yes"
		case "sha256":
			inSHA256, sawSHA256 = true, true
			if value != "" {
				return nil, fmt.Errorf("Release line %d: SHA256 field must start on the next line", lineNo)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("Release line %d: %s: %w", lineNo, name, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading Release: %w", err)
	}
	if len(seenField) == 0 {
		return nil, fmt.Errorf("Release is empty")
	}
	if !sawSHA256 || len(r.SHA256) == 0 {
		// apt refuses a Release without a strong hash too.
		return nil, fmt.Errorf("Release has no SHA256 checksums")
	}
	return r, nil
}

// checkReleasePath rejects index paths that could leave dists/SUITE/ once
// joined to a URL.
func checkReleasePath(p string) error {
	if strings.HasPrefix(p, "/") || strings.Contains(p, "\\") {
		return fmt.Errorf("unsafe path %q", p)
	}
	for _, el := range strings.Split(p, "/") {
		if el == "" || el == "." || el == ".." {
			return fmt.Errorf("unsafe path %q", p)
		}
	}
	return nil
}

// Release dates are RFC 1123 in UTC ("Sat, 10 Jun 2023 08:53:33 UTC").
// Some archive tools write a numeric zone or a one-digit day.
// Numeric zones come first: the MST layout would take "+0100" for a zone
// name and invent a zero offset for it.
var releaseDateLayouts = []string{
	"Mon, 02 Jan 2006 15:04:05 -0700",
	"Mon, 2 Jan 2006 15:04:05 -0700",
	"Mon, 02 Jan 2006 15:04:05 MST",
	"Mon, 2 Jan 2006 15:04:05 MST",
}

func parseReleaseDate(s string) (time.Time, error) {
	for _, layout := range releaseDateLayouts {
		t, err := time.Parse(layout, s)
		if err != nil {
			continue
		}
		if strings.HasSuffix(layout, "MST") {
			// time.Parse invents a zero offset for a zone name it does not
			// know; only accept the names that really mean UTC.
			switch zone, _ := t.Zone(); zone {
			case "UTC", "GMT", "Z":
			default:
				return time.Time{}, fmt.Errorf("date %q: time zone %s is not UTC", s, zone)
			}
		}
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("bad date %q (want RFC 1123, e.g. \"Sat, 10 Jun 2023 08:53:33 UTC\")", s)
}

// shorten keeps error messages about bad input readable.
func shorten(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
